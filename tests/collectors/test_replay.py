import pytest
import torch
from tensordict import TensorDict

from newt.collectors.replay import EpisodeReplayBuffer, MixedReplayBuffer, bytes_per_step


def _episodes(num, length, obs_dim=5, offset=0.0):
    t = torch.arange(length).expand(num, length)
    return TensorDict(
        {
            "observation": torch.randn(num, length, obs_dim) + offset,
            "action": torch.rand(num, length, 2) * 2 - 1,
            "step": t.clone(),
            "next": {"reward": torch.randn(num, length, 1)},
        },
        [num, length],
    )


def test_slices_have_layout_and_never_cross_episodes():
    rb = EpisodeReplayBuffer(10_000, batch_size=64, horizon=3, generator=torch.Generator().manual_seed(0))
    # Episodes of several lengths, as tasks with different episode lengths produce.
    for length in (4, 7, 25, 50):
        rb.add_episodes(_episodes(3, length))
    for _ in range(20):
        batch = rb.sample()
        assert batch.shape == torch.Size([64, 4])
        assert (batch["episode"] == batch["episode"][:, :1]).all()
        # Consecutive steps of one episode.
        assert (batch["step"].diff(dim=1) == 1).all()


def test_short_episodes_are_never_sampled():
    rb = EpisodeReplayBuffer(1000, batch_size=16, horizon=3)
    ids_short = rb.add_episodes(_episodes(2, 3))
    ids_long = rb.add_episodes(_episodes(1, 10))
    batch = rb.sample()
    assert set(batch["episode"].unique().tolist()) == set(ids_long.tolist())
    assert not set(ids_short.tolist()) & set(batch["episode"].unique().tolist())


def test_episode_ids_are_unique_after_demos():
    rb = EpisodeReplayBuffer(1000, batch_size=4)
    demos = _episodes(2, 10).reshape(-1)
    demos["episode"] = torch.tensor([5] * 10 + [9] * 10)
    rb.extend(demos)
    assert rb.add_episodes(_episodes(2, 10)).tolist() == [10, 11]
    assert rb.num_episodes == 12


def test_extend_without_episode_ids_is_an_error():
    rb = EpisodeReplayBuffer(100)
    with pytest.raises(KeyError, match="episode"):
        rb.extend(_episodes(1, 10).reshape(-1))
    with pytest.raises(ValueError, match="capacity"):
        EpisodeReplayBuffer(3, horizon=3)


def test_mixing_ratio():
    demos = EpisodeReplayBuffer(1000, batch_size=8)
    demos.add_episodes(_episodes(4, 20, offset=-100.0))
    online = EpisodeReplayBuffer(1000, batch_size=8)
    online.add_episodes(_episodes(4, 20, offset=100.0))
    for fraction, num_demo in ((0.5, 16), (0.25, 8), (0.0, 0), (1.0, 32)):
        batch = MixedReplayBuffer(online, demos, demo_fraction=fraction).sample(32)
        assert batch.shape == torch.Size([32, 4])
        from_demos = batch["observation"].mean(dim=(1, 2)) < 0
        assert from_demos.sum().item() == num_demo
        assert from_demos[:num_demo].all()
    with pytest.raises(ValueError, match="demo_fraction"):
        MixedReplayBuffer(online, demos, demo_fraction=1.5)


def test_memory_estimate():
    step = _episodes(1, 1).reshape(-1)
    # 5 obs floats + 2 action floats + 1 reward float + int64 step.
    assert bytes_per_step(step) == 5 * 4 + 2 * 4 + 4 + 8
    assert EpisodeReplayBuffer(1000).memory_estimate(step) == 1000 * 40


@pytest.mark.parametrize("on_disk", [False, True])
def test_save_and_restore(tmp_path, on_disk):
    kwargs = {"scratch_dir": tmp_path / "scratch"} if on_disk else {}
    rb = EpisodeReplayBuffer(1000, batch_size=8, **kwargs)
    rb.add_episodes(_episodes(3, 20))
    rb.dumps(tmp_path / "rb")
    restored = EpisodeReplayBuffer(1000, batch_size=8, **kwargs)
    restored.loads(tmp_path / "rb")
    assert len(restored) == 60
    assert restored.num_episodes == 3
    torch.testing.assert_close(restored[:60]["observation"], rb[:60]["observation"])
    assert restored.add_episodes(_episodes(1, 20)).tolist() == [3]
    assert restored.sample().shape == torch.Size([8, 4])


def test_state_dict_round_trip():
    rb = EpisodeReplayBuffer(1000, batch_size=8)
    rb.add_episodes(_episodes(2, 10))
    restored = EpisodeReplayBuffer(1000, batch_size=8)
    restored.load_state_dict(rb.state_dict())
    assert len(restored) == 20 and restored.num_episodes == 2
