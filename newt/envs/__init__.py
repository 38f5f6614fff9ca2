"""MMBench environments as TorchRL envs.

Example:
    >>> from newt.envs import make_env, make_multitask_env
    >>> make_env("walker-walk").rollout(2)["next", "reward"].shape
    torch.Size([2, 1])
"""
import os

# dm_control and gymnasium pick their OpenGL backend when first imported; default to headless
# EGL before any of them is (the user's own setting wins).
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

from newt.envs.factory import BUILDERS, OBS_MODES, make_env, make_multitask_env, resolve_tasks
from newt.envs.language import (
    EMBEDDING_DIM,
    compute_instruction_embeddings,
    instruction_embeddings,
    load_official_task_embeddings,
)
from newt.envs.multitask import MultiTaskEnv, RawStep
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
from newt.envs.transforms import (
    ConstantEntry,
    PadAction,
    PadObservation,
    TaskEmbedding,
    TaskIndex,
    mmbench_layout,
)

__all__ = [
    "ALL_TASKS",
    "BUILDERS",
    "DOMAINS",
    "EMBEDDING_DIM",
    "MAX_ACTION_DIM",
    "MAX_OBS_DIM",
    "MultiTaskEnv",
    "OBS_MODES",
    "RawStep",
    "TASKS",
    "ConstantEntry",
    "PadAction",
    "PadObservation",
    "TaskEmbedding",
    "TaskIndex",
    "TaskInfo",
    "compute_instruction_embeddings",
    "instruction_embeddings",
    "load_official_task_embeddings",
    "make_env",
    "make_multitask_env",
    "mmbench_layout",
    "resolve_tasks",
    "task_info",
    "task_set",
    "task_sets",
]
