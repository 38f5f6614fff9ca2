"""MiniArcade: the 19 (+4 held-out) ``pygame-*`` MMBench tasks as batched numpy games.

Each task maps to a game class (a :class:`~newt.envs.miniarcade.core.MiniArcadeGame`), its
constructor arguments and the score normalisation of the official wrapper. Game modules are
imported only when their task is built.

Example:
    >>> from newt.envs.miniarcade import make_miniarcade_env
    >>> env = make_miniarcade_env("pygame-pong", seed=0)
    >>> td = env.rollout(3)
    >>> td["observation"].shape, td["next", "score"].shape
    (torch.Size([3, 6]), torch.Size([3, 1]))
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "GAMES",
    "UNIMPLEMENTED",
    "GameEntry",
    "game_entry",
    "make_game",
    "make_miniarcade_env",
    "MiniArcadeEnv",
]


@dataclass(frozen=True)
class GameEntry:
    """How to build one MiniArcade task and normalise its score.

    ``score = clip((return + score_shift) / score_scale, 0, 1)``, or, with
    ``score_is_success``, the ``success`` of the current step.

    Attributes:
        module: module name inside :mod:`newt.envs.miniarcade`.
        cls: game class name in that module.
        kwargs: constructor arguments that select the variant.
        score_shift: added to the running return before scaling.
        score_scale: divisor of the shifted return.
        score_is_success: the score is the per-step success instead of the return.
    """

    module: str
    cls: str
    kwargs: dict = field(default_factory=dict)
    score_shift: float = 0.0
    score_scale: float = 1.0
    score_is_success: bool = False

    def score(self, episode_return: np.ndarray, success: np.ndarray) -> np.ndarray:
        """Normalised score in ``[0, 1]`` of running returns (or the successes), a new float32 array."""
        if self.score_is_success:
            return np.array(success, np.float32)
        if episode_return.size == 1:  # one env steps through here every step: Python floats are cheaper
            score = (episode_return.item() + self.score_shift) / self.score_scale
            return np.array([min(max(score, 0.0), 1.0)], np.float32).reshape(episode_return.shape)
        score = np.minimum(np.maximum((episode_return + self.score_shift) / self.score_scale, 0.0), 1.0)
        return score.astype(np.float32)


def _cartpole(task: str, sparse: bool = False, tremor: bool = False) -> GameEntry:
    return GameEntry("cartpole", "Cartpole", {"task": task, "sparse": sparse, "tremor": tremor}, 0.0, 500.0)


#: Every implemented MiniArcade task: name -> :class:`GameEntry`.
GAMES: dict[str, GameEntry] = {
    "pygame-cowboy": GameEntry("cowboy", "Cowboy", {}, 0.0, 500.0),
    "pygame-coinrun": GameEntry("coinrun", "CoinRun", {}, 0.0, 50.0),
    "pygame-spaceship": GameEntry("spaceship", "Spaceship", {}, 0.0, 60.0),
    "pygame-pong": GameEntry("pong", "Pong", {}, 3.0, 6.0),
    "pygame-bird-attack": GameEntry("bird_attack", "BirdAttack", {}, 0.0, 16.0),
    "pygame-highway": GameEntry("highway", "Highway", {}, 0.0, 10.0),
    "pygame-landing": GameEntry("landing", "Landing", {}, 0.0, 200.0),
    "pygame-air-hockey": GameEntry("air_hockey", "AirHockey", {}, 0.0, 10.0),
    "pygame-rocket-collect": GameEntry("rocket_collect", "RocketCollect", {}, 0.0, 25.0),
    "pygame-chase-evade": GameEntry("chase_evade", "ChaseEvade", {}, 50.0, 100.0),
    "pygame-coconut-dodge": GameEntry("coconut_dodge", "CoconutDodge", {}, 15.0, 15.0),
    "pygame-cartpole-balance": _cartpole("balance"),
    "pygame-cartpole-swingup": _cartpole("swingup"),
    "pygame-cartpole-balance-sparse": _cartpole("balance", sparse=True),
    "pygame-cartpole-swingup-sparse": _cartpole("swingup", sparse=True),
    "pygame-cartpole-tremor": _cartpole("balance", tremor=True),
    **{
        f"pygame-point-maze-var{k}": GameEntry("point_maze", "PointMaze", {"variant": k}, score_is_success=True)
        for k in (1, 2, 3, 4)
    },
    "pygame-reacher-easy": GameEntry("reacher", "Reacher", {"variant": "easy"}, 0.0, 200.0),
    "pygame-reacher-hard": GameEntry("reacher", "Reacher", {"variant": "hard"}, 0.0, 200.0),
}

#: Task names listed in ``tasks.csv`` that the official code never implemented.
UNIMPLEMENTED: tuple[str, ...] = (
    *(f"pygame-point-maze-var{k}" for k in (5, 6, 7, 8)),
    "pygame-reacher-var1",
    "pygame-reacher-var2",
)


def game_entry(task: str) -> GameEntry:
    """The :class:`GameEntry` of ``task``; ``ValueError`` naming the known tasks otherwise."""
    if task in GAMES:
        return GAMES[task]
    if task in UNIMPLEMENTED:
        raise ValueError(
            f"Unknown task {task!r}: it is listed in tasks.csv but has no implementation in the "
            f"official MiniArcade code. Implemented tasks: {sorted(GAMES)}"
        )
    raise ValueError(f"Unknown task {task!r}. MiniArcade tasks: {sorted(GAMES)}")


def make_game(task: str, num_envs: int = 1, seed: int | None = None, **kwargs):
    """Build the bare batched game of ``task`` (``kwargs`` override the variant's arguments).

    Example:
        >>> game = make_game("pygame-pong", num_envs=4, seed=0)
        >>> game.reset().shape
        (4, 6)
    """
    entry = game_entry(task)
    module = importlib.import_module(f"{__name__}.{entry.module}")
    cls = getattr(module, entry.cls)
    return cls(num_envs=num_envs, seed=seed, **{**entry.kwargs, **kwargs})


from newt.envs.miniarcade.env import MiniArcadeEnv, make_miniarcade_env  # noqa: E402
