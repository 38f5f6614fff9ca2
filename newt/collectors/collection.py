"""Turning collector batches into whole episodes and per-episode metrics.

A TorchRL :class:`~torchrl.collectors.Collector` returns fixed-size batches ``[E, T]`` (one row
per env of a batched env) in which episodes of different lengths start and end anywhere.
:class:`EpisodeSplitter` keeps the unfinished part of each env's episode between batches and
returns every episode as soon as it is complete, so that the replay buffer only ever holds
whole episodes; :func:`episode_metrics` summarises them (return, length, success, score, task).

Examples:
    >>> from torchrl.collectors import Collector
    >>> from torchrl.envs import GymEnv, StepCounter, TransformedEnv
    >>> env = TransformedEnv(GymEnv("Pendulum-v1"), StepCounter(max_steps=30))
    >>> collector = Collector(env, None, frames_per_batch=40, total_frames=80)
    >>> splitter = EpisodeSplitter()
    >>> episodes = [ep for batch in collector for ep in splitter(batch)]
    >>> [ep.shape[0] for ep in episodes]
    [30, 30]
    >>> collector.shutdown()
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from tensordict import NestedKey, TensorDict, TensorDictBase

__all__ = ["EpisodeSplitter", "episode_metrics"]

#: Entries a training loop needs from a transition (the rest is collector bookkeeping).
DEFAULT_KEYS: tuple[NestedKey, ...] = (
    "observation",
    "action",
    "task",
    "action_mask",
    ("next", "observation"),
    ("next", "reward"),
    ("next", "done"),
    ("next", "terminated"),
    ("next", "truncated"),
    ("next", "success"),
    ("next", "score"),
)


class EpisodeSplitter:
    """Cut collector batches into complete episodes.

    Args:
        keys: entries to keep from each transition (missing ones are ignored); ``None`` keeps
            everything. Default: :data:`DEFAULT_KEYS`.
        done_key: the entry that marks the last step of an episode.

    Calling the splitter with a batch ``[E, T]`` (or ``[T]`` for a single env) returns the
    list of episodes that ended in it, each a TensorDict ``[L]`` in time order; the steps of
    episodes still running are kept until a later batch completes them. A trajectory that was
    interrupted (the collector's ``("collector", "traj_ids")`` changes without a done flag) is
    dropped rather than glued to the next one.
    """

    def __init__(
        self,
        keys: Sequence[NestedKey] | None = DEFAULT_KEYS,
        done_key: NestedKey = ("next", "done"),
    ):
        self.keys = None if keys is None else tuple(keys)
        self.done_key = done_key
        self._pending: dict[int, list[TensorDictBase]] = {}
        self._pending_traj: dict[int, int] = {}

    def reset(self) -> None:
        """Forget the unfinished episodes (e.g. after the envs were reset from outside)."""
        self._pending.clear()
        self._pending_traj.clear()

    def _select(self, td: TensorDictBase) -> TensorDictBase:
        if self.keys is None:
            return td
        return td.select(*self.keys, strict=False)

    def __call__(self, batch: TensorDictBase) -> list[TensorDict]:
        if batch.batch_dims == 1:
            batch = batch.unsqueeze(0)
        if batch.batch_dims != 2:
            raise ValueError(
                f"EpisodeSplitter expects a batch [T] or [E, T], got {list(batch.batch_size)}"
            )
        done = batch.get(self.done_key).reshape(batch.shape)
        traj_ids = batch.get(("collector", "traj_ids"), None)
        first_ids = last_ids = None
        if traj_ids is not None:
            first_ids, last_ids = traj_ids[:, 0].tolist(), traj_ids[:, -1].tolist()
        stored = self._select(batch)
        num_envs, length = batch.shape
        ends = [[] for _ in range(num_envs)]
        for env, t in done.nonzero().tolist():
            ends[env].append(t)
        episodes = []
        for env in range(num_envs):
            start = 0
            pending = self._pending.get(env, [])
            if pending and first_ids is not None and first_ids[env] != self._pending_traj[env]:
                pending = []
            for end in ends[env]:
                piece = stored[env, start : end + 1]
                episodes.append(torch.cat(pending + [piece], 0) if pending else piece.clone())
                pending, start = [], end + 1
            if start < length:
                pending = pending + [stored[env, start:].clone()]
            self._pending[env] = pending
            if last_ids is not None:
                self._pending_traj[env] = last_ids[env]
        return episodes


def episode_metrics(
    episodes: Sequence[TensorDictBase],
    *,
    reward_key: NestedKey = ("next", "reward"),
    success_key: NestedKey = ("next", "success"),
    score_key: NestedKey = ("next", "score"),
    task_key: NestedKey = "task",
) -> TensorDict:
    """Per-episode return, length, success, score and task of complete episodes.

    Success and score are the values at the last step of the episode (the official logger's
    definition); they are NaN when the episodes carry no such entry, and ``task`` is -1 when
    there is no task entry.

    Returns:
        A TensorDict ``[len(episodes)]`` with float ``return``, ``success``, ``score`` and int64
        ``length``, ``task``.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> ep = TensorDict({"next": {"reward": torch.ones(5, 1), "score": torch.linspace(0, 1, 5)[:, None]},
        ...                  "task": torch.full((5,), 3)}, [5])
        >>> m = episode_metrics([ep])
        >>> m["return"].item(), m["length"].item(), m["score"].item(), m["task"].item()
        (5.0, 5, 1.0, 3)
    """
    nan = torch.tensor(float("nan"))

    def last(ep, key):
        value = ep.get(key, None)
        return nan if value is None else value[-1].reshape(()).float()

    return TensorDict(
        {
            "return": torch.stack([ep.get(reward_key).sum().float() for ep in episodes]),
            "length": torch.tensor([ep.shape[0] for ep in episodes], dtype=torch.int64),
            "success": torch.stack([last(ep, success_key) for ep in episodes]),
            "score": torch.stack([last(ep, score_key) for ep in episodes]),
            "task": torch.stack(
                [
                    ep.get(task_key)[-1].reshape(()).long() if task_key in ep.keys(True) else torch.tensor(-1)
                    for ep in episodes
                ]
            ),
        },
        batch_size=[len(episodes)],
    )
