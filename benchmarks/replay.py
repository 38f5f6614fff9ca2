"""Replay sampling throughput: EpisodeReplayBuffer vs a plain TorchRL slice buffer.

Fills a buffer of 1M steps (MMBench layout: 128-d observations, 16-d actions, 500-step
episodes) and prints batches/s for B slices of H+1 steps, for ours and for
``ReplayBuffer(LazyTensorStorage, SliceSampler)`` built the way the official code builds it.

    python benchmarks/replay.py [--steps 1000000] [--batch-size 256] [--iters 50]
"""
import argparse
import time

import torch
from tensordict import TensorDict
from torchrl.data import LazyTensorStorage, ReplayBuffer, SliceSampler

from newt.collectors import EpisodeReplayBuffer


def transitions(num_steps, episode_length):
    num_episodes = num_steps // episode_length
    n = num_episodes * episode_length
    return TensorDict(
        {
            "observation": torch.randn(n, 128),
            "action": torch.rand(n, 16),
            "task": torch.zeros(n, dtype=torch.int64),
            "episode": torch.arange(num_episodes).repeat_interleave(episode_length),
            "next": {"observation": torch.randn(n, 128), "reward": torch.randn(n, 1)},
        },
        [n],
    )


def rate(sample, iters):
    sample()
    start = time.perf_counter()
    for _ in range(iters):
        sample()
    return iters / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--horizon", type=int, default=3)
    parser.add_argument("--iters", type=int, default=50)
    args = parser.parse_args()
    torch.manual_seed(0)
    data = transitions(args.steps, 500)
    slice_len = args.horizon + 1

    ours = EpisodeReplayBuffer(args.steps, batch_size=args.batch_size, horizon=args.horizon)
    ours.extend(data)
    baseline = ReplayBuffer(
        storage=LazyTensorStorage(args.steps),
        sampler=SliceSampler(num_slices=args.batch_size, traj_key="episode", end_key=None,
                             truncated_key=None, strict_length=True),
        batch_size=args.batch_size * slice_len,
    )
    baseline.extend(data)

    ours_rate = rate(ours.sample, args.iters)
    base_rate = rate(lambda: baseline.sample().view(-1, slice_len), args.iters)
    print(f"buffer of {len(ours):,} steps, {args.batch_size} slices of {slice_len} steps, {torch.get_num_threads()} threads")
    print(f"{'implementation':<46}{'batches/s':>12}")
    print(f"{'newt EpisodeReplayBuffer':<46}{ours_rate:>12.1f}")
    print(f"{'ReplayBuffer(LazyTensorStorage, SliceSampler)':<46}{base_rate:>12.1f}")
    print(f"ratio ours/baseline: {ours_rate / base_rate:.2f}x")


if __name__ == "__main__":
    main()
