import pytest
import torch
from torchrl.envs.utils import check_env_specs

import ale_py

from newt.envs import make_env, task_info, task_set
from newt.envs.atari import ATARI_GAMES, continuous_to_ale_action, make_atari_env

A = ale_py.Action


def test_specs_and_rollout():
    env = make_atari_env(task_info("atari-pong"), seed=0)
    check_env_specs(env)
    td = env.rollout(20)
    assert td["next", "observation"].shape == (20, 128)
    assert td["next", "observation"].dtype == torch.float32
    assert 0 <= td["next", "observation"].min() and td["next", "observation"].max() <= 1
    assert env.action_spec.shape == (3,)
    assert (td["next", "success"] == 0).all()


# (radius, theta, fire) agent actions -> ALE action, worked out by hand:
# r = (a0+1)/2, theta = pi*a1, x = r cos theta, y = r sin theta, fire iff a2 > 0.
COMPAT_TABLE = [
    ((0.0, 0.0, 0.0), A.DOWN),  # x = 0.5 exactly (centre), y = 0 < 0.5 -> DOWN
    ((-1.0, 0.0, -1.0), A.DOWNLEFT),  # r = 0: x = y = 0 < 0.5
    ((1.0, 0.0, -1.0), A.DOWNRIGHT),  # x = 1, y = 0
    ((1.0, 0.5, -1.0), A.UPLEFT),  # x ~ 0, y = 1
    ((1.0, 0.25, 1.0), A.UPRIGHTFIRE),  # x = y = 0.707
    ((-1.0, 0.0, 1.0), A.DOWNLEFTFIRE),
    ((1.0, 1.0, -1.0), A.DOWNLEFT),  # x = -1, y ~ 0
    ((1.0, -0.5, 0.5), A.DOWNLEFTFIRE),  # x ~ 0, y = -1
    ((0.0, 0.5, -1.0), A.LEFT),  # r = 0.5: x ~ 0, y = 0.5 exactly
]
FIXED_TABLE = [  # ale-py 0.12 thresholds: left/down only below -0.5
    ((0.0, 0.0, 0.0), A.NOOP),
    ((-1.0, 0.0, 1.0), A.FIRE),
    ((1.0, 0.0, -1.0), A.RIGHT),
    ((1.0, 1.0, -1.0), A.LEFT),
    ((1.0, 0.5, -1.0), A.UP),
    ((1.0, -0.5, 1.0), A.DOWNFIRE),
    ((1.0, 0.25, -1.0), A.UPRIGHT),
    ((1.0, -0.75, -1.0), A.DOWNLEFT),
]


@pytest.mark.parametrize("action, expected", COMPAT_TABLE)
def test_action_mapping_official(action, expected):
    ale_action, strength = continuous_to_ale_action(action)
    assert ale_action == expected
    assert strength == pytest.approx((action[0] + 1) / 2)


@pytest.mark.parametrize("action, expected", FIXED_TABLE)
def test_action_mapping_corrected(action, expected):
    assert continuous_to_ale_action(action, compat=False)[0] == expected


def test_fixed_episode_length_score_and_game_over():
    task = task_info("atari-pong")
    env = make_atari_env(task, seed=0)
    # The zero action is DOWN: the paddle parks at the bottom and loses every point.
    td = env.rollout(
        task.episode_length,
        policy=lambda td: td.set("action", torch.zeros(3)),
        break_when_any_done=False,
    )
    done = td["next", "done"].squeeze(-1)
    assert done.nonzero().squeeze(-1).tolist() == [task.episode_length - 1]
    assert td["next", "truncated"].squeeze(-1).equal(done)
    assert not td["next", "terminated"].any()
    # Pong is lost 0-21 well within 1000 steps: the score follows the clipped
    # cumulative raw reward, and after the game over the frozen final state is returned.
    rewards = td["next", "reward"].squeeze(-1)
    returns = rewards.cumsum(0)
    torch.testing.assert_close(td["next", "score"].squeeze(-1), ((returns + 21) / 42).clamp(0, 1))
    over = int((returns == -21).nonzero()[0])
    assert over < task.episode_length - 10
    assert (rewards[over + 1 :] == 0).all()
    final = td["next", "observation"][over + 1 :]
    assert (final == final[0]).all()
    # The next reset starts a fresh game.
    assert env.reset()["score"].item() == pytest.approx(0.5)


def test_seeding_is_deterministic():
    actions = torch.rand(50, 3, generator=torch.Generator().manual_seed(1)) * 2 - 1
    obs = []
    for _ in range(2):
        env = make_atari_env(task_info("atari-ms-pacman"), seed=3)
        td = env.reset()
        for a in actions:
            td = env.step(td.set("action", a))["next"]
        obs.append(td["observation"])
    assert obs[0].equal(obs[1])


def test_rgb_frame_and_raw_ram_quirk():
    task = task_info("atari-boxing")
    env = make_atari_env(task, obs="rgb", seed=0)
    check_env_specs(env)
    td = env.reset()
    pixels = td["pixels"]
    assert pixels.shape == (3, 224, 224) and pixels.dtype == torch.uint8
    # The 210x160 screen sits centred on a black canvas (rows 7-216, columns 32-191).
    assert pixels[:, :7].eq(0).all() and pixels[:, 217:].eq(0).all()
    assert pixels[:, :, :32].eq(0).all() and pixels[:, :, 192:].eq(0).all()
    assert pixels[:, 7:217, 32:192].any()
    # Official rgb mode passes the raw RAM; compat=False scales it like state mode.
    assert td["observation"].max() > 1
    fixed = make_atari_env(task, obs="rgb", compat=False).reset()["observation"]
    torch.testing.assert_close(fixed * 255, td["observation"])
    assert make_atari_env(task, obs="rgb", render_size=64).reset()["pixels"].shape == (3, 64, 64)


def test_bad_arguments():
    with pytest.raises(ValueError, match="obs"):
        make_atari_env(task_info("atari-pong"), obs="depth")
    with pytest.raises(TypeError, match="seed"):
        make_atari_env(task_info("atari-pong"), seed="0")


def test_score_table_covers_the_domain():
    assert set(ATARI_GAMES) == set(task_set("atari"))
    for task, (_, low, high) in ATARI_GAMES.items():
        assert high > low, task



def test_through_make_env():
    env = make_env("atari-pong", seed=0)
    check_env_specs(env)
    assert env.observation_spec["observation"].shape == (128,)
    padded = make_env("atari-pong", seed=0, mmbench_layout=True)
    td = padded.rollout(2)
    assert td["next", "observation"].shape == (2, 128)
    assert td["action_mask"][0].sum().item() == 3


@pytest.mark.slow
@pytest.mark.parametrize("task", task_set("atari"))
def test_every_task(task):
    info = task_info(task)
    env = make_atari_env(info, seed=0)
    check_env_specs(env)
    td = env.rollout(info.episode_length, break_when_any_done=False)
    assert td["next", "done"].squeeze(-1).nonzero().squeeze(-1).tolist() == [info.episode_length - 1]
    _, low, high = ATARI_GAMES[task]
    returns = td["next", "reward"].squeeze(-1).cumsum(0)
    torch.testing.assert_close(
        td["next", "score"].squeeze(-1), ((returns - low) / (high - low)).clamp(0, 1)
    )
