import numpy as np
import PIL.Image
import pytest
import torch
from torchrl.envs.utils import check_env_specs

from newt.envs import make_env, task_info, task_set
from newt.envs.robodesk import ROBODESK_TASKS, make_robodesk_env


def test_specs_and_no_render_in_state_mode(monkeypatch):
    env = make_robodesk_env(task_info("rd-push-red"), seed=0)
    sim = env.base_env.sim

    def fail(*args, **kwargs):
        raise AssertionError("state observations must not render")

    monkeypatch.setattr(sim, "render", fail)
    monkeypatch.setattr(env.base_env, "render", fail)
    check_env_specs(env)
    td = env.rollout(2)
    assert td["next", "observation"].shape == (2, 73)
    assert env.action_spec.shape == (5,)
    # Ten repeats of a dense reward clipped to [0, 1].
    assert (0 <= td["next", "reward"]).all() and (td["next", "reward"] <= 10).all()
    assert PIL.Image.ANTIALIAS == PIL.Image.LANCZOS


def test_fixed_episode_length_and_velocity_quirk():
    task = task_info("rd-open-drawer")
    env = make_robodesk_env(task, seed=0)
    td = env.rollout(task.episode_length, break_when_any_done=False)
    assert td["next", "done"].squeeze(-1).nonzero().squeeze(-1).tolist() == [task.episode_length - 1]
    assert not td["next", "terminated"].any()
    # The reset's zero-action step counts 10 RoboDesk steps, each agent step 10 more.
    assert env.base_env.sim.num_steps == 10 * (task.episode_length + 1)
    obs = td["next", "observation"]
    # RoboDesk 1.0.0 puts the object velocities in 'qpos_objects' (official behaviour).
    assert obs[:, 3:29].equal(obs[:, 38:64])
    assert obs[:, 3:29].abs().max() > 0


def test_corrected_observation_has_object_positions():
    env = make_robodesk_env(task_info("rd-open-slide"), seed=0, compat=False)
    check_env_specs(env)
    td = env.reset()
    physics = env.base_env.sim.physics
    assert td["observation"].shape == (76,)
    np.testing.assert_allclose(td["observation"][3:32].numpy(), physics.data.qpos[9:], rtol=1e-6)
    np.testing.assert_allclose(td["observation"][32:41].numpy(), physics.data.qpos[:9], rtol=1e-6)


def test_success_and_score_follow_the_task_condition():
    env = make_robodesk_env(task_info("rd-open-slide"), seed=0)
    td = env.reset()
    assert td["success"].item() == 0.0
    physics = env.base_env.sim.physics
    physics.named.data.qpos["slide_joint"] = 0.58  # open past the 0.55 success threshold
    physics.forward()
    td = env.step(td.set("action", torch.zeros(5)))["next"]
    assert physics.named.data.qpos["slide_joint"][0] > 0.55
    assert td["success"].item() == 1.0 and td["score"].item() == 1.0


def test_seeding_and_global_rng():
    state = np.random.get_state()[1].copy()
    env = make_robodesk_env(task_info("rd-push-blue"), seed=4)
    first = env.reset()["observation"]
    assert not env.reset()["observation"].equal(first)  # a new placement every reset
    env.set_seed(4)
    assert env.reset()["observation"].equal(first)
    env.set_seed(5)
    assert not env.reset()["observation"].equal(first)
    assert (np.random.get_state()[1] == state).all()


def test_rgb():
    env = make_robodesk_env(task_info("rd-push-green"), obs="rgb", render_size=64, seed=0)
    pixels = env.reset()["pixels"]
    assert pixels.shape == (3, 64, 64) and pixels.dtype == torch.uint8 and pixels.float().std() > 10


def test_bad_arguments():
    with pytest.raises(ValueError, match="obs"):
        make_robodesk_env(task_info("rd-push-red"), obs="depth")
    with pytest.raises(TypeError, match="seed"):
        make_robodesk_env(task_info("rd-push-red"), seed=2.0)
    assert set(ROBODESK_TASKS) == set(task_set("robodesk"))



def test_through_make_env():
    env = make_env("rd-push-red", seed=0)
    check_env_specs(env)
    assert env.observation_spec["observation"].shape == (73,)
    padded = make_env("rd-push-red", seed=0, mmbench_layout=True)
    td = padded.rollout(2)
    assert td["next", "observation"].shape == (2, 128)
    assert td["action_mask"][0].sum().item() == 5


@pytest.mark.slow
@pytest.mark.parametrize("task", task_set("robodesk"))
def test_every_task(task):
    info = task_info(task)
    env = make_robodesk_env(info, seed=0)
    check_env_specs(env)
    td = env.rollout(info.episode_length, break_when_any_done=False)
    assert td["next", "done"].squeeze(-1).nonzero().squeeze(-1).tolist() == [info.episode_length - 1]
    assert td["next", "score"].equal(td["next", "success"])
