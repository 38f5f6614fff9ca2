import numpy as np
import pytest
import torch
from torchrl.envs.utils import check_env_specs

from newt.envs import ALL_TASKS, make_env, task_info
from newt.envs.maniskill import MANISKILL_TASKS, make_maniskill_env, missing_assets

MS_TASKS = [t for t in ALL_TASKS if task_info(t).domain == "maniskill"]


def test_task_table_matches_registry():
    assert set(MANISKILL_TASKS) == set(MS_TASKS)


def test_cartpole_specs_and_score():
    env = make_maniskill_env(task_info("ms-cartpole-balance"), seed=0)
    check_env_specs(env)
    td = env.rollout(30)
    assert td["next", "observation"].shape == (30, 10)
    assert env.action_spec.shape == (1,)
    # No success key: success 0; score = cumulative reward / 1000.
    assert (td["next", "success"] == 0).all()
    returns = td["next", "reward"].squeeze(-1).double().cumsum(0)
    torch.testing.assert_close(td["next", "score"].squeeze(-1), (returns / 1000).float())


def test_sparse_cartpole_reward_counts_upright_inner_steps():
    env = make_maniskill_env(task_info("ms-cartpole-balance-sparse"), seed=0)
    td = env.rollout(20, policy=lambda td: td.set("action", torch.zeros(1)))
    # Two inner steps per agent step, each rewarded 1 while upright: the balance start is upright.
    assert td["next", "reward"].eq(2).all()


def test_fixed_episode_length():
    task = task_info("ms-pick-cube")
    env = make_maniskill_env(task, seed=0)
    td = env.rollout(task.episode_length + 3, break_when_any_done=False)
    done = td["next", "done"].squeeze(-1)
    assert done.nonzero().squeeze(-1).tolist() == [task.episode_length - 1]
    assert not td["next", "terminated"].any()
    assert td["next", "observation"].shape[-1] == 42
    assert td["next", "score"].equal(td["next", "success"])


def test_reach_success_and_reward():
    env = make_maniskill_env(task_info("ms-reach"), seed=1)
    td = env.reset()
    for _ in range(15):
        # Observation extras: tcp pose [18:25], goal [25:28], goal - tcp [28:31].
        step = (td["observation"][28:31] / 0.1).clamp(-1, 1)
        td = env.step(td.set("action", torch.cat([step, torch.zeros(1)])))["next"]
        distance = td["observation"][28:31].norm().item()
        assert td["success"].item() == float(distance <= 0.025)
        assert td["score"].item() == td["success"].item()
        assert 0 <= td["reward"].item() <= 4  # two inner steps of 1 + success - tanh(5 d)
    assert td["success"].item() == 1.0
    assert td["reward"].item() == pytest.approx(2 * (2 - np.tanh(5 * distance)), abs=0.05)


def test_corrected_ant_score():
    runs = {}
    for compat in (True, False):
        env = make_maniskill_env(task_info("ms-ant-walk"), seed=0, compat=compat)
        action = torch.full(env.action_spec.shape, 0.5)
        runs[compat] = env.rollout(5, policy=lambda td: td.set("action", action))
    returns = runs[False]["next", "reward"].squeeze(-1).double().cumsum(0)
    assert returns[-1] > 0
    torch.testing.assert_close(runs[False]["next", "score"].squeeze(-1), (returns / 1000).float())
    # Officially the ant score is its (absent) success flag: always 0.
    assert (runs[True]["next", "score"] == 0).all()


@pytest.mark.parametrize("compat, divisor", [(True, 600), (False, 500)])
def test_hopper_score_divisor(compat, divisor):
    env = make_maniskill_env(task_info("ms-hopper-stand"), seed=0, compat=compat)
    td = env.reset()
    env.base_env._return = 250.0  # as if half the maximum reward had been collected
    td = env.step(td.set("action", torch.zeros(4)))["next"]
    assert td["score"].item() == pytest.approx((250.0 + td["reward"].item()) / divisor)


def test_seeding_and_global_rng():
    state = torch.get_rng_state()
    env = make_maniskill_env(task_info("ms-pick-cube"), seed=3)
    first = env.reset()["observation"]
    assert not env.reset()["observation"].equal(first)
    env.set_seed(3)
    assert env.reset()["observation"].equal(first)
    assert torch.get_rng_state().equal(state)


@pytest.mark.parametrize("task, asset", [("ms-pick-apple", "ycb"), ("ms-anymal-reach", "anymal_c"), ("ms-reach-xarm6", "xarm6"), ("ms-push-can", "ycb")])
def test_missing_assets_fail_at_creation(task, asset, tmp_path, monkeypatch):
    monkeypatch.setenv("MS_ASSET_DIR", str(tmp_path))
    assert missing_assets(task) == [asset]
    with pytest.raises(FileNotFoundError, match=f"download_asset {asset}"):
        make_maniskill_env(task_info(task))
    assert missing_assets("ms-pick-cube") == []



def test_through_make_env():
    env = make_env("ms-cartpole-balance", seed=0)
    check_env_specs(env)
    assert env.observation_spec["observation"].shape == (10,)
    padded = make_env("ms-cartpole-balance", seed=0, mmbench_layout=True)
    td = padded.rollout(2)
    assert td["next", "observation"].shape == (2, 128)
    assert td["action_mask"][0].sum().item() == 1


@pytest.mark.slow  # the first SAPIEN frame on a CPU Vulkan driver takes ~20 s (pipeline setup)
def test_rgb():
    env = make_maniskill_env(task_info("ms-push-cube"), obs="rgb", render_size=64, seed=0)
    check_env_specs(env)
    pixels = env.reset()["pixels"]
    assert pixels.shape == (3, 64, 64) and pixels.dtype == torch.uint8 and pixels.float().std() > 5


def test_bad_arguments():
    with pytest.raises(ValueError, match="obs"):
        make_maniskill_env(task_info("ms-reach"), obs="depth")
    with pytest.raises(TypeError, match="seed"):
        make_maniskill_env(task_info("ms-reach"), seed="0")


@pytest.mark.slow
@pytest.mark.parametrize("task", MS_TASKS)
def test_every_task(task):
    info = task_info(task)
    if missing_assets(task):
        with pytest.raises(FileNotFoundError, match="download_asset"):
            make_maniskill_env(info)
        return
    env = make_maniskill_env(info, seed=0)
    check_env_specs(env)
    td = env.rollout(info.episode_length, break_when_any_done=False)
    assert td["next", "done"].squeeze(-1).nonzero().squeeze(-1).tolist() == [info.episode_length - 1]
    assert not td["next", "terminated"].any()
    if "hopper" in task:
        returns = td["next", "reward"].squeeze(-1).double().cumsum(0)
        torch.testing.assert_close(td["next", "score"].squeeze(-1), (returns / 600).float())
