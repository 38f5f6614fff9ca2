"""Shared pieces of the MiniArcade games.

Every game is a batched, numpy-based simulator: its state arrays carry a leading
``num_envs`` dimension, so one object steps many copies of the game at once.
"""
from __future__ import annotations

import abc
import math

import numpy as np


# Bounds of the action as 0-d arrays of its dtype: they skip the per-call conversion of a
# Python float (~0.2 µs per numpy call, hot for one env).
_ACTION_LOW, _ACTION_HIGH = np.array(-1.0), np.array(1.0)


class MiniArcadeGame(abc.ABC):
    """Base class of a batched MiniArcade game.

    Subclasses set the class attributes :attr:`obs_dim` and :attr:`action_dim` and implement
    :meth:`_reset`, :meth:`_step`, :meth:`_observation` and :meth:`draw`. Randomness comes only
    from ``self.rng`` (a :class:`numpy.random.Generator`), so seeding fully determines an
    episode. Purely visual randomness (flame flicker, ...) drawn inside :meth:`draw` uses
    ``self.render_rng``, a second seeded generator, so that rendering never changes the game.

    A game may also implement :meth:`_step_one` and :meth:`_observation_one`, the same step and
    observation for a single copy on Python scalars: with one env, numpy's per-call overhead
    (~0.5-1 µs) is most of the cost of the batched code. :attr:`scalar_path` tells which code a
    game runs; both give the same episodes (the tests compare them step by step).

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
        #: Whether :meth:`step` and :meth:`observation` run the single-copy code; ``True`` for
        #: one env of a game that has it. Set it to ``False`` to run the batched code instead.
        self.scalar_path = num_envs == 1 and type(self)._step_one is not MiniArcadeGame._step_one
        self.seed(seed)

    def seed(self, seed: int | None) -> None:
        """Re-seed the game's random generators (``rng`` and ``render_rng``)."""
        self.rng = np.random.default_rng(seed)
        self.render_rng = np.random.default_rng(None if seed is None else (int(seed), 1))

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
        # float32 is the action spec's dtype; the games compute in float64, as Python floats do.
        action = np.asarray(action, dtype=np.float32)
        if self.scalar_path:
            reward, success = self._step_one([clamp(a, -1.0, 1.0) for a in action.reshape(-1).tolist()])
            return self.observation(), np.array([reward], np.float32), np.array([success], np.float32)
        reward, success = self._step(clip(action.astype(np.float64), _ACTION_LOW, _ACTION_HIGH))
        return self.observation(), np.asarray(reward, np.float32), np.asarray(success, np.float32)

    def observation(self) -> np.ndarray:
        """The current observation of every env, a new ``float32 [num_envs, obs_dim]`` array."""
        if self.scalar_path:
            return np.array([self._observation_one()], np.float32)
        return self._observation()

    @abc.abstractmethod
    def _reset(self, mask: np.ndarray) -> None:
        """Re-initialise the state of the envs where ``mask`` is true."""

    @abc.abstractmethod
    def _step(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Apply ``action`` (float64 ``[num_envs, action_dim]``) to every env; return per-env
        ``(reward, success)``."""

    @abc.abstractmethod
    def _observation(self) -> np.ndarray:
        """The observation of every env, a new ``float32 [num_envs, obs_dim]`` array (callers keep it)."""

    def _step_one(self, action: list[float]) -> tuple[float, float]:
        """:meth:`_step` for a single copy: ``action`` as floats, returns ``(reward, success)``."""
        raise NotImplementedError

    def _observation_one(self) -> list[float]:
        """:meth:`_observation` of the single copy, as floats (cast to float32 by the caller)."""
        raise NotImplementedError

    @abc.abstractmethod
    def draw(self, index: int) -> np.ndarray:
        """Render env ``index`` as an ``uint8`` array of shape ``[frame_size, frame_size, 3]``."""


def rects_overlap(ax, ay, aw, ah, bx, by, bw, bh) -> np.ndarray:
    """Strict overlap of half-open integer rectangles ``(x, y, w, h)``, element-wise.

    Rectangles that only share an edge do not overlap (pygame's ``Rect.colliderect``).

    Example:
        >>> bool(rects_overlap(0, 0, 10, 10, 10, 0, 5, 5))
        False
        >>> bool(rects_overlap(0, 0, 10, 10, 9, 9, 5, 5))
        True
    """
    return (ax < bx + bw) & (bx < ax + aw) & (ay < by + bh) & (by < ay + ah)


def clip(x, lo, hi) -> np.ndarray:
    """``np.clip`` for arrays and scalars without its Python-level overhead (hot in small batches)."""
    return np.minimum(np.maximum(x, lo), hi)


def clamp(value, lo, hi):
    """``min(max(value, lo), hi)`` for Python scalars, without two builtin calls (hot in per-env loops).

    Example:
        >>> clamp(5, 0, 3), clamp(-1.5, -1.0, 1.0), clamp(0.25, 0.0, 1.0)
        (3, -1.0, 0.25)
    """
    return lo if value < lo else hi if value > hi else value


def length(dx, dy) -> np.ndarray:
    """Euclidean length ``sqrt(dx**2 + dy**2)`` of arrays, element-wise.

    Not ``np.hypot``: numpy's and ``math``'s hypot round differently in the last bit (on about
    0.6% of inputs), while ``sqrt``, ``+`` and ``*`` round the same, so this and
    :func:`length_one` give a single copy's code the batched code's exact values.

    Example:
        >>> length(np.array([3.0, 5.0]), np.array([4.0, 12.0])).tolist()
        [5.0, 13.0]
    """
    return np.sqrt(dx * dx + dy * dy)


def length_one(dx: float, dy: float) -> float:
    """:func:`length` of two floats.

    Example:
        >>> length_one(3.0, 4.0)
        5.0
    """
    return math.sqrt(dx * dx + dy * dy)


def trunc(x) -> np.ndarray:
    """Truncate toward zero to ``int64``, as Python's ``int()`` does for pixel rectangles.

    numpy's float-to-int cast truncates toward zero itself, so no ``np.trunc`` call is needed.

    Example:
        >>> trunc(np.array([-1.7, -0.5, 0.5, 2.9])).tolist()
        [-1, 0, 0, 2]
    """
    return np.asarray(x).astype(np.int64)


def masked_set(array: np.ndarray, mask: np.ndarray, value) -> None:
    """``array[mask] = value`` where ``value`` is a scalar or a full ``[num_envs, ...]`` array."""
    if np.ndim(value) and np.shape(value)[0] == mask.shape[0]:
        array[mask] = np.asarray(value)[mask]
    else:
        array[mask] = value


class Canvas:
    """A ``frame_size`` square pygame Surface that games draw on, read back as ``H x W x 3``.

    pygame is imported on first use with the headless SDL video driver, so drawing works
    without a display.

    Example:
        >>> canvas = Canvas()
        >>> canvas.surface.fill((255, 0, 0))
        <rect(0, 0, 224, 224)>
        >>> canvas.to_array()[0, 0].tolist()
        [255, 0, 0]
    """

    def __init__(self, size: int = 224):
        pygame = import_pygame()
        self.pygame = pygame
        self.size = size
        self.surface = pygame.Surface((size, size))
        self._overlay = pygame.Surface((size, size), pygame.SRCALPHA)
        self._backgrounds: dict = {}

    def to_array(self) -> np.ndarray:
        """The frame as a fresh ``uint8 [H, W, 3]`` array."""
        data = self.pygame.image.tobytes(self.surface, "RGB")
        return np.frombuffer(data, np.uint8).reshape(self.size, self.size, 3).copy()

    def tint(self, color, alpha: int) -> None:
        """Blend a translucent full-frame overlay of ``color`` over the canvas."""
        self._overlay.fill((*color, int(alpha)))
        self.surface.blit(self._overlay, (0, 0))

    def background(self, key, make) -> None:
        """Blit a cached background; ``make()`` returns its ``uint8 [H, W, 3]`` array once."""
        surf = self._backgrounds.get(key)
        if surf is None:
            array = np.ascontiguousarray(make().transpose(1, 0, 2))
            surf = self.pygame.surfarray.make_surface(array)
            self._backgrounds[key] = surf
        self.surface.blit(surf, (0, 0))

    def translucent(self):
        """A cleared full-size SRCALPHA surface for drawing translucent shapes; blit it back."""
        self._overlay.fill((0, 0, 0, 0))
        return self._overlay

    def text(self, string: str, size: int, color, pos, *, anchor: str = "topleft", bold=True):
        """Draw ``string`` with pygame's default font; ``anchor`` names the Rect point at ``pos``."""
        key = (string, size, tuple(color), bold)
        image = _TEXTS.get(key)
        if image is None:
            if len(_TEXTS) > 512:
                _TEXTS.clear()
            image = _TEXTS[key] = font(size, bold).render(string, True, color)
        rect = image.get_rect(**{anchor: pos})
        self.surface.blit(image, rect)


def vertical_gradient(top, bottom, size: int = 224, rows: slice | None = None) -> np.ndarray:
    """A ``uint8 [size, size, 3]`` image whose row ``y`` blends ``top`` to ``bottom`` by ``y/size``.

    With ``rows``, only those rows are filled (the rest stays black) and ``t`` runs over them.
    """
    image = np.zeros((size, size, 3), np.uint8)
    rows = rows or slice(0, size)
    ys = np.arange(size)[rows]
    t = (ys - ys[0]) / max(len(ys), 1)
    colors = np.asarray(top, float) + (np.asarray(bottom, float) - np.asarray(top, float)) * t[:, None]
    image[rows] = colors.astype(np.uint8)[:, None, :]
    return image


_FONTS: dict = {}
_TEXTS: dict = {}


def font(size: int, bold: bool = True):
    """pygame's default font at ``size`` points (cached); it ships with pygame, unlike Arial."""
    key = (size, bold)
    if key not in _FONTS:
        pygame = import_pygame()
        if not pygame.font.get_init():
            pygame.font.init()
        f = pygame.font.Font(None, int(size * 1.3))
        f.set_bold(bold)
        _FONTS[key] = f
    return _FONTS[key]


def import_pygame():
    """Import pygame for offscreen drawing (dummy SDL video driver, no greeting banner)."""
    import os

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    return pygame
