"""Shared pieces of the MiniArcade games.

Every game is a batched, numpy-based simulator: its state arrays carry a leading
``num_envs`` dimension, so one object steps many copies of the game at once.
"""
from __future__ import annotations

import abc

import numpy as np


class MiniArcadeGame(abc.ABC):
    """Base class of a batched MiniArcade game.

    Subclasses set the class attributes :attr:`obs_dim` and :attr:`action_dim` and implement
    :meth:`_reset`, :meth:`_step` and :meth:`draw`. Randomness comes only from
    ``self.rng`` (a :class:`numpy.random.Generator`), so seeding fully determines an episode.

    Args:
        num_envs: number of game copies stepped together.
        seed: seed of the game's random generator (``None``: fresh entropy).
    """

    obs_dim: int
    action_dim: int
    #: Side of the square frame :meth:`draw` renders, in pixels.
    frame_size: int = 224

    def __init__(self, num_envs: int = 1, seed: int | None = None):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.num_envs = num_envs
        self.rng = np.random.default_rng(seed)

    def seed(self, seed: int | None) -> None:
        """Re-seed the game's random generator."""
        self.rng = np.random.default_rng(seed)

    def reset(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Start new episodes for the envs selected by ``mask`` (all when ``None``).

        Returns the observation of every env, ``float32`` of shape ``[num_envs, obs_dim]``.
        """
        if mask is None:
            mask = np.ones(self.num_envs, dtype=bool)
        self._reset(np.asarray(mask, dtype=bool))
        return self.observation()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance every env by one step.

        Args:
            action: ``[num_envs, action_dim]`` in ``[-1, 1]``.

        Returns:
            ``(observation [N, obs_dim] float32, reward [N] float32, success [N] float32)``.
        """
        action = np.clip(np.asarray(action, dtype=np.float32), -1.0, 1.0)
        reward, success = self._step(action)
        return self.observation(), np.asarray(reward, np.float32), np.asarray(success, np.float32)

    @abc.abstractmethod
    def _reset(self, mask: np.ndarray) -> None:
        """Re-initialise the state of the envs where ``mask`` is true."""

    @abc.abstractmethod
    def _step(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Apply ``action`` to every env; return per-env ``(reward, success)``."""

    @abc.abstractmethod
    def observation(self) -> np.ndarray:
        """The current observation of every env, ``float32 [num_envs, obs_dim]``."""

    @abc.abstractmethod
    def draw(self, index: int) -> np.ndarray:
        """Render env ``index`` as an ``uint8`` array of shape ``[frame_size, frame_size, 3]``."""
