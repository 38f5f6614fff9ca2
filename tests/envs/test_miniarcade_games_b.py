"""MiniArcade games, part B: coconut dodge, the cartpole family, point maze and reacher."""
import math

import numpy as np
import pytest
import torch

pytest.importorskip("pygame")

from newt.envs.miniarcade import cartpole, coconut_dodge, point_maze, reacher  # noqa: E402
from newt.envs.miniarcade.cartpole import Cartpole  # noqa: E402
from newt.envs.miniarcade.coconut_dodge import CoconutDodge  # noqa: E402
from newt.envs.miniarcade.point_maze import PointMaze  # noqa: E402
from newt.envs.miniarcade.reacher import Reacher  # noqa: E402

VARIANTS = {
    **{name: (CoconutDodge, kw) for name, kw in coconut_dodge.VARIANTS.items()},
    **{name: (Cartpole, kw) for name, kw in cartpole.VARIANTS.items()},
    **{name: (PointMaze, kw) for name, kw in point_maze.VARIANTS.items()},
    **{name: (Reacher, kw) for name, kw in reacher.VARIANTS.items()},
}
TASKS = sorted(VARIANTS)


def make(task, num_envs=1, seed=0):
    cls, kwargs = VARIANTS[task]
    return cls(num_envs=num_envs, seed=seed, **kwargs)


def zeros(game):
    return np.zeros((game.num_envs, game.action_dim), np.float32)


# ---------------------------------------------------------------------------- all games
@pytest.mark.parametrize("task", TASKS)
def test_spec_dimensions_match_tasks_csv(task):
    from newt.envs import task_info
    from newt.envs.miniarcade import GAMES

    game = make(task, num_envs=3)
    info = task_info(task)
    assert game.action_dim == info.action_dim
    spec_obs_dim = {"coconut": 29, "cartpole": 4, "maze": 44, "reacher": 6}
    assert game.obs_dim == next(d for key, d in spec_obs_dim.items() if key in task)
    obs = game.reset()
    assert obs.shape == (3, game.obs_dim) and obs.dtype == np.float32
    obs, reward, success = game.step(np.ones((3, game.action_dim)))
    assert obs.shape == (3, game.obs_dim) and obs.dtype == np.float32
    assert reward.shape == (3,) and success.shape == (3,)
    assert reward.dtype == np.float32 and success.dtype == np.float32
    assert GAMES[task].kwargs == VARIANTS[task][1]  # the registry builds the same variant


@pytest.mark.parametrize("task", TASKS)
def test_same_seed_same_episode_and_frames(task):
    a, b = make(task, seed=7), make(task, seed=7)
    actions = np.random.default_rng(0).uniform(-1, 1, (30, 1, a.action_dim))
    np.testing.assert_array_equal(a.reset(), b.reset())
    for act in actions:
        oa, ra, sa = a.step(act)
        ob, rb, sb = b.step(act)
        np.testing.assert_array_equal(oa, ob)
        np.testing.assert_array_equal(ra, rb)
        np.testing.assert_array_equal(sa, sb)
    np.testing.assert_array_equal(a.draw(0), b.draw(0))
    # Drawing is a function of the state: drawing again changes neither the frame nor the game.
    np.testing.assert_array_equal(a.draw(0), b.draw(0))
    np.testing.assert_array_equal(a.step(actions[0])[0], b.step(actions[0])[0])
    other = make(task, seed=8)
    assert not np.array_equal(other.reset(), make(task, seed=7).reset())


@pytest.mark.parametrize("task", TASKS)
def test_masked_reset_restarts_only_selected_envs(task):
    game = make(task, num_envs=4)
    game.reset()
    rng = np.random.default_rng(1)
    for _ in range(20):
        game.step(rng.uniform(-1, 1, (4, game.action_dim)))
    before = game.observation()
    mask = np.array([False, True, False, True])
    after = game.reset(mask)
    np.testing.assert_array_equal(after[~mask], before[~mask])
    assert not np.array_equal(after[mask], before[mask])
    assert (game.steps == np.array([20, 0, 20, 0])).all()


@pytest.mark.parametrize("task", TASKS)
def test_batched_envs_step_independently(task):
    """Env 0 of a batch follows the same dynamics as a single env from the same state."""
    batch, single = make(task, num_envs=4, seed=3), make(task, num_envs=1, seed=4)
    batch.reset()
    single.reset()
    for name, value in vars(batch).items():
        if isinstance(value, np.ndarray) and value.shape[:1] == (4,):
            getattr(single, name)[...] = value[:1]  # in place: some arrays are views of others
    actions = np.random.default_rng(2).uniform(-1, 1, (20, 4, batch.action_dim))
    for act in actions:
        ob, rb, _ = batch.step(act)
        os_, rs, _ = single.step(act[:1])
        np.testing.assert_allclose(ob[:1], os_, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(rb[:1], rs, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("task", TASKS)
def test_random_episode_stays_finite(task):
    game = make(task, num_envs=2, seed=5)
    game.reset()
    rng = np.random.default_rng(3)
    for _ in range(500 if "maze" not in task and "reacher" not in task else 200):
        obs, reward, success = game.step(rng.uniform(-1.5, 1.5, (2, game.action_dim)))
        assert np.isfinite(obs).all() and np.isfinite(reward).all()


@pytest.mark.parametrize("task", TASKS)
def test_frame_format_and_changes_with_state(task):
    game = make(task, num_envs=2)
    game.reset()
    first = game.draw(1)
    assert first.shape == (224, 224, 3) and first.dtype == np.uint8
    for _ in range(15):
        game.step(np.ones((2, game.action_dim)))
    assert not np.array_equal(first, game.draw(1))


# ---------------------------------------------------------------------------- cartpole
def test_cartpole_observation_is_the_raw_state():
    game = Cartpole(num_envs=2)
    game.reset()
    game.state[:] = [[0.5, -1.0, 7.0, 2.0], [-3.0, 0.0, -0.1, 0.0]]
    np.testing.assert_array_equal(game.observation(), game.state.astype(np.float32))


def test_cartpole_step_matches_hand_computed_euler():
    game = Cartpole(num_envs=1)
    game.reset()
    x, xd, th, thd, a = 0.1, 0.2, 0.3, -0.4, 0.5
    game.state[0] = (x, xd, th, thd)
    obs, reward, _ = game.step(np.array([[a]]))
    force = 11.0 * a
    temp = (force + 0.11 * 0.6 * thd**2 * math.sin(th)) / 1.01
    thacc = (9.81 * math.sin(th) - math.cos(th) * temp) / (0.6 * (4 / 3 - 0.11 * math.cos(th) ** 2 / 1.01))
    xacc = temp - 0.11 * 0.6 * thacc * math.cos(th) / 1.01
    expected = [x + 0.025 * xd, xd + 0.025 * xacc, th + 0.025 * thd, thd + 0.025 * thacc]
    np.testing.assert_allclose(game.state[0], expected, rtol=1e-12)
    np.testing.assert_allclose(reward[0], 1 - expected[2] / (math.pi / 2), rtol=1e-6)
    batch = Cartpole(num_envs=3)
    batch.reset()
    batch.state[:] = (x, xd, th, thd)
    batch.step(np.full((3, 1), a))
    np.testing.assert_allclose(batch.state, np.tile(expected, (3, 1)), rtol=1e-12)


@pytest.mark.parametrize("num_envs", [1, 3])
def test_cartpole_dense_and_sparse_rewards(num_envs):
    dense = Cartpole(num_envs=num_envs)
    sparse = Cartpole(num_envs=num_envs, sparse=True)
    for game in (dense, sparse):
        game.reset()
    # Upright and still at rest stays exactly there: full reward.
    for game in (dense, sparse):
        game.state[:] = 0.0
        assert (game.step(zeros(game))[1] == 1.0).all()
    # Tilted by 0.1 (inside the sparse threshold) and 0.2 (outside it), and out of bounds.
    for theta, sparse_expected in [(0.1, 1.0), (0.2, 0.0)]:
        dense_expected = 1 - theta / (math.pi / 2)
        for game in (dense, sparse):
            game.state[:] = (0.0, 0.0, theta, 0.0)  # theta changes by tau * 0 in the first step
        np.testing.assert_allclose(dense.step(zeros(dense))[1], dense_expected, rtol=1e-6)
        np.testing.assert_allclose(sparse.step(zeros(sparse))[1], sparse_expected)
    for game in (dense, sparse):
        game.state[:] = (2.5, 0.0, 0.0, 0.0)
        assert (game.step(zeros(game))[1] == 0.0).all()
    # Horizontal or beyond earns nothing.
    dense.state[:] = (0.0, 0.0, 2.0, 0.0)
    assert (dense.step(zeros(dense))[1] == 0.0).all()


def test_cartpole_unwrapped_angle_quirk_and_compat_flag():
    quirk, fixed = Cartpole(compat=True), Cartpole(compat=False)
    for game in (quirk, fixed):
        game.reset()
        game.state[0] = (0.0, 0.0, 2 * math.pi, 0.0)  # upright after one full turn
    assert quirk.step(zeros(quirk))[1][0] == 0.0
    assert fixed.step(zeros(fixed))[1][0] == pytest.approx(1.0)
    assert fixed.observation()[0, 2] == pytest.approx(2 * math.pi)  # the observation stays raw


def test_cartpole_initial_states():
    balance = Cartpole(num_envs=500, seed=0)
    swingup = Cartpole(num_envs=500, seed=0, task="swingup")
    b, s = balance.reset(), swingup.reset()
    assert np.abs(b).max() <= 0.065
    assert np.abs(s[:, [0, 1, 3]]).max() <= 0.065
    assert np.abs(s[:, 2] - math.pi).max() <= 0.065


def test_cartpole_tremor_adds_pole_acceleration():
    game = Cartpole(num_envs=2, seed=0, tremor=True)
    calm = Cartpole(num_envs=2, seed=0)
    game.reset()
    calm.reset()
    state = np.array([[0.0, 0.0, 0.05, 0.0]] * 2)
    game.state[:], calm.state[:] = state, state
    game.tremor_accel[:] = (4.0, 0.0)
    game.tremor_change[:] = 100
    game.step(zeros(game))
    calm.step(zeros(calm))
    np.testing.assert_allclose(game.state[0, 3] - calm.state[0, 3], 0.025 * 4.0, rtol=1e-9)
    np.testing.assert_array_equal(game.state[1], calm.state[1])


def test_cartpole_tremor_schedule_statistics():
    n = 300
    game = Cartpole(num_envs=n, seed=1, tremor=True)
    game.reset()
    accel = []
    for _ in range(400):
        accel.append(game.tremor_accel.copy())  # the acceleration applied by the next step
        game.step(zeros(game))
    shaking = np.array(accel).T != 0  # [env, step]
    first = shaking.argmax(axis=1)
    assert first.min() == 40 and first.max() == 80  # I{40..80} calm steps before the first shake
    durations, gaps = [], []
    for row in shaking:
        edges = np.diff(np.concatenate([[0], row.astype(int), [0]]))
        starts, ends = (edges == 1).nonzero()[0], (edges == -1).nonzero()[0]
        complete = ends < row.size  # the last shake may run past the recorded steps
        durations += (ends - starts)[complete].tolist()
        gaps += (starts[1:] - ends[:-1]).tolist()
    assert min(durations) == 5 and max(durations) == 10
    assert min(gaps) == 50 and max(gaps) == 90
    forces = np.abs(np.array(accel)[np.array(accel) != 0])
    assert forces.min() >= 1.75 and forces.max() <= 5.0
    assert (np.array(accel) > 0).mean() == pytest.approx((np.array(accel) < 0).mean(), rel=0.2)


def test_cartpole_bad_task():
    with pytest.raises(ValueError, match="swingup"):
        Cartpole(task="spin")


# ---------------------------------------------------------------------------- coconut dodge
def _place_coconut(game, slot, x, y, vx, vy, r=7, falling=True, env=0):
    """Spawn a coconut of radius ``r`` in ``slot`` at (x, y) with velocity (vx, vy); cracked
    ones rest on the ground (y = 212 - r)."""
    env, slot_index = np.array([env]), np.array([slot])
    game._spawn(env, slot_index)
    row = game.slots[env[0], slot]
    row[[coconut_dodge.X, coconut_dodge.Y, coconut_dodge.VX, coconut_dodge.VY]] = x, y, vx, vy
    row[coconut_dodge.RADIUS] = r
    row[coconut_dodge.WALL_HALF] = 100 - r
    row[coconut_dodge.LAND_Y] = 212 - r
    row[coconut_dodge.HIT_DISTANCE] = 9 + r
    if not falling:
        game._crack(env, slot_index)
    game.count[env] = np.maximum(game.count[env], slot + 1)
    game._measure()


def test_coconut_observation_layout():
    game = CoconutDodge(num_envs=1, seed=0)
    game.reset()
    game.agent_x[0], game.agent_v[0] = 62.0, -2.5
    _place_coconut(game, 0, 150.0, 40.0, 0.3, 2.0)  # far, falling
    _place_coconut(game, 1, 70.0, 205.0, -0.4, 2.2, falling=False)  # nearest, cracked
    _place_coconut(game, 2, 90.0, 150.0, 0.1, 1.5)  # nearest falling
    game.collision_timer[0] = 3
    obs = game.observation()[0]
    np.testing.assert_allclose(obs[:5], [0.25, -0.5, 28 / 200, -50 / 200, 1.0], rtol=1e-6)
    expected = [
        [58 / 200, 193 / 200, -0.4 / 5, 2.2 / 5],  # cracked, distance ~9.4
        [78 / 200, 138 / 200, 0.1 / 5, 1.5 / 5],  # distance ~57
        [138 / 200, 28 / 200, 0.3 / 5, 2.0 / 5],  # distance ~183
    ]
    np.testing.assert_allclose(obs[5:17].reshape(3, 4), expected, rtol=1e-6)
    np.testing.assert_array_equal(obs[17:], 0.0)


def test_coconut_no_falling_coconut_observes_zero_minus_one():
    game = CoconutDodge(num_envs=1, seed=0)
    game.reset()
    _place_coconut(game, 0, 100.0, 205.0, 0.0, 2.0, falling=False)
    np.testing.assert_array_equal(game.observation()[0, 2:4], [0.0, -1.0])


def test_coconut_hit_penalty_and_collision_flag():
    game = CoconutDodge(num_envs=2, seed=0)
    game.reset()
    # Env 0: a falling coconut right on the traveller; env 1: a cracked one (harmless).
    _place_coconut(game, 0, 112.0, 195.0, 0.0, 0.1, env=0)
    _place_coconut(game, 0, 112.0, 195.0, 0.0, 0.1, env=1, falling=False)
    obs, reward, success = game.step(zeros(game))
    assert reward.tolist() == [-1.0, 0.0] and success.tolist() == [0.0, 0.0]
    assert obs[:, 4].tolist() == [1.0, 0.0]
    game.coconuts[0, 0] = (20.0, 30.0, 0.0, 0.1)  # move it away: the flag stays for 4 more steps
    flags = [game.step(zeros(game))[0][0, 4] for _ in range(6)]
    assert flags == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]


def test_coconut_agent_dynamics_and_bounds():
    game = CoconutDodge(num_envs=1, seed=0)
    game.reset()
    game.step(np.ones((1, 1)))
    assert game.agent_v[0] == pytest.approx(0.97 * 0.85)
    assert game.agent_x[0] == pytest.approx(112 + 0.97 * 0.85)
    for _ in range(100):
        game.step(np.ones((1, 1)))
    assert game.agent_v[0] == 5.0 and game.agent_x[0] == 203.0


def test_coconut_landing_cracks_then_respawns():
    game = CoconutDodge(num_envs=1, seed=0)
    game.reset()
    game.agent_x[0] = 21.0
    _place_coconut(game, 0, 150.0, 203.5, 1.0, 2.0)
    game.step(zeros(game))
    assert not game.falling[0, 0]
    assert game.slots[0, 0, coconut_dodge.Y] == 212 - 7
    assert game.crack_timer[0, 0] == 10 and game.split_dir[0, 0] == 1
    for _ in range(9):
        game.step(zeros(game))
        assert not game.falling[0, 0]
    game.step(zeros(game))
    assert game.falling[0, 0] and game.slots[0, 0, coconut_dodge.Y] < 30


def test_coconut_count_grows_with_difficulty():
    game = CoconutDodge(num_envs=1, seed=0)
    game.reset()
    counts = []
    for _ in range(500):
        game.step(zeros(game))
        counts.append(int(game.count[0]))
    assert counts[98] == 1 and counts[99] == 2 and counts[199] == 3 and counts[399] == 5 and counts[499] == 6


# ---------------------------------------------------------------------------- point maze
def test_point_maze_templates_and_layout_observation():
    game = PointMaze(num_envs=1, seed=0, variant=4)
    game.reset()
    game.wind_cell[0], game.wind_dir[0] = 12, 1  # centre cell, blowing right
    game.wind_push[0] = (2.0, 0.0)
    game.layout_obs[0] = 0
    game.layout_obs[0, :25] = game.grid.ravel()
    game.layout_obs[0, 12] = -1
    game.layout_obs[0, 25 + 1] = 1
    game.agent[0] = (112.0, 112.0)
    game.goal[0] = (120.0, 118.0)
    game.velocity[0] = (-5.0, 2.0)
    obs = game.observation()[0]
    np.testing.assert_allclose(obs[:6], [0.5, 0.5, 120 / 224, 118 / 224, -1.0, 0.4], rtol=1e-6)
    np.testing.assert_array_equal(obs[6:11], [1, 1, 0, 1, 1])
    assert obs[6 + 12] == -1.0
    np.testing.assert_array_equal(obs[31:35], [0, 1, 0, 0])
    np.testing.assert_allclose(obs[35:38], [8 / 184, 6 / 184, 10 / 184], rtol=1e-6)
    assert obs[38] == 1.0 and obs[39] == 1.0
    np.testing.assert_allclose(obs[40:42], [0.4, 0.0])
    np.testing.assert_allclose(obs[42:44], [0.5, 0.5])


def test_point_maze_reset_observation_marks_wind_cell():
    game = PointMaze(num_envs=8, seed=3, variant=1)
    obs = game.reset()
    grid = obs[:, 6:31]
    assert ((grid == -1).sum(axis=1) == 1).all()
    template = game.grid.ravel()
    assert (template[np.argmax(grid == -1, axis=1)] == 0).all()  # the wind cell is a free cell
    np.testing.assert_array_equal(np.where(grid == -1, 0, grid), np.tile(template, (8, 1)))
    assert (obs[:, 31:35].sum(axis=1) == 1).all()
    distance = np.hypot(*(game.goal - game.agent).T)
    assert ((distance >= 36.8) & (distance <= 128.8)).all()
    px = game.agent.astype(int)
    assert not game.blocked[px[:, 1], px[:, 0]].any()


def test_point_maze_goal_reached_success_and_reward():
    game = PointMaze(num_envs=2, seed=0, variant=2)
    game.reset()
    game.wind_cell[:] = game.free_cells[-1]  # bottom-right free cell, away from the agents
    game.agent[:] = [(30.0, 30.0), (30.0, 30.0)]
    game.goal[:] = [(33.0, 34.0), (30.0, 130.0)]
    obs, reward, success = game.step(zeros(game))
    assert success.tolist() == [1.0, 0.0]
    np.testing.assert_allclose(reward, [1 - 5 / 184, 1 - 100 / 184], rtol=1e-6)
    assert obs[:, 38].tolist() == [1.0, 0.0]


def test_point_maze_walls_block_and_wind_pushes():
    game = PointMaze(num_envs=1, seed=0, variant=3)  # row 0: 01110 -> wall at columns 1-3
    game.reset()
    game.wind_cell[0], game.wind_dir[0] = 0, 2  # cell 0 (top-left, free), blowing down
    game.wind_push[0] = (0.0, 2.0)
    game.agent[0] = (40.0, 40.0)  # inside cell 0; the wall cell right of it, grown, starts at x = 51
    game.step(np.array([[1.0, 0.0]]))
    assert tuple(game.agent[0]) == (45.0, 42.0)  # the wind adds 2 px down
    np.testing.assert_allclose(game.observation()[0, 4:6], [1.0, 0.4])
    game.agent[0] = (49.0, 40.0)
    game.step(np.array([[1.0, 0.0]]))
    assert game.agent[0, 0] == 49.0  # 54 would be inside the grown wall (x >= 51): refused
    assert game.agent[0, 1] == 42.0


def test_point_maze_bad_variant():
    with pytest.raises(ValueError, match="variant"):
        PointMaze(variant=5)


# ---------------------------------------------------------------------------- reacher
def test_reacher_observation_layout():
    game = Reacher(num_envs=1)
    game.reset()
    q1, q2 = 0.3, -0.7
    tip = 0.11 * np.array([math.cos(q1) + math.cos(q1 + q2), math.sin(q1) + math.sin(q1 + q2)])
    game.state[0] = (q1, q2, 1.5, -2.0, 0.05, -0.1, *tip)
    np.testing.assert_allclose(
        game.observation()[0], [q1, q2, 0.05 - tip[0], -0.1 - tip[1], 1.5, -2.0], rtol=1e-6
    )


@pytest.mark.parametrize("num_envs", [1, 2])
def test_reacher_dynamics_limits_and_reward(num_envs):
    game = Reacher(num_envs=num_envs, variant="hard")
    game.reset()
    # Fully stretched along +x; the target 0.02 m from the tip is inside the hard radius (0.025),
    # 0.03 m is only inside the easy one (0.04).
    game.state[:] = (0.0, 0.0, 0.0, 0.0, 0.22, 0.02, 0.22, 0.0)
    assert (game.step(zeros(game))[1] == 1.0).all()
    game.state[:] = (0.0, 0.0, 0.0, 0.0, 0.22, 0.03, 0.22, 0.0)
    assert (game.step(zeros(game))[1] == 0.0).all()
    easy = Reacher(num_envs=num_envs, variant="easy")
    easy.reset()
    easy.state[:] = (0.0, 0.0, 0.0, 0.0, 0.22, 0.03, 0.22, 0.0)
    assert (easy.step(zeros(easy))[1] == 1.0).all()
    # One step of torque from rest: omega = dt * torque * a, q = dt * omega.
    game.state[:] = (0.0, 0.0, 0.0, 0.0, 0.1, 0.1, 0.22, 0.0)
    game.step(np.full((num_envs, 2), 0.5))
    np.testing.assert_allclose(game.state[:, 2:4], np.tile([0.02 * 45, 0.02 * 90], (num_envs, 1)))
    np.testing.assert_allclose(game.state[:, 0:2], np.tile([0.02 * 0.9, 0.02 * 1.8], (num_envs, 1)))
    # The elbow stops at +160 degrees.
    game.state[:, :4] = (0.0, math.radians(159.9), 0.0, 20.0)
    game.step(np.ones((num_envs, 2)))
    np.testing.assert_allclose(game.state[:, 1], math.radians(160))
    assert (game.state[:, 3] == 0.0).all()


def test_reacher_reset_distribution():
    game = Reacher(num_envs=400, seed=0)
    obs = game.reset()
    assert (np.abs(obs[:, 1]) <= math.radians(160)).all() and (obs[:, 4:] == 0).all()
    radius = np.hypot(game.state[:, 4], game.state[:, 5])
    assert radius.min() >= 0.05 and radius.max() < 0.2


def test_reacher_bad_variant():
    with pytest.raises(ValueError, match="easy"):
        Reacher(variant="medium")


# ---------------------------------------------------------------------------- TorchRL env
@pytest.mark.parametrize("task", TASKS)
def test_check_env_specs_through_make_env(task):
    from torchrl.envs.utils import check_env_specs

    from newt.envs import make_env, task_info

    first = make_env(task, seed=0).reset()["observation"]
    env = make_env(task, seed=0)
    check_env_specs(env)
    td = env.rollout(3)
    assert td["observation"].shape == (3, make(task).obs_dim)
    assert td["action"].shape == (3, task_info(task).action_dim)
    torch.testing.assert_close(make_env(task, seed=0).reset()["observation"], first, rtol=0, atol=0)
    assert not torch.equal(make_env(task, seed=1).reset()["observation"], first)


@pytest.mark.parametrize(
    "task", ["pygame-coconut-dodge", "pygame-cartpole-tremor", "pygame-point-maze-var1", "pygame-reacher-easy"]
)
def test_rgb_env_pixels(task):
    from newt.envs import make_env

    env = make_env(task, obs="rgb", seed=0)
    td = env.rollout(2)
    assert td["pixels"].shape == (2, 3, 224, 224) and td["pixels"].dtype == torch.uint8
    assert td["pixels"].float().std() > 0
