"""Instruction embeddings: the shipped table, recomputation, official tasks.json."""
import json

import pytest
import torch

from newt.envs import (
    ALL_TASKS,
    EMBEDDING_DIM,
    compute_instruction_embeddings,
    instruction_embeddings,
    load_official_task_embeddings,
    task_set,
)
from newt.envs import language


def test_shipped_table_covers_every_task():
    table = instruction_embeddings()
    assert table.shape == (len(ALL_TASKS), EMBEDDING_DIM) == (234, 384)
    assert table.dtype == torch.float32
    torch.testing.assert_close(table.norm(dim=-1), torch.ones(234))
    # rows follow the order asked for
    assert torch.equal(instruction_embeddings(["cheetah-run", "walker-stand"]), table[[3, 0]])
    assert torch.equal(instruction_embeddings("dmcontrol"), table[:21])


def test_same_text_same_row_different_text_different_row():
    # cartpole-balance and cartpole-balance-sparse share embodiment and instruction
    a, b, c = instruction_embeddings(
        ["cartpole-balance", "cartpole-balance-sparse", "cartpole-swingup"]
    )
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_unknown_task_is_rejected():
    with pytest.raises(KeyError, match="walker-walk"):
        instruction_embeddings(["walker-wallk"])


def write_tasks_json(path, rows):
    path.write_text(json.dumps(rows))
    return path


def test_official_embeddings_from_tasks_json(tmp_path):
    rows = {
        "walker-walk": {"instruction": "i", "text_embedding": [0.0] * 511 + [1.0]},
        "cup-catch": {"instruction": "i", "text_embedding": [2.0] * 512},
    }
    path = write_tasks_json(tmp_path / "tasks.json", rows)
    table = load_official_task_embeddings(path, ["cup-catch", "walker-walk"])
    assert table.shape == (2, 512) and table.dtype == torch.float32
    assert table[0, 0] == 2.0 and table[1, -1] == 1.0 and table[1, 0] == 0.0


def test_official_embeddings_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.json"):
        load_official_task_embeddings(tmp_path / "nowhere.json", ["cup-catch"])
    path = write_tasks_json(tmp_path / "a.json", {"cup-catch": {"instruction": "i"}})
    with pytest.raises(KeyError, match="walker-walk"):
        load_official_task_embeddings(path, ["walker-walk"])
    with pytest.raises(KeyError, match="text_embedding"):
        load_official_task_embeddings(path, ["cup-catch"])
    rows = {"cup-catch": {"text_embedding": [1.0]}, "walker-walk": {"text_embedding": [1.0, 2.0]}}
    path = write_tasks_json(tmp_path / "b.json", rows)
    with pytest.raises(ValueError, match="one width"):
        load_official_task_embeddings(path, ["cup-catch", "walker-walk"])


@pytest.mark.slow
def test_recomputed_rows_equal_the_shipped_ones():
    tasks = task_set("dmcontrol")[:4] + ("mw-assembly", "atari-pong")
    torch.testing.assert_close(
        compute_instruction_embeddings(tasks), instruction_embeddings(tasks), atol=1e-5, rtol=0
    )


@pytest.mark.slow
def test_cli_writes_the_whole_table(tmp_path):
    out = tmp_path / "table.pt"
    language.main(["--out", str(out)])
    table = torch.load(out, weights_only=True)
    assert table["tasks"] == list(ALL_TASKS)
    torch.testing.assert_close(table["embeddings"], instruction_embeddings(), atol=1e-5, rtol=0)
