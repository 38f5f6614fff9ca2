"""MiniArcade games of part A: specs, determinism, observation layouts, rewards, rendering."""
import numpy as np
import pytest
import torch
from torchrl.envs.utils import check_env_specs

from newt.envs.miniarcade import make_game, make_miniarcade_env
from newt.envs.registry import task_info

TASKS_A = (
    "pygame-cowboy",
    "pygame-coinrun",
    "pygame-spaceship",
    "pygame-pong",
    "pygame-bird-attack",
    "pygame-highway",
    "pygame-landing",
    "pygame-air-hockey",
    "pygame-rocket-collect",
    "pygame-chase-evade",
)
OBS_DIMS = {
    "pygame-cowboy": 3,
    "pygame-coinrun": 12,
    "pygame-spaceship": 14,
    "pygame-pong": 6,
    "pygame-bird-attack": 55,
    "pygame-highway": 24,
    "pygame-landing": 7,
    "pygame-air-hockey": 12,
    "pygame-rocket-collect": 21,
    "pygame-chase-evade": 15,
}


def _game(task, **kwargs):
    game = make_game(task, seed=0, **kwargs)
    game.reset()
    return game


def _act(game, *values):
    return np.asarray([values], np.float32)


@pytest.mark.parametrize("task", TASKS_A)
def test_env_specs_and_widths(task):
    env = make_miniarcade_env(task, seed=0, obs="rgb", num_envs=2)
    check_env_specs(env)
    assert env.observation_spec["observation"].shape[-1] == OBS_DIMS[task]
    assert env.action_spec.shape[-1] == task_info(task).action_dim


@pytest.mark.parametrize("task", TASKS_A)
def test_same_seed_same_episode(task):
    actions = torch.from_numpy(np.random.default_rng(1).uniform(-1, 1, (30, task_info(task).action_dim))).float()

    def run(seed):
        env = make_miniarcade_env(task, seed=seed, obs="rgb", render_size=32)
        td = env.reset()
        observations, pixels = [td["observation"]], [td["pixels"]]
        for action in actions:
            td["action"] = action
            td = env.step(td)["next"]
            observations.append(td["observation"])
            pixels.append(td["pixels"])
        return torch.stack(observations), torch.stack(pixels)

    obs_a, pix_a = run(7)
    obs_b, pix_b = run(7)
    assert torch.equal(obs_a, obs_b) and torch.equal(pix_a, pix_b)
    state_env = make_miniarcade_env(task, seed=7)
    assert torch.equal(state_env.reset()["observation"], obs_a[0])  # state runs draw the same stream
    obs_c, pix_c = run(8)
    assert not (torch.equal(obs_a, obs_c) and torch.equal(pix_a, pix_c))


@pytest.mark.parametrize("task", TASKS_A)
def test_episode_length(task):
    length = task_info(task).episode_length
    env = make_miniarcade_env(task, seed=0)
    td = env.rollout(length + 3, break_when_any_done=False)
    truncated = td["next", "truncated"].squeeze(-1)
    assert truncated.nonzero().flatten().tolist() == [length - 1]
    assert not td["next", "terminated"].any()
    assert torch.equal(td["next", "success"], torch.zeros_like(td["next", "success"]))


@pytest.mark.parametrize("task", TASKS_A)
def test_frame_shape_and_frame_follows_state(task):
    game = _game(task)
    frame = game.draw(0)
    assert frame.shape == (224, 224, 3) and frame.dtype == np.uint8
    for _ in range(3):
        game.step(np.ones((1, game.action_dim), np.float32))
    assert not np.array_equal(frame, game.draw(0))


# ----------------------------------------------------------------------------------- cowboy
def test_cowboy_jump_layout_and_rewards():
    game = _game("pygame-cowboy")
    game.obstacle_x[:] = 200
    obs, reward, _ = game.step(_act(game, 1.0))
    assert obs[0].tolist() == pytest.approx([-11 / 224, -1.1, 190 / 224])  # v = -12 + 1, y = 154 - 11
    assert reward[0] == 1.0
    game.reset()
    game.variant[:] = 1  # tall cactus, hitbox (x, 144, 20, 40)
    game.obstacle_x[:] = 50  # overlaps the cowboy box (40, 154, 18, 30)
    obs, reward, _ = game.step(_act(game, 0.0))
    assert reward[0] == -1.0 and game.collided[0]
    assert obs[0, 2] == pytest.approx(50 / 224)  # a cactus pinned against the cowboy does not scroll


def test_cowboy_obstacle_respawns_after_leaving():
    game = _game("pygame-cowboy")
    game.variant[:] = 0  # width 15
    game.obstacle_x[:] = -5
    obs, _, _ = game.step(_act(game, 0.0))
    assert obs[0, 2] == pytest.approx(-15 / 224)  # right edge at 0: still there
    obs, _, _ = game.step(_act(game, 0.0))
    assert obs[0, 2] == pytest.approx(264 / 224)  # right edge < 0: a new cactus at x = 264


# ---------------------------------------------------------------------------------- coinrun
def test_coinrun_collects_touched_coin_and_hides_it():
    game = _game("pygame-coinrun")
    game.coins[0, :, 0] = [59, 300, 327, 354, 381]
    game.coins[0, :, 1] = 170
    game.live[0] = [True, True, True, False, False]
    obs, reward, _ = game.step(_act(game, 0.0))
    assert reward[0] == 1.0  # coin box (40, 161, 18, 18) after the scroll overlaps the runner
    assert obs[0, 2:4].tolist() == [-1.0, -1.0]
    assert obs[0, 4:6].tolist() == pytest.approx([290 / 224, 170 / 224])
    assert obs[0, 8:12].tolist() == [-1.0] * 4


# -------------------------------------------------------------------------------- spaceship
def test_spaceship_coin_and_asteroid_rewards():
    game = _game("pygame-spaceship")
    game.pos[0], game.vel[0] = (100.0, 100.0), 0.0
    game.coins[0, :, 0], game.coins[0, :, 1] = [122, 400, 430, 460], 110
    game.live[0] = [True, True, False, False]
    game.asteroid_active[0] = False
    obs, reward, _ = game.step(_act(game, 0.0, 0.0))
    assert reward[0] == 1.0 and obs[0, 4:6].tolist() == [-1.0, -1.0]
    assert obs[0, 12:14].tolist() == [-1.0, -1.0]
    game.asteroid_active[0] = True
    game.asteroid[0] = (124.0, 110.0)
    obs, reward, _ = game.step(_act(game, 0.0, 0.0))
    assert reward[0] == -2.0 and game.collided[0]
    assert obs[0, 12:14].tolist() == pytest.approx([112 / 224, 110 / 224])
    assert obs[0, 0:4].tolist() == pytest.approx([100 / 224, 100 / 224, 0.0, 0.0])


def test_spaceship_asteroid_survives_reset_only_in_compat_mode():
    for compat in (True, False):
        game = _game("pygame-spaceship", compat=compat)
        game.asteroid_active[0], game.asteroid[0] = True, (150.0, 60.0)
        game.reset()
        carried_over = bool(game.asteroid_active[0]) and game.asteroid[0, 0] == 150.0
        assert carried_over == compat


# ------------------------------------------------------------------------------------- pong
def test_pong_layout_and_paddle_hit():
    game = _game("pygame-pong")
    game.ball[0], game.vel[0] = (40.0, 112.0), (-8.0, 0.0)
    obs, reward, _ = game.step(_act(game, 0.0))
    assert reward[0] == 0.0
    assert obs[0].tolist() == pytest.approx([32 / 224, 112 / 224, 1.0, 0.0, 92 / 224, 92 / 224])


def test_pong_points():
    game = _game("pygame-pong")
    game.ball[0], game.vel[0] = (200.0, 112.0), (8.0, 0.0)
    game.opponent_y[0] = 20.0
    game.ai_delay[0], game.ai_in_zone[0] = 10, True  # the AI keeps still
    _, reward, _ = game.step(_act(game, 0.0))
    assert reward[0] == 1.0 and game.ball[0].tolist() != [208.0, 112.0]  # served again
    game.ball[0], game.vel[0] = (24.0, 30.0), (-8.0, 0.0)
    game.agent_y[0] = 164.0
    _, reward, _ = game.step(_act(game, 0.0))
    assert reward[0] == -1.0 and game.scores[0].tolist() == [1, 1]


def test_pong_ai_delay_survives_reset_only_in_compat_mode():
    for compat in (True, False):
        game = _game("pygame-pong", compat=compat)
        game.ai_delay[0] = 4
        game.reset()
        assert game.ai_delay[0] == (4 if compat else 0)


# ------------------------------------------------------------------------------ bird-attack
def test_bird_attack_kill_hit_and_layout():
    game = _game("pygame-bird-attack")
    board = game.boards[0]
    bird = board.birds[0]
    bird[2] = 1
    board.bullets.append([bird[0] + 1 + 7, bird[1] + 6 + 7])  # reaches the bird's centre after moving
    obs, reward, _ = game.step(_act(game, 0.0, 0.0))
    assert reward[0] == 1.0 and obs[0, 2] == pytest.approx(15 / 16)
    assert obs[0, 3] == pytest.approx((60 + 1) / 224)  # the second bird, the formation one step right
    board.bird_bullets.append([board.x + 7, 188.0 - 7])
    obs, reward, _ = game.step(_act(game, 0.0, 0.0))
    assert reward[0] == -2.0
    assert obs[0, 50] == pytest.approx(1.6) and obs[0, 1] == pytest.approx(16 / 5)


def test_bird_attack_fire_reload_and_bonus():
    game = _game("pygame-bird-attack")
    obs, _, _ = game.step(_act(game, 0.0, 1.0))
    assert obs[0, 20:22].tolist() == pytest.approx([112 / 224, 171 / 224])  # bullet at (x+7, 178-7)
    assert obs[0, 1] == pytest.approx(7 / 5)
    game.boards[0].birds.clear()
    _, reward, _ = game.step(_act(game, 0.0, 0.0))
    assert reward[0] == 1.0


# ---------------------------------------------------------------------------------- highway
def test_highway_collision_and_flash_quirk():
    for compat, flash_after_next in ((True, 1.0), (False, 2 / 3)):
        game = _game("pygame-highway", compat=compat)
        road = game.roads[0]
        road.x, road.y, road.vx, road.vy = 60.0, 112.0 - 9, 0.0, 0.0
        for car in road.cars:
            car.active, car.respawn = False, 50
        car = road.cars[0]
        car.active, car.x, car.lane, car.kind, car.length, car.timer = True, 90.0, 2, 0, 28, 0
        obs, reward, _ = game.step(_act(game, 0.0, 0.0))
        assert reward[0] == pytest.approx(-1.0 + 0.01 + 0.01) and road.stuck is car
        assert obs[0, 4] == 1.0
        assert obs[0, 12:15].tolist() == pytest.approx([84 / 224, 112 / 224, 0.0])
        obs, _, _ = game.step(_act(game, 0.0, 0.0))
        assert obs[0, 4] == pytest.approx(flash_after_next)


def test_highway_layout_free_road():
    game = _game("pygame-highway")
    road = game.roads[0]
    road.x, road.y, road.vx, road.vy = 50.0, 74.4 - 9, 0.0, 0.0
    for car in road.cars:
        car.active, car.respawn = False, 50
    obs, reward, _ = game.step(_act(game, 0.0, 0.0))
    assert reward[0] == pytest.approx(0.01 + 0.01)  # centred, nothing ahead
    assert obs[0, 5:12].tolist() == pytest.approx([-1.0, 1.0, 1.0, -1.0, -1.0, 0.0, 0.25])
    assert obs[0, 12:].tolist() == [-1.0] * 12


# ---------------------------------------------------------------------------------- landing
def test_landing_touchdown_reward_and_layout():
    game = _game("pygame-landing")
    game.ship_x[0], game.ship_speed[0], game.ship_dir[0] = 112.0, 0.0, 1.0
    game.pos[0], game.vel[0] = (98.0, 164.0), (0.0, 2.0)
    obs, reward, _ = game.step(_act(game, 0.0, 0.0))
    v_pre = (2.0 + 0.2) * 0.96
    expected = 1.0 - 2 * v_pre + 0.025 + 0.1 * (1 - abs(174 - 189) / 224)
    assert reward[0] == pytest.approx(expected, rel=1e-5)
    assert game.contact[0] and game.locked[0]
    assert obs[0].tolist() == pytest.approx([98 / 224, 165 / 224, 0.0, 0.0, 112 / 224, 189 / 224, 0.0])
    _, reward, _ = game.step(_act(game, 0.0, 0.0))  # riding the deck: no second touchdown penalty
    assert reward[0] == pytest.approx(1.0 + 0.025 + 0.1 * (1 - 15 / 224), rel=1e-5)


def test_landing_below_deck_penalty():
    game = _game("pygame-landing")
    game.ship_x[0] = 30.0
    game.pos[0], game.vel[0] = (150.0, 200.0), (0.0, 0.0)
    _, reward, _ = game.step(_act(game, 0.0, 0.0))
    assert reward[0] == pytest.approx(-0.5 - 0.001 * 0.2 * 0.96)


# ------------------------------------------------------------------------------- air-hockey
def test_air_hockey_goal_and_layout():
    game = _game("pygame-air-hockey")
    game.puck[0], game.puck_vel[0] = (112.0, 16.0), (0.0, -6.0)
    obs, reward, _ = game.step(_act(game, 0.5, -1.0))
    assert reward[0] == 1.0 and game.scores[0].tolist() == [1, 0]
    assert obs[0, 0:2].tolist() == pytest.approx([0.5, 0.5])  # relaunched from the centre
    assert obs[0, 3] < 0  # toward the AI after the agent scores
    assert obs[0, 4:8].tolist() == pytest.approx([112 / 224, 170 / 224, 0.0, 0.0])  # mallets re-spawned
    game.puck[0], game.puck_vel[0] = (112.0, 208.0), (0.0, 6.0)
    _, reward, _ = game.step(_act(game, 0.0, 0.0))
    assert reward[0] == -1.0


def test_air_hockey_mallet_hit_and_side_wall():
    game = _game("pygame-air-hockey")
    game.puck[0], game.puck_vel[0] = (112.0, 150.0), (0.0, 0.0)
    obs, _, _ = game.step(_act(game, 0.0, -1.0))  # mallet from (112, 170) to (112, 162.5) hits the puck
    assert obs[0, 6:8].tolist() == [0.0, -1.0]
    assert game.puck_vel[0, 1] < -2.0
    game.puck[0], game.puck_vel[0] = (40.0, 150.0), (-3.0, 0.0)
    game.step(_act(game, 0.0, 0.0))
    assert game.puck[0, 0] == 39.0 and game.puck_vel[0, 0] > 0


# --------------------------------------------------------------------------- rocket-collect
def test_rocket_collect_coin_asteroid_and_layout():
    game = _game("pygame-rocket-collect")
    game.coin[0] = (112.0, 174.0)
    game.rocks[0, 0], game.rock_vel[0, 0] = (112.0, 100.0), (0.0, 0.0)
    obs, reward, _ = game.step(_act(game, 0.0, 0.0))
    assert reward[0] == pytest.approx(1.0 + 0.002 * (1 - 10 / 316.78))
    assert obs[0, 8] == 0.0
    assert obs[0, 9:13].tolist() == pytest.approx([0.5, 100 / 224, 0.0, 0.0])
    assert obs[0, 13:].tolist() == [0.0] * 8
    game.coin[0] = (30.0, 40.0)
    game.rocks[0, 0] = (112.0, 200.0)
    obs, reward, _ = game.step(_act(game, 0.0, 0.0))
    distance = np.hypot(112 - 30, 184 - 40)
    assert reward[0] == pytest.approx(-0.2 + 0.002 * (1 - distance / 316.78))
    assert obs[0, 8] == 1.0
    assert obs[0, 4:8].tolist() == pytest.approx([30 / 224, 40 / 224, -82 / 224, -144 / 224])


def test_rocket_collect_asteroid_count_grows():
    game = _game("pygame-rocket-collect")
    assert game.active[0].tolist() == [True, False, False]
    for _ in range(300):
        game.step(_act(game, 0.0, 0.0))
    assert game.active[0].tolist() == [True, True, True]


# ------------------------------------------------------------------------------ chase-evade
def test_chase_evade_reward_sign_and_layout():
    game = _game("pygame-chase-evade")
    game.agent_evades[0] = True
    game.agent[0], game.ai[0] = (112.0, 60.0), (112.0, 118.0)
    game.pillar_phase[0] = 0.0  # pillars at 0, 120, 240 degrees: none between the two
    obs, reward, _ = game.step(_act(game, 0.0, 0.0))
    distance = np.hypot(*(game.agent[0] - game.ai[0]))
    assert reward[0] == pytest.approx(0.1 * distance / 90)
    assert obs[0, 8] == 1.0
    assert obs[0, 6:8].tolist() == pytest.approx([0.0, -1.0])  # the AI runs straight at the agent
    angles = game.pillar_phase[0] + 2 * np.pi * np.arange(3) / 3 + game.pillar_dir[0] * 0.01 * 0
    pillars = np.stack([112 + 40 * np.cos(angles), 118 + 40 * np.sin(angles)], -1) / 224
    assert obs[0, 9:15] == pytest.approx(pillars.ravel(), abs=1e-6)


def test_chase_evade_catch_swaps_roles():
    game = _game("pygame-chase-evade")
    game.agent_evades[0] = True
    game.agent[0], game.ai[0] = (112.0, 100.0), (112.0, 118.0)
    game.pillar_phase[0] = np.pi / 2 + np.pi / 3  # keep the pillars off the vertical line
    obs, reward, _ = game.step(_act(game, 0.0, 0.0))
    assert obs[0, 8] == 0.0 and game.role_change[0]
    assert reward[0] < 0  # the agent is now the pursuer
    game.step(_act(game, 1.0, 1.0))
    assert game.role_counter[0] == 1  # actions are ignored while the roles change


def test_chase_evade_pillar_pushes_out_and_reflects_velocity():
    game = _game("pygame-chase-evade")
    game.agent_evades[0] = False  # the agent pursues at 3.5 px/step
    game.pillar_phase[0], game.pillar_dir[0] = 0.0, 1.0  # pillar 0 at (152, 118) on this step
    game.agent[0], game.ai[0] = (130.0, 118.0), (60.0, 150.0)
    game.step(_act(game, 1.0, 0.0))  # moves to x = 133.5, 18.5 px from the pillar centre
    assert game.agent[0].tolist() == pytest.approx([152 - 20.5, 118.0])
    assert game.agent_vel[0].tolist() == pytest.approx([-3.5, 0.0])
