"""MiniArcade shared layer: registry, TorchRL env, core helpers and the command line."""
import numpy as np
import pytest
import torch
from torchrl.envs.utils import check_env_specs

from newt.envs.miniarcade import GAMES, UNIMPLEMENTED, MiniArcadeEnv, game_entry, make_game, make_miniarcade_env
from newt.envs.miniarcade.__main__ import build_parser, key_action, main
from newt.envs.miniarcade.core import rects_overlap, trunc, vertical_gradient
from newt.envs.registry import ALL_TASKS, task_info


def test_registry_covers_every_miniarcade_task_in_tasks_csv():
    listed = {name for name in ALL_TASKS if task_info(name).domain == "miniarcade"}
    assert set(GAMES) | set(UNIMPLEMENTED) == listed
    assert not set(GAMES) & set(UNIMPLEMENTED)
    assert len([t for t in GAMES if task_info(t).split == "mmbench"]) == 19


def test_unknown_and_unimplemented_tasks_raise():
    with pytest.raises(ValueError, match="Unknown task 'pygame-tetris'"):
        game_entry("pygame-tetris")
    with pytest.raises(ValueError, match="no implementation"):
        make_miniarcade_env("pygame-point-maze-var5")


@pytest.mark.parametrize(
    "task, returns, expected",
    [
        ("pygame-pong", [-5.0, 0.0, 1.5, 3.0], [0.0, 0.5, 0.75, 1.0]),
        ("pygame-chase-evade", [-60.0, 0.0, 25.0], [0.0, 0.5, 0.75]),
        ("pygame-coconut-dodge", [-15.0, -3.0, 0.0], [0.0, 0.8, 1.0]),
        ("pygame-cowboy", [-10.0, 250.0, 600.0], [0.0, 0.5, 1.0]),
        ("pygame-landing", [100.0], [0.5]),
    ],
)
def test_score_normalisation(task, returns, expected):
    score = GAMES[task].score(np.array(returns), np.zeros(len(returns)))
    np.testing.assert_allclose(score, expected, rtol=1e-6)


def test_point_maze_score_is_the_success():
    np.testing.assert_array_equal(GAMES["pygame-point-maze-var1"].score(np.array([50.0, 3.0]), np.array([1.0, 0.0])), [1, 0])


# Games that step every env in a Python loop at any batch size: their single copy is that loop.
PER_ENV_LOOP = {"pygame-bird-attack", "pygame-highway"}


@pytest.mark.parametrize("task", sorted(GAMES))
def test_single_copy_code_matches_the_batched_code(task):
    fast, batched = make_game(task, seed=11), make_game(task, seed=11)
    assert fast.scalar_path == (task not in PER_ENV_LOOP)
    batched.scalar_path = False
    policy = np.random.default_rng(5)
    np.testing.assert_array_equal(fast.reset(), batched.reset())
    action = np.zeros((1, fast.action_dim), np.float32)
    for t in range(3000):
        if policy.random() < 0.2:  # actions held for a few steps, some out of the box
            action = policy.uniform(-1.3, 1.3, action.shape).astype(np.float32)
        for ours, theirs in zip(fast.step(action), batched.step(action)):
            np.testing.assert_array_equal(ours, theirs, err_msg=f"step {t}")
        if t % 1000 == 999:
            np.testing.assert_array_equal(fast.reset(), batched.reset())
    state = {key: value for key, value in vars(batched).items() if isinstance(value, np.ndarray)}
    for key, value in state.items():
        np.testing.assert_array_equal(getattr(fast, key), value, err_msg=key)
    assert fast.rng.bit_generator.state == batched.rng.bit_generator.state
    np.testing.assert_array_equal(fast.draw(0), batched.draw(0))


@pytest.mark.parametrize("num_envs", [1, 3])
@pytest.mark.parametrize("task", sorted(GAMES))
def test_observations_are_new_arrays(task, num_envs):
    # The env wraps them in tensors without a copy: no observation may share the game's memory.
    game = make_game(task, num_envs=num_envs, seed=0)
    first = game.reset()
    second, _, _ = game.step(np.zeros((num_envs, game.action_dim), np.float32))
    state = [value for value in vars(game).values() if isinstance(value, np.ndarray)]
    for obs in (first, second, game.observation()):
        assert obs.dtype == np.float32 and obs.shape == (num_envs, game.obs_dim)
        assert not any(np.shares_memory(obs, other) for other in (first, second, *state) if other is not obs)


@pytest.mark.parametrize("num_envs, batch", [(1, ()), (4, (4,))])
def test_batched_env_shapes(num_envs, batch):
    env = make_miniarcade_env("pygame-spaceship", seed=0, num_envs=num_envs)
    assert env.batch_size == torch.Size(batch)
    check_env_specs(env)
    td = env.rollout(7)
    assert td.shape == torch.Size([*batch, 7])
    assert td["observation"].shape == torch.Size([*batch, 7, 14])
    assert td["action"].shape == torch.Size([*batch, 7, 2])
    for key in ("reward", "done", "terminated", "truncated", "success", "score"):
        assert td["next", key].shape == torch.Size([*batch, 7, 1])
    assert td["next", "reward"].dtype == torch.float32 and td["next", "done"].dtype == torch.bool


def test_truncation_exactly_at_episode_length_and_running_score():
    env = make_miniarcade_env("pygame-landing", seed=3, num_envs=2)
    td = env.rollout(200, break_when_any_done=False)
    truncated = td["next", "truncated"].squeeze(-1)
    assert not truncated[:, :-1].any() and truncated[:, -1].all()
    assert torch.equal(td["next", "done"], truncated[..., None])
    assert not td["next", "terminated"].any()
    returns = td["next", "reward"].squeeze(-1).double().cumsum(-1)
    expected = (returns / 200).clamp(0, 1).float()
    torch.testing.assert_close(td["next", "score"].squeeze(-1), expected, rtol=1e-5, atol=1e-6)


def test_partial_reset_restarts_only_selected_envs():
    env = make_miniarcade_env("pygame-pong", seed=0, num_envs=3)
    td = env.reset()
    for _ in range(5):
        td["action"] = torch.full((3, 1), 0.5)
        td = env.step(td)["next"]
    before = td["observation"].clone()
    reset = env.reset(td.set("_reset", torch.tensor([[True], [False], [False]])))
    assert torch.equal(reset["observation"][1:], before[1:])
    assert reset["observation"][0, 4] == pytest.approx(92 / 224)  # paddle back at its spawn
    assert env._steps.tolist() == [0, 5, 5]


def test_step_and_maybe_reset_autoresets_at_episode_end():
    env = make_miniarcade_env("pygame-landing", seed=0, num_envs=2)
    td = env.reset()
    for _ in range(200):
        td["action"] = torch.zeros(2, 2)
        out, td = env.step_and_maybe_reset(td)
    assert out["next", "truncated"].all()
    assert env._steps.tolist() == [0, 0]


def test_rgb_pixels_and_resize():
    env = make_miniarcade_env("pygame-pong", obs="rgb", seed=0, render_size=64, num_envs=2)
    check_env_specs(env)
    td = env.reset()
    assert td["pixels"].shape == (2, 3, 64, 64) and td["pixels"].dtype == torch.uint8
    full = make_miniarcade_env("pygame-pong", obs="rgb", seed=0).reset()["pixels"]
    assert full.shape == (3, 224, 224)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="observation mode 'depth'"):
        make_miniarcade_env("pygame-pong", obs="depth")
    with pytest.raises(TypeError, match="seed"):
        make_miniarcade_env("pygame-pong", seed="1")
    with pytest.raises(ValueError, match="num_envs"):
        MiniArcadeEnv("pygame-pong", num_envs=0)
    env = make_miniarcade_env("pygame-pong", seed=0)
    td = env.reset()
    td["action"] = torch.zeros(2)
    with pytest.raises(ValueError, match=r"action must have shape \(1,\)"):
        env.step(td)


def test_actions_are_clipped_to_the_unit_box():
    a, b = make_game("pygame-pong", seed=0), make_game("pygame-pong", seed=0)
    a.reset(), b.reset()
    np.testing.assert_array_equal(a.step(np.full((1, 1), 7.0))[0], b.step(np.ones((1, 1)))[0])


def test_accepts_task_info_and_goes_through_the_factory():
    from newt.envs import make_env

    env = make_env("pygame-cowboy", seed=0)
    assert isinstance(env, MiniArcadeEnv)
    assert make_miniarcade_env(task_info("pygame-cowboy")).task.name == "pygame-cowboy"


def test_core_helpers():
    assert not rects_overlap(0, 0, 10, 10, 10, 0, 5, 5)  # shared edge only
    assert rects_overlap(0, 0, 10, 10, 9, 9, 5, 5)
    assert trunc(np.array([-1.5, 1.5])).tolist() == [-1, 1]
    image = vertical_gradient((0, 0, 0), (224, 224, 224))
    assert image[0, 0].tolist() == [0, 0, 0] and image[112, 5].tolist() == [112, 112, 112]


def test_key_mapping():
    assert key_action("pygame-pong", {"up"}).tolist() == [-1.0]
    assert key_action("pygame-cowboy", {"space"}).tolist() == [1.0]
    assert key_action("pygame-cowboy", set()).tolist() == [0.0]
    assert key_action("pygame-bird-attack", {"left", "space"}).tolist() == [-1.0, 1.0]
    assert key_action("pygame-highway", {"right", "down"}).tolist() == [1.0, 1.0]
    assert key_action("pygame-coconut-dodge", {"left", "right"}).tolist() == [0.0]
    args = build_parser().parse_args(["play", "pygame-pong", "--scale", "2"])
    assert (args.command, args.task, args.scale) == ("play", "pygame-pong", 2)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["play", "pygame-tetris"])


def test_record_writes_gif_and_png(tmp_path):
    import imageio.v3 as iio

    main(["record", "pygame-pong", str(tmp_path / "clip.gif"), "--steps", "4"])
    main(["record", "pygame-pong", str(tmp_path / "frame.png"), "--steps", "2"])
    clip = iio.imread(tmp_path / "clip.gif")
    assert clip.shape[0] == 5 and clip.shape[1:3] == (224, 224)
    assert iio.imread(tmp_path / "frame.png").shape[:2] == (224, 224)
