import pytest
import torch
from tensordict import TensorDict

from newt.collectors.demos import load_demos, load_official_demos, save_demos
from newt.collectors.replay import EpisodeReplayBuffer

NAN = float("nan")


def _official_rows(num_episodes, length, obs_dim=128, action_dim=16, start_episode=0):
    """Rows in the official generator's layout: L + 1 rows per episode, NaN on the reset row."""
    rows = length + 1
    obs = torch.randn(num_episodes, rows, obs_dim)
    action = torch.rand(num_episodes, rows, action_dim) * 2 - 1
    reward = torch.rand(num_episodes, rows)
    value = torch.rand(num_episodes, rows)
    action[:, 0] = NAN
    reward[:, 0] = NAN
    value[:, 0] = NAN
    episode = (torch.arange(num_episodes) + start_episode).unsqueeze(-1).expand(num_episodes, rows)
    return TensorDict(
        {
            "obs": obs,
            "action": action,
            "reward": reward,
            "value": value,
            "terminated": torch.zeros(num_episodes, rows, dtype=torch.bool),
            "episode": episode.clone(),
        },
        [num_episodes, rows],
    ).reshape(-1)


def test_official_demos_become_transitions(tmp_path):
    a = _official_rows(2, 10)
    b = _official_rows(3, 5, obs_dim=6, action_dim=1, start_episode=7)  # narrower task
    torch.save(a, tmp_path / "walker-walk.pt")
    torch.save(b, tmp_path / "pendulum-swingup.pt")
    td = load_official_demos(tmp_path, ["walker-walk", "pendulum-swingup"])
    assert td.numel() == 2 * 10 + 3 * 5
    for key in ("observation", "action", ("next", "reward"), ("next", "observation")):
        assert not torch.isnan(td[key]).any()
    assert td["observation"].shape == (35, 128) and td["action"].shape == (35, 16)
    assert td["task"].shape == (35, 1)
    assert td["task"].squeeze(-1).tolist() == [0] * 20 + [1] * 15
    assert td["episode"].unique().tolist() == [0, 1, 2, 3, 4]
    # Transition t of episode 0: obs row t, action/reward of row t + 1.
    torch.testing.assert_close(td["observation"][:10], a["obs"][:10])
    torch.testing.assert_close(td["next", "observation"][:10], a["obs"][1:11])
    torch.testing.assert_close(td["action"][:10], a["action"][1:11])
    torch.testing.assert_close(td["next", "reward"][:10, 0], a["reward"][1:11])
    torch.testing.assert_close(td["value"][:10, 0], a["value"][1:11])
    # The narrower task is zero-padded.
    torch.testing.assert_close(td["action"][20:, :1], b["action"].view(3, 6, 1)[:, 1:].reshape(-1, 1))
    assert (td["action"][20:, 1:] == 0).all() and (td["observation"][20:, 6:] == 0).all()
    # Episodes end by time limit only.
    assert td["next", "truncated"].squeeze(-1).nonzero().squeeze(-1).tolist() == [9, 19, 24, 29, 34]
    assert not td["next", "terminated"].any()
    assert (td["next", "done"] == td["next", "truncated"]).all()


def test_max_episodes_and_missing_files(tmp_path):
    torch.save(_official_rows(4, 5), tmp_path / "ms-pick-cube.pt")
    td = load_official_demos(tmp_path, ["ms-pick-cube"], max_episodes_per_task={"ms-pick-cube": 2})
    assert td["episode"].unique().tolist() == [0, 1]
    with pytest.raises(FileNotFoundError, match="walker-run"):
        load_official_demos(tmp_path, ["walker-run", "ms-pick-cube"])
    td = load_official_demos(tmp_path, ["walker-run", "ms-pick-cube"], missing="skip")
    assert td["task"].unique().tolist() == [1]
    with pytest.raises(FileNotFoundError, match="any"):
        load_official_demos(tmp_path, ["walker-run"], missing="skip")


def test_malformed_files_name_the_file(tmp_path):
    torch.save(TensorDict({"obs": torch.zeros(3, 4)}, [3]), tmp_path / "bad.pt")
    with pytest.raises(KeyError, match="bad.pt.*missing"):
        load_official_demos(tmp_path, ["bad"])
    (tmp_path / "garbage.pt").write_text("not a torch file")
    with pytest.raises(ValueError, match="garbage.pt"):
        load_official_demos(tmp_path, ["garbage"])
    rows = _official_rows(1, 5)
    rows["reward"][3] = NAN
    torch.save(rows, tmp_path / "nan.pt")
    with pytest.raises(ValueError, match="nan.pt.*NaN"):
        load_official_demos(tmp_path, ["nan"])


def test_image_features(tmp_path):
    rows = _official_rows(1, 5)
    rows["feat"] = torch.randn(6, 768)
    torch.save(rows, tmp_path / "walker-walk.pt")
    td = load_official_demos(tmp_path, ["walker-walk"], image_features=True)
    torch.testing.assert_close(td["image_features"], rows["feat"][:5])
    torch.testing.assert_close(td["next", "image_features"], rows["feat"][1:])
    assert "image_features" not in load_official_demos(tmp_path, ["walker-walk"]).keys()


def test_own_format_round_trip_with_narrow_actions(tmp_path):
    native = TensorDict(
        {
            "observation": torch.randn(12, 3),
            "action": torch.rand(12, 1),
            "episode": torch.tensor([4] * 6 + [8] * 6),
            "next": {"observation": torch.randn(12, 3), "reward": torch.rand(12, 1)},
        },
        [12],
    )
    save_demos(native, tmp_path / "pendulum-swingup", task="pendulum-swingup")
    save_demos(native[:6], tmp_path / "walker-walk", task="walker-walk")
    td = load_demos(tmp_path, ["walker-walk", "pendulum-swingup"])
    assert td.numel() == 18
    assert td["episode"].unique().tolist() == [0, 1, 2]
    assert td["task"].squeeze(-1).tolist() == [0] * 6 + [1] * 12
    torch.testing.assert_close(td["action"][6:, :1], native["action"])
    assert (td["action"][:, 1:] == 0).all()
    assert td["observation"].shape == (18, 128)
    with pytest.raises(FileNotFoundError, match="cheetah-run"):
        load_demos(tmp_path, ["cheetah-run"])


def test_demos_fill_a_replay_buffer(tmp_path):
    torch.save(_official_rows(3, 20), tmp_path / "walker-walk.pt")
    rb = EpisodeReplayBuffer(1000, batch_size=16)
    rb.extend(load_official_demos(tmp_path, ["walker-walk"]))
    batch = rb.sample()
    assert batch.shape == (16, 4)
    # Consecutive transitions chain: next observation of step t is the observation of t + 1.
    torch.testing.assert_close(batch["next", "observation"][:, :-1], batch["observation"][:, 1:])


def test_generate_demos_with_any_policy(tmp_path):
    from torchrl.envs.utils import RandomPolicy

    from newt.collectors import generate_demos
    from newt.envs import make_multitask_env

    env = make_multitask_env(["mujoco-reacher"] * 4, seed=0)
    torch.manual_seed(0)
    demos = generate_demos(env, RandomPolicy(env.action_spec), "mujoco-reacher", 2, progress=False)
    env.close()
    assert demos["episode"].unique().tolist() == [0, 1]
    assert demos.numel() == 2 * 50
    save_demos(demos, tmp_path / "mujoco-reacher", task="mujoco-reacher")
    loaded = load_demos(tmp_path, ["mujoco-reacher"])
    torch.testing.assert_close(loaded["next", "reward"], demos["next", "reward"])


def test_accept_demonstrations_rule():
    from newt.collectors import accept_demonstrations

    returns = torch.tensor([-10.0, -12.0, -20.0, -11.0])
    # Median -11.5 -> threshold 1.25 * -11.5 = -14.375.
    assert accept_demonstrations(returns, torch.zeros(4), "mujoco-reacher").tolist() == [True, True, False, True]
    # Manipulation tasks also need success; ManiSkill cartpole does not.
    success = torch.tensor([1.0, 0.0, 1.0, 1.0])
    assert accept_demonstrations(returns, success, "ms-pick-cube").tolist() == [True, False, False, True]
    assert accept_demonstrations(returns, success, "ms-cartpole-balance").tolist() == [True, True, False, True]
