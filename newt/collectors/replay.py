"""Episode replay: whole episodes in, fixed-length slices out.

:class:`EpisodeReplayBuffer` is a :class:`~torchrl.data.TensorDictReplayBuffer` whose storage
holds whole episodes tagged with an ``episode`` id and whose :class:`~torchrl.data.SliceSampler`
draws slices of ``horizon + 1`` consecutive steps of one episode, never crossing an episode
boundary. A sample has shape ``[batch_size, horizon + 1]``, the layout
:class:`~newt.objectives.NewtLoss` consumes. :class:`MixedReplayBuffer` draws a fixed share of
every batch from a demonstration buffer and the rest from the online buffer, as the official
Newt pipeline does once online training starts.
"""
from __future__ import annotations

from pathlib import Path

import torch
from tensordict import TensorDictBase
from torchrl._utils import logger as torchrl_logger
from torchrl.data import LazyMemmapStorage, LazyTensorStorage, SliceSampler, TensorDictReplayBuffer

__all__ = ["EpisodeReplayBuffer", "MixedReplayBuffer", "bytes_per_step"]

EPISODE_KEY = "episode"


class _EpisodeSliceSampler(SliceSampler):
    """A strict-length :class:`~torchrl.data.SliceSampler` that returns indices only.

    torchrl 0.14.1's sampler reads every sampled step from storage a second time to mark
    slice starts with ``is_init`` (for recurrent policies); with no truncation key and no
    padding that read is pure overhead, doubling the sampling cost on large buffers.
    """

    def _finalize_index(self, *, index, **kwargs):
        return index.to(torch.long).unbind(-1), {}


def bytes_per_step(step: TensorDictBase) -> int:
    """Memory taken by one stored step, in bytes (``step`` has an empty batch size or ``[1]``)."""
    return sum(
        t.numel() * t.element_size() for t in step.values(include_nested=True, leaves_only=True)
    ) // max(1, step.numel())


class EpisodeReplayBuffer(TensorDictReplayBuffer):
    """A replay buffer of whole episodes, sampled as slices of ``horizon + 1`` steps.

    Steps are stored in TorchRL's transition layout (``observation``, ``action``,
    ``("next", "observation")``, ``("next", "reward")``, ``task``, done flags, ...) with an int64
    ``episode`` entry that names the episode of each step. :meth:`add_episodes` assigns fresh
    ids; :meth:`extend` accepts data that already carries ids (e.g. demonstrations) and makes
    sure later ids never collide with them.

    Args:
        capacity: number of steps the storage holds (a ring: the oldest steps are overwritten).

    Keyword Args:
        batch_size: number of slices per sample. Default 256.
        horizon: slices hold ``horizon + 1`` consecutive steps. Default 3.
        device: device of the storage (``"cpu"`` or a CUDA device).
        scratch_dir: when given, the storage is memory-mapped on disk in this folder
            (:class:`~torchrl.data.LazyMemmapStorage`) instead of held in memory.
        generator: optional :class:`torch.Generator` for reproducible sampling.

    Episodes shorter than ``horizon + 1`` steps are never sampled.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> rb = EpisodeReplayBuffer(1000, batch_size=8, horizon=3)
        >>> episodes = TensorDict({"observation": torch.randn(4, 50, 5)}, [4, 50])
        >>> rb.add_episodes(episodes)
        tensor([0, 1, 2, 3])
        >>> batch = rb.sample()
        >>> batch.shape
        torch.Size([8, 4])
        >>> bool((batch["episode"] == batch["episode"][:, :1]).all())
        True
    """

    def __init__(
        self,
        capacity: int,
        *,
        batch_size: int = 256,
        horizon: int = 3,
        device: torch.device | str = "cpu",
        scratch_dir: str | Path | None = None,
        generator: torch.Generator | None = None,
    ):
        if capacity < horizon + 1:
            raise ValueError(f"capacity ({capacity}) must hold at least one slice of {horizon + 1} steps")
        if batch_size < 1 or horizon < 1:
            raise ValueError(f"batch_size and horizon must be >= 1, got {batch_size} and {horizon}")
        if scratch_dir is not None:
            storage = LazyMemmapStorage(capacity, scratch_dir=scratch_dir, device=device, existsok=True)
        else:
            storage = LazyTensorStorage(capacity, device=device)
        sampler = _EpisodeSliceSampler(
            slice_len=horizon + 1,
            traj_key=EPISODE_KEY,
            end_key=None,
            truncated_key=None,
            strict_length=True,
            # Episode boundaries are recomputed only after a write, not at every sample.
            cache_values=True,
        )
        super().__init__(
            storage=storage,
            sampler=sampler,
            generator=generator,
        )
        self.capacity = capacity
        self.horizon = horizon
        self.num_slices = batch_size
        self._next_episode_id = 0

    @property
    def slice_len(self) -> int:
        """Number of consecutive steps in each sampled slice (``horizon + 1``)."""
        return self.horizon + 1

    @property
    def num_episodes(self) -> int:
        """Number of episode ids handed out so far (demonstrations included)."""
        return self._next_episode_id

    def memory_estimate(self, step: TensorDictBase) -> int:
        """Bytes the full storage needs for steps shaped like ``step``."""
        return bytes_per_step(step) * self.capacity

    def add_episodes(self, episodes: TensorDictBase) -> torch.Tensor:
        """Store whole episodes and return the ids given to them.

        Args:
            episodes: one episode with batch size ``[T]``, or ``E`` episodes of equal length
                with batch size ``[E, T]``. Episodes of different lengths are added by
                separate calls.
        """
        if episodes.batch_dims == 1:
            episodes = episodes.unsqueeze(0)
        if episodes.batch_dims != 2:
            raise ValueError(
                f"add_episodes expects a batch size [T] or [E, T], got {list(episodes.batch_size)}"
            )
        num_episodes, length = episodes.batch_size
        ids = torch.arange(
            self._next_episode_id, self._next_episode_id + num_episodes, device=episodes.device
        )
        episodes = episodes.clone(False)
        episodes.set(EPISODE_KEY, ids.unsqueeze(-1).expand(num_episodes, length))
        self.extend(episodes.reshape(-1))
        return ids

    def extend(self, tensordicts: TensorDictBase, **kwargs) -> torch.Tensor:
        """Add steps that already carry an ``episode`` id; later ids are chosen past them."""
        if EPISODE_KEY not in tensordicts.keys():
            raise KeyError(
                f"EpisodeReplayBuffer.extend needs an {EPISODE_KEY!r} entry on every step; "
                "use add_episodes to store episodes without ids"
            )
        if tensordicts.batch_dims != 1:
            tensordicts = tensordicts.reshape(-1)
        if not len(self):
            torchrl_logger.info(
                f"EpisodeReplayBuffer: capacity {self.capacity:,} steps, "
                f"about {self.memory_estimate(tensordicts[:1]) / 1e9:.2f} GB on {self._storage.device}"
            )
        self._next_episode_id = max(
            self._next_episode_id, int(tensordicts.get(EPISODE_KEY).max()) + 1
        )
        return super().extend(tensordicts, **kwargs)

    def sample(self, batch_size: int | None = None, return_info: bool = False):
        """Draw ``batch_size`` slices (default: the constructor's), shaped ``[batch_size, horizon + 1]``.

        Unlike the base class, ``batch_size`` counts slices, not steps.
        """
        num_slices = self.num_slices if batch_size is None else batch_size
        out = super().sample(num_slices * self.slice_len, return_info=return_info)
        if return_info:
            data, info = out
            return data.view(num_slices, self.slice_len), info
        return out.view(num_slices, self.slice_len)

    def _restore_next_id(self) -> None:
        self._next_episode_id = (
            int(self._storage[: len(self)].get(EPISODE_KEY).max()) + 1 if len(self) else 0
        )

    def load_state_dict(self, state_dict) -> None:
        super().load_state_dict(state_dict)
        self._restore_next_id()

    def loads(self, path) -> None:
        super().loads(path)
        self._restore_next_id()


class MixedReplayBuffer:
    """Draw a fixed share of every batch from demonstrations and the rest from online data.

    The official Newt pipeline samples half of each batch from a demonstration-only buffer and
    half from the online buffer for the whole run. Online data goes to ``online`` through
    :meth:`extend` / :meth:`add_episodes`; ``demos`` is left unchanged.

    Args:
        online: the buffer new experience goes to.
        demos: the demonstration buffer.
        demo_fraction: share of each batch drawn from ``demos``, in ``[0, 1]``. Default 0.5.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> demos = EpisodeReplayBuffer(100, batch_size=4)
        >>> _ = demos.add_episodes(TensorDict({"observation": torch.zeros(2, 10, 3)}, [2, 10]))
        >>> online = EpisodeReplayBuffer(100, batch_size=4)
        >>> _ = online.add_episodes(TensorDict({"observation": torch.ones(2, 10, 3)}, [2, 10]))
        >>> mixed = MixedReplayBuffer(online, demos, demo_fraction=0.5)
        >>> batch = mixed.sample(8)
        >>> batch.shape, batch["observation"][:4].sum().item(), batch["observation"][4:].mean().item()
        (torch.Size([8, 4]), 0.0, 1.0)
    """

    def __init__(
        self, online: EpisodeReplayBuffer, demos: EpisodeReplayBuffer, demo_fraction: float = 0.5
    ):
        if not 0.0 <= demo_fraction <= 1.0:
            raise ValueError(f"demo_fraction must be in [0, 1], got {demo_fraction}")
        if online.horizon != demos.horizon:
            raise ValueError(
                f"online and demo buffers slice different horizons ({online.horizon} vs {demos.horizon})"
            )
        self.online = online
        self.demos = demos
        self.demo_fraction = demo_fraction

    def __len__(self) -> int:
        return len(self.online) + len(self.demos)

    def extend(self, tensordicts: TensorDictBase) -> torch.Tensor:
        return self.online.extend(tensordicts)

    def add_episodes(self, episodes: TensorDictBase) -> torch.Tensor:
        return self.online.add_episodes(episodes)

    def sample(self, batch_size: int | None = None) -> TensorDictBase:
        """Draw ``batch_size`` slices: the first ``round(demo_fraction * batch_size)`` are demos."""
        batch_size = self.online.num_slices if batch_size is None else batch_size
        num_demo = round(self.demo_fraction * batch_size)
        parts = []
        if num_demo:
            parts.append(self.demos.sample(num_demo))
        if batch_size - num_demo:
            parts.append(self.online.sample(batch_size - num_demo))
        return torch.cat(parts, 0) if len(parts) > 1 else parts[0]
