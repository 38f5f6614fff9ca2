"""Box2D tasks (BipedalWalker terrains, LunarLander variants): specs, rewards, terrains, seeding."""
import math
import pickle

import numpy as np
import pytest
import torch
from gymnasium.envs.box2d import bipedal_walker as stock_walker
from torchrl.envs.utils import check_env_specs

from newt.envs import make_env, task_info, task_set
from newt.envs.box2d import (
    BOX2D_TASKS,
    BipedalWalkerFlat,
    BipedalWalkerHills,
    BipedalWalkerObstacles,
    BipedalWalkerRugged,
    BipedalWalkerUneven,
    ClippedReward,
    LunarLanderHover,
    LunarLanderLand,
    LunarLanderTakeoff,
    make_box2d_env,
)
from newt.envs.gym_mujoco import normalized_score

TERRAIN_HEIGHT = 400 / 30 / 4
TERRAIN_STEP = 14 / 30
PAD_OFFSET = 18 / 30  # lander centre height above the pad when standing on it
HALF_WORLD = 400 / 30 / 2


def obs_dim(name):
    return 24 if name.startswith("bipedal") else 8 if name == "lunarlander-land" else 10


def test_task_table_matches_registry():
    assert set(BOX2D_TASKS) == set(task_set("box2d"))


@pytest.mark.parametrize("name", task_set("box2d"))
def test_specs(name):
    task = task_info(name)
    env = make_box2d_env(task, seed=0)
    check_env_specs(env)
    assert env.observation_spec["observation"].shape == (obs_dim(name),)
    assert env.action_spec.shape == (task.action_dim,)
    assert env.action_spec.space.low.eq(-1).all() and env.action_spec.space.high.eq(1).all()
    env.close()


def test_full_episode_has_fixed_length_and_final_score():
    env = make_box2d_env(task_info("bipedal-walker-rugged"), seed=0)
    td = env.rollout(250, break_when_any_done=False)  # random actions: the walker falls
    assert td["next", "truncated"].squeeze(-1).nonzero().squeeze(-1).tolist() == [249]
    assert torch.equal(td["next", "done"], td["next", "truncated"])
    assert not td["next", "terminated"].any()
    assert td["next", "success"].eq(0).all()
    rewards = td["next", "reward"].squeeze(-1)
    assert rewards.min() >= -2.0  # clipped to -1 per physics step, 2 physics steps per step
    expected = min(max(rewards.sum().item() / 250, 0.0), 1.0)
    assert td["next", "score"][-1].item() == pytest.approx(expected, abs=1e-6)
    env.close()


def test_running_score_is_the_clipped_return_so_far():
    env = make_box2d_env(task_info("lunarlander-hover"), seed=1)
    td = env.rollout(250)
    returns = td["next", "reward"].squeeze(-1).double().cumsum(0)
    torch.testing.assert_close(
        td["next", "score"].squeeze(-1).double(), (returns / 500).clamp(0, 1), atol=1e-5, rtol=0
    )
    assert td["score"][0].item() == 0.0
    env.close()


@pytest.mark.parametrize(
    "name, episode_return, score",
    [
        ("bipedal-walker-flat", 125.0, 0.5),
        ("bipedal-walker-hills", 300.0, 1.0),
        ("bipedal-walker-obstacles", -450.0, 0.0),
        ("lunarlander-hover", 250.0, 0.5),
        ("lunarlander-takeoff", 500.0, 1.0),
        # lunarlander-land: at most 10 / 20 per physics step, so the best possible return
        # (250 steps x 2 x 0.5 = 250) scores 0.5.
        ("lunarlander-land", 250.0, 0.5),
    ],
)
def test_score_of_a_constructed_return(name, episode_return, score):
    assert normalized_score(episode_return, *BOX2D_TASKS[name][2]) == pytest.approx(score)


def test_reward_clipping():
    land = ClippedReward(LunarLanderLand(), -5.0, 10.0, divisor=20.0)
    assert (land.reward(-100.0), land.reward(100.0), land.reward(1.0)) == (-0.25, 0.5, 0.05)
    walker = ClippedReward(BipedalWalkerFlat(), -1.0, 10.0)
    assert (walker.reward(-100.0), walker.reward(0.3)) == (-1.0, 0.3)


def test_lunar_hover_reward_of_a_placed_lander():
    lander = LunarLanderHover()
    lander.reset(seed=0)
    lander.goal = np.array([6.0, 7.0])
    lander.lander.position = (9.0, 11.0)  # 5 m from the goal
    obs = lander._observation()
    assert obs[8:].tolist() == pytest.approx([-3 / HALF_WORLD, -4 / HALF_WORLD], abs=1e-6)
    assert lander._reward(obs, 0.0, 0.0)[0] == pytest.approx(1 - 5 / 6)
    assert lander._reward(obs, 1.0, 0.75)[0] == pytest.approx(1 - 5 / 6 - 0.03 - 0.003 * 0.75)
    lander.lander.position = (12.0, 7.0)  # 6 m away: clipped at 0
    assert lander._reward(lander._observation(), 0.0, 0.0)[0] == 0.0
    lander.lander.position = (6.0, lander.helipad_y + PAD_OFFSET - 0.1)  # close, but too low
    assert lander._reward(lander._observation(), 0.0, 0.0)[0] == 0.0

    # Through step: the reward is the formula at the state after the physics step.
    lander.lander.position = (8.0, 7.5)
    lander.lander.linearVelocity = (0.5, 0.0)
    _, reward, terminated, truncated, _ = lander.step(np.array([0.0, 0.0]))
    x, y = lander.lander.position
    assert reward == pytest.approx(1 - math.hypot(x - 6.0, y - 7.0) / 6)
    assert not terminated and not truncated


def test_lunar_land_reward_of_a_placed_lander():
    lander = LunarLanderLand()
    lander.reset(seed=0)
    pad_y = lander.helipad_y + PAD_OFFSET
    lander.lander.position = (HALF_WORLD + 2.0, pad_y + 1.0)
    lander.lander.linearVelocity = (1.5, -3.0)
    lander.lander.angle = 0.1
    obs = lander._observation()
    expected_obs = [2.0 / HALF_WORLD, 1.0 / HALF_WORLD, 1.5 * HALF_WORLD / 50, -3.0 * HALF_WORLD / 50, 0.1]
    assert obs[:5].tolist() == pytest.approx(expected_obs, abs=1e-6)
    shaping = (
        -100 * math.hypot(expected_obs[0], expected_obs[1])
        - 100 * math.hypot(expected_obs[2], expected_obs[3])
        - 100 * 0.1
        + 10 * (obs[6] + obs[7])
    )
    lander._prev_shaping = -50.0
    reward, terminated = lander._reward(obs, 1.0, 0.6)
    assert reward == pytest.approx(shaping + 50.0 - 0.3 - 0.03 * 0.6, abs=1e-3)
    assert not terminated
    lander.game_over = True
    assert lander._reward(obs, 0.0, 0.0) == (-100.0, True)
    lander.lander.awake = False  # at rest: overrides the crash
    assert lander._reward(obs, 0.0, 0.0) == (100.0, True)
    lander.game_over, lander.lander.awake = False, True
    lander.lander.position = (0.0, pad_y + 1.0)  # |x obs| = 1: out of bounds
    assert lander._reward(lander._observation(), 0.0, 0.0)[0] == -100.0


def test_lunar_land_crash_costs_a_quarter_per_physics_step_until_the_end():
    env = make_box2d_env(task_info("lunarlander-land"), seed=0)
    td = env.reset()
    env.env.unwrapped.game_over = True  # the lander body touched the ground: sticky
    for _ in range(3):
        td = env.step(td.set("action", torch.zeros(2)))["next"]
        assert td["reward"].item() == -0.5
        assert not td["done"].item()
    env.close()


def test_bipedal_fall_costs_one_per_physics_step():
    env = make_box2d_env(task_info("bipedal-walker-flat"), seed=0)
    td = env.reset()
    env.env.unwrapped.game_over = True
    td = env.step(td.set("action", torch.zeros(4)))["next"]
    assert td["reward"].item() == -2.0
    env.close()


def test_bipedal_reward_and_observation_use_the_mmbench_scale():
    walker = BipedalWalkerFlat()
    walker.reset(seed=0)
    hull = walker.hull
    x0, angle0 = hull.position.x, hull.angle
    assert walker.prev_shaping == pytest.approx(130 * x0 / 15 - 5 * abs(angle0))
    hull.linearVelocity = (3.0, 0.5)
    action = np.array([0.5, -1.0, 0.25, 2.0])
    obs, reward, _, _, _ = walker.step(action)
    vel = hull.linearVelocity
    assert obs[2] == pytest.approx(0.3 * vel.x * (224 / 15) / 50, rel=1e-5)
    assert obs[3] == pytest.approx(0.3 * vel.y * (224 / 15) / 50, rel=1e-5)
    torque_cost = 0.00035 * 80 * (0.5 + 1.0 + 0.25 + 1.0)
    expected = 130 * (hull.position.x - x0) / 15 - 5 * (abs(hull.angle) - abs(angle0)) - torque_cost
    assert reward == pytest.approx(expected, abs=1e-6)
    # The first lidar ray points straight down at the flat ground; range 160/30 m (stock).
    assert obs[14] == pytest.approx((hull.position.y - TERRAIN_HEIGHT) / (160 / 30), rel=1e-4)


def test_compat_false_fixes_the_scale_and_land_score_bugs():
    walker = BipedalWalkerFlat(official_scale=False)
    walker.reset(seed=0)
    hull = walker.hull
    assert walker.prev_shaping == pytest.approx(130 * hull.position.x / 30 - 5 * abs(hull.angle))
    obs, *_ = walker.step(np.zeros(4))
    assert obs[2] == pytest.approx(0.3 * hull.linearVelocity.x * 20 / 50, rel=1e-5)
    assert obs[3] == pytest.approx(0.3 * hull.linearVelocity.y * (400 / 30) / 50, rel=1e-5)

    env = make_box2d_env(task_info("bipedal-walker-flat"), compat=False)
    assert env.env.unwrapped.official_scale is False
    land = make_box2d_env(task_info("lunarlander-land"), compat=False)
    assert land.score_range == (0.0, 250.0)
    assert make_box2d_env(task_info("lunarlander-land")).score_range == (0.0, 500.0)


def test_bipedal_start_is_the_stock_pose():
    walker = BipedalWalkerUneven()
    walker.reset(seed=0)
    assert walker.hull.position.x == pytest.approx(TERRAIN_STEP * 20 / 2, abs=0.05)
    assert stock_walker.LIDAR_RANGE == pytest.approx(160 / 30)


def test_flat_terrain():
    walker = BipedalWalkerFlat()
    walker.reset(seed=0)
    assert walker.terrain_x == pytest.approx([i * TERRAIN_STEP for i in range(200)])
    assert walker.terrain_y == pytest.approx([TERRAIN_HEIGHT] * 200)


@pytest.mark.parametrize(
    "cls, damping, pull, noise",
    [(BipedalWalkerUneven, 0.8, 0.011, 1 / 15), (BipedalWalkerRugged, 0.75, 0.015, 2.25 / 15)],
)
def test_random_walk_terrains(cls, damping, pull, noise):
    walker = cls()
    walker.reset(seed=2)
    y = np.array(walker.terrain_y)
    assert y[:21] == pytest.approx([TERRAIN_HEIGHT] * 21)  # flat start pad
    assert y.min() >= 1.0 and y.max() <= 5.5
    # Where no clipping happened, y_i - y_{i-1} = v_i with v_i = damping v_{i-1} + pull
    # sign(TH - y_{i-1}) + noise U(-1, 1): the residual noise stays within +-noise.
    velocity = np.diff(y)
    free = (y[1:-1] > 1.0) & (y[1:-1] < 5.5) & (y[2:] > 1.0) & (y[2:] < 5.5)
    residual = velocity[1:] - damping * velocity[:-1] - pull * np.sign(TERRAIN_HEIGHT - y[1:-1])
    assert free.sum() > 100
    assert np.abs(residual[free]).max() <= noise + 1e-9
    assert np.abs(residual[free]).max() > 0.5 * noise


def test_hills_terrain_is_a_clipped_sine():
    walker = BipedalWalkerHills()
    walker.reset(seed=0)
    assert TERRAIN_HEIGHT - 1 <= walker.hill_offset <= TERRAIN_HEIGHT - 0.8
    assert 0.4 <= walker.hill_amplitude <= 0.8 and 7 <= walker.hill_wavelength <= 14
    x = np.arange(200) * TERRAIN_STEP
    expected = walker.hill_offset + walker.hill_amplitude * np.sin(2 * np.pi * x / walker.hill_wavelength)
    assert walker.terrain_y == pytest.approx(np.clip(expected, 1.0, 5.5).tolist())


def test_obstacle_terrain_has_stumps_and_pits_of_the_documented_sizes():
    walker = BipedalWalkerObstacles()
    walker.reset(seed=0)
    boxes = [
        np.array(f.shape.vertices)
        for body in walker.terrain
        for f in body.fixtures
        if len(f.shape.vertices) == 4
    ]
    # Width and height in terrain steps (Box2D stores vertices in float32).
    sizes = {tuple(np.round(np.ptp(b, axis=0) / TERRAIN_STEP, 3).tolist()) for b in boxes}
    # Pit walls are 1 step wide and 3 deep; stumps are c wide and 0.75 c high, c in {2, 3}.
    assert sizes <= {(1.0, 3.0), (2.0, 1.5), (3.0, 2.25)}
    assert (1.0, 3.0) in sizes and sizes & {(2.0, 1.5), (3.0, 2.25)}
    y = np.array(walker.terrain_y)
    assert y[:21] == pytest.approx([TERRAIN_HEIGHT] * 21)


def test_lunar_start_states():
    hover = LunarLanderHover()
    hover.reset(seed=0)
    pad_centre = (hover.helipad_x1 + hover.helipad_x2) / 2
    assert abs(hover.goal[0] - pad_centre) <= 1 and abs(hover.goal[1] - 2 * hover.helipad_y) <= 1
    assert 0.8 * 2 * HALF_WORLD * 0.9 < hover.lander.position.y
    assert hover.helipad_y == pytest.approx(HALF_WORLD / 2)

    takeoff = LunarLanderTakeoff()
    obs, _ = takeoff.reset(seed=0)
    width = takeoff.helipad_x2 - takeoff.helipad_x1
    assert obs[6] == 1.0 and obs[7] == 1.0  # standing on both legs
    assert abs(obs[1]) < 0.1  # at pad height (legs slightly compressed)
    assert takeoff.helipad_x1 + 0.2 * width < takeoff.lander.position.x < takeoff.helipad_x2 - 0.2 * width
    assert 0.2 * 400 / 30 <= takeoff.goal[0] <= 0.8 * 400 / 30
    assert 0.6 * 400 / 30 <= takeoff.goal[1] <= 0.8 * 400 / 30


@pytest.mark.parametrize("name", ["bipedal-walker-uneven", "lunarlander-takeoff"])
def test_same_seed_same_episode(name):
    actions = torch.rand(30, task_info(name).action_dim) * 2 - 1

    def run(seed):
        env = make_box2d_env(task_info(name), seed=seed)
        td = env.reset()
        obs = [td["observation"]]
        for action in actions:
            td = env.step(td.set("action", action))["next"]
            obs.append(td["observation"])
            obs.append(td["reward"])
        inner = env.env.unwrapped
        terrain = inner.terrain_y if hasattr(inner, "terrain_y") else inner.goal.tolist()
        env.close()
        return torch.cat(obs), terrain

    (first, terrain), (again, terrain_again), (other, _) = run(5), run(5), run(6)
    assert torch.equal(first, again) and np.array_equal(terrain, terrain_again)
    assert not torch.equal(first, other)


@pytest.mark.parametrize("name, size", [("bipedal-walker-obstacles", 224), ("lunarlander-land", 64)])
def test_rgb_pixels(name, size):
    env = make_box2d_env(task_info(name), obs="rgb", seed=0, render_size=size)
    check_env_specs(env)
    td = env.rollout(3)
    assert td["pixels"].shape == (3, 3, size, size) and td["pixels"].dtype == torch.uint8
    assert td["pixels"].float().std() > 0
    env.close()


def test_rgb_mode_does_not_change_the_physics():
    states = []
    for obs in ("state", "rgb"):
        env = make_box2d_env(task_info("lunarlander-hover"), obs=obs, seed=7)
        td = env.rollout(20, policy=lambda td: td.set("action", torch.tensor([0.8, 0.7])))
        states.append(td["next", "observation"])
        env.close()
    assert torch.equal(states[0], states[1])


def test_gym_envs_pickle_with_their_own_arguments():
    walker = pickle.loads(pickle.dumps(BipedalWalkerHills(render_mode="rgb_array", official_scale=False)))
    assert walker.render_mode == "rgb_array" and walker.official_scale is False
    lander = pickle.loads(pickle.dumps(LunarLanderTakeoff()))
    assert lander.reset(seed=0)[0].shape == (10,)


def test_bad_arguments():
    task = task_info("bipedal-walker-flat")
    with pytest.raises(ValueError, match="state, rgb"):
        make_box2d_env(task, obs="pixels")
    with pytest.raises(TypeError, match="seed"):
        make_box2d_env(task, seed="0")
    with pytest.raises(ValueError, match="mujoco"):
        make_box2d_env(task_info("mujoco-ant"))
    with pytest.raises(ValueError, match="render_mode"):
        LunarLanderLand(render_mode="human")


def test_make_env_builds_box2d_tasks():
    env = make_env("lunarlander-land", seed=0)
    td = env.rollout(3)
    assert td["next", "observation"].shape == (3, 8)
    env.close()
