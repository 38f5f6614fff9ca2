"""Learning check: train Newt on single dm_control tasks on the CPU and plot the eval curves.

Runs ``recipes/newt_mmbench.py`` once per task with a small configuration (size-S model,
reduced planner, 0.25 updates per env step; ``TASK_OVERRIDES`` adds per-task settings) and
prints, per evaluation, env steps, wall time and the episode return; the curves go to
``docs/img/learning_<task>.png``.

    python benchmarks/learning.py [--tasks cartpole-balance pendulum-swingup] [--steps 20000]
    python benchmarks/learning.py --tasks pendulum-swingup --report-only   # an existing run
"""
import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMALL = [
    "model_size=S", "num_envs=4", "seeding_coef=1", "utd=0.25", "eval_episodes=1",
    "num_samples=128", "num_elites=16", "num_pi_trajs=8", "iterations=2", "batch_size=64",
]
#: The sparse swing-up reward needs more updates per env step and a wider planner search.
TASK_OVERRIDES = {
    "pendulum-swingup": ["utd=0.5", "num_samples=256", "num_elites=32", "num_pi_trajs=16", "iterations=4"],
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["cartpole-balance", "pendulum-swingup"])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--eval-freq", type=int, default=4_000)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "learning")
    parser.add_argument("--report-only", action="store_true",
                        help="print and plot the evaluations already in --out (e.g. of a stopped run)")
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for task in args.tasks:
        run_dir = args.out / task
        if not args.report_only:
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, str(ROOT / "recipes" / "newt_mmbench.py"), f"task={task}", *SMALL,
                 *TASK_OVERRIDES.get(task, []), f"steps={args.steps}", f"eval_freq={args.eval_freq}",
                 f"run_dir={run_dir}"],
                cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            wall = time.perf_counter() - start
            print(f"{task}: {wall / 60:.1f} min wall for {args.steps:,} env steps")
        with (run_dir / "eval.csv").open() as f:
            rows = list(csv.DictReader(f))
        for row in rows:
            print(f"  step {int(float(row['step'])):>7,}  return {float(row['return']):8.1f}  "
                  f"score {float(row['score']):.3f}  ({float(row['time']) / 60:.1f} min)")
        fig, ax = plt.subplots(figsize=(4.5, 3.2))
        ax.plot([int(float(r["step"])) for r in rows], [float(r["return"]) for r in rows], marker="o")
        ax.set_title(f"{task} (CPU, size S)")
        ax.set_xlabel("env steps")
        ax.set_ylabel("eval episode return")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        out = ROOT / "docs" / "img" / f"learning_{task}.png"
        fig.savefig(out, dpi=100)
        plt.close(fig)
        print(f"  plot: {out}")


if __name__ == "__main__":
    main()
