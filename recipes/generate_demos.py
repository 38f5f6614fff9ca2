"""Generate demonstrations of one MMBench task with a trained Newt checkpoint.

The checkpoint plans with MPPI in deterministic mode on ``2 x num_demos`` copies of the task;
episodes are kept by the official rule (return above ``0.75 x median``, or ``1.25 x median``
when the median is not positive, and final success on Meta-World, RoboDesk and ManiSkill
manipulation tasks) and written in newt's demonstration format (``load_demos`` reads it; the
recipe takes it with ``data_dir=<out> demo_format=newt``).

    python recipes/generate_demos.py runs/walker-walk/seed1/default/checkpoints/latest.pt \\
        --task walker-walk --num-demos 20 --out demos/
    python recipes/generate_demos.py newt-L.pt --official --model-size L --task mw-assembly --out demos/

Any other TorchRL policy works through :func:`newt.collectors.generate_demos`.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import torch
from omegaconf import OmegaConf
from torchrl.envs import InitTracker, TransformedEnv

sys.path.insert(0, str(Path(__file__).resolve().parent))
import newt_utils as utils  # noqa: E402

from newt.collectors import generate_demos, save_demos  # noqa: E402
from newt.envs import MAX_ACTION_DIM, MAX_OBS_DIM, TASKS, make_multitask_env, task_info  # noqa: E402
from newt.modules import MODEL_SIZES, MPPIPlanner, NewtWorldModel  # noqa: E402


def load_planner(args) -> tuple[MPPIPlanner, list[str]]:
    """The planner of a recipe checkpoint, or of an official one (``--official``)."""
    if args.official:
        tasks = list(TASKS)
        model = NewtWorldModel.from_official_checkpoint(
            args.checkpoint, MAX_OBS_DIM, MAX_ACTION_DIM, args.model_size
        )
        discount = [task_info(t).discount for t in tasks]
    else:
        checkpoint = utils.read_run(args.checkpoint)
        if checkpoint is None:
            raise SystemExit(f"{args.checkpoint} is not a newt_mmbench.py checkpoint; pass --official")
        cfg = OmegaConf.create(checkpoint["config"])
        cfg.device = args.device
        tasks = list(utils.train_tasks(cfg)[0])
        model, loss, _, _ = utils.make_agent(cfg, tasks, warmup=False)
        loss.load_state_dict(checkpoint["loss"])
        discount = [task_info(t).discount for t in tasks] if len(tasks) > 1 else task_info(tasks[0]).discount
    model = model.to(args.device).eval()
    planner = MPPIPlanner(
        model, num_samples=args.num_samples, num_elites=args.num_elites,
        num_pi_trajs=args.num_pi_trajs, iterations=args.iterations,
        constrained_planning=False, discount=discount,
    )
    return planner, tasks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--task", required=True)
    parser.add_argument("--num-demos", type=int, default=20)
    parser.add_argument("--out", type=Path, required=True, help="folder; demos go to <out>/<task>")
    parser.add_argument("--official", action="store_true", help="the checkpoint is an official .pt")
    parser.add_argument("--model-size", choices=sorted(MODEL_SIZES), default="L",
                        help="size of an official checkpoint")
    parser.add_argument("--num-samples", type=int, default=512)
    parser.add_argument("--num-elites", type=int, default=64)
    parser.add_argument("--num-pi-trajs", type=int, default=24)
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--max-rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.num_demos < 1:
        parser.error("--num-demos must be >= 1")
    if not args.checkpoint.is_file():
        parser.error(f"checkpoint {str(args.checkpoint)!r} does not exist")
    torch.manual_seed(args.seed)
    planner, tasks = load_planner(args)
    if args.task not in tasks:
        parser.error(f"--task {args.task!r} is not one of the checkpoint's tasks: {tasks[:5]}...")
    copies = 2 * args.num_demos
    env = TransformedEnv(
        make_multitask_env([args.task] * copies, seed=args.seed, task_indices=[tasks.index(args.task)] * copies),
        InitTracker(),
    )
    demos = generate_demos(env, planner, args.task, args.num_demos, max_rounds=args.max_rounds)
    env.close()
    path = save_demos(demos, args.out / args.task, task=args.task)
    print(f"saved {args.num_demos} episodes ({demos.numel()} transitions) of {args.task} to {path}")


if __name__ == "__main__":
    main()
