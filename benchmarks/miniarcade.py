"""MiniArcade speed, side by side with the official games when their code is given.

Per task, single process, one thread, random actions, state observations unless noted:

* ``game``: the bare batched game class with ``num_envs=1`` (steps/s);
* ``env+mmb``: ``newt.envs.make_env(task, mmbench_layout=True)`` (padding, action mask, task
  index), stepped with ``step_and_maybe_reset``: the counterpart of the official multitask
  stack;
* ``batch``: ``make_miniarcade_env(task, num_envs=256)`` (env steps/s);
* ``rgb``: ``make_miniarcade_env(task, obs="rgb")`` (frames/s).

With ``NEWT_OFFICIAL_PATH`` (the official ``tdmpc2/`` directory), the same run also times the
official game class (``off game``) and the official stack for one task (``off stack``: their
pygame wrapper, padding wrapper, ``SyncVectorEnv`` of one env and their multitask wrapper with
torch tensors and autoreset) and prints our figure over theirs. Three in-process shims make the
official code run with the packages installed here, nothing else is changed: their
vision-encoder module (which imports ``transformers``) is not imported, gymnasium 1.x's
``Wrapper`` accepts their vector env as gymnasium 0.29 did, and their pygame wrapper is called
without the ``seed`` argument gymnasium 1.x passes to ``reset``. Without it, the official
ranges measured on the 2-core dev box (ERRATA §7) are printed instead.

    git -C <official newt clone> archive HEAD tdmpc2 | tar -x -C /tmp/official
    NEWT_OFFICIAL_PATH=/tmp/official/tdmpc2 python benchmarks/miniarcade.py --seconds 1
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

#: ERRATA §7 ranges (2-core dev box), printed when the official code is not given.
OFFICIAL_RANGES = {"game": (12_600, 74_600), "stack": (4_800, 7_900), "rgb": (1_100, 2_200)}
BATCH_TARGET = 100_000


def official_envs(root: str):
    """``(game_classes, make_stack)`` from the official code at ``root`` (see the module doc)."""
    import sys
    import types

    import gymnasium as gym
    from omegaconf import OmegaConf

    sys.path.insert(0, root)
    for name in ("envs", "envs.wrappers"):
        package = types.ModuleType(name)
        package.__path__ = [os.path.join(root, *name.split("."))]
        sys.modules.setdefault(name, package)
    embedding = types.ModuleType("envs.wrappers.embedding")
    embedding.EmbeddingWrapper = None
    sys.modules.setdefault(embedding.__name__, embedding)
    wrapper_init = gym.Wrapper.__init__

    def lenient_init(self, env):
        if isinstance(env, gym.vector.VectorEnv):
            self.env = env
            self._action_space = self._observation_space = self._metadata = self._cached_spec = None
        else:
            wrapper_init(self, env)

    gym.Wrapper.__init__ = lenient_init

    from envs.pygame import PYGAME_TASKS, make_env
    from envs.wrappers.vectorized_multitask import VectorizedMultitaskWrapper

    class WithoutSeed(gym.Wrapper):
        def reset(self, **kwargs):
            return self.env.reset()

    def make_stack(task: str):
        cfg = OmegaConf.create(dict(
            task=task, tasks=[task], num_tasks=1, num_envs=1, child_env=False, seed=0, obs="state",
            rank=1, episode_lengths=[500], action_dims=[2], save_video=False, env_mode="sync",
            render_size=224, num_demos=0,
        ))
        return VectorizedMultitaskWrapper(cfg, lambda c: WithoutSeed(make_env(c)))

    return PYGAME_TASKS, make_stack


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


def bench_official_game(cls, seconds: float) -> float:
    game = cls()
    game.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (1000, *game.action_space.shape)).astype(np.float32)
    counter = iter(range(10**9))

    def step():
        *_, terminated, truncated, _ = game.step(actions[next(counter) % 1000])
        if terminated or truncated:
            game.reset()

    return _timed(step, seconds)


def bench_official_stack(stack, seconds: float) -> float:
    stack.reset()
    return _timed(lambda: stack.step(stack.rand_act()), seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=[t for t in TASKS if t in GAMES])
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(1)
    official = official_envs(os.environ["NEWT_OFFICIAL_PATH"]) if "NEWT_OFFICIAL_PATH" in os.environ else None
    columns = ["game", "off game", "ratio", "env+mmb", "off stack", "ratio", "batch", "/100k", "rgb"]
    print(f"{'task':31s}" + "".join(f"{c:>10s}" for c in columns))
    for task in args.tasks:
        game = bench_game(task, args.seconds)
        env_mmb = bench_env(make_env(task, seed=0, mmbench_layout=True), args.seconds)
        batch = bench_env(make_miniarcade_env(task, seed=0, num_envs=args.batch), args.seconds, args.batch)
        rgb = bench_env(make_miniarcade_env(task, seed=0, obs="rgb"), args.seconds)
        if official is not None:
            classes, make_stack = official
            off_game = bench_official_game(classes[task], args.seconds)
            off_stack = bench_official_stack(make_stack(task), args.seconds)
            game_ratio, stack_ratio = f"{game / off_game:.2f}x", f"{env_mmb / off_stack:.2f}x"
        else:
            (low, high), (slow, shigh) = OFFICIAL_RANGES["game"], OFFICIAL_RANGES["stack"]
            off_game, off_stack = f"{low // 1000}-{high // 1000}k", f"{slow // 1000}-{shigh // 1000}k"
            game_ratio = f"{game / high:.1f}-{game / low:.1f}x"
            stack_ratio = f"{env_mmb / shigh:.1f}-{env_mmb / slow:.1f}x"
        cells = [game, off_game, game_ratio, env_mmb, off_stack, stack_ratio, batch,
                 f"{batch / BATCH_TARGET:.1f}x", rgb]
        print(f"{task:31s}" + "".join(f"{c:>10.0f}" if isinstance(c, float) else f"{c:>10s}" for c in cells),
              flush=True)


if __name__ == "__main__":
    main()
