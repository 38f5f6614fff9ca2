"""Demonstrations: read the official MMBench files, write and read our own format.

The official demonstration file ``<data_dir>/<task>.pt`` is a ``torch.save`` of the generator's
replay storage: a TensorDict with one row per step of whole episodes. Each episode is
``episode_length + 1`` rows; row 0 holds the reset observation with NaN action, reward and
value, and row ``k > 0`` holds the observation reached by the action and reward stored in the
same row. Keys: ``obs`` (padded to 128, or a ``{"state", "rgb"}`` dict), ``action`` (padded to
16), ``reward``, ``value``, ``terminated``, ``episode`` (int64) and optionally ``feat``
(768-d image features of ``obs``).

:func:`load_official_demos` turns these rows into TorchRL transitions: step ``t`` of an episode
is ``observation = obs[t]``, ``action = action[t + 1]``, ``("next", "reward") = reward[t + 1]``,
``("next", "observation") = obs[t + 1]``, so an episode of ``L + 1`` rows gives ``L``
transitions and nothing NaN is kept.

Our own format is a memory-mapped TensorDict folder per task (TorchRL's on-disk storage
format), written by :func:`save_demos` and read by :func:`load_demos`.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl._utils import logger as torchrl_logger

from newt.envs.registry import MAX_ACTION_DIM, MAX_OBS_DIM

__all__ = [
    "accept_demonstrations",
    "episodes_to_transitions",
    "generate_demos",
    "load_demos",
    "load_official_demos",
    "save_demos",
]

_FORMAT = "newt-demos-v1"


def _pad_last(x: torch.Tensor, width: int, what: str, source) -> torch.Tensor:
    if x.shape[-1] > width:
        raise ValueError(f"{source}: {what} has width {x.shape[-1]}, more than the padded {width}")
    if x.shape[-1] == width:
        return x
    return torch.nn.functional.pad(x, (0, width - x.shape[-1]))


def episodes_to_transitions(
    rows: TensorDictBase, *, source: str = "demonstrations", image_features: bool = False
) -> TensorDict:
    """Convert official per-step rows (see module docstring) into TorchRL transitions.

    Args:
        rows: TensorDict ``[N]`` with ``obs``, ``action``, ``reward`` and ``episode`` entries.
        source: name used in error messages (e.g. the file path).
        image_features: also return the rows' ``feat`` entry (frozen image features of each
            observation) as ``image_features`` and ``("next", "image_features")``.

    Returns:
        A TensorDict ``[M]`` of transitions with ``observation``, ``action``, ``episode``,
        ``("next", "observation")``, ``("next", "reward")``, ``("next", "done")``,
        ``("next", "terminated")``, ``("next", "truncated")``, and ``value`` when present.
        Observations are padded to 128 and actions to 16 with zeros.

    Examples:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> nan = float("nan")
        >>> rows = TensorDict({
        ...     "obs": torch.arange(6.).unsqueeze(-1),
        ...     "action": torch.tensor([[nan], [1.], [2.], [nan], [3.], [4.]]),
        ...     "reward": torch.tensor([nan, .1, .2, nan, .3, .4]),
        ...     "episode": torch.tensor([0, 0, 0, 1, 1, 1]),
        ... }, [6])
        >>> td = episodes_to_transitions(rows)
        >>> td["observation"][:, 0].tolist(), td["action"][:, 0].tolist()
        ([0.0, 1.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0])
        >>> td["next", "observation"][:, 0].tolist(), td["next", "truncated"].squeeze(-1).tolist()
        ([1.0, 2.0, 4.0, 5.0], [False, True, False, True])
    """
    missing = [k for k in ("obs", "action", "reward", "episode") if k not in rows.keys()]
    if missing:
        raise KeyError(
            f"{source}: not an MMBench demonstration file, missing entries {missing} "
            f"(found {sorted(rows.keys())})"
        )
    if rows.batch_dims != 1:
        raise ValueError(f"{source}: expected one row per step (1-d batch), got {list(rows.batch_size)}")
    episode = rows.get("episode").reshape(-1).long()
    # A transition links row t to row t + 1 of the same episode.
    link = episode[1:] == episode[:-1]
    src = link.nonzero().squeeze(-1)
    dst = src + 1
    # The last transition of each episode: the next row starts a new episode (or the data ends).
    last = torch.ones_like(link)
    last[:-1] = ~link[1:]
    last = last[src]

    obs = rows.get("obs")
    if isinstance(obs, TensorDictBase):
        # rgb-mode files store {"state", "rgb"}: the state is the observation.
        obs = obs.get("state")
    obs = _pad_last(obs.float(), MAX_OBS_DIM, "obs", source)
    action = _pad_last(rows.get("action").float(), MAX_ACTION_DIM, "action", source)[dst]
    reward = rows.get("reward").float().reshape(-1, 1)[dst]
    if torch.isnan(action).any() or torch.isnan(reward).any():
        raise ValueError(
            f"{source}: NaN action or reward inside an episode; rows of an episode must be "
            "contiguous with only the first row (the reset) carrying NaN"
        )
    if "terminated" in rows.keys():
        terminated = rows.get("terminated").reshape(-1, 1).bool()[dst]
    else:
        terminated = torch.zeros_like(reward, dtype=torch.bool)
    truncated = last.unsqueeze(-1) & ~terminated
    out = TensorDict(
        {
            "observation": obs[src],
            "action": action,
            "episode": episode[src],
            "next": {
                "observation": obs[dst],
                "reward": reward,
                "terminated": terminated,
                "truncated": truncated,
                "done": terminated | truncated,
            },
        },
        batch_size=[src.numel()],
    )
    if "value" in rows.keys():
        out.set("value", rows.get("value").float().reshape(-1, 1)[dst])
    if image_features:
        if "feat" not in rows.keys():
            raise KeyError(f"{source}: image_features=True but the file has no 'feat' entry")
        feat = rows.get("feat").float()
        out.set("image_features", feat[src])
        out.set(("next", "image_features"), feat[dst])
    return out


def _label_task(
    td: TensorDictBase, task: str, task_index: int, first_episode: int, limit
) -> tuple[TensorDictBase, int]:
    """Keep at most ``limit`` episodes of one task's transitions (``limit``: an int, a
    ``{task: int}`` mapping or ``None``), renumber them from ``first_episode`` and write the
    ``task`` index; returns the transitions and how many episodes they hold."""
    if isinstance(limit, Mapping):
        limit = limit.get(task)
    _, episode = torch.unique(td.get("episode"), return_inverse=True)
    if limit is not None:
        td, episode = td[episode < limit], episode[episode < limit]
    td.set("episode", episode + first_episode)
    td.set("task", torch.full((td.numel(), 1), task_index, dtype=torch.int64))
    return td, int(episode.max()) + 1 if td.numel() else 0


def load_official_demos(
    data_dir: str | Path,
    tasks: Sequence[str],
    max_episodes_per_task: int | Mapping[str, int] | None = None,
    *,
    missing: str = "error",
    image_features: bool = False,
) -> TensorDict:
    """Read official MMBench demonstration files into TorchRL transitions.

    Args:
        data_dir: folder with one ``<task>.pt`` file per task.
        tasks: task names; the ``task`` entry of each transition is the task's position in this
            list (the index the multitask env and the world model use).
        max_episodes_per_task: keep at most this many episodes per task (an int for every
            task, or a ``{task: limit}`` mapping; the official pipeline keeps 20 for ManiSkill).
        missing: ``"error"`` (default) raises for a missing file; ``"skip"`` skips the task
            with a log line, as the official loader does.
        image_features: keep the files' precomputed image features (``feat``) as
            ``image_features``; a file without them is an error.

    Returns:
        A TensorDict ``[N]`` of transitions (see :func:`episodes_to_transitions`) with an int64
        ``task`` entry ``[N, 1]`` (the layout MMBench envs write) and ``episode`` ids unique across tasks (renumbered from 0).

    Raises:
        FileNotFoundError: a task's file is missing (``missing="error"``) or none was found.
        ValueError / KeyError: a malformed file, naming it.
    """
    if missing not in ("error", "skip"):
        raise ValueError(f"missing must be 'error' or 'skip', got {missing!r}")
    data_dir = Path(data_dir)
    parts, summary, next_episode = [], [], 0
    for task_index, task in enumerate(tasks):
        path = data_dir / f"{task}.pt"
        if not path.exists():
            if missing == "error":
                raise FileNotFoundError(
                    f"No demonstrations for task {task!r}: {path} does not exist "
                    "(pass missing='skip' to skip tasks without a file)"
                )
            torchrl_logger.info(f"No demonstrations for task {task!r} at {path}, skipping.")
            continue
        try:
            rows = torch.load(path, weights_only=False)
        except Exception as err:
            raise ValueError(f"{path}: cannot be read as a demonstration file ({err})") from err
        if isinstance(rows, Mapping) and not isinstance(rows, TensorDictBase):
            rows = TensorDict(dict(rows), batch_size=[len(rows["episode"])])
        if not isinstance(rows, TensorDictBase):
            raise ValueError(f"{path}: expected a TensorDict of steps, got {type(rows).__name__}")
        td = episodes_to_transitions(rows, source=str(path), image_features=image_features)
        td, num_episodes = _label_task(td, task, task_index, next_episode, max_episodes_per_task)
        next_episode += num_episodes
        parts.append(td)
        summary.append(f"{task}: {num_episodes} episodes, {td.numel()} transitions")
    if not parts:
        raise FileNotFoundError(f"No demonstration files for any of {len(tasks)} tasks in {data_dir}")
    torchrl_logger.info("Loaded demonstrations:\n  " + "\n  ".join(summary))
    return torch.cat(parts, 0)


def save_demos(transitions: TensorDictBase, path: str | Path, *, task: str | None = None) -> Path:
    """Write transitions to ``path`` as a memory-mapped TensorDict folder (our demo format).

    Args:
        transitions: TensorDict ``[N]`` of transitions with an ``episode`` entry, e.g. from a
            collector or :func:`load_official_demos`.
        path: destination folder (created; an existing folder is replaced).
        task: optional task name recorded in the folder's metadata.

    Examples:
        >>> import tempfile, torch
        >>> from tensordict import TensorDict
        >>> td = TensorDict({"observation": torch.zeros(6, 3), "action": torch.zeros(6, 2),
        ...     "episode": torch.tensor([0, 0, 0, 1, 1, 1]),
        ...     "next": {"observation": torch.zeros(6, 3), "reward": torch.ones(6, 1)}}, [6])
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = save_demos(td, f"{d}/walker-walk", task="walker-walk")
        ...     loaded = load_demos(d, ["walker-walk"])
        >>> loaded["observation"].shape, loaded["action"].shape, loaded["task"].unique().tolist()
        (torch.Size([6, 128]), torch.Size([6, 16]), [0])
    """
    if "episode" not in transitions.keys():
        raise KeyError("save_demos needs an 'episode' entry on every transition")
    path = Path(path)
    transitions.memmap(path, existsok=True)
    (path / "newt_demos.json").write_text(
        json.dumps({"format": _FORMAT, "task": task, "transitions": transitions.numel()})
    )
    return path


def load_demos(
    data_dir: str | Path,
    tasks: Sequence[str],
    max_episodes_per_task: int | Mapping[str, int] | None = None,
) -> TensorDict:
    """Read demonstrations written by :func:`save_demos` (one folder ``<data_dir>/<task>`` per task).

    Observations are padded to 128 and actions to 16, ``task`` is the position in ``tasks``
    and episode ids are renumbered to be unique across tasks, as :func:`load_official_demos`
    does.
    """
    data_dir = Path(data_dir)
    parts, next_episode = [], 0
    for task_index, task in enumerate(tasks):
        folder = data_dir / task
        meta = folder / "newt_demos.json"
        if not meta.exists():
            raise FileNotFoundError(f"No demonstrations for task {task!r}: {meta} does not exist")
        if json.loads(meta.read_text()).get("format") != _FORMAT:
            raise ValueError(f"{folder}: unknown demonstration format (expected {_FORMAT})")
        td = TensorDict.load_memmap(folder).to_tensordict()
        for key in ("observation", ("next", "observation")):
            value = td.get(key)
            if isinstance(value, torch.Tensor):
                td.set(key, _pad_last(value.float(), MAX_OBS_DIM, str(key), folder))
        td.set("action", _pad_last(td.get("action").float(), MAX_ACTION_DIM, "action", folder))
        td, num_episodes = _label_task(td, task, task_index, next_episode, max_episodes_per_task)
        next_episode += num_episodes
        parts.append(td)
    return torch.cat(parts, 0)


#: Tasks whose demonstrations must also end in success (official generator): Meta-World,
#: RoboDesk and ManiSkill, except the ManiSkill locomotion and cartpole tasks.
def _needs_success(task: str) -> bool:
    if task.startswith(("ms-cartpole", "ms-hopper", "ms-ant")):
        return False
    return task.startswith(("mw-", "rd-", "ms-"))


def accept_demonstrations(returns: torch.Tensor, success: torch.Tensor, task: str) -> torch.Tensor:
    """Which of a round of episodes the official demo generator keeps.

    The return threshold is ``0.75 * median`` when the median return is positive and
    ``1.25 * median`` otherwise; an episode is kept when its return is above it and, for
    Meta-World, RoboDesk and ManiSkill manipulation tasks, when it ends in success.

    Examples:
        >>> import torch
        >>> accept_demonstrations(torch.tensor([10., 8., 7., 2.]), torch.zeros(4), "walker-walk").tolist()
        [True, True, True, False]
        >>> accept_demonstrations(torch.tensor([10., 8., 7., 2.]), torch.tensor([1., 0., 1., 1.]), "mw-reach").tolist()
        [True, False, True, False]
    """
    median = returns.median()
    threshold = median * (0.75 if median > 0 else 1.25)
    keep = returns > threshold
    if _needs_success(task):
        keep &= success == 1
    return keep


def generate_demos(env, policy, task: str, num_demos: int, *, max_rounds: int = 10, progress: bool = True) -> TensorDict:
    """Roll out ``policy`` on a batched env of one task and keep ``num_demos`` good episodes.

    Every round runs one episode in each copy of ``env`` (deterministic actions), applies
    :func:`accept_demonstrations`, and keeps the accepted episodes until ``num_demos`` are
    collected (the official generator stops after one round; here up to ``max_rounds``).

    Args:
        env: a batched TorchRL env ``[N]`` of one task (e.g. ``make_multitask_env([task] * N)``
            plus ``InitTracker`` for a planner).
        policy: any TorchRL policy (``MPPIPlanner``, an actor, ...).
        task: the task's name (for the acceptance rule).
        num_demos: episodes to keep.

    Returns:
        Transitions ``[num_demos * L]`` with ``episode`` ids ``0..num_demos-1``, ready for
        :func:`save_demos`.

    Raises:
        RuntimeError: when ``max_rounds`` rounds did not yield ``num_demos`` episodes.
    """
    from torchrl.envs.utils import ExplorationType, set_exploration_type
    from tqdm import tqdm

    from newt.collectors.collection import EpisodeSplitter, episode_metrics
    from newt.envs.registry import task_info

    length = task_info(task).episode_length
    kept: list[TensorDictBase] = []
    bar = tqdm(total=num_demos, desc=f"demos {task}", disable=not progress)
    for _ in range(max_rounds):
        with torch.no_grad(), set_exploration_type(ExplorationType.DETERMINISTIC):
            rollout = env.rollout(length, policy, break_when_any_done=False)
        episodes = EpisodeSplitter(keys=None)(rollout)
        metrics = episode_metrics(episodes)
        keep = accept_demonstrations(metrics["return"], metrics["success"], task)
        for episode, ok in zip(episodes, keep.tolist()):
            if ok and len(kept) < num_demos:
                kept.append(episode)
                bar.update(1)
        if len(kept) == num_demos:
            break
    bar.close()
    if len(kept) < num_demos:
        raise RuntimeError(
            f"only {len(kept)} of {num_demos} episodes of {task!r} passed the acceptance rule in "
            f"{max_rounds} rounds; use a stronger policy or more env copies"
        )
    for index, episode in enumerate(kept):
        episode.set("episode", torch.full((episode.shape[0],), index, dtype=torch.int64))
    return torch.cat([ep.exclude("collector", "is_init", ("next", "is_init")) for ep in kept], 0)
