"""The MMBench task table: counts, order, lookups and errors."""
import pytest

from newt.envs import (
    ALL_TASKS,
    DOMAINS,
    MAX_ACTION_DIM,
    MAX_OBS_DIM,
    TASKS,
    task_info,
    task_set,
    task_sets,
)


def test_counts_and_order():
    assert len(TASKS) == 200 and len(set(TASKS)) == 200
    assert len(ALL_TASKS) == 234 and ALL_TASKS[:200] == TASKS
    assert [task_info(name).index for name in TASKS] == list(range(200))
    assert all(task_info(name).index is None for name in ALL_TASKS[200:])
    assert (TASKS[0], TASKS[199]) == ("walker-stand", "atari-yars-revenge")


def test_every_task_fits_the_mmbench_layout():
    for name in ALL_TASKS:
        info = task_info(name)
        assert info.domain in DOMAINS
        assert 1 <= info.action_dim <= MAX_ACTION_DIM
        assert info.episode_length > 0 and 0 < info.discount < 1
    assert MAX_OBS_DIM == 128


def test_dmcontrol_rows():
    info = task_info("quadruped-run")
    assert (info.domain, info.action_dim, info.episode_length, info.discount) == (
        "dmcontrol",
        12,
        500,
        0.99,
    )
    assert task_info("walker-walk").text == (
        "2D walker with 6 controllable joints across 2 legs. Walk forward at moderate speed."
    )


def test_task_sets():
    sets = task_sets()
    assert len(sets["dmcontrol"]) == 21 and len(sets["dmcontrol-ext"]) == 16
    assert sum(len(sets[d]) for d in DOMAINS) == 200
    assert len(sets["held-out"]) == 34
    assert task_set("mmbench") == TASKS
    assert task_set("cup-catch") == ("cup-catch",)


def test_unknown_names_suggest_close_matches():
    with pytest.raises(KeyError, match="walker-walk"):
        task_info("walker-wlak")
    with pytest.raises(KeyError, match="dmcontrol"):
        task_set("dmcontrl")
