import numpy as np
import pytest
import torch
from torchrl.envs.utils import check_env_specs

from newt.envs import make_env, task_info, task_set
from newt.envs.metaworld import make_metaworld_env, metaworld_env_name


def test_specs_and_rollout():
    env = make_metaworld_env(task_info("mw-reach"), seed=0)
    check_env_specs(env)
    td = env.rollout(5)
    assert td["next", "observation"].shape == (5, 39)
    assert td["next", "observation"].dtype == torch.float32
    assert env.action_spec.shape == (4,)
    # Action repeat 2: two shaped rewards in [0, 10] are summed.
    assert (0 <= td["next", "reward"]).all() and (td["next", "reward"] <= 20).all()


def test_fixed_episode_length_and_zero_step_reset():
    task = task_info("mw-door-open")
    env = make_metaworld_env(task, seed=0)
    td = env.rollout(task.episode_length, break_when_any_done=False)
    done = td["next", "done"].squeeze(-1)
    assert done.nonzero().squeeze(-1).tolist() == [task.episode_length - 1]
    assert not td["next", "terminated"].any()
    # The reset takes one zero-action inner step; each agent step takes two.
    assert env.base_env.sim.curr_path_length == 1 + 2 * task.episode_length


def test_success_from_env_flag_and_score_equals_success():
    env = make_metaworld_env(task_info("mw-reach"), seed=0)
    td = env.reset()
    assert td["success"].item() == 0.0
    successes = []
    for _ in range(60):
        obs = td["observation"]
        # Drive the hand straight at the goal (obs[0:3] hand, obs[36:39] goal).
        direction = ((obs[36:39] - obs[0:3]) * 100).clamp(-1, 1)
        td = env.step(td.set("action", torch.cat([direction, torch.zeros(1)])))["next"]
        assert td["score"].equal(td["success"])
        successes.append(td["success"].item())
    assert successes[-1] == 1.0
    hand, goal = td["observation"][0:3], td["observation"][36:39]
    assert torch.linalg.norm(hand - goal) < 0.05


def test_goal_redrawn_every_reset_and_seeding():
    task = task_info("mw-reach")
    goals = [make_metaworld_env(task, seed=7).reset()["observation"][36:] for _ in range(2)]
    assert goals[0].equal(goals[1])
    env = make_metaworld_env(task, seed=7)
    first, second = env.reset()["observation"][36:], env.reset()["observation"][36:]
    assert first.equal(goals[0]) and not second.equal(first)
    other = make_metaworld_env(task, seed=8).reset()["observation"][36:]
    assert not other.equal(goals[0])
    # Same seed, same actions: same trajectory.
    actions = torch.rand(10, 4, generator=torch.Generator().manual_seed(0)) * 2 - 1
    runs = []
    for _ in range(2):
        env = make_metaworld_env(task, seed=3)
        td = env.reset()
        for a in actions:
            td = env.step(td.set("action", a))["next"]
        runs.append(td["observation"])
    assert runs[0].equal(runs[1])


def test_global_numpy_state_untouched():
    state = np.random.get_state()[1].copy()
    env = make_metaworld_env(task_info("mw-push"), seed=0)
    env.rollout(3)
    assert (np.random.get_state()[1] == state).all()


def test_rgb():
    env = make_metaworld_env(task_info("mw-reach"), obs="rgb", render_size=64, seed=0)
    check_env_specs(env)
    pixels = env.reset()["pixels"]
    assert pixels.shape == (3, 64, 64) and pixels.dtype == torch.uint8
    assert pixels.float().std() > 10


def test_bad_arguments():
    with pytest.raises(ValueError, match="obs"):
        make_metaworld_env(task_info("mw-reach"), obs="depth")
    with pytest.raises(TypeError, match="seed"):
        make_metaworld_env(task_info("mw-reach"), seed=1.5)
    with pytest.raises(ValueError, match="mw-reach"):
        metaworld_env_name("mw-teleport")


def test_every_task_name_resolves():
    for task in task_set("metaworld"):
        assert metaworld_env_name(task).endswith("-v3-goal-observable")
    assert metaworld_env_name("mw-peg-insert-side") == "peg-insert-side-v3-goal-observable"



def test_through_make_env():
    env = make_env("mw-reach", seed=0)
    check_env_specs(env)
    assert env.observation_spec["observation"].shape == (39,)
    padded = make_env("mw-reach", seed=0, mmbench_layout=True)
    td = padded.rollout(2)
    assert td["next", "observation"].shape == (2, 128)
    assert td["action_mask"][0].sum().item() == 4


@pytest.mark.slow
@pytest.mark.parametrize("task", task_set("metaworld"))
def test_every_task(task):
    info = task_info(task)
    env = make_metaworld_env(info, seed=0)
    check_env_specs(env)
    td = env.rollout(info.episode_length, break_when_any_done=False)
    assert td["next", "observation"].shape == (info.episode_length, 39)
    assert td["next", "done"].squeeze(-1).nonzero().squeeze(-1).tolist() == [info.episode_length - 1]
    assert td["next", "score"].equal(td["next", "success"])
