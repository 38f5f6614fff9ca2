"""Build MMBench tasks as TorchRL envs: one (:func:`make_env`) or many (:func:`make_multitask_env`).

:func:`make_env` looks the task up in the registry and calls its domain's builder, imported
lazily so that only the packages of the domains you use need to be installed. The env has the
task's native widths; ``mmbench_layout=True`` adds the padded MMBench layout
(:func:`newt.envs.transforms.mmbench_layout`).

:func:`make_multitask_env` gives every task the padded layout and stacks them into one batched
env (a :class:`~newt.envs.multitask.MultiTaskEnv` per process) whose sub-env ``i`` runs
``tasks[i]``, with ``task`` index ``i``.

Example:
    >>> from newt.envs import make_env
    >>> env = make_env("walker-walk", seed=0)
    >>> env.rollout(4)["next", "observation"].shape
    torch.Size([4, 24])
"""
from __future__ import annotations

import functools
import importlib
import numbers
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torchrl.envs import BatchSizeTransform, EnvBase, ParallelEnv, TransformedEnv

from newt.envs.contract import OBS_MODES, check_obs, check_seed
from newt.envs.registry import ALL_TASKS, TaskInfo, task_info, task_set

__all__ = ["BUILDERS", "OBS_MODES", "make_env", "make_multitask_env", "resolve_tasks"]

#: Observation modes every task supports.


class Builder(NamedTuple):
    """Where a domain's env builder lives and which pip extra installs its packages."""

    module: str
    function: str
    extra: str


#: Domain -> builder. Modules are imported on first use.
BUILDERS: dict[str, Builder] = {
    "dmcontrol": Builder("newt.envs.dmcontrol", "make_dmcontrol_env", "dmc"),
    "dmcontrol-ext": Builder("newt.envs.dmcontrol", "make_dmcontrol_env", "dmc"),
    "mujoco": Builder("newt.envs.gym_mujoco", "make_mujoco_env", "mujoco"),
    "box2d": Builder("newt.envs.box2d", "make_box2d_env", "box2d"),
    "miniarcade": Builder("newt.envs.miniarcade", "make_miniarcade_env", "miniarcade"),
    "metaworld": Builder("newt.envs.metaworld", "make_metaworld_env", "metaworld"),
    "maniskill": Builder("newt.envs.maniskill", "make_maniskill_env", "maniskill"),
    "ogbench": Builder("newt.envs.ogbench", "make_ogbench_env", "ogbench"),
    "robodesk": Builder("newt.envs.robodesk", "make_robodesk_env", "robodesk"),
    "atari": Builder("newt.envs.atari", "make_atari_env", "atari"),
}


def _missing_packages(task: TaskInfo, builder: Builder, err: ImportError) -> ImportError:
    return ImportError(
        f"Task {task.name!r} (domain {task.domain!r}) needs packages that are not installed "
        f"({err}). Install them with: pip install 'newt[{builder.extra}]'"
    )


def _builder(task: TaskInfo):
    builder = BUILDERS[task.domain]
    try:
        module = importlib.import_module(builder.module)
    except ImportError as err:
        if err.name == builder.module:
            raise ImportError(
                f"Domain {task.domain!r} has no env module ({builder.module} is missing from "
                "this installation of newt)."
            ) from err
        raise _missing_packages(task, builder, err) from err
    return builder, getattr(module, builder.function)


def _check_common(obs: str, seed, render_size: int) -> None:
    check_obs(obs)
    check_seed(seed)
    if isinstance(render_size, bool) or not isinstance(render_size, int) or render_size <= 0:
        raise ValueError(f"render_size must be a positive int, got {render_size!r}.")


def _embedding_row(task: str, task_embedding) -> torch.Tensor | None:
    if task_embedding is None or task_embedding is False:
        return None
    if task_embedding is True:
        from newt.envs.language import instruction_embeddings

        return instruction_embeddings([task])[0]
    if isinstance(task_embedding, torch.Tensor):
        return task_embedding
    raise TypeError(
        f"task_embedding must be None, True (the shipped MiniLM table) or a 1-d Tensor, "
        f"got {type(task_embedding).__name__}."
    )


def make_env(
    task: str,
    obs: str = "state",
    seed: int | None = None,
    device="cpu",
    render_size: int = 224,
    *,
    mmbench_layout: bool = False,
    task_index: int | None = None,
    num_tasks: int | None = None,
    task_embedding: bool | torch.Tensor | None = None,
    **kwargs,
) -> EnvBase:
    """Build one MMBench task as a TorchRL env.

    The native env has ``observation`` (float32, the task's own width), ``action``
    (float32 in [-1, 1], the task's own width), ``reward``, ``done`` / ``terminated`` /
    ``truncated`` (episodes last exactly ``task_info(task).episode_length`` steps and never
    terminate), ``success`` and ``score``; ``obs="rgb"`` adds ``pixels`` (uint8
    ``[3, render_size, render_size]``).

    Args:
        task: an MMBench task name (see :data:`newt.envs.ALL_TASKS`).
        obs: ``"state"`` or ``"rgb"``.
        seed: seeds the env; the same seed gives the same episodes. ``None``: unseeded.
        device: device of the env's outputs.
        render_size: side of the ``pixels`` frame.

    Keyword Args:
        mmbench_layout: add the padded MMBench layout (observation 128, action 16 with
            ``action_mask``, int64 ``task``), as used by :func:`make_multitask_env`.
        task_index: the ``task`` value in the MMBench layout. Defaults to the task's position
            in :data:`~newt.envs.ALL_TASKS` (its MMBench index for the 200 tasks).
        num_tasks: range of ``task`` in the layout. Defaults to ``len(ALL_TASKS)`` (234).
        task_embedding: with the layout, also write ``task_embedding``: ``True`` for the
            shipped MiniLM instruction embedding, or a 1-d Tensor.
        **kwargs: passed to the domain builder.

    Raises:
        KeyError: unknown task (the message lists close names).
        ValueError: unknown ``obs``. TypeError: non-int ``seed``.
        ImportError: the domain's packages are missing (the message names the pip extra).

    Example:
        >>> env = make_env("cartpole-balance", mmbench_layout=True)
        >>> td = env.reset()
        >>> td["observation"].shape, td["task"].item()
        (torch.Size([128]), 8)
    """
    info = task_info(task)
    _check_common(obs, seed, render_size)
    builder, build = _builder(info)
    try:
        env = build(info, obs=obs, seed=seed, device=device, render_size=render_size, **kwargs)
    except ImportError as err:
        raise _missing_packages(info, builder, err) from err
    if not mmbench_layout:
        if task_index is not None or num_tasks is not None or task_embedding is not None:
            raise ValueError("task_index, num_tasks and task_embedding need mmbench_layout=True.")
        return env
    from newt.envs.transforms import MMBenchLayoutEnv

    return MMBenchLayoutEnv(
        env,
        task_index=ALL_TASKS.index(info.name) if task_index is None else task_index,
        num_tasks=len(ALL_TASKS) if num_tasks is None else num_tasks,
        task_embedding=_embedding_row(info.name, task_embedding),
    )


def resolve_tasks(tasks: str | Sequence[str]) -> tuple[str, ...]:
    """Turn a task-set name, a task name or a list of task names into a tuple of task names.

    Example:
        >>> resolve_tasks("dmcontrol")[:2]
        ('walker-stand', 'walker-walk')
    """
    names = task_set(tasks) if isinstance(tasks, str) else tuple(tasks)
    if not names:
        raise ValueError("Expected at least one task, got none.")
    for name in names:
        task_info(name)
    return names


def _multitask_group(
    names: Sequence[str],
    seeds: Sequence[int | None],
    task_indices: Sequence[int],
    num_tasks: int,
    task_embeddings: torch.Tensor | None,
    device,
    build_kwargs: dict,
) -> EnvBase:
    from newt.envs.multitask import MultiTaskEnv

    envs = [make_env(name, seed=seed, **build_kwargs) for name, seed in zip(names, seeds)]
    return MultiTaskEnv(
        envs, task_indices, num_tasks, task_embeddings=task_embeddings, device=device
    )


def _flatten_batch(data):
    # data: a tensordict or spec with batch dims [workers, tasks_per_worker, ...]
    return data.reshape(data.shape[0] * data.shape[1], *data.shape[2:])


class _FlattenWorkers(BatchSizeTransform):
    """Flatten a ``[workers, tasks_per_worker]`` batched env to ``[tasks]``.

    Reset inputs go through the inverse reshape too, so partial resets (``_reset`` masks) reach
    the right worker and sub-env.
    """

    enable_inv_on_reset = True

    def __init__(self):
        super().__init__(reshape_fn=_flatten_batch)


def _check_task_indices(task_indices, num_envs: int) -> list[int]:
    indices = list(task_indices)
    if len(indices) != num_envs:
        raise ValueError(
            f"task_indices must have one entry per task ({num_envs}), got {len(indices)}."
        )
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"task_indices must be ints, got {type(index).__name__} {index!r}.")
        if not 0 <= index < len(ALL_TASKS):
            raise ValueError(
                f"task_indices must lie in [0, {len(ALL_TASKS)}) (there are {len(ALL_TASKS)} "
                f"MMBench tasks), got {index}."
            )
    return [int(i) for i in indices]


def make_multitask_env(
    tasks: str | Sequence[str],
    obs: str = "state",
    seed: int | None = 0,
    num_workers: int = 0,
    device="cpu",
    render_size: int = 224,
    *,
    task_embeddings: bool | torch.Tensor | None = None,
    mp_start_method: str | None = None,
    task_indices: Sequence[int] | None = None,
    **kwargs,
) -> EnvBase:
    """Stack many MMBench tasks into one batched env with identical padded specs.

    Sub-env ``i`` runs ``tasks[i]`` in the MMBench layout: ``observation`` ``[N, 128]``,
    ``action`` ``[N, 16]`` (each sub-env uses its first ``action_dim`` entries; ``action_mask``
    says which), ``task`` ``[N, 1]``, ``success``, ``score`` and, with ``task_embeddings``,
    ``task_embedding``. By default ``task`` is the position of ``tasks[i]`` among the distinct
    tasks of the list in order of first appearance: ``i`` when the tasks are distinct, and
    ``0`` for every sub-env of ``["walker-walk"] * 4``; ``task_indices`` sets it explicitly.
    Episodes of different lengths end independently: a sub-env whose episode is done is reset
    on its own by TorchRL's partial reset (``step_and_maybe_reset``, ``rollout``, collectors).

    The tasks of one process are stepped by one :class:`~newt.envs.multitask.MultiTaskEnv`,
    so TorchRL's per-step work is paid once per batch, not once per task.

    Args:
        tasks: a task-set name (``"mmbench"``, ``"dmcontrol"``, ...), a task name, or a list.
        obs: ``"state"`` or ``"rgb"``.
        seed: sub-env ``i`` is seeded with ``seed + i``; ``None``: unseeded.
        num_workers: 0 steps every task in this process; ``W > 0`` runs ``W`` worker
            processes (``ParallelEnv``), each stepping ``len(tasks) / W`` tasks, so ``W`` must
            divide the number of tasks. The batch is ``[len(tasks)]`` either way.
        device: device of the batched env's outputs.
        render_size: side of the ``pixels`` frames.

    Keyword Args:
        task_embeddings: ``True`` for the shipped MiniLM instruction embeddings, or a Tensor
            ``[num_task_indices, D]`` whose row ``t`` is written where ``task == t`` (e.g. from
            :func:`newt.envs.load_official_task_embeddings`): one row per distinct task by
            default, the run's whole table with ``task_indices``.
        mp_start_method: multiprocessing start method of the workers.
        task_indices: the ``task`` of each sub-env, e.g. the global index of each task when a
            distributed run gives each rank a subset of its task list. Ints in
            ``[0, len(ALL_TASKS))``; the ``task`` spec then ranges over ``len(ALL_TASKS)``.
        **kwargs: passed to every domain builder.

    Raises:
        KeyError: unknown task. TypeError: non-int ``seed`` or ``task_indices``.
        ValueError: bad ``obs``, ``num_workers``, ``task_indices`` or ``task_embeddings``
            shape (the message names the allowed values).

    Example:
        >>> env = make_multitask_env(["cartpole-swingup", "reacher-easy"], seed=0)
        >>> td = env.rollout(3)
        >>> td["observation"].shape, td["task"][:, 0, 0].tolist()
        (torch.Size([2, 3, 128]), [0, 1])
        >>> make_multitask_env(["walker-walk"], task_indices=[1]).reset()["task"].tolist()
        [[1]]
    """
    names = resolve_tasks(tasks)
    _check_common(obs, seed, render_size)
    seed = None if seed is None else int(seed)
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers must be an int >= 0, got {num_workers!r}.")
    num_envs = len(names)
    if num_workers and num_envs % num_workers:
        divisors = [w for w in range(1, num_envs + 1) if num_envs % w == 0]
        raise ValueError(
            f"num_workers={num_workers} does not divide the {num_envs} tasks evenly; "
            f"use one of {divisors} (or 0 for no worker processes)."
        )
    if task_indices is None:
        distinct = tuple(dict.fromkeys(names))
        indices = [distinct.index(name) for name in names]
        num_tasks = len(distinct)
        rows_text = "one row per distinct task"
    else:
        indices = _check_task_indices(task_indices, num_envs)
        num_tasks = len(ALL_TASKS)
        rows_text = "rows up to the largest task index"
    num_rows = max(indices) + 1
    if task_embeddings is True:
        from newt.envs.language import instruction_embeddings

        embeddings = instruction_embeddings(names)
    elif isinstance(task_embeddings, torch.Tensor):
        if task_embeddings.ndim != 2 or task_embeddings.shape[0] < num_rows or (
            task_indices is None and task_embeddings.shape[0] != num_rows
        ):
            expected = f"[{num_rows}, D]" if task_indices is None else f"[>= {num_rows}, D]"
            raise ValueError(
                f"task_embeddings must have shape {expected} ({rows_text}), "
                f"got {tuple(task_embeddings.shape)}."
            )
        embeddings = task_embeddings[indices]
    elif task_embeddings is None or task_embeddings is False:
        embeddings = None
    else:
        raise TypeError(
            f"task_embeddings must be None, True or a Tensor, got {type(task_embeddings).__name__}."
        )
    seeds = [None if seed is None else seed + i for i in range(num_envs)]
    build_kwargs = dict(obs=obs, render_size=render_size, **kwargs)
    if num_workers == 0:
        return _multitask_group(
            names, seeds, indices, num_tasks, embeddings, device, build_kwargs
        )
    per_worker = num_envs // num_workers
    groups = []
    for w in range(num_workers):
        part = slice(w * per_worker, (w + 1) * per_worker)
        groups.append(
            functools.partial(
                _multitask_group,
                names[part],
                seeds[part],
                indices[part],
                num_tasks,
                None if embeddings is None else embeddings[part],
                "cpu",
                build_kwargs,
            )
        )
    workers = ParallelEnv(num_workers, groups, device=device, mp_start_method=mp_start_method)
    return TransformedEnv(workers, _FlattenWorkers())
