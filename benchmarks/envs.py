"""Env steps per second of MMBench tasks, next to the official stack's figures.

Single process, 1 torch thread, uniformly random actions, state observations; the loop is
``step_and_maybe_reset``, which is what collectors run. For each task it prints

* ``bare``: the simulator alone where the benchmark knows how to step it (dm_control: two
  control steps per env step, numpy actions) -- the ceiling, measured at the same moment, so
  ``native / bare`` stays meaningful on a loaded machine;
* ``native``: ``make_env(task)`` (the task's own widths);
* ``torchrl``: where TorchRL has a wrapper for the simulator, the plain TorchRL way to get the
  same env (dm_control: ``DMControlWrapper(frame_skip=2)`` + ``CatTensors`` + ``DoubleToFloat`` +
  ``StepCounter``), the alternative to our lean adapter; ``x`` is native / torchrl;
* ``layout``: ``make_env(task, mmbench_layout=True)`` (padded to 128/16, ``action_mask``,
  ``task``), the per-task env of the multitask env;

and for a group of tasks the multitask env (``make_multitask_env(tasks, num_workers=0)``, all
tasks stepped in this process), as env steps/s summed over tasks. ``official`` is the official
Newt multitask stack measured on the 2-core reference machine (ERRATA.md section 7); its
multitask figure is what stepping the same tasks one after another at the official per-task
rates gives. Ratios > 1 mean faster than the official stack. The machine these run on is
usually shared: treat figures as noisy.

Other domains add their tasks to ``OFFICIAL_STEPS_PER_S``.

Run: ``python benchmarks/envs.py [--tasks walker-walk cheetah-run] [--steps 2000]``
"""
from __future__ import annotations

import argparse
import time

import torch

import numpy as np

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


def steps_per_second(env, steps: int, repeats: int = 3) -> float:
    """Best of ``repeats`` runs of ``steps`` random steps (steps summed over the env's batch)."""
    spec = env.action_spec
    batch = env.batch_size.numel()
    best = 0.0
    for _ in range(repeats):
        td = env.reset()
        start = time.perf_counter()
        for _ in range(steps):
            td.set("action", torch.empty(spec.shape, dtype=spec.dtype).uniform_(-1, 1))
            _, td = env.step_and_maybe_reset(td)
        best = max(best, steps * batch / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(OFFICIAL_STEPS_PER_S))
    parser.add_argument("--multitask", nargs="+", default=list(MULTITASK_GROUP))
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(1)

    print("env steps/s; x = native / torchrl; ratio = ours / official; % bare = ours / bare")
    header = ["task", "official", "bare", "torchrl", "native", "x", "ratio", "% bare", "layout"]
    header += ["ratio", "% bare"]
    print(f"{header[0]:<22}" + "".join(f"{h:>9}" for h in header[1:]))
    for task in args.tasks:
        official = OFFICIAL_STEPS_PER_S.get(task)
        bare_stepper = BARE_STEPPERS.get(task_info(task).domain)
        alternative = TORCHRL_ALTERNATIVES.get(task_info(task).domain)
        try:
            bare = bare_stepper(task, args.steps) if bare_stepper else None
            torchrl = steps_per_second(alternative(task), args.steps) if alternative else None
            native = steps_per_second(make_env(task, seed=0), args.steps)
            layout = steps_per_second(make_env(task, seed=0, mmbench_layout=True), args.steps)
        except ImportError as err:
            print(f"{task:<22}skipped: {err}")
            continue
        cells = [official or "-"]
        cells += [f"{x:.0f}" if x else "-" for x in (bare, torchrl)]
        for ours in (native, layout):
            cells.append(f"{ours:.0f}")
            if ours is native:
                cells.append(f"{native / torchrl:.2f}" if torchrl else "-")
            cells += [f"{ours / official:.2f}" if official else "-"]
            cells.append(f"{100 * ours / bare:.0f}%" if bare else "-")
        print(f"{task:<22}" + "".join(f"{c:>9}" for c in cells))

    tasks = args.multitask
    env = make_multitask_env(tasks, seed=0, num_workers=0)
    multitask = steps_per_second(env, max(1, args.steps // len(tasks)))
    env.close()
    known = [OFFICIAL_STEPS_PER_S[t] for t in tasks if t in OFFICIAL_STEPS_PER_S]
    official = len(tasks) / sum(1 / f for f in known) if len(known) == len(tasks) else None
    ratio = f"{multitask / official:.2f}" if official else "-"
    official_text = f"{official:.0f}" if official else "-"
    print(
        f"\nmultitask env, {len(tasks)} tasks in-process ({', '.join(tasks)}): "
        f"{multitask:.0f} env steps/s (official {official_text}, ratio {ratio})"
    )


if __name__ == "__main__":
    main()
