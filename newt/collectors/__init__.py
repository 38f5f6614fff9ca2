"""Collecting episodes, the episode replay buffer, and demonstrations."""
from newt.collectors.collection import EpisodeSplitter, episode_metrics
from newt.collectors.demos import (
    accept_demonstrations,
    episodes_to_transitions,
    generate_demos,
    load_demos,
    load_official_demos,
    save_demos,
)
from newt.collectors.replay import EpisodeReplayBuffer, MixedReplayBuffer, bytes_per_step

__all__ = [
    "EpisodeReplayBuffer",
    "EpisodeSplitter",
    "accept_demonstrations",
    "MixedReplayBuffer",
    "bytes_per_step",
    "episode_metrics",
    "episodes_to_transitions",
    "generate_demos",
    "load_demos",
    "load_official_demos",
    "save_demos",
]
