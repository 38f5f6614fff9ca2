"""What every native MMBench env shares: its specs, seed checking, the fixed episode length."""
from __future__ import annotations

import numbers

import torch
from torchrl.data import Bounded, Categorical, Composite, Unbounded
from torchrl.envs import EnvBase, StepCounter, TransformedEnv

from newt.envs.registry import TaskInfo

__all__ = ["OBS_MODES", "check_obs", "check_seed", "fixed_length", "set_task_specs"]

#: Observation modes every task offers.
OBS_MODES = ("state", "rgb")


def check_obs(obs: str) -> None:
    """Raise ``ValueError`` unless ``obs`` is one of :data:`OBS_MODES`.

    Examples:
        >>> check_obs("depth")
        Traceback (most recent call last):
        ...
        ValueError: obs must be one of ('state', 'rgb'), got 'depth'.
    """
    if obs not in OBS_MODES:
        raise ValueError(f"obs must be one of {OBS_MODES}, got {obs!r}.")


def check_seed(seed) -> None:
    """Raise ``TypeError`` unless ``seed`` is ``None`` or an integer (a bool is not a seed).

    Examples:
        >>> check_seed(3)
        >>> check_seed("3")
        Traceback (most recent call last):
        ...
        TypeError: seed must be an int or None, got str '3'.
    """
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__} {seed!r}.")


def fixed_length(env: EnvBase, task: TaskInfo, seed: int | None) -> TransformedEnv:
    """``env`` truncated at ``task.episode_length`` (TorchRL's ``StepCounter``), seeded when
    ``seed`` is given: the last step of every domain builder whose simulator has no matching
    time limit of its own."""
    check_seed(seed)
    env = TransformedEnv(env, StepCounter(max_steps=task.episode_length))
    if seed is not None:
        env.set_seed(int(seed))
    return env


def set_task_specs(env: EnvBase, obs_dim: int, action_dim: int, render_size: int | None = None) -> None:
    """Give ``env`` the native MMBench specs.

    ``observation`` float32 ``[obs_dim]``, ``success`` and ``score`` float32 ``[1]``, with
    ``render_size``: ``pixels`` uint8 ``[3, render_size, render_size]``; ``action`` in
    ``[-1, 1]`` float32 ``[action_dim]``; ``reward`` float32 ``[1]``; bool ``done``,
    ``terminated``, ``truncated`` ``[1]``. Specs live on ``env.device``.

    Examples:
        >>> from torchrl.envs import EnvBase
        >>> class Env(EnvBase):
        ...     def __init__(self):
        ...         super().__init__()
        ...         set_task_specs(self, obs_dim=5, action_dim=2, render_size=64)
        ...     def _reset(self, td): ...
        ...     def _step(self, td): ...
        ...     def _set_seed(self, seed): ...
        >>> env = Env()
        >>> env.observation_spec["pixels"].shape, env.action_spec.shape
        (torch.Size([3, 64, 64]), torch.Size([2]))
    """
    device = env.device
    observation = Composite(
        observation=Unbounded((obs_dim,), dtype=torch.float32, device=device),
        success=Unbounded((1,), dtype=torch.float32, device=device),
        score=Unbounded((1,), dtype=torch.float32, device=device),
        device=device,
    )
    if render_size is not None:
        observation["pixels"] = Bounded(0, 255, (3, render_size, render_size), dtype=torch.uint8, device=device)
    env.observation_spec = observation
    env.action_spec = Bounded(-1.0, 1.0, (action_dim,), dtype=torch.float32, device=device)
    env.reward_spec = Unbounded((1,), dtype=torch.float32, device=device)
    flag = Categorical(2, (1,), dtype=torch.bool, device=device)
    env.full_done_spec = Composite(
        done=flag.clone(), terminated=flag.clone(), truncated=flag.clone(), device=device
    )
