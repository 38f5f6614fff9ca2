"""One batched TorchRL env that steps many single-task MMBench envs in this process.

:class:`MultiTaskEnv` has batch size ``[N]`` and owns ``N`` native single-task envs (batch size
``[]``, their own observation and action widths). Its ``_step`` hands each sub-env its slice of
the 16-wide action through the sub-env's own ``_step`` and writes the outputs into preallocated
``[N, ...]`` buffers in the MMBench layout (observation padded to 128, ``action_mask``, ``task``,
optional ``task_embedding``). TorchRL's per-step machinery (``EnvBase.step``, ``step_mdp``,
reset checks) thus runs once per batch instead of once per task, which is what a ``SerialEnv``
of per-task envs costs: about as much as a DMControl physics step per task.

:func:`newt.envs.make_multitask_env` builds it; its outputs equal those of a ``SerialEnv`` of
:class:`~newt.envs.transforms.MMBenchLayoutEnv` (tested key by key).

Example:
    >>> from newt.envs import make_env
    >>> from newt.envs.multitask import MultiTaskEnv
    >>> env = MultiTaskEnv(
    ...     [make_env("cartpole-swingup", seed=0), make_env("reacher-easy", seed=1)],
    ...     task_indices=[0, 1],
    ...     num_tasks=2,
    ... )
    >>> td = env.rollout(3)
    >>> td["next", "observation"].shape, td["action_mask"][:, 0].sum(-1).tolist()
    (torch.Size([2, 3, 128]), [1, 2])
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Binary, Bounded, Categorical, Composite, Unbounded
from torchrl.envs import EnvBase

from newt.envs.registry import MAX_ACTION_DIM, MAX_OBS_DIM

__all__ = ["MultiTaskEnv", "RawStep"]


class RawStep(NamedTuple):
    """One reset or step of one task, without tensordicts: what a sub-env's raw hooks return.

    A native env may define ``_raw_reset() -> RawStep`` and ``_raw_step(action) -> RawStep``
    (``action``: a float32 numpy array ``[action_dim]``, already checked for width and NaN)
    and build its ``_reset`` / ``_step`` tensordicts from them. :class:`MultiTaskEnv` then
    calls the hooks directly and copies the values into its batch buffers, skipping one
    tensordict per task and step. ``terminated`` is False (no MMBench task terminates) and
    ``done`` equals ``truncated``. DMControl (:class:`~newt.envs.dmcontrol.DMControlTaskEnv`),
    MuJoCo and Box2D (:class:`~newt.envs.gym_mujoco.GymTaskEnv`) and MiniArcade
    (:class:`~newt.envs.miniarcade.MiniArcadeEnv`) have the hooks; other envs are stepped
    through their ``_step``.
    """

    observation: np.ndarray  # float32 [obs_dim]
    reward: float  # 0.0 after a reset
    success: float
    score: float
    truncated: bool
    pixels: torch.Tensor | None  # uint8 [3, S, S] when the env renders

    def tensordict(self, with_reward: bool, device: torch.device) -> TensorDictBase:
        """The single-task env's output of this reset (``with_reward=False``) or step.

        Example:
            >>> raw = RawStep(np.zeros(3, np.float32), 1.0, 0.0, 0.5, False, None)
            >>> td = raw.tensordict(with_reward=True, device=torch.device("cpu"))
            >>> td["reward"].tolist(), td["score"].tolist(), td["done"].tolist()
            ([1.0], [0.5], [False])
        """
        # Tensors from slices of two small numpy arrays: about 2x cheaper per step than
        # torch.tensor() per entry or slicing a tensor.
        scalars = np.array([self.reward, self.success, self.score], dtype=np.float32)
        flags = np.array([self.truncated, False, self.truncated])
        out = {
            "observation": torch.from_numpy(self.observation),
            "success": torch.from_numpy(scalars[1:2]),
            "score": torch.from_numpy(scalars[2:3]),
            "done": torch.from_numpy(flags[0:1]),
            "terminated": torch.from_numpy(flags[1:2]),
            "truncated": torch.from_numpy(flags[2:3]),
        }
        if with_reward:
            out["reward"] = torch.from_numpy(scalars[0:1])
        if self.pixels is not None:
            out["pixels"] = self.pixels
        if device.type != "cpu":
            return TensorDict(out, batch_size=torch.Size([]), device=device)
        # Fresh CPU tensors of the declared shapes: skip validation, as TorchRL's GymLikeEnv does.
        return TensorDict._new_unsafe(out, batch_size=torch.Size([]), device=device)

# Entries every sub-env must have (the single-task env contract).
_REQUIRED_OBSERVATIONS = ("observation", "success", "score")


class MultiTaskEnv(EnvBase):
    """``N`` single-task MMBench envs stepped in this process as one env of batch size ``[N]``.

    Sub-env ``i`` reads the first ``action_dim_i`` entries of row ``i`` of the ``[N, 16]``
    action; its observation is zero-padded to ``[128]``. Every reset and step writes
    ``observation`` ``[N, 128]``, ``action_mask`` (bool ``[N, 16]``), ``task`` (int64 ``[N, 1]``),
    ``task_embedding`` (float32 ``[N, D]``, when given), ``success``, ``score`` and, for
    sub-envs with ``pixels``, ``pixels`` ``[N, 3, S, S]``; steps also write ``reward`` and
    ``done`` / ``terminated`` / ``truncated`` (all ``[N, 1]``). A reset with a ``"_reset"``
    mask resets only the selected sub-envs, so tasks with different episode lengths run on
    their own schedules under ``rollout``, ``step_and_maybe_reset`` and collectors.

    Entries a sub-env keeps beyond these (e.g. ``step_count`` of a ``StepCounter``) stay inside
    the sub-env's own input and output and are not exposed: every task has the same layout.

    Args:
        envs: native single-task envs, batch size ``[]``, each with ``observation``,
            ``success`` and ``score`` (and all with ``pixels`` or none), an ``action`` of at
            most ``max_action_dim`` entries and an ``observation`` of at most ``max_obs_dim``.
        task_indices: value of ``task`` for each sub-env.
        num_tasks: range of ``task`` (its spec is ``Categorical(num_tasks)``).

    Keyword Args:
        task_embeddings: optional float tensor ``[N, D]``, row ``i`` written as sub-env ``i``'s
            ``task_embedding``.
        max_obs_dim: padded observation width. Defaults to 128.
        max_action_dim: padded action width. Defaults to 16.
        device: device of the outputs; the sub-envs run on CPU.

    Raises:
        ValueError: on bad construction arguments (the message names the value), and at step
            time for an action that is not ``[N, max_action_dim]`` or contains NaN.

    Example:
        >>> from newt.envs import make_env
        >>> env = MultiTaskEnv([make_env("cup-catch", seed=0)], task_indices=[7], num_tasks=10)
        >>> env.reset()["task"].tolist()
        [[7]]
    """

    def __init__(
        self,
        envs: Sequence[EnvBase],
        task_indices: Sequence[int],
        num_tasks: int,
        *,
        task_embeddings: torch.Tensor | None = None,
        max_obs_dim: int = MAX_OBS_DIM,
        max_action_dim: int = MAX_ACTION_DIM,
        device="cpu",
    ):
        envs = list(envs)
        num_envs = len(envs)
        if not num_envs:
            raise ValueError("MultiTaskEnv needs at least one env, got none.")
        task_indices = [int(i) for i in task_indices]
        if len(task_indices) != num_envs:
            raise ValueError(
                f"Expected one task index per env ({num_envs}), got {len(task_indices)}."
            )
        bad = [i for i in task_indices if not 0 <= i < num_tasks]
        if bad:
            raise ValueError(f"Task indices {bad} are outside [0, num_tasks={num_tasks}).")
        if task_embeddings is not None and (
            task_embeddings.ndim != 2 or task_embeddings.shape[0] != num_envs
        ):
            raise ValueError(
                f"task_embeddings must have shape [{num_envs}, D] (one row per env), "
                f"got {tuple(task_embeddings.shape)}."
            )
        super().__init__(device=device, batch_size=torch.Size([num_envs]))
        self.envs = envs
        self.max_obs_dim = max_obs_dim
        self.max_action_dim = max_action_dim

        self._obs_dims = []
        self._action_dims = []
        pixel_shapes = set()
        for i, env in enumerate(envs):
            if env.batch_size != torch.Size([]):
                raise ValueError(
                    f"Sub-env {i} has batch size {tuple(env.batch_size)}; MultiTaskEnv "
                    "steps unbatched envs (batch size [])."
                )
            observation_spec = env.observation_spec
            missing = [k for k in _REQUIRED_OBSERVATIONS if k not in observation_spec.keys()]
            if missing:
                raise ValueError(f"Sub-env {i} has no {missing} in its observation spec.")
            obs_dim = observation_spec["observation"].shape[-1]
            action_dim = env.action_spec.shape[-1]
            if obs_dim > max_obs_dim or action_dim > max_action_dim:
                raise ValueError(
                    f"Sub-env {i} has observation width {obs_dim} and action width "
                    f"{action_dim}; at most {max_obs_dim} and {max_action_dim} fit the layout."
                )
            self._obs_dims.append(obs_dim)
            self._action_dims.append(action_dim)
            if "pixels" in observation_spec.keys():
                pixel_shapes.add(tuple(observation_spec["pixels"].shape))
            else:
                pixel_shapes.add(None)
        if len(pixel_shapes) != 1:
            raise ValueError(
                f"Sub-envs must all render pixels of one shape or none, got {pixel_shapes}."
            )
        (pixel_shape,) = pixel_shapes

        action_mask = torch.arange(max_action_dim) < torch.tensor(self._action_dims)[:, None]
        constants = {
            "action_mask": action_mask,
            "task": torch.tensor(task_indices, dtype=torch.int64)[:, None],
        }
        if task_embeddings is not None:
            constants["task_embedding"] = task_embeddings.detach().to(torch.float32).cpu()
        self._constants = constants
        # Per-step outputs are written into these and copied out (a fresh tensor per key).
        self._observation = np.zeros((num_envs, max_obs_dim), np.float32)
        self._scalars = np.zeros((3, num_envs, 1), np.float32)  # reward, success, score
        self._flags = np.zeros((3, num_envs, 1), bool)  # done, terminated, truncated
        self._pixels = None
        if pixel_shape is not None:
            self._pixels = torch.zeros(num_envs, *pixel_shape, dtype=torch.uint8)
        # Sub-envs with the RawStep hooks are stepped through them; the others through their
        # _step, fed their last output (which carries e.g. a StepCounter's count). The hooks
        # are looked up on the class: a TransformedEnv forwards attributes to its base env,
        # whose hooks would skip the transforms.
        self._raw = [
            hasattr(type(env), "_raw_step") and hasattr(type(env), "_raw_reset") for env in envs
        ]
        self._last = [None] * num_envs
        self._make_specs(num_tasks, pixel_shape)

    def _make_specs(self, num_tasks: int, pixel_shape: tuple | None) -> None:
        n, device = self.batch_size[0], self.device
        one = (n, 1)
        observation = Composite(
            observation=Unbounded((n, self.max_obs_dim), dtype=torch.float32, device=device),
            action_mask=Binary(
                n=self.max_action_dim,
                shape=(n, self.max_action_dim),
                dtype=torch.bool,
                device=device,
            ),
            task=Categorical(num_tasks, one, dtype=torch.int64, device=device),
            success=Unbounded(one, dtype=torch.float32, device=device),
            score=Unbounded(one, dtype=torch.float32, device=device),
            shape=(n,),
            device=device,
        )
        embedding = self._constants.get("task_embedding")
        if embedding is not None:
            observation["task_embedding"] = Unbounded(
                embedding.shape, dtype=torch.float32, device=device
            )
        if pixel_shape is not None:
            observation["pixels"] = Bounded(
                0, 255, (n, *pixel_shape), dtype=torch.uint8, device=device
            )
        self.observation_spec = observation
        # Each sub-env's own bounds on its true entries, [-1, 1] on the padding.
        low = -torch.ones(n, self.max_action_dim)
        high = torch.ones(n, self.max_action_dim)
        for i, env in enumerate(self.envs):
            spec = env.action_spec
            width = self._action_dims[i]
            if isinstance(spec, Bounded):
                low[i, :width] = spec.space.low.cpu()
                high[i, :width] = spec.space.high.cpu()
        self.action_spec = Bounded(
            low, high, (n, self.max_action_dim), dtype=torch.float32, device=device
        )
        self.reward_spec = Unbounded(one, dtype=torch.float32, device=device)
        flag = Categorical(2, one, dtype=torch.bool, device=device)
        self.done_spec = Composite(
            done=flag, terminated=flag.clone(), truncated=flag.clone(), shape=(n,), device=device
        )

    def _record(self, i: int, out: TensorDictBase, with_reward: bool) -> None:
        """Copy sub-env ``i``'s output into row ``i`` of the batch buffers."""
        self._last[i] = out
        self._observation[i, : self._obs_dims[i]] = out.get("observation").numpy()
        scalars = self._scalars
        scalars[1, i, 0] = out.get("success").item()
        scalars[2, i, 0] = out.get("score").item()
        flags = self._flags
        if with_reward:
            scalars[0, i, 0] = out.get("reward").item()
            flags[0, i, 0] = out.get("done").item()
            flags[1, i, 0] = out.get("terminated").item()
            flags[2, i, 0] = out.get("truncated").item()
        else:
            flags[:, i, 0] = False
        if self._pixels is not None:
            self._pixels[i].copy_(out.get("pixels"))

    def _record_raw(self, i: int, raw: RawStep) -> None:
        """Copy a :class:`RawStep` of sub-env ``i`` into row ``i`` of the batch buffers."""
        self._observation[i, : self._obs_dims[i]] = raw.observation
        scalars, flags = self._scalars, self._flags
        scalars[0, i, 0] = raw.reward
        scalars[1, i, 0] = raw.success
        scalars[2, i, 0] = raw.score
        flags[0, i, 0] = flags[2, i, 0] = raw.truncated
        flags[1, i, 0] = False
        if self._pixels is not None:
            self._pixels[i].copy_(raw.pixels)

    def _output(self, with_reward: bool) -> TensorDictBase:
        scalars, flags = self._scalars.copy(), self._flags.copy()
        out = {
            "observation": torch.from_numpy(self._observation.copy()),
            "success": torch.from_numpy(scalars[1]),
            "score": torch.from_numpy(scalars[2]),
            "done": torch.from_numpy(flags[0]),
            "terminated": torch.from_numpy(flags[1]),
            "truncated": torch.from_numpy(flags[2]),
        }
        if with_reward:
            out["reward"] = torch.from_numpy(scalars[0])
        for key, value in self._constants.items():
            out[key] = value.clone()
        if self._pixels is not None:
            out["pixels"] = self._pixels.clone()
        if self.device.type != "cpu":
            return TensorDict(out, batch_size=self.batch_size, device=self.device)
        # Fresh CPU tensors of the declared shapes: skip validation, as TorchRL's GymLikeEnv does.
        return TensorDict._new_unsafe(out, batch_size=self.batch_size, device=self.device)

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs) -> TensorDictBase:
        reset = None if tensordict is None else tensordict.get("_reset", None)
        if reset is None:
            selected = range(self.batch_size[0])
        else:
            selected = reset.reshape(self.batch_size[0], -1).any(-1).nonzero()[:, 0].tolist()
        for i in selected:
            env = self.envs[i]
            if self._raw[i]:
                self._record_raw(i, env._raw_reset())
            else:
                self._record(i, env._reset(None), with_reward=False)
        return self._output(with_reward=False)

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        action = tensordict.get("action")
        if action.shape != (self.batch_size[0], self.max_action_dim):
            raise ValueError(
                f"Expected an action of shape {(self.batch_size[0], self.max_action_dim)}, "
                f"got {tuple(action.shape)}."
            )
        action = action.detach().cpu()
        rows = action.numpy()
        if math.isnan(rows.sum()):  # one reduction; NaN anywhere makes the sum NaN
            raise ValueError(f"The action contains NaN: {action.tolist()}.")
        # rollout(break_when_all_done=True) steps only the sub-envs whose episode is running;
        # the others keep their last output.
        selected = tensordict.get("_step", None)
        selected = None if selected is None else selected.reshape(-1).tolist()
        for i, (env, raw, width) in enumerate(zip(self.envs, self._raw, self._action_dims)):
            if selected is not None and not selected[i]:
                continue
            if raw:
                self._record_raw(i, env._raw_step(rows[i, :width]))
            else:
                last = self._last[i]
                last.set("action", action[i, :width])
                self._record(i, env._step(last), with_reward=True)
        return self._output(with_reward=True)

    def _step_proc_data(self, next_tensordict_out: TensorDictBase) -> TensorDictBase:
        # _step writes every done key and a [N, 1] reward, so TorchRL's generic reshaping and
        # done completion are skipped unless type checks are on.
        if self.run_type_checks:
            return super()._step_proc_data(next_tensordict_out)
        return next_tensordict_out

    def set_seed(self, seed: int | None = None, static_seed: bool = False) -> int | None:
        """Seed sub-env 0 with ``seed``, and each next one with the seed the previous returns.

        The same chain as ``SerialEnv.set_seed``; returns the seed after the last sub-env.
        """
        for env in self.envs:
            seed = env.set_seed(seed, static_seed=static_seed)
        return seed

    def _set_seed(self, seed: int | None) -> None:
        self.set_seed(seed)

    def close(self, *, raise_if_closed: bool = True) -> None:
        for env in self.envs:
            env.close(raise_if_closed=raise_if_closed)
        super().close(raise_if_closed=raise_if_closed)
