"""Build the multitask env over every MMBench task that runs here and report time and memory.

ManiSkill tasks whose assets are not under ``MS_ASSET_DIR`` are left out (and listed).

    python benchmarks/mmbench_memory.py [--workers 0] [--steps 25]
"""
import argparse
import os
import resource
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import torch

import newt.envs.maniskill as maniskill
from newt.envs import TASKS, make_multitask_env, task_info


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--steps", type=int, default=25)
    args = parser.parse_args()
    torch.set_num_threads(1)
    gated = [t for t in TASKS if task_info(t).domain == "maniskill" and maniskill.missing_assets(t)]
    tasks = [t for t in TASKS if t not in gated]
    print(f"{len(tasks)} tasks; left out for missing ManiSkill assets: {', '.join(gated) or 'none'}")
    start = time.perf_counter()
    env = make_multitask_env(tasks, seed=0, num_workers=args.workers)
    print(f"built in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    rollout = env.rollout(args.steps, break_when_any_done=False)
    elapsed = time.perf_counter() - start
    print(f"random rollout {list(rollout.shape)}: {elapsed:.1f} s, {rollout.numel() / elapsed:.0f} env steps/s")
    env.close()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS: this process {own:.0f} MB, largest worker {workers:.0f} MB")


if __name__ == "__main__":
    main()
