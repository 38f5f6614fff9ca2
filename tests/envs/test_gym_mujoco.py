"""Gymnasium MuJoCo tasks (``mujoco-*``): specs, fixed length, reward edits, score, seeding."""
import numpy as np
import pytest
import torch
from torchrl.envs.utils import check_env_specs

from newt.envs import make_env, task_info, task_set
from newt.envs.gym_mujoco import MUJOCO_TASKS, make_mujoco_env, normalized_score

OBS_DIMS = {
    "mujoco-ant": 27,
    "mujoco-halfcheetah": 17,
    "mujoco-hopper": 11,
    "mujoco-inverted-pendulum": 4,
    "mujoco-reacher": 11,
    "mujoco-walker": 17,
}


def constant_rollout(env, action, steps):
    action = torch.as_tensor(action, dtype=torch.float32)
    return env.rollout(steps, policy=lambda td: td.set("action", action.clone()))


def test_task_table_matches_registry():
    assert set(MUJOCO_TASKS) == set(task_set("mujoco")) == set(OBS_DIMS)


@pytest.mark.parametrize("name", task_set("mujoco"))
def test_specs(name):
    task = task_info(name)
    env = make_mujoco_env(task, seed=0)
    check_env_specs(env)
    assert env.observation_spec["observation"].shape == (OBS_DIMS[name],)
    assert env.observation_spec["observation"].dtype == torch.float32
    assert env.action_spec.shape == (task.action_dim,)
    assert env.action_spec.space.low.eq(-1).all() and env.action_spec.space.high.eq(1).all()
    assert env.episode_length == task.episode_length
    env.close()


def test_reacher_episode_has_fixed_length_and_final_score():
    env = make_mujoco_env(task_info("mujoco-reacher"), seed=0)
    td = env.rollout(60, break_when_any_done=False)
    truncated = td["next", "truncated"].squeeze(-1)
    assert truncated.nonzero().squeeze(-1).tolist() == [49]
    assert torch.equal(td["next", "done"], td["next", "truncated"])
    assert not td["next", "terminated"].any()
    assert td["next", "success"].eq(0).all()
    episode_return = td["next", "reward"][:50].sum().item()
    expected = 1 + min(max(episode_return, -50), 0) / 50
    assert td["next", "score"][49].item() == pytest.approx(expected, abs=1e-5)
    env.close()


def test_inverted_pendulum_keeps_running_with_sticky_zero_reward():
    env = make_mujoco_env(task_info("mujoco-inverted-pendulum"), seed=0)
    td = constant_rollout(env, [1.0], 500)
    rewards = td["next", "reward"].squeeze(-1)
    assert rewards[0].item() == 2.0  # upright for both physics steps
    fell = int((rewards < 2).nonzero()[0])
    assert fell < 50 and rewards[fell + 1 :].eq(0).all()
    assert td["next", "truncated"].squeeze(-1).nonzero().squeeze(-1).tolist() == [499]
    assert not td["next", "terminated"].any()
    assert td["next", "score"][-1].item() == pytest.approx(rewards.sum().item() / 1000)

    # Back upright, the reward stays 0 until the next reset.
    pendulum = env.env.unwrapped
    pendulum.set_state(np.zeros(2), np.zeros(2))
    step = env.step(env.reset().set("action", torch.zeros(1)))
    assert step["next", "reward"].item() == 2.0
    pendulum.set_state(np.array([0.0, 0.5]), np.zeros(2))
    step = env.step(step["next"].set("action", torch.zeros(1)))
    pendulum.set_state(np.zeros(2), np.zeros(2))
    step = env.step(step["next"].set("action", torch.zeros(1)))
    assert step["next", "reward"].item() == 0.0
    env.close()


@pytest.mark.parametrize("name, tilt", [("mujoco-hopper", 1.0), ("mujoco-walker", 1.5)])
def test_unhealthy_substeps_cost_one_each(name, tilt):
    env = make_mujoco_env(task_info(name), seed=0)
    td = env.reset()
    robot = env.env.unwrapped
    qpos = robot.init_qpos.copy()
    qpos[2] = tilt  # torso angle outside the healthy range
    robot.set_state(qpos, np.zeros_like(robot.init_qvel))
    td["action"] = torch.zeros(env.action_spec.shape)
    assert env.step(td)["next", "reward"].item() == -2.0
    env.close()


@pytest.mark.parametrize("name", ["mujoco-hopper", "mujoco-walker"])
def test_healthy_negative_reward_is_floored_at_zero(name):
    env = make_mujoco_env(task_info(name), seed=0)
    td = env.reset()
    robot = env.env.unwrapped
    qvel = np.zeros_like(robot.init_qvel)
    qvel[0] = -10.0  # sliding backwards fast: progress term about -10, healthy bonus 1
    robot.set_state(robot.init_qpos.copy(), qvel)
    td["action"] = torch.zeros(env.action_spec.shape)
    assert env.step(td)["next", "reward"].item() == 0.0
    env.close()


@pytest.mark.parametrize("name, bound", [("mujoco-inverted-pendulum", 3.0), ("mujoco-halfcheetah", 1.0)])
def test_action_is_scaled_to_the_env_range(name, bound):
    env = make_mujoco_env(task_info(name), seed=0)
    td = env.reset()
    action = torch.linspace(-0.5, 0.5, env.action_spec.shape[0])
    env.step(td.set("action", action))
    np.testing.assert_allclose(env.env.unwrapped.data.ctrl, bound * action.numpy(), rtol=1e-6)
    env.close()


@pytest.mark.parametrize(
    "name, episode_return, score",
    [
        ("mujoco-ant", 2500.0, 0.5),
        ("mujoco-ant", 6000.0, 1.0),
        ("mujoco-hopper", -10.0, 0.0),
        ("mujoco-walker", 1000.0, 0.2),
        ("mujoco-halfcheetah", 7500.0, 0.5),
        ("mujoco-inverted-pendulum", 250.0, 0.25),
        ("mujoco-reacher", -25.0, 0.5),
        ("mujoco-reacher", -80.0, 0.0),
        ("mujoco-reacher", 0.0, 1.0),
    ],
)
def test_score_of_a_constructed_return(name, episode_return, score):
    assert normalized_score(episode_return, *MUJOCO_TASKS[name].score_range) == pytest.approx(score)


def test_same_seed_same_episode():
    actions = torch.rand(20, 8) * 2 - 1

    def run(seed):
        env = make_mujoco_env(task_info("mujoco-ant"), seed=seed)
        td = env.reset()
        obs, rewards = [td["observation"]], []
        for action in actions:
            td = env.step(td.set("action", action))["next"]
            obs.append(td["observation"])
            rewards.append(td["reward"])
        env.close()
        return torch.stack(obs), torch.stack(rewards)

    first, again, other = run(3), run(3), run(4)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0][0], other[0][0])


def test_rgb_pixels():
    env = make_mujoco_env(task_info("mujoco-reacher"), obs="rgb", seed=0, render_size=64)
    td = env.rollout(2)
    assert td["pixels"].shape == (2, 3, 64, 64) and td["pixels"].dtype == torch.uint8
    assert td["next", "pixels"].shape == (2, 3, 64, 64)
    assert td["pixels"].float().std() > 0  # an actual picture, not a blank frame
    env.close()


def test_bad_arguments():
    task = task_info("mujoco-ant")
    with pytest.raises(ValueError, match="state, rgb"):
        make_mujoco_env(task, obs="depth")
    with pytest.raises(TypeError, match="seed"):
        make_mujoco_env(task, seed="1")
    with pytest.raises(TypeError, match="seed"):
        make_mujoco_env(task, seed=1.5)
    with pytest.raises(ValueError, match="dmcontrol"):
        make_mujoco_env(task_info("walker-walk"))
    env = make_mujoco_env(task, seed=0)
    td = env.reset().set("action", torch.full((8,), float("nan")))
    with pytest.raises(ValueError, match="finite"):
        env.step(td)
    env.close()


def test_make_env_builds_mujoco_tasks():
    env = make_env("mujoco-halfcheetah", seed=0)
    td = env.rollout(3)
    assert td["next", "observation"].shape == (3, 17)
    assert env.action_spec.shape == (6,)
    env.close()
