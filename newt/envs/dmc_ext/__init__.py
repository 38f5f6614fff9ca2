"""MMBench's custom dm_control tasks (DMControl-ext) and the held-out DMC variants.

Tasks live in this package's own registry, :data:`TASKS`; nothing is added to dm_control's
global suite. :func:`load` returns a plain ``dm_control.rl.control.Environment`` with 1000
control steps per episode; the MMBench adapter (action repeat 2, flat float32 observation,
score, rgb) is applied by :mod:`newt.envs.dmcontrol`.

Example:
    >>> from newt.envs import dmc_ext
    >>> env = dmc_ext.load("cup-spin", seed=0)
    >>> time_step = env.reset()
    >>> list(time_step.observation), env.action_spec().shape, dmc_ext.camera_id("cup-spin")
    (['position', 'velocity'], (2,), 0)
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dm_control.rl import control
from dm_control.suite import ball_in_cup, base, cartpole, cheetah, hopper, pendulum, reacher, walker

from newt.envs.contract import check_seed
from newt.envs.dmc_ext import models
from newt.envs.dmc_ext.tasks import (
    BackwardCheetah,
    BackwardHopper,
    BackwardWalker,
    CheetahJump,
    CupSpin,
    GiraffeRun,
    HeightJump,
    OneLegCheetah,
    PendulumSpin,
    Spin,
    SpinnerPhysics,
    WalkerYoga,
)

__all__ = ["TASKS", "MMBENCH_TASKS", "HELD_OUT_TASKS", "camera_id", "load"]


@dataclass(frozen=True)
class _TaskSpec:
    """How to build one task: model, physics class, task factory and episode timing.

    ``time_limit / control_timestep`` is 1000 control steps for every task;
    ``control_timestep=None`` means one physics step per control step.
    """

    model: Callable[[], tuple]
    physics: type
    task: Callable[..., base.Task]
    time_limit: float
    control_timestep: float | None = None


def _walker(task: Callable[..., base.Task], model=models.walker) -> _TaskSpec:
    return _TaskSpec(model, walker.Physics, task, time_limit=25, control_timestep=0.025)


def _cheetah(task: Callable[..., base.Task]) -> _TaskSpec:
    return _TaskSpec(models.cheetah, cheetah.Physics, task, time_limit=10)


def _reacher(target_size: float) -> _TaskSpec:
    return _TaskSpec(
        models.reacher_three,
        reacher.Physics,
        lambda random: reacher.Reacher(target_size=target_size, random=random),
        time_limit=20,
    )


def _sparse_cartpole(model: Callable[[], tuple]) -> _TaskSpec:
    return _TaskSpec(
        model,
        cartpole.Physics,
        lambda random: cartpole.Balance(swing_up=False, sparse=True, random=random),
        time_limit=10,
    )


def _spinner(task: Callable[..., base.Task], model=models.spinner) -> _TaskSpec:
    return _TaskSpec(model, SpinnerPhysics, task, time_limit=10)


_WALK, _RUN = 1.0, 8.0

_MMBENCH: dict[str, _TaskSpec] = {
    "walker-walk-backward": _walker(lambda random: BackwardWalker(_WALK, random=random)),
    "walker-run-backward": _walker(lambda random: BackwardWalker(_RUN, random=random)),
    "cheetah-run-backward": _cheetah(BackwardCheetah),
    "cheetah-run-front": _cheetah(lambda random: OneLegCheetah("bfoot", random=random)),
    "cheetah-run-back": _cheetah(lambda random: OneLegCheetah("ffoot", random=random)),
    "cheetah-jump": _cheetah(CheetahJump),
    "hopper-hop-backward": _TaskSpec(
        models.hopper, hopper.Physics, BackwardHopper, time_limit=20, control_timestep=0.02
    ),
    "reacher-three-easy": _reacher(target_size=0.05),
    "reacher-three-hard": _reacher(target_size=0.015),
    "cup-spin": _TaskSpec(
        models.ball_in_cup, ball_in_cup.Physics, CupSpin, time_limit=20, control_timestep=0.02
    ),
    "pendulum-spin": _TaskSpec(models.pendulum, pendulum.Physics, PendulumSpin, time_limit=20),
    "jumper-jump": _TaskSpec(models.jumper, cheetah.Physics, HeightJump, time_limit=10),
    "spinner-spin": _spinner(lambda random: Spin(direction=1, random=random)),
    "spinner-spin-backward": _spinner(lambda random: Spin(direction=-1, random=random)),
    "spinner-jump": _spinner(HeightJump),
    "giraffe-run": _TaskSpec(models.giraffe, cheetah.Physics, GiraffeRun, time_limit=10),
}

_HELD_OUT: dict[str, _TaskSpec] = {
    "cartpole-balance-two-poles-sparse": _sparse_cartpole(models.cartpole_two_poles),
    "cartpole-balance-long-sparse": _sparse_cartpole(models.cartpole_long_pole),
    "walker-stand-incline": _walker(
        lambda random: walker.PlanarWalker(move_speed=0, random=random), models.walker_incline
    ),
    "walker-walk-incline": _walker(
        lambda random: walker.PlanarWalker(move_speed=_WALK, random=random), models.walker_incline
    ),
    "walker-run-incline": _walker(
        lambda random: walker.PlanarWalker(move_speed=_RUN, random=random), models.walker_incline
    ),
    "walker-arabesque": _walker(lambda random: WalkerYoga("arabesque", random=random)),
    "walker-lie-down": _walker(lambda random: WalkerYoga("lie_down", random=random)),
    "walker-legs-up": _walker(lambda random: WalkerYoga("legs_up", random=random)),
    "walker-headstand": _walker(lambda random: WalkerYoga("headstand", random=random)),
    "spinner-spin-four": _spinner(
        lambda random: Spin(direction=1, random=random), models.spinner_four
    ),
    "spinner-spin-backward-four": _spinner(
        lambda random: Spin(direction=-1, random=random), models.spinner_four
    ),
    "spinner-jump-four": _spinner(HeightJump, models.spinner_four),
}

_REGISTRY: dict[str, _TaskSpec] = {**_MMBENCH, **_HELD_OUT}

#: The 16 DMControl-ext tasks of MMBench, in MMBench order.
MMBENCH_TASKS: tuple[str, ...] = tuple(_MMBENCH)
#: The 12 held-out DMC variants (transfer experiments; not in any MMBench task set).
HELD_OUT_TASKS: tuple[str, ...] = tuple(_HELD_OUT)
#: Every task this package builds.
TASKS: tuple[str, ...] = MMBENCH_TASKS + HELD_OUT_TASKS


def _spec(task_name: str) -> _TaskSpec:
    try:
        return _REGISTRY[task_name]
    except KeyError:
        raise KeyError(
            f"Unknown DMControl-ext task {task_name!r}; known tasks: {', '.join(TASKS)}"
        ) from None


def load(task_name: str, seed: int | None = None) -> control.Environment:
    """Builds the dm_control environment of a DMControl-ext or held-out DMC task.

    Args:
        task_name: an MMBench task name from :data:`TASKS`, e.g. ``"jumper-jump"``.
        seed: seeds the task's ``numpy.random.RandomState`` (all initial-state randomness);
            ``None`` draws fresh entropy.

    Returns:
        A ``dm_control.rl.control.Environment`` whose episodes last 1000 control steps.

    Raises:
        KeyError: ``task_name`` is not one of :data:`TASKS`.
        TypeError: ``seed`` is neither ``None`` nor an int.
    """
    spec = _spec(task_name)
    check_seed(seed)
    physics = spec.physics.from_xml_string(*spec.model())
    return control.Environment(
        physics,
        spec.task(random=None if seed is None else int(seed)),
        time_limit=spec.time_limit,
        control_timestep=spec.control_timestep,
    )


def camera_id(task_name: str) -> int:
    """Index of the camera MMBench renders ``task_name`` with.

    Always 0 here: the first camera of every model (``side`` for the walker, cheetah,
    jumper, spinner and giraffe, ``cam0`` for hopper and cup, ``fixed`` for reacher,
    pendulum and cartpole), as the official adapter renders every non-quadruped task.

    Raises:
        KeyError: ``task_name`` is not one of :data:`TASKS`.
    """
    _spec(task_name)
    return 0
