"""MMBench layout transforms: give every task the same padded observation and action.

MMBench stacks tasks with different widths into one batch: observations are zero-padded to
:data:`~newt.envs.MAX_OBS_DIM` (128), actions are 16-wide (:data:`~newt.envs.MAX_ACTION_DIM`)
and each env slices them back to its own width, telling the agent which entries count through
a bool ``action_mask``. Each env also carries its int64 ``task`` index and, optionally, the
instruction's ``task_embedding``. These are ordinary TorchRL transforms, usable on any env.

Example:
    >>> import torch
    >>> from torchrl.envs import Compose, TransformedEnv
    >>> from newt.envs import make_env
    >>> from newt.envs.transforms import PadAction, PadObservation, TaskIndex
    >>> env = TransformedEnv(
    ...     make_env("cartpole-swingup", seed=0),
    ...     Compose(PadObservation(128), PadAction(16), TaskIndex(3, num_tasks=10)),
    ... )
    >>> td = env.rollout(2)
    >>> td["observation"].shape, td["action"].shape, td["action_mask"][0, :3].tolist()
    (torch.Size([2, 128]), torch.Size([2, 16]), [True, False, False])
    >>> td["task"][0].item()
    3
"""
from __future__ import annotations

import math

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.utils import NestedKey
from torchrl.data import Binary, Bounded, Categorical, Composite, TensorSpec, Unbounded
from torchrl.envs import Compose, EnvBase, Transform

from newt.envs.registry import MAX_ACTION_DIM, MAX_OBS_DIM

__all__ = [
    "ConstantEntry",
    "MMBenchLayoutEnv",
    "PadAction",
    "PadObservation",
    "TaskEmbedding",
    "TaskIndex",
    "mmbench_layout",
]


class PadObservation(Transform):
    """Zero-pad the last dimension of observation entries to ``max_dim``.

    Args:
        max_dim: width after padding. Defaults to 128.
        in_keys: entries to pad. Defaults to ``["observation"]``.

    Raises:
        ValueError: at spec time or step time, when an entry is already wider than ``max_dim``.

    Example:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> PadObservation(4)(TensorDict(observation=torch.ones(2))).get("observation")
        tensor([1., 1., 0., 0.])
    """

    def __init__(self, max_dim: int = MAX_OBS_DIM, in_keys: list[NestedKey] | None = None):
        in_keys = ["observation"] if in_keys is None else in_keys
        super().__init__(in_keys=in_keys, out_keys=in_keys)
        self.max_dim = max_dim
        self._zeros = {}  # (batch shape, width, dtype, device) -> padding, reused every step

    def _call(self, next_tensordict: TensorDictBase) -> TensorDictBase:
        # Transform._call's generic key handling, without its per-call overhead (once per step).
        for key in self.in_keys:
            obs = next_tensordict.get(key, None)
            if obs is not None:
                next_tensordict.set(key, self._apply_transform(obs))
            elif not self.missing_tolerance:
                raise KeyError(f"{self}: {key!r} not found in {next_tensordict}")
        return next_tensordict

    def _apply_transform(self, obs: torch.Tensor) -> torch.Tensor:
        width = obs.shape[-1]
        if width > self.max_dim:
            raise ValueError(
                f"Cannot pad an observation of width {width} to max_dim={self.max_dim}."
            )
        # Padding of the full batch shape: an expand per call would cost as much as the cat.
        cache_key = (obs.shape[:-1], width, obs.dtype, obs.device)
        zeros = self._zeros.get(cache_key)
        if zeros is None:
            if len(self._zeros) >= 16:  # data of ever-changing shapes (replay batches) stays bounded
                self._zeros.clear()
            zeros = self._zeros[cache_key] = obs.new_zeros(*obs.shape[:-1], self.max_dim - width)
        return torch.cat([obs, zeros], -1)

    def _reset(
        self, tensordict: TensorDictBase, tensordict_reset: TensorDictBase
    ) -> TensorDictBase:
        return self._call(tensordict_reset)

    def transform_observation_spec(self, observation_spec: Composite) -> Composite:
        for key in self.in_keys:
            spec = observation_spec[key]
            if spec.shape[-1] > self.max_dim:
                raise ValueError(
                    f"Cannot pad {key!r} of width {spec.shape[-1]} to max_dim={self.max_dim}."
                )
            observation_spec[key] = Unbounded(
                (*spec.shape[:-1], self.max_dim), dtype=spec.dtype, device=spec.device
            )
        return observation_spec


class PadAction(Transform):
    """Expose a ``max_dim``-wide action; the env receives its first ``action_dim`` entries.

    The padded action spec keeps the env's bounds on the true entries and [-1, 1] on the
    padding. Every reset and step writes a bool ``action_mask`` (True on the true entries).

    Args:
        max_dim: exposed action width. Defaults to 16.
        action_key: the action entry. Defaults to ``"action"``.
        mask_key: where to write the mask. Defaults to ``"action_mask"``.

    Raises:
        ValueError: when a step gets an action whose width is not ``max_dim`` or that
            contains NaN, or when the env's action is wider than ``max_dim``.

    Example:
        >>> from torchrl.envs import TransformedEnv
        >>> from newt.envs import make_env
        >>> env = TransformedEnv(make_env("pendulum-swingup"), PadAction(16))
        >>> env.action_spec.shape, env.reset()["action_mask"].sum().item()
        (torch.Size([16]), 1)
    """

    def __init__(
        self,
        max_dim: int = MAX_ACTION_DIM,
        action_key: NestedKey = "action",
        mask_key: NestedKey = "action_mask",
    ):
        super().__init__(
            in_keys=[], out_keys=[mask_key], in_keys_inv=[action_key], out_keys_inv=[action_key]
        )
        self.max_dim = max_dim
        self.action_key = action_key
        self.mask_key = mask_key
        self._action_dim = None
        self._mask = None

    @property
    def action_dim(self) -> int:
        """Width of the wrapped env's action (read from the parent env once)."""
        if self._action_dim is None:
            self._action_dim = self.parent.full_action_spec[self.action_key].shape[-1]
        return self._action_dim

    def _call(self, next_tensordict: TensorDictBase) -> TensorDictBase:
        if self._mask is None:
            self._mask = torch.arange(self.max_dim, device=next_tensordict.device) < self.action_dim
        mask = self._mask.expand(*next_tensordict.batch_size, self.max_dim).clone()
        return next_tensordict.set(self.mask_key, mask)

    def _reset(
        self, tensordict: TensorDictBase, tensordict_reset: TensorDictBase
    ) -> TensorDictBase:
        return self._call(tensordict_reset)

    def _inv_call(self, tensordict: TensorDictBase) -> TensorDictBase:
        action = tensordict.get(self.action_key, None)
        if action is None:  # reset inputs carry no action
            return tensordict
        if action.shape[-1] != self.max_dim:
            raise ValueError(
                f"Expected a padded action of width {self.max_dim}, "
                f"got shape {tuple(action.shape)}."
            )
        if math.isnan(action.sum()):  # one reduction; NaN anywhere makes the sum NaN
            raise ValueError(f"The action contains NaN: {action.tolist()}.")
        return tensordict.set(self.action_key, action[..., : self.action_dim])

    def transform_action_spec(self, action_spec: Composite) -> Composite:
        spec = action_spec[self.action_key]
        width = spec.shape[-1]
        if width > self.max_dim:
            raise ValueError(
                f"Cannot pad an action of width {width} to max_dim={self.max_dim}."
            )
        self._action_dim = width
        shape = (*spec.shape[:-1], self.max_dim)
        if isinstance(spec, Bounded):
            pad = (0, self.max_dim - width)
            low = torch.nn.functional.pad(spec.space.low, pad, value=-1.0)
            high = torch.nn.functional.pad(spec.space.high, pad, value=1.0)
            action_spec[self.action_key] = Bounded(
                low, high, shape, dtype=spec.dtype, device=spec.device
            )
        else:
            action_spec[self.action_key] = Unbounded(shape, dtype=spec.dtype, device=spec.device)
        return action_spec

    def transform_observation_spec(self, observation_spec: Composite) -> Composite:
        observation_spec[self.mask_key] = Binary(
            n=self.max_dim,
            shape=(*observation_spec.shape, self.max_dim),
            dtype=torch.bool,
            device=observation_spec.device,
        )
        return observation_spec


class ConstantEntry(Transform):
    """Write the same tensor under ``key`` at every reset and step.

    Args:
        key: the entry to write.
        value: the tensor (expanded over the env's batch dimensions).
        spec: its spec (shape = ``value.shape``); Unbounded of ``value``'s dtype if omitted.

    Example:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> ConstantEntry("goal", torch.ones(2))(TensorDict()).get("goal")
        tensor([1., 1.])
    """

    def __init__(self, key: NestedKey, value: torch.Tensor, spec: TensorSpec | None = None):
        super().__init__(in_keys=[], out_keys=[key])
        self.key = key
        self.register_buffer("value", value)
        self.spec = spec if spec is not None else Unbounded(value.shape, dtype=value.dtype)

    def _call(self, next_tensordict: TensorDictBase) -> TensorDictBase:
        value = self.value.expand(*next_tensordict.batch_size, *self.value.shape).clone()
        return next_tensordict.set(self.key, value)

    forward = _call

    def _reset(
        self, tensordict: TensorDictBase, tensordict_reset: TensorDictBase
    ) -> TensorDictBase:
        return self._call(tensordict_reset)

    def transform_observation_spec(self, observation_spec: Composite) -> Composite:
        spec = self.spec.to(observation_spec.device)
        observation_spec[self.key] = spec.expand(*observation_spec.shape, *spec.shape)
        return observation_spec


class TaskIndex(ConstantEntry):
    """Write the int64 ``task`` index (shape ``[1]``) at every reset and step.

    Args:
        index: the task's index, in ``[0, num_tasks)``.

    Keyword Args:
        num_tasks: number of tasks the index ranges over (the spec is ``Categorical(num_tasks)``).
        key: the entry to write. Defaults to ``"task"``.

    Example:
        >>> from tensordict import TensorDict
        >>> TaskIndex(2, num_tasks=5)(TensorDict()).get("task")
        tensor([2])
    """

    def __init__(self, index: int, *, num_tasks: int, key: NestedKey = "task"):
        if not 0 <= index < num_tasks:
            raise ValueError(f"Task index {index} is outside [0, num_tasks={num_tasks}).")
        super().__init__(
            key,
            torch.tensor([index], dtype=torch.int64),
            Categorical(num_tasks, (1,), dtype=torch.int64),
        )


class TaskEmbedding(ConstantEntry):
    """Write the task's instruction embedding (float32 ``[D]``) at every reset and step.

    Args:
        embedding: a 1-d tensor, e.g. a row of :func:`newt.envs.instruction_embeddings`.

    Keyword Args:
        key: the entry to write. Defaults to ``"task_embedding"``.

    Example:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> TaskEmbedding(torch.zeros(384))(TensorDict()).get("task_embedding").shape
        torch.Size([384])
    """

    def __init__(self, embedding: torch.Tensor, *, key: NestedKey = "task_embedding"):
        if embedding.ndim != 1:
            raise ValueError(f"Expected a 1-d embedding, got shape {tuple(embedding.shape)}.")
        super().__init__(key, embedding.detach().to(torch.float32))


def mmbench_layout(
    task_index: int,
    num_tasks: int,
    task_embedding: torch.Tensor | None = None,
    max_obs_dim: int = MAX_OBS_DIM,
    max_action_dim: int = MAX_ACTION_DIM,
) -> Compose:
    """The MMBench padded layout as one ``Compose``: pad obs and action, task index, embedding.

    Example:
        >>> [type(t).__name__ for t in mmbench_layout(0, num_tasks=1)]
        ['PadObservation', 'PadAction', 'TaskIndex']
    """
    transforms = [
        PadObservation(max_obs_dim),
        PadAction(max_action_dim),
        TaskIndex(task_index, num_tasks=num_tasks),
    ]
    if task_embedding is not None:
        transforms.append(TaskEmbedding(task_embedding))
    return Compose(*transforms)


class MMBenchLayoutEnv(EnvBase):
    """An env in the MMBench layout: ``TransformedEnv(env, mmbench_layout(...))``, but leaner.

    It applies the same transforms (their specs and their per-step code) directly around the
    wrapped env's ``_step`` / ``_reset``, skipping ``TransformedEnv``'s generic machinery
    (input cloning per transform, ``Compose`` dispatch, a second done completion), which
    costs about as much as a DMControl physics step. :func:`newt.envs.make_env` with
    ``mmbench_layout=True`` uses it (the multitask env pads many tasks at once in
    :class:`~newt.envs.MultiTaskEnv`); the outputs equal those of the ``TransformedEnv``
    (tested).

    Args:
        env: a native single-task env (its ``observation`` and ``action`` at their true widths).
        task_index: value of ``task``. num_tasks: range of ``task``.
        task_embedding: optional 1-d tensor written as ``task_embedding``.

    Example:
        >>> from newt.envs import make_env
        >>> env = MMBenchLayoutEnv(make_env("cup-catch", seed=0), task_index=0, num_tasks=1)
        >>> env.rollout(2)["observation"].shape
        torch.Size([2, 128])
    """

    def __init__(
        self,
        env: EnvBase,
        task_index: int,
        num_tasks: int,
        task_embedding: torch.Tensor | None = None,
        max_obs_dim: int = MAX_OBS_DIM,
        max_action_dim: int = MAX_ACTION_DIM,
    ):
        super().__init__(device=env.device, batch_size=env.batch_size)
        self.base_env = env
        layout = mmbench_layout(task_index, num_tasks, task_embedding, max_obs_dim, max_action_dim)
        transforms = list(layout.to(env.device))
        self._pad_observation = next(t for t in transforms if isinstance(t, PadObservation))
        self._pad_action = next(t for t in transforms if isinstance(t, PadAction))
        observation_spec = env.full_observation_spec.clone()
        action_spec = env.full_action_spec.clone()
        for t in transforms:
            observation_spec = t.transform_observation_spec(observation_spec)
            action_spec = t.transform_action_spec(action_spec)
        self.full_observation_spec = observation_spec
        self.full_action_spec = action_spec
        self.full_state_spec = env.full_state_spec.clone()
        self.full_reward_spec = env.full_reward_spec.clone()
        self.full_done_spec = env.full_done_spec.clone()
        # The action mask, task index and embedding do not depend on the data: the
        # transforms write them once here, and each output gets a copy.
        constants = TensorDict(batch_size=self.batch_size, device=self.device)
        for t in transforms:
            if t is not self._pad_observation:
                constants = t._call(constants)
        self._constant_entries = dict(constants.items())

    def _forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        # One new tensordict from the padded output and fresh copies of the constant entries:
        # cheaper than a validated set per entry. mmbench_layout pads the top-level "observation".
        entries = dict(tensordict.items())
        entries["observation"] = self._pad_observation._apply_transform(entries["observation"])
        for key, value in self._constant_entries.items():
            entries[key] = value.clone()
        return TensorDict._new_unsafe(entries, batch_size=self.batch_size, device=self.device)

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs) -> TensorDictBase:
        return self._forward(self.base_env._reset(tensordict, **kwargs))

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        # The wrapped env reads the sliced action; the caller's tensordict gets its padded
        # action back (cheaper than a shallow copy of the whole tensordict).
        key = self._pad_action.action_key
        padded = tensordict.get(key)
        try:
            out = self.base_env._step(self._pad_action._inv_call(tensordict))
        finally:
            tensordict.set(key, padded)
        return self._forward(out)

    def _step_proc_data(self, next_tensordict_out: TensorDictBase) -> TensorDictBase:
        # The layout adds no reward or done entries: the wrapped env's own post-processing
        # applies (a no-op for envs such as MiniArcade that write complete outputs).
        return self.base_env._step_proc_data(next_tensordict_out)

    def _set_seed(self, seed: int | None) -> None:
        self.base_env.set_seed(seed)

    def close(self, *, raise_if_closed: bool = True) -> None:
        self.base_env.close(raise_if_closed=raise_if_closed)
        super().close(raise_if_closed=raise_if_closed)
