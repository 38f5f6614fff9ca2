"""DMControl tasks through make_env: layout of observations, action repeat, score, episodes."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torchrl.envs.utils import check_env_specs

from newt.envs import make_env, task_info, task_set
from newt.envs.dmcontrol import DMControlTaskEnv, load_suite_task

# Observation widths of domains.md, part 1, table 1.1.
OBS_DIMS = {
    "walker-stand": 24, "walker-walk": 24, "walker-run": 24, "cheetah-run": 17,
    "reacher-easy": 6, "reacher-hard": 6, "acrobot-swingup": 6, "pendulum-swingup": 3,
    "cartpole-balance": 5, "cartpole-balance-sparse": 5, "cartpole-swingup": 5,
    "cartpole-swingup-sparse": 5, "cup-catch": 8, "finger-spin": 9, "finger-turn-easy": 12,
    "finger-turn-hard": 12, "fish-swim": 24, "hopper-stand": 15, "hopper-hop": 15,
    "quadruped-walk": 78, "quadruped-run": 78,
}  # fmt: skip


def test_all_21_tasks_have_the_spec_widths():
    assert set(OBS_DIMS) == set(task_set("dmcontrol"))
    for name, obs_dim in OBS_DIMS.items():
        env = DMControlTaskEnv(load_suite_task(name, seed=0), max_steps=500)
        assert env.observation_spec["observation"].shape == (obs_dim,), name
        assert env.action_spec.shape == (task_info(name).action_dim,), name


@pytest.mark.parametrize("name", ["walker-walk", "cheetah-run"])
def test_matches_dm_control_with_action_repeat_2(name):
    """Flat float32 observation in dict order; reward = sum of the 2 control rewards."""
    env = make_env(name, seed=7)
    reference = load_suite_task(name, seed=7)
    td = env.reset()
    time_step = reference.reset()
    rng = np.random.default_rng(0)
    control_return = 0.0
    for _ in range(5):
        action = rng.uniform(-1, 1, env.action_spec.shape).astype(np.float32)
        td["action"] = torch.from_numpy(action)
        td = env.step(td)
        rewards = []
        for _ in range(2):
            time_step = reference.step(action.astype(np.float64))
            rewards.append(time_step.reward)
        control_return += sum(rewards)
        flat = np.concatenate([np.ravel(v) for v in time_step.observation.values()])
        np.testing.assert_allclose(td["next", "observation"].numpy(), flat.astype(np.float32))
        assert td["next", "observation"].dtype == torch.float32
        assert td["next", "reward"].item() == pytest.approx(sum(rewards), rel=1e-6)
        assert td["next", "score"].item() == pytest.approx(control_return / 1000, rel=1e-5)
        assert torch.isnan(td["next", "success"]).all()
        td = td["next"]


def test_fixed_length_episode_and_final_score():
    env = make_env("cartpole-swingup", seed=0)
    td = env.rollout(500, break_when_any_done=False)
    done = td["next", "done"].view(-1)
    assert done.nonzero().view(-1).tolist() == [499]
    assert torch.equal(td["next", "truncated"], td["next", "done"])
    assert not td["next", "terminated"].any()
    expected = td["next", "reward"].sum().item() / 1000
    assert td["next", "score"][-1].item() == pytest.approx(expected, rel=1e-4)
    assert env.dm_env._step_count == 1000  # 500 env steps cover one dm_control episode


def test_same_seed_same_episode():
    first = make_env("reacher-easy", seed=3).reset()["observation"]
    assert torch.equal(first, make_env("reacher-easy", seed=3).reset()["observation"])
    assert not torch.equal(first, make_env("reacher-easy", seed=4).reset()["observation"])
    env = make_env("reacher-easy", seed=4)
    env.set_seed(3)
    assert torch.equal(first, env.reset()["observation"])


def test_rgb_uses_camera_2_for_quadruped():
    env = make_env("quadruped-walk", obs="rgb", seed=0, render_size=64)
    check_env_specs(env)
    td = env.reset()
    assert td["pixels"].shape == (3, 64, 64) and td["pixels"].dtype == torch.uint8
    frame = env.dm_env.physics.render(64, 64, camera_id=2)
    assert torch.equal(td["pixels"], torch.from_numpy(frame.transpose(2, 0, 1).copy()))
    assert td["pixels"].float().std() > 0


@pytest.mark.parametrize("name", ["walker-walk", "jumper-jump"])
def test_check_env_specs(name):
    check_env_specs(make_env(name, seed=0))


def test_bad_input():
    env = make_env("finger-spin", seed=0)
    td = env.reset()
    td["action"] = torch.zeros(3)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        env.step(td)
    td["action"] = torch.tensor([0.0, float("nan")])
    with pytest.raises(ValueError, match="NaN"):
        env.step(td)
    with pytest.raises(ValueError, match="'state', 'rgb'"):
        make_env("finger-spin", obs="pixels")
    with pytest.raises(TypeError, match="seed"):
        make_env("finger-spin", seed="1")


def test_rgb_render_failure_is_a_clear_error(monkeypatch):
    dm_env = load_suite_task("cartpole-swingup", seed=0)

    def no_renderer(*args, **kwargs):
        raise RuntimeError("No OpenGL rendering backend is available.")

    monkeypatch.setattr(dm_env.physics, "render", no_renderer)
    with pytest.raises(RuntimeError, match="MUJOCO_GL=osmesa"):
        DMControlTaskEnv(dm_env, max_steps=500, from_pixels=True)


@pytest.mark.slow
def test_rgb_without_renderer_is_a_clear_error():
    code = (
        "from newt.envs import make_env\n"
        "try:\n"
        "    make_env('cartpole-swingup', obs='rgb')\n"
        "except RuntimeError as err:\n"
        "    print(err)\n"
    )
    env = {**os.environ, "MUJOCO_GL": "off"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "MUJOCO_GL=egl" in out.stdout, out.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [name for name in task_set("dmcontrol") + task_set("held-out")
     if task_info(name).domain.startswith("dmcontrol")] + list(task_set("dmcontrol-ext")),
)
def test_check_env_specs_every_task(name):
    env = make_env(name, seed=0)
    check_env_specs(env)
    assert env.rollout(10)["next", "observation"].isfinite().all()


def test_actions_are_mapped_onto_the_dm_control_bounds():
    from dm_control.suite.wrappers import action_scale

    # an env whose actions live in [-2, 2] (it halves them back onto the model's [-1, 1])
    scaled = action_scale.Wrapper(load_suite_task("cup-catch", seed=0), minimum=-2.0, maximum=2.0)
    plain = DMControlTaskEnv(load_suite_task("cup-catch", seed=0), max_steps=500)
    scaled = DMControlTaskEnv(scaled, max_steps=500)
    action = torch.tensor([0.5, -0.25])
    outs = [env.step(env.reset().set("action", action)) for env in (plain, scaled)]
    torch.testing.assert_close(outs[0]["next", "observation"], outs[1]["next", "observation"])
