import torch
from tensordict import TensorDict
from torchrl.collectors import Collector
from torchrl.envs import GymEnv, SerialEnv, StepCounter, TransformedEnv

from newt.collectors.collection import EpisodeSplitter, episode_metrics
from newt.collectors.replay import EpisodeReplayBuffer


def _pendulum(max_steps):
    return lambda: TransformedEnv(GymEnv("Pendulum-v1"), StepCounter(max_steps=max_steps))


def test_splitter_returns_whole_episodes_of_each_env():
    # Two envs whose episodes (7 and 11 steps) end at different times and across batches.
    env = SerialEnv(2, [_pendulum(7), _pendulum(11)])
    env.set_seed(0)
    collector = Collector(env, None, frames_per_batch=2 * 10, total_frames=2 * 50)
    splitter = EpisodeSplitter(keys=None)
    episodes = [ep for batch in collector for ep in splitter(batch)]
    collector.shutdown()
    lengths = sorted(ep.shape[0] for ep in episodes)
    assert lengths == [7] * 7 + [11] * 4
    for ep in episodes:
        # Steps of one episode in order, starting at the reset and ending at the only done.
        assert ep["step_count"].squeeze(-1).tolist() == list(range(ep.shape[0]))
        assert ep["next", "done"].squeeze(-1).tolist() == [False] * (ep.shape[0] - 1) + [True]
        torch.testing.assert_close(ep["next", "observation"][:-1], ep["observation"][1:])


def test_interrupted_trajectories_are_dropped():
    splitter = EpisodeSplitter(keys=None)

    def batch(traj, done):
        return TensorDict(
            {
                "x": torch.arange(len(done)).float(),
                "collector": {"traj_ids": torch.full((len(done),), traj)},
                "next": {"done": torch.tensor(done).unsqueeze(-1)},
            },
            [len(done)],
        )

    assert splitter(batch(0, [False, False])) == []
    # A new trajectory id without a done flag: the unfinished one is not glued to it.
    episodes = splitter(batch(1, [False, True]))
    assert [ep.shape[0] for ep in episodes] == [2]


def test_metrics_and_buffer_from_episodes():
    episodes = [
        TensorDict(
            {
                "observation": torch.randn(n, 3),
                "task": torch.full((n,), task),
                "next": {
                    "reward": torch.full((n, 1), 0.5),
                    "success": torch.zeros(n, 1).index_fill_(0, torch.tensor([n - 1]), 1.0),
                    "score": torch.linspace(0, 0.8, n).unsqueeze(-1),
                },
            },
            [n],
        )
        for n, task in ((10, 0), (6, 2))
    ]
    metrics = episode_metrics(episodes)
    assert metrics["return"].tolist() == [5.0, 3.0]
    assert metrics["length"].tolist() == [10, 6]
    assert metrics["success"].tolist() == [1.0, 1.0]
    torch.testing.assert_close(metrics["score"], torch.tensor([0.8, 0.8]))
    assert metrics["task"].tolist() == [0, 2]
    no_success = episode_metrics([episodes[0].exclude(("next", "success"))])
    assert torch.isnan(no_success["success"]).all()

    rb = EpisodeReplayBuffer(100, batch_size=4)
    for ep in episodes:
        rb.add_episodes(ep)
    assert len(rb) == 16 and rb.num_episodes == 2
