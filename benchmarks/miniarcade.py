"""MiniArcade speed, side by side with the official games when their code is given.

Per task, single process, one thread, random actions, state observations unless noted:

* ``game``: the bare game class with ``num_envs=1`` (steps/s), which runs its single-copy code;
* ``1x batch``: the same game with ``scalar_path=False``, i.e. its batched numpy code on one copy;
* ``env+mmb``: ``newt.envs.make_env(task, mmbench_layout=True)`` (padding, action mask, task
  index), stepped with ``step_and_maybe_reset``: the counterpart of the official multitask
  stack;
* ``batch``: ``make_miniarcade_env(task, num_envs=256)`` (env steps/s);
* ``rgb``: ``make_miniarcade_env(task, obs="rgb")`` (frames/s).

Each figure is the best of ``--rounds`` bursts that take turns with the task's other
measurements, so a slow spell of the (shared) machine hits every column alike.

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
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(20):
            step()
        calls += 20
    return calls * per_call / elapsed


def best_rates(steps: dict, seconds: float, rounds: int) -> dict:
    """Steps/s of each ``name -> (step, per_call)``: the best of ``rounds`` bursts of
    ``seconds / rounds``, the steppers taking turns, so that a slow spell of the machine hits
    ours and the official code alike."""
    for step, _ in steps.values():
        step()
    best = dict.fromkeys(steps, 0.0)
    for _ in range(rounds):
        for name, (step, per_call) in steps.items():
            best[name] = max(best[name], _timed(step, seconds / rounds, per_call))
    return best


def game_step(task: str, scalar_path: bool = True):
    game = make_game(task, num_envs=1, seed=0)
    game.scalar_path = game.scalar_path and scalar_path
    game.reset()
    actions = np.random.default_rng(0).uniform(-1, 1, (1000, 1, game.action_dim)).astype(np.float32)
    counter = iter(range(10**9))

    def step():
        game.step(actions[next(counter) % 1000])

    return step


def env_step(env):
    td = env.reset()
    actions = env.full_action_spec["action"].rand((100,))
    counter = iter(range(10**9))

    def step():
        nonlocal td
        td["action"] = actions[next(counter) % 100]
        _, td = env.step_and_maybe_reset(td)

    return step


def official_game_step(cls):
    game = cls()
    game.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (1000, *game.action_space.shape)).astype(np.float32)
    counter = iter(range(10**9))

    def step():
        *_, terminated, truncated, _ = game.step(actions[next(counter) % 1000])
        if terminated or truncated:
            game.reset()

    return step


def official_stack_step(stack):
    stack.reset()
    return lambda: stack.step(stack.rand_act())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=[t for t in TASKS if t in GAMES])
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement, over all rounds")
    parser.add_argument("--rounds", type=int, default=5, help="bursts per measurement (best kept)")
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(1)
    official = official_envs(os.environ["NEWT_OFFICIAL_PATH"]) if "NEWT_OFFICIAL_PATH" in os.environ else None
    columns = ["game", "1x batch", "off game", "ratio", "env+mmb", "off stack", "ratio", "batch", "/100k", "rgb"]
    print(f"{'task':31s}" + "".join(f"{c:>10s}" for c in columns))
    for task in args.tasks:
        steps = {
            "game": (game_step(task), 1),
            "1x batch": (game_step(task, scalar_path=False), 1),
            "env+mmb": (env_step(make_env(task, seed=0, mmbench_layout=True)), 1),
            "batch": (env_step(make_miniarcade_env(task, seed=0, num_envs=args.batch)), args.batch),
            "rgb": (env_step(make_miniarcade_env(task, seed=0, obs="rgb")), 1),
        }
        if official is not None:
            classes, make_stack = official
            steps["off game"] = (official_game_step(classes[task]), 1)
            steps["off stack"] = (official_stack_step(make_stack(task)), 1)
        rate = best_rates(steps, args.seconds, args.rounds)
        game, game_batched, env_mmb, batch, rgb = (rate[k] for k in ("game", "1x batch", "env+mmb", "batch", "rgb"))
        if official is not None:
            off_game, off_stack = rate["off game"], rate["off stack"]
            game_ratio, stack_ratio = f"{game / off_game:.2f}x", f"{env_mmb / off_stack:.2f}x"
        else:
            (low, high), (slow, shigh) = OFFICIAL_RANGES["game"], OFFICIAL_RANGES["stack"]
            off_game, off_stack = f"{low // 1000}-{high // 1000}k", f"{slow // 1000}-{shigh // 1000}k"
            game_ratio = f"{game / high:.1f}-{game / low:.1f}x"
            stack_ratio = f"{env_mmb / shigh:.1f}-{env_mmb / slow:.1f}x"
        cells = [game, game_batched, off_game, game_ratio, env_mmb, off_stack, stack_ratio, batch,
                 f"{batch / BATCH_TARGET:.1f}x", rgb]
        print(f"{task:31s}" + "".join(f"{c:>10.0f}" if isinstance(c, float) else f"{c:>10s}" for c in cells),
              flush=True)


if __name__ == "__main__":
    main()
