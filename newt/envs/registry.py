"""The MMBench task table: one row per task, loaded once from ``data/tasks.csv``.

The table holds the 200 MMBench tasks (in the official order, ``index`` 0-199) and 34
held-out tasks used for transfer experiments (``index`` is ``None`` for those).

Example:
    >>> from newt.envs import TASKS, task_info, task_set
    >>> len(TASKS)
    200
    >>> task_info("walker-walk").episode_length
    500
    >>> len(task_set("dmcontrol"))
    21
"""
from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass
from importlib import resources

__all__ = [
    "DOMAINS",
    "MAX_ACTION_DIM",
    "MAX_OBS_DIM",
    "TASKS",
    "ALL_TASKS",
    "TaskInfo",
    "task_info",
    "task_set",
    "task_sets",
]

#: Width every observation is zero-padded to in the multitask setting.
MAX_OBS_DIM = 128
#: Width of the padded action every agent outputs.
MAX_ACTION_DIM = 16

#: The ten MMBench domains, in the official task order.
DOMAINS = (
    "dmcontrol",
    "dmcontrol-ext",
    "metaworld",
    "maniskill",
    "mujoco",
    "box2d",
    "robodesk",
    "ogbench",
    "miniarcade",
    "atari",
)


@dataclass(frozen=True)
class TaskInfo:
    """Static facts about one MMBench task.

    Attributes:
        name: the task name, e.g. ``"walker-walk"``.
        domain: one of :data:`DOMAINS`.
        index: position in the 200-task MMBench list, ``None`` for held-out tasks.
        split: ``"mmbench"`` or ``"held-out"``.
        action_dim: true action width, before padding to :data:`MAX_ACTION_DIM`.
        episode_length: agent steps per episode (episodes never end early).
        discount: the task's discount factor.
        discount_source: ``"given"`` (task's own value) or ``"heuristic"``.
        embodiment: language description of the body.
        instruction: language description of the task.
    """

    name: str
    domain: str
    index: int | None
    split: str
    action_dim: int
    episode_length: int
    discount: float
    discount_source: str
    embodiment: str
    instruction: str

    @property
    def text(self) -> str:
        """The language prompt of the task: ``"<embodiment>. <instruction>."``."""
        return f"{self.embodiment}. {self.instruction}."


def _load() -> dict[str, TaskInfo]:
    rows = {}
    with resources.files("newt.envs").joinpath("data/tasks.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            index = row["mmbench_index"]
            rows[row["task"]] = TaskInfo(
                name=row["task"],
                domain=row["domain"],
                index=int(index) if index != "" else None,
                split=row["split"],
                action_dim=int(row["action_dim"]),
                episode_length=int(row["episode_length"]),
                discount=float(row["discount"]),
                discount_source=row["discount_source"],
                embodiment=row["embodiment"],
                instruction=row["instruction"],
            )
    return rows


_INFO = _load()

#: The 200 MMBench task names, in the official order.
TASKS: tuple[str, ...] = tuple(
    sorted((t.name for t in _INFO.values() if t.index is not None), key=lambda n: _INFO[n].index)
)
#: Every known task: the 200 MMBench tasks followed by the 34 held-out tasks.
ALL_TASKS: tuple[str, ...] = TASKS + tuple(t.name for t in _INFO.values() if t.index is None)


def task_info(name: str) -> TaskInfo:
    """Return the :class:`TaskInfo` of ``name``.

    Raises:
        KeyError: for an unknown task, listing the closest known names.
    """
    try:
        return _INFO[name]
    except KeyError:
        close = difflib.get_close_matches(name, ALL_TASKS, n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise KeyError(
            f"Unknown MMBench task {name!r}.{hint} "
            f"See newt.envs.ALL_TASKS for the {len(ALL_TASKS)} known tasks."
        ) from None


def task_sets() -> dict[str, tuple[str, ...]]:
    """Named task sets: ``"mmbench"`` (all 200), one per domain, and ``"held-out"``."""
    sets = {"mmbench": TASKS}
    for domain in DOMAINS:
        sets[domain] = tuple(n for n in TASKS if _INFO[n].domain == domain)
    sets["held-out"] = tuple(n for n in ALL_TASKS if _INFO[n].index is None)
    return sets


def task_set(name: str) -> tuple[str, ...]:
    """Resolve a task-set name or a single task name to an ordered tuple of task names.

    ``"mmbench"`` gives all 200 tasks, a domain name gives that domain's MMBench tasks, and a
    task name gives a one-element tuple.

    Raises:
        KeyError: when ``name`` is neither a set nor a task.
    """
    sets = task_sets()
    if name in sets:
        return sets[name]
    if name in _INFO:
        return (name,)
    close = difflib.get_close_matches(name, list(sets) + list(ALL_TASKS), n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise KeyError(
        f"Unknown task or task set {name!r}.{hint} Task sets: {', '.join(sets)}."
    )
