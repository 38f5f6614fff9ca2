"""make_env / make_multitask_env: dispatch, layout option, batching, errors."""
import sys

import pytest
import torch
from torchrl.envs.utils import check_env_specs

from newt.envs import (
    ALL_TASKS,
    instruction_embeddings,
    make_env,
    make_multitask_env,
    resolve_tasks,
    task_set,
)
from newt.envs import factory


def test_mmbench_layout_for_one_task():
    env = make_env("walker-walk", seed=0, mmbench_layout=True, task_embedding=True)
    check_env_specs(env)
    td = env.reset()
    assert td["observation"].shape == (128,) and td["observation"][24:].abs().sum() == 0
    assert td["task"].item() == ALL_TASKS.index("walker-walk") == 1
    assert td["action_mask"].sum() == 6
    assert torch.equal(td["task_embedding"], instruction_embeddings(["walker-walk"])[0])
    env = make_env("walker-walk", mmbench_layout=True, task_index=4, num_tasks=5)
    assert env.reset()["task"].item() == 4


def test_layout_arguments_need_the_layout():
    with pytest.raises(ValueError, match="mmbench_layout=True"):
        make_env("walker-walk", task_index=3)


def test_unknown_task_lists_close_matches():
    with pytest.raises(KeyError, match="cheetah-run"):
        make_env("cheetah-runn")


def test_missing_domain_package_names_the_pip_extra(tmp_path, monkeypatch):
    (tmp_path / "needs_missing_pkg.py").write_text("import newt_test_no_such_package\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(
        factory.BUILDERS, "dmcontrol", factory.Builder("needs_missing_pkg", "make", "dmc")
    )
    with pytest.raises(ImportError, match=r"pip install 'newt\[dmc\]'"):
        make_env("walker-walk")
    sys.modules.pop("needs_missing_pkg", None)


def test_resolve_tasks():
    assert resolve_tasks("dmcontrol") == task_set("dmcontrol")
    assert resolve_tasks(["cup-catch"]) == ("cup-catch",)
    with pytest.raises(KeyError, match="cup-catch"):
        resolve_tasks(["cup-cath"])
    with pytest.raises(ValueError, match="at least one"):
        resolve_tasks([])


def test_multitask_env_in_process():
    tasks = ["cartpole-swingup", "quadruped-run", "reacher-easy"]
    env = make_multitask_env(tasks, seed=0, task_embeddings=True)
    check_env_specs(env)
    td = env.rollout(4)
    assert td.batch_size == (3, 4)
    assert td["observation"].shape == (3, 4, 128) and td["action"].shape == (3, 4, 16)
    assert td["task"][:, 0, 0].tolist() == [0, 1, 2]
    assert td["action_mask"][:, 0].sum(-1).tolist() == [1, 12, 2]
    assert torch.equal(td["task_embedding"][:, 0], instruction_embeddings(tasks))


def test_repeated_task_shares_its_index_but_not_its_seed():
    env = make_multitask_env(["reacher-easy", "cup-catch", "reacher-easy"], seed=0)
    td = env.reset()
    assert td["task"].view(-1).tolist() == [0, 1, 0]
    assert env.observation_spec["task"].space.n == 2
    assert not torch.equal(td["observation"][0], td["observation"][2])


def test_multitask_env_with_workers():
    tasks = ["cartpole-swingup", "reacher-easy", "cheetah-run", "walker-walk"]
    env = make_multitask_env(
        tasks,
        seed=0,
        num_workers=2,
        mp_start_method="fork",
        task_indices=[7, 3, 5, 1],
        task_embeddings=True,
    )
    try:
        assert env.batch_size == (4,)
        check_env_specs(env)
        td = env.rollout(3)
        assert td["task"][:, 0, 0].tolist() == [7, 3, 5, 1]
        assert torch.equal(td["task_embedding"][:, 0], instruction_embeddings(tasks))
        assert td["observation"].shape == (4, 3, 128)
        # a partial reset reaches only the masked sub-env, across worker boundaries
        td = env.rand_step(env.reset())
        mask = torch.tensor([[False], [False], [True], [False]])
        reset = env.reset(td["next"].clone().set("_reset", mask))
        same = (reset["observation"] == td["next", "observation"]).all(-1).tolist()
        assert same == [True, True, False, True]
    finally:
        env.close()


def test_multitask_bad_arguments():
    with pytest.raises(ValueError, match=r"\[1, 3\]"):
        make_multitask_env(["cartpole-swingup"] * 3, num_workers=2)
    with pytest.raises(ValueError, match=r"\[2, D\]"):
        make_multitask_env(["cup-catch", "finger-spin"], task_embeddings=torch.zeros(3, 8))
    with pytest.raises(ValueError, match=r"\[1, D\]"):
        make_multitask_env(["cup-catch"] * 2, task_embeddings=torch.zeros(2, 8))
    with pytest.raises(ValueError, match="num_workers"):
        make_multitask_env(["cup-catch"], num_workers=-1)
    with pytest.raises(TypeError, match="seed"):
        make_multitask_env(["cup-catch"], seed=0.5)


@pytest.mark.slow
def test_all_dmcontrol_tasks_with_workers():
    env = make_multitask_env("dmcontrol", seed=0, num_workers=3, mp_start_method="fork")
    try:
        check_env_specs(env)
        td = env.rollout(20)
        assert td["observation"].shape == (21, 20, 128)
        assert td["next", "reward"].isfinite().all()
    finally:
        env.close()
