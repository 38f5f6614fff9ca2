"""MMBench environments as TorchRL envs."""
from newt.envs.registry import (
    ALL_TASKS,
    DOMAINS,
    MAX_ACTION_DIM,
    MAX_OBS_DIM,
    TASKS,
    TaskInfo,
    task_info,
    task_set,
    task_sets,
)

__all__ = [
    "ALL_TASKS",
    "DOMAINS",
    "MAX_ACTION_DIM",
    "MAX_OBS_DIM",
    "TASKS",
    "TaskInfo",
    "task_info",
    "task_set",
    "task_sets",
]
