"""Env steps per second of MMBench tasks, next to the official stack's figures.

Single process, 1 torch thread, uniformly random actions, state observations; the loop is
``step_and_maybe_reset``, which is what collectors run. Every figure is the best of 3 runs,
as wall-clock steps/s and as steps per CPU-second of this process (``time.process_time``),
which a shared machine disturbs less. For each task it prints

* ``bare``: the simulator alone where the benchmark knows how to step it (dm_control: two
  control steps per env step, numpy actions) -- the ceiling, measured at the same moment, so
  ``/ bare`` stays meaningful on a loaded machine;
* ``torchrl``: where TorchRL has a wrapper for the simulator, the plain TorchRL way to get the
  same env (dm_control: ``DMControlWrapper(frame_skip=2)`` + ``CatTensors`` + ``DoubleToFloat`` +
  ``StepCounter``), the alternative to our lean adapter;
* ``native``: ``make_env(task)`` (the task's own widths);
* ``old``: the per-task env of the previous multitask stack, ``make_env(task,
  mmbench_layout=True)`` (padded to 128/16, ``action_mask``, ``task``) stepped in a
  ``SerialEnv`` of one;
* ``new``: ``make_multitask_env([task])``, the :class:`~newt.envs.multitask.MultiTaskEnv` of
  one task.

Then, for a group of tasks stepped together in this process, env steps/s summed over tasks of
the old stack (a ``SerialEnv`` of one ``MMBenchLayoutEnv`` per task, what
``make_multitask_env(tasks, num_workers=0)`` built before), the new one
(``make_multitask_env(tasks, num_workers=0)``) and the official stack. ``official`` is the
official Newt multitask stack measured on the 2-core reference machine (ERRATA.md section 7);
its group figure is what stepping the same tasks one after another at the official per-task
rates gives. Ratios > 1 mean faster than the alternative. The machine these run on is usually
shared: treat figures as noisy.

Other domains add their tasks to ``OFFICIAL_STEPS_PER_S``.

Run: ``python benchmarks/envs.py [--tasks walker-walk cheetah-run] [--steps 2000]``, or
``--per-domain`` for one task of each of the ten domains.
"""
from __future__ import annotations

import argparse
import functools
import time
from typing import NamedTuple

import numpy as np
import torch
from torchrl.envs import SerialEnv

from newt.envs import make_env, make_multitask_env, task_info

#: Official env steps/s per task (ERRATA.md section 7; 2-core machine, 1 thread).
OFFICIAL_STEPS_PER_S = {
    "walker-walk": 1760,
    "cheetah-run": 3430,
    "quadruped-run": 1430,
    "bipedal-walker-flat": 1700,
    "mujoco-ant": 1390,
    "mujoco-halfcheetah": 4900,
}
#: One task per MMBench domain (``--per-domain``).
DOMAIN_EXAMPLES = (
    "walker-walk", "cheetah-run-backward", "mw-reach", "ms-pick-cube", "mujoco-halfcheetah",
    "bipedal-walker-flat", "rd-open-slide", "og-point-maze", "pygame-pong", "atari-pong",
)
#: Tasks stepped together in the multitask measurement.
MULTITASK_GROUP = ("walker-walk", "cheetah-run", "quadruped-run")


def bare_dm_control(task: str, steps: int, repeats: int = 3) -> float:
    """dm_control alone: 2 control steps per env step, reset at the episode end."""
    from newt.envs.dmcontrol import ACTION_REPEAT, load_suite_task

    if task_info(task).domain == "dmcontrol":
        env = load_suite_task(task, seed=0)
    else:
        from newt.envs import dmc_ext

        env = dmc_ext.load(task, seed=0)
    shape = env.action_spec().shape
    rng = np.random.default_rng(0)
    best = 0.0
    for _ in range(repeats):
        env.reset()
        start = time.perf_counter()
        for _ in range(steps):
            action = rng.uniform(-1, 1, shape)
            for _ in range(ACTION_REPEAT):
                time_step = env.step(action)
            if time_step.last():
                env.reset()
        best = max(best, steps / (time.perf_counter() - start))
    return best


def torchrl_dm_control(task: str):
    """The same DMControl task through TorchRL's own wrapper and transforms."""
    from torchrl.envs import CatTensors, Compose, DMControlWrapper, DoubleToFloat, StepCounter
    from torchrl.envs import TransformedEnv

    from newt.envs.dmcontrol import load_suite_task

    env = DMControlWrapper(load_suite_task(task, seed=0), frame_skip=2)
    keys = list(env.observation_spec.keys())
    transforms = Compose(CatTensors(keys, "observation"), DoubleToFloat(), StepCounter(500))
    return TransformedEnv(env, transforms)


#: Domain -> bare-simulator measurement (other domains may add theirs).
BARE_STEPPERS = {"dmcontrol": bare_dm_control, "dmcontrol-ext": bare_dm_control}
#: Domain -> builder of the plain-TorchRL alternative env.
TORCHRL_ALTERNATIVES = {"dmcontrol": torchrl_dm_control}


def old_multitask_env(tasks, seed: int = 0):
    """The multitask stack before MultiTaskEnv: a SerialEnv of one MMBenchLayoutEnv per task."""
    distinct = list(dict.fromkeys(tasks))
    env_fns = [
        functools.partial(
            make_env,
            name,
            seed=seed + i,
            mmbench_layout=True,
            task_index=distinct.index(name),
            num_tasks=len(distinct),
        )
        for i, name in enumerate(tasks)
    ]
    return SerialEnv(len(tasks), env_fns)


class Rate(NamedTuple):
    """Env steps per wall-clock second and per CPU-second of this process."""

    wall: float
    cpu: float


def _run(env, td, steps: int):
    spec = env.action_spec
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        td.set("action", torch.empty(spec.shape, dtype=spec.dtype).uniform_(-1, 1))
        _, td = env.step_and_maybe_reset(td)
    wall = time.perf_counter() - start
    cpu = max(time.process_time() - start_cpu, 1e-9)
    return td, Rate(steps * env.batch_size.numel() / wall, steps * env.batch_size.numel() / cpu)


def steps_per_second(envs: dict, steps: int, repeats: int = 3) -> dict[str, Rate]:
    """Best of ``repeats`` runs of ``steps`` random steps per env (steps summed over the batch).

    The envs take turns, one run each per round, so that they see the same machine load.
    """
    tds = {name: env.reset() for name, env in envs.items()}
    best = {name: Rate(0.0, 0.0) for name in envs}
    for _ in range(repeats):
        for name, env in envs.items():
            tds[name], rate = _run(env, tds[name], steps)
            best[name] = Rate(max(best[name].wall, rate.wall), max(best[name].cpu, rate.cpu))
    for env in envs.values():
        env.close()
    return best


def _ratio(x: float | None, y: float | None) -> str:
    return f"{x / y:.2f}" if x and y else "-"


def _rate(x: float | None) -> str:
    return f"{x:.0f}" if x else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(OFFICIAL_STEPS_PER_S))
    parser.add_argument("--per-domain", action="store_true",
                        help="benchmark one task of each domain instead of --tasks")
    parser.add_argument("--multitask", nargs="+", default=list(MULTITASK_GROUP))
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.per_domain:
        args.tasks = list(DOMAIN_EXAMPLES)

    print("env steps/s (wall / per CPU-second); ratios of wall rates unless marked cpu")
    header = ["task", "official", "bare", "torchrl", "native", "old", "new"]
    header += ["new/old", "cpu", "new/off", "cpu", "old/off", "nat/trl", "new/bare"]
    print(f"{header[0]:<22}" + "".join(f"{h:>11}" for h in header[1:]))
    for task in args.tasks:
        official = OFFICIAL_STEPS_PER_S.get(task)
        bare_stepper = BARE_STEPPERS.get(task_info(task).domain)
        alternative = TORCHRL_ALTERNATIVES.get(task_info(task).domain)
        try:
            bare = bare_stepper(task, args.steps) if bare_stepper else None
            envs = {
                "native": make_env(task, seed=0),
                "old": old_multitask_env([task]),
                "new": make_multitask_env([task], seed=0),
            }
            if alternative:
                envs["torchrl"] = alternative(task)
        except ImportError as err:
            print(f"{task:<22}skipped: {err}")
            continue
        rates = steps_per_second(envs, args.steps)
        native, old, new, torchrl = (rates.get(k) for k in ("native", "old", "new", "torchrl"))
        cells = [_rate(official), _rate(bare), _rate(torchrl and torchrl.wall)]
        cells += [f"{r.wall:.0f}/{r.cpu:.0f}" for r in (native, old, new)]
        cells += [_ratio(new.wall, old.wall), _ratio(new.cpu, old.cpu)]
        cells += [_ratio(new.wall, official), _ratio(new.cpu, official)]
        cells += [_ratio(old.wall, official), _ratio(native.wall, torchrl and torchrl.wall)]
        cells += [_ratio(new.wall, bare)]
        print(f"{task:<22}" + "".join(f"{c:>11}" for c in cells))

    tasks = args.multitask
    steps = max(1, args.steps // len(tasks))
    try:
        envs = {
            "old": old_multitask_env(tasks),
            "new": make_multitask_env(tasks, seed=0, num_workers=0),
        }
    except ImportError as err:
        print(f"\nmultitask group skipped: {err}")
        return
    old, new = steps_per_second(envs, steps, repeats=5).values()
    known = [OFFICIAL_STEPS_PER_S[t] for t in tasks if t in OFFICIAL_STEPS_PER_S]
    official = len(tasks) / sum(1 / f for f in known) if len(known) == len(tasks) else None
    print(f"\nmultitask env, {len(tasks)} tasks in this process ({', '.join(tasks)}):")
    print(f"  official {_rate(official)} env steps/s")
    for name, rate in (("old", old), ("new", new)):
        print(
            f"  {name:<8} {rate.wall:.0f} env steps/s wall, {rate.cpu:.0f} per CPU-second; "
            f"/ official: {_ratio(rate.wall, official)} wall, {_ratio(rate.cpu, official)} cpu"
        )
    print(f"  new / old: {_ratio(new.wall, old.wall)} wall, {_ratio(new.cpu, old.cpu)} cpu")


if __name__ == "__main__":
    main()
