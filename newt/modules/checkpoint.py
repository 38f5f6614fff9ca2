"""Checkpoint I/O: atomic saves, loads, and conversion of official Newt checkpoints.

* :func:`save_checkpoint` writes to a temporary file in the target folder, then renames it over
  the target, so an interrupted save never destroys the previous checkpoint.
* :func:`load_checkpoint` reads a checkpoint (tensors and plain containers only by default).
* :func:`convert_official_state_dict` maps the world-model state dict written by the official
  code (``agent.save()``'s ``"model"`` entry) to :class:`~newt.modules.NewtWorldModel`'s keys.
  ``NewtWorldModel.from_official_checkpoint`` uses it to build a model from an official ``.pt``.

Official key layout (``NormedLinear`` = Linear with a ``ln`` LayerNorm; MLP layers numbered
0..n)::

    _encoder.state.{i}.weight|bias, _encoder.state.{i}.ln.weight|bias   (last layer has ln)
    _dynamics.{i}...  (last layer has ln)     _reward.{i}... / _pi.{i}...  (last layer plain)
    _Qs.online._Qs.{k}.{i}...  /  _Qs.target._Qs.{k}.{i}...              (k = Q head)
    _task_emb.weight, _action_masks, log_std_min, log_std_dif

Ours: the hidden layers of an MLP are ``{3i}`` (Linear) and ``{3i+1}`` (LayerNorm) of a
``torchrl.modules.MLP``; a SimNorm-headed MLP nests that under ``0.`` with its last LayerNorm
at ``1.``; the Q heads are stacked under ``_Qs.params`` / ``_Qs.target_params``.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = ["save_checkpoint", "load_checkpoint", "convert_official_state_dict"]


def save_checkpoint(obj: Any, path: str | os.PathLike) -> Path:
    """Atomically ``torch.save`` ``obj`` to ``path`` (creating its folder); returns the path.

    Examples:
        >>> import tempfile, torch
        >>> from pathlib import Path
        >>> path = Path(tempfile.mkdtemp()) / "model.pt"
        >>> save_checkpoint({"weight": torch.ones(2)}, path) == path
        True
        >>> load_checkpoint(path)["weight"]
        tensor([1., 1.])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            torch.save(obj, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    return path


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", weights_only: bool = True
) -> Any:
    """``torch.load`` a checkpoint onto ``map_location``.

    ``weights_only=True`` (default) accepts tensors and plain containers only, which covers
    state dicts and official checkpoints; pass False only for files you trust.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint file at {str(path)!r}.")
    return torch.load(path, map_location=map_location, weights_only=weights_only)


# Official network prefix -> (our prefix, whether the last layer carries LayerNorm + SimNorm).
_NETWORKS = {
    "_encoder.state.": ("_encoder.", True),
    "_dynamics.": ("_dynamics.", True),
    "_reward.": ("_reward.", False),
    "_pi.": ("_pi.", False),
}
_Q_PATTERN = re.compile(r"^_Qs\.(online|target)\._Qs\.(\d+)\.(.+)$")
_LAYER_PATTERN = re.compile(r"^(\d+)\.(ln\.)?(weight|bias)$")
_BUFFERS = {"_task_emb.weight": "task_embeddings", "_action_masks": "action_masks"}
#: Official buffers with no counterpart in our state dict (the log-std bounds are constructor
#: arguments here, see :func:`official_log_std_bounds`).
_CONSTRUCTOR_BUFFERS = ("log_std_min", "log_std_dif")


def strip_ddp_prefix(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove the ``module.`` prefix that DistributedDataParallel adds to every key."""
    if state_dict and all(key.startswith("module.") for key in state_dict):
        return {key[len("module.") :]: value for key, value in state_dict.items()}
    return dict(state_dict)


def _layer_key(sub_key: str, last: int, headed: bool) -> str | None:
    """Our key for ``{i}.[ln.]weight|bias`` inside an official MLP whose last layer is ``last``."""
    match = _LAYER_PATTERN.match(sub_key)
    if match is None:
        return None
    layer, is_norm, leaf = int(match.group(1)), match.group(2) is not None, match.group(3)
    if layer == last:
        if is_norm:
            return f"1.{leaf}" if headed else None
        return f"0.{3 * layer}.{leaf}" if headed else f"{3 * layer}.{leaf}"
    key = f"{3 * layer + int(is_norm)}.{leaf}"
    return f"0.{key}" if headed else key


def _last_layer(sub_keys: list[str]) -> int:
    layers = [int(m.group(1)) for m in map(_LAYER_PATTERN.match, sub_keys) if m is not None]
    return max(layers, default=-1)


def convert_official_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map an official world-model state dict to :class:`~newt.modules.NewtWorldModel` keys.

    Args:
        state_dict: the official ``WorldModel.state_dict()`` (``agent.save()``'s ``"model"``
            entry), with or without a DDP ``module.`` prefix.

    Returns:
        the state dict in our layout: Q heads stacked along a leading dim, ``task_embeddings`` /
        ``action_masks`` present when the checkpoint has them, and the official
        ``log_std_min`` / ``log_std_dif`` buffers dropped (they are constructor arguments here,
        see :func:`official_log_std_bounds`). Load it with ``model.load_state_dict``.

    Raises:
        ValueError: on keys that are not part of the official layout, or inconsistent Q heads.
    """
    return convert_official_state_dict_with_origin(state_dict)[0]


def convert_official_state_dict_with_origin(
    state_dict: Mapping[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """:func:`convert_official_state_dict`, plus the official key each converted key came from."""
    state_dict = strip_ddp_prefix(state_dict)
    converted: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    unknown: list[str] = []
    grouped: dict[str, dict[str, torch.Tensor]] = {prefix: {} for prefix in _NETWORKS}
    q_heads: dict[tuple[str, str], dict[int, torch.Tensor]] = {}

    for key, value in state_dict.items():
        if key in _BUFFERS:
            converted[_BUFFERS[key]] = value
            origin[_BUFFERS[key]] = key
            continue
        if key in _CONSTRUCTOR_BUFFERS:
            continue
        q_match = _Q_PATTERN.match(key)
        if q_match is not None:
            which, head, sub_key = q_match.group(1), int(q_match.group(2)), q_match.group(3)
            q_heads.setdefault((which, sub_key), {})[head] = value
            continue
        prefix = next((p for p in _NETWORKS if key.startswith(p)), None)
        if prefix is None:
            unknown.append(key)
        else:
            grouped[prefix][key[len(prefix) :]] = value

    for prefix, tensors in grouped.items():
        ours, headed = _NETWORKS[prefix]
        last = _last_layer(list(tensors))
        for sub_key, value in tensors.items():
            mapped = _layer_key(sub_key, last, headed)
            if mapped is None:
                unknown.append(prefix + sub_key)
            else:
                converted[ours + mapped] = value
                origin[ours + mapped] = prefix + sub_key

    q_sub_keys = sorted({sub_key for _, sub_key in q_heads})
    last = _last_layer(q_sub_keys)
    for (which, sub_key), heads in sorted(q_heads.items()):
        mapped = _layer_key(sub_key, last, headed=False)
        official = f"_Qs.{which}._Qs.*.{sub_key}"
        if mapped is None:
            unknown.append(official)
            continue
        if sorted(heads) != list(range(len(heads))):
            raise ValueError(f"Q heads {sorted(heads)} of {official} are not numbered 0..K-1.")
        ours = ("_Qs.params." if which == "online" else "_Qs.target_params.") + mapped
        shapes = {tuple(t.shape) for t in heads.values()}
        if len(shapes) != 1:
            raise ValueError(f"Q heads of {official} have different shapes {sorted(shapes)}.")
        converted[ours] = torch.stack([heads[k] for k in range(len(heads))])
        origin[ours] = official

    if unknown:
        raise ValueError(
            f"Not an official Newt world-model state dict: unrecognised keys {sorted(unknown)}."
        )
    return converted, origin


def official_log_std_bounds(state_dict: Mapping[str, torch.Tensor]) -> tuple[float, float] | None:
    """``(log_std_min, log_std_max)`` stored in an official state dict, or None if absent."""
    state_dict = strip_ddp_prefix(state_dict)
    if "log_std_min" not in state_dict or "log_std_dif" not in state_dict:
        return None
    low = float(state_dict["log_std_min"])
    return low, low + float(state_dict["log_std_dif"])


def shape_mismatches(
    expected: Mapping[str, torch.Tensor],
    found: Mapping[str, torch.Tensor],
    origin: Mapping[str, str] | None = None,
) -> list[str]:
    """Human-readable lines for missing, unexpected and mis-shaped tensors (empty if they agree)."""
    origin = origin or {}

    def name(key: str) -> str:
        return f"{origin[key]} (ours: {key})" if key in origin else key

    lines = []
    for key, tensor in expected.items():
        if key not in found:
            lines.append(f"missing {key}: expected shape {tuple(tensor.shape)}")
        elif tuple(found[key].shape) != tuple(tensor.shape):
            lines.append(
                f"{name(key)}: expected shape {tuple(tensor.shape)}, found {tuple(found[key].shape)}"
            )
    for key in found:
        if key not in expected:
            lines.append(f"unexpected {name(key)}: shape {tuple(found[key].shape)}")
    return lines
