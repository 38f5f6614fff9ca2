"""Evaluate an official Newt checkpoint on one MMBench task and write a video.

The checkpoint is a ``.pt`` written by the official ``agent.save()``; it is loaded with
``NewtWorldModel.from_official_checkpoint`` and drives ``MPPIPlanner`` in deterministic mode
(no exploration noise, no constrained-planning schedule) on
``make_env(task, mmbench_layout=True, obs="rgb")`` plus ``InitTracker``: the model sees the
padded 128-d state and the task index, the video shows the rendered frames.

    python recipes/eval_official_checkpoint.py newt-L.pt --model-size L --task walker-walk
    python recipes/eval_official_checkpoint.py newt-L.pt --model-size L --task mw-assembly \
        --episodes 3 --video mw-assembly.mp4      # mp4 needs `pip install imageio-ffmpeg`
    python recipes/eval_official_checkpoint.py newt-L.pt --model-size L \
        --task-embeddings path/to/tasks.json       # replace the checkpoint's task embeddings

The official multitask checkpoints hold one task embedding per MMBench task (CLIP, 512-d), in
the MMBench order, so ``--task`` must be one of the 200 MMBench tasks. Models trained on RGB
features (the official DINOv2 variant) are not covered: the model here reads states.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import imageio.v2 as imageio
import numpy as np
import torch
from torchrl.envs import InitTracker, TransformedEnv
from torchrl.envs.utils import ExplorationType, set_exploration_type

from newt.envs import TASKS, load_official_task_embeddings, make_env, task_info
from newt.modules import MODEL_SIZES, MPPIPlanner, NewtWorldModel

VIDEO_SUFFIXES = (".mp4", ".gif")


def to_frames(pixels: torch.Tensor) -> np.ndarray:
    """uint8 ``[T, 3, H, W]`` tensor -> ``[T, H, W, 3]`` array, the layout video writers take."""
    return pixels.permute(0, 2, 3, 1).contiguous().numpy()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Evaluate an official Newt checkpoint and write a video.")
    parser.add_argument("checkpoint", type=Path, help="official .pt file (agent.save())")
    parser.add_argument("--model-size", required=True, choices=sorted(MODEL_SIZES),
                        help="the size the checkpoint was trained with")
    parser.add_argument("--task", default="walker-walk", help="one of the 200 MMBench tasks")
    parser.add_argument("--task-embeddings", type=Path, default=None,
                        help="official tasks.json; default: the checkpoint's own embeddings")
    parser.add_argument("--episodes", type=int, default=1)
    parser.add_argument("--max-steps", type=int, default=None,
                        help="stop each episode after this many steps (default: the task's episode length)")
    parser.add_argument("--video", type=Path, default=Path("eval.gif"),
                        help="output video: .gif, or .mp4 (needs the imageio-ffmpeg package)")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--render-size", type=int, default=224)
    parser.add_argument("--num-samples", type=int, default=512)
    parser.add_argument("--num-elites", type=int, default=64)
    parser.add_argument("--num-pi-trajs", type=int, default=24)
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--horizon", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.task not in TASKS:
        info = task_info(args.task)  # unknown name: KeyError listing close names
        parser.error(f"--task {info.name!r} is not one of the 200 MMBench tasks the official checkpoints cover")
    if args.video.suffix not in VIDEO_SUFFIXES:
        parser.error(f"--video must end with one of {VIDEO_SUFFIXES}, got {str(args.video)!r}")
    if not args.checkpoint.is_file():
        parser.error(f"checkpoint {str(args.checkpoint)!r} does not exist")

    torch.manual_seed(args.seed)
    embeddings = None
    if args.task_embeddings is not None:
        embeddings = load_official_task_embeddings(args.task_embeddings, TASKS)
    env = make_env(args.task, obs="rgb", seed=args.seed, device=args.device, render_size=args.render_size,
                   mmbench_layout=True, num_tasks=len(TASKS))
    env = TransformedEnv(env, InitTracker())  # the planner resets its warm start on is_init
    model = NewtWorldModel.from_official_checkpoint(
        args.checkpoint,
        obs_dim=env.observation_spec["observation"].shape[-1],
        action_dim=env.action_spec.shape[-1],
        model_size=args.model_size,
        task_embeddings=embeddings,
    ).to(args.device)
    model.eval()
    planner = MPPIPlanner(
        model, horizon=args.horizon, num_samples=args.num_samples, num_elites=args.num_elites,
        num_pi_trajs=args.num_pi_trajs, iterations=args.iterations, constrained_planning=False,
        discount=[task_info(name).discount for name in TASKS],  # indexed by the env's task
    )

    max_steps = args.max_steps or task_info(args.task).episode_length
    frames, returns, scores, successes = [], [], [], []
    with set_exploration_type(ExplorationType.DETERMINISTIC), torch.no_grad():
        for episode in range(args.episodes):
            rollout = env.rollout(max_steps, planner).cpu()
            frames.append(to_frames(rollout["pixels"]))
            frames.append(to_frames(rollout["next", "pixels"][-1:]))
            returns.append(rollout["next", "reward"].sum().item())
            scores.append(rollout["next", "score"][-1].item())
            successes.append(rollout["next", "success"][-1].item())
            print(f"episode {episode}: {rollout.shape[0]} steps, return {returns[-1]:.2f}, "
                  f"score {scores[-1]:.3f}, success {successes[-1]:.0f}", flush=True)
    # Tasks without a success signal (DMControl) report NaN.
    print(f"{args.task}: mean return {np.mean(returns):.2f}, mean score {np.mean(scores):.3f}, "
          f"mean success {np.mean(successes):.2f}")

    args.video.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimsave(args.video, np.concatenate(frames), fps=args.fps)
    print(f"video: {args.video}")


if __name__ == "__main__":
    main()
