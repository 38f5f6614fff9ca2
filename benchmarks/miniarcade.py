"""MiniArcade speed, next to the official figures (ERRATA §7, measured on the 2-core dev box).

Per task, single process, random actions:

* ``game``: the bare batched game class with ``num_envs=1`` (steps/s);
* ``env``: the TorchRL env, ``num_envs=1``, ``step_and_maybe_reset`` (steps/s);
* ``env+mmb``: the same through ``newt.envs.make_env(..., mmbench_layout=True)`` (padding,
  action mask, task index), the counterpart of the official multitask stack;
* ``batch``: the TorchRL env with ``num_envs=256`` (env steps/s);
* ``rgb``: the TorchRL env with ``obs="rgb"``, ``num_envs=1`` (frames/s).

Official figures: bare game 12,600-74,600 steps/s, official stack 4,800-7,900 steps/s, rgb
1,100-2,200 frames/s; a batched env should reach well over 100,000 env steps/s. Ratios are
printed against the low and high ends of each official range.

    python benchmarks/miniarcade.py --seconds 0.5
    python benchmarks/miniarcade.py --tasks pygame-pong pygame-cowboy
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import numpy as np
import torch

from newt.envs import TASKS, make_env
from newt.envs.miniarcade import GAMES, make_game, make_miniarcade_env

OFFICIAL = {"game": (12_600, 74_600), "env": (4_800, 7_900), "env+mmb": (4_800, 7_900), "rgb": (1_100, 2_200)}
BATCH_TARGET = 100_000


def _timed(step, seconds: float, per_call: int = 1) -> float:
    step()
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(20):
            step()
        calls += 20
    return calls * per_call / elapsed


def bench_game(task: str, seconds: float) -> float:
    game = make_game(task, num_envs=1, seed=0)
    game.reset()
    actions = np.random.default_rng(0).uniform(-1, 1, (1000, 1, game.action_dim)).astype(np.float32)
    counter = iter(range(10**9))

    def step():
        game.step(actions[next(counter) % 1000])

    return _timed(step, seconds)


def bench_env(env, seconds: float, per_call: int = 1) -> float:
    torch.set_num_threads(1)
    td = env.reset()
    actions = env.full_action_spec["action"].rand((100,))
    counter = iter(range(10**9))

    def step():
        nonlocal td
        td["action"] = actions[next(counter) % 100]
        _, td = env.step_and_maybe_reset(td)

    return _timed(step, seconds, per_call)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=[t for t in TASKS if t in GAMES])
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(1)
    header = f"{'task':32s} {'game':>8s} {'env':>7s} {'env+mmb':>8s} {'batch':>9s} {'rgb':>6s}"
    print(header + "   ratios to official low-high: game | env+mmb | batch/100k | rgb")
    for task in args.tasks:
        game = bench_game(task, args.seconds)
        env = bench_env(make_miniarcade_env(task, seed=0), args.seconds)
        env_mmb = bench_env(make_env(task, seed=0, mmbench_layout=True), args.seconds)
        batch = bench_env(make_miniarcade_env(task, seed=0, num_envs=args.batch), args.seconds, args.batch)
        rgb = bench_env(make_miniarcade_env(task, seed=0, obs="rgb"), args.seconds)

        def ratio(value, key):
            low, high = OFFICIAL[key]
            return f"{value / low:4.1f}-{value / high:3.1f}x"

        print(
            f"{task:32s} {game:8.0f} {env:7.0f} {env_mmb:8.0f} {batch:9.0f} {rgb:6.0f}   "
            f"{ratio(game, 'game')} | {ratio(env_mmb, 'env+mmb')} | {batch / BATCH_TARGET:4.1f}x | {ratio(rgb, 'rgb')}"
        )


if __name__ == "__main__":
    main()
