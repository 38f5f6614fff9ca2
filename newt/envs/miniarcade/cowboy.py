"""pygame-cowboy: a runner that jumps over scrolling cacti (batched, with a single-copy twin)."""
from __future__ import annotations

import numpy as np

from newt.envs.miniarcade.core import Canvas, MiniArcadeGame, rects_overlap, trunc, vertical_gradient

GROUND_Y = 184
AGENT_X, AGENT_W, AGENT_H = 40, 18, 30
REST_Y = GROUND_Y - AGENT_H
GRAVITY = 1.0
JUMP_SPEED = 12.0
SCROLL = 10
SPAWN_X = 264
#: Divisors of the observation's entries.
OBS_SCALE = np.array([224.0, 10.0, 224.0])
#: Per variant: hitbox (top, width, height) and the cactus parts (x offset, top, width, height).
HITBOX = np.array([(159, 15, 25), (144, 20, 40), (144, 40, 40), (144, 40, 40)])
# Its columns as separate tables: three 1-D lookups cost a fifth of one row lookup and unpacking.
HITBOX_TOP, HITBOX_W, HITBOX_H = (np.ascontiguousarray(column) for column in HITBOX.T)
HITBOX_ROWS = tuple(map(tuple, HITBOX.tolist()))
PARTS = (
    ((0, 159, 15, 25),),
    ((0, 144, 20, 40),),
    ((0, 159, 15, 25), (20, 144, 20, 40)),
    ((0, 144, 20, 40), (25, 159, 15, 25)),
)


def runner_physics(y: np.ndarray, v: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Jump (``a > 0`` on the ground: ``v = -12 a``), gravity, ground clamp; new ``(y, v)``."""
    jump = (action > 0) & (y >= REST_Y - 0.001)
    v = np.where(jump, -JUMP_SPEED * action, v) + GRAVITY
    y = y + v
    landed = y > REST_Y
    return np.minimum(y, float(REST_Y)), np.where(landed, 0.0, v)


def runner_physics_one(y: float, v: float, action: float) -> tuple[float, float]:
    """:func:`runner_physics` of one runner, on floats."""
    if action > 0 and y >= REST_Y - 0.001:
        v = -JUMP_SPEED * action
    v += GRAVITY
    y += v
    return (float(REST_Y), 0.0) if y > REST_Y else (y, v)


def scroll_pebbles(pebbles: np.ndarray, scroll, limit: float, rng: np.random.Generator) -> None:
    """Scroll ground pebbles ``[..., 10, 2]`` left by ``scroll``; respawn those past ``limit``
    at x = 224 + U[0, 20), y = ground + U[1, 4)."""
    x, y = pebbles[..., 0], pebbles[..., 1]
    x -= scroll
    gone = x < limit
    k = np.count_nonzero(gone)
    if k:  # mask writes into the column views cost a third of pebbles[gone, 0]
        x[gone] = 224 + rng.uniform(0, 20, k)
        y[gone] = GROUND_Y + rng.uniform(1, 4, k)


def draw_runner(c: Canvas, y: float, step: int, airborne: bool, cowboy: bool) -> None:
    """The cowboy (or, with ``cowboy=False``, the coinrun girl) with its box top-left at (40, y)."""
    pg, s = c.pygame, c.surface
    x, y = AGENT_X, int(y)
    pose = (step // 6) % 2 if not airborne else 0
    if cowboy:
        pg.draw.rect(s, (139, 69, 19), (x + 6, y + 10, 6, 15))
    else:
        pg.draw.rect(s, (220, 20, 60), (x + 3, y - 1, 12, 14), border_radius=4)
        pg.draw.polygon(s, (139, 69, 19), [(x + 9, y + 10), (x + 3, y + 24), (x + 15, y + 24)])
    pg.draw.circle(s, (222, 184, 135), (x + 9, y + 5), 5)
    if cowboy:
        pg.draw.line(s, (0, 0, 0), (x, y + 1), (x + 18, y + 1), 2)
        pg.draw.polygon(s, (0, 0, 0), [(x + 5, y - 3), (x + 13, y - 3), (x + 9, y - 8)])
    swing = 3 if pose else -3
    arm_y = y + 12 if not airborne or cowboy else y + 11
    pg.draw.line(s, (0, 0, 0), (x + 9, arm_y), (x + 9 - 5, arm_y + 5 + swing), 2)
    pg.draw.line(s, (0, 0, 0), (x + 9, arm_y), (x + 9 + 5, arm_y + 5 - swing), 2)
    pg.draw.line(s, (0, 0, 0), (x + 9, y + 24), (x + 9 - 4 - swing, y + 30), 2)
    pg.draw.line(s, (0, 0, 0), (x + 9, y + 24), (x + 9 + 4 + swing, y + 30), 2)


class Cowboy(MiniArcadeGame):
    """Jump over cacti: +1 per step clear, -1 per step pinned against a cactus.

    Observation (3): (y - 154)/224 (0 on the ground), v/10, cactus hitbox left x/224.

    Example:
        >>> game = Cowboy(num_envs=3, seed=0)
        >>> game.reset()[:, 0].tolist()
        [0.0, 0.0, 0.0]
    """

    obs_dim = 3
    action_dim = 1

    def __init__(self, num_envs: int = 1, seed: int | None = None):
        super().__init__(num_envs, seed)
        n = num_envs
        self.y = np.full(n, float(REST_Y))
        self.v = np.zeros(n)
        self.variant = np.zeros(n, np.int64)
        self.obstacle_x = np.full(n, SPAWN_X, np.int64)
        self.collided = np.zeros(n, bool)
        self.steps = np.zeros(n, np.int64)
        self.pebbles = np.zeros((n, 10, 2))
        self.sun = np.zeros((n, 6), np.int64)
        self._canvas = None

    def _spawn(self, mask: np.ndarray) -> None:
        self.variant[mask] = self.rng.integers(0, 4, int(mask.sum()))
        self.obstacle_x[mask] = SPAWN_X

    def _reset(self, mask: np.ndarray) -> None:
        k = int(mask.sum())
        self.y[mask] = REST_Y
        self.v[mask] = 0.0
        self.collided[mask] = False
        self.steps[mask] = 0
        self._spawn(mask)
        self.pebbles[mask, :, 0] = 224 + self.rng.uniform(0, 224, (k, 10))
        self.pebbles[mask, :, 1] = GROUND_Y + self.rng.uniform(1, 4, (k, 10))
        radius = self.rng.integers(12, 20, k)
        cx, cy = 224 - self.rng.integers(20, 40, k), self.rng.integers(15, 35, k)
        color = np.clip(np.array([230, 212, 100]) + self.rng.integers(-10, 10, (k, 3)), 0, 255)
        self.sun[mask] = np.column_stack([radius, cx, cy, color])

    def _step(self, action: np.ndarray):
        self.y, self.v = runner_physics(self.y, self.v, action[:, 0])
        variant = self.variant
        top, width, height = HITBOX_TOP[variant], HITBOX_W[variant], HITBOX_H[variant]
        hx = self.obstacle_x
        hit = rects_overlap(AGENT_X, trunc(self.y), AGENT_W, AGENT_H, hx, top, width, height)
        falling_on = hit & (self.v > 0)
        if np.count_nonzero(falling_on):  # land on the cactus top if mostly above it, else stay pinned
            overlap_x = np.minimum(AGENT_X + AGENT_W, hx + width) - np.maximum(AGENT_X, hx)
            on_top = falling_on & (overlap_x / AGENT_W > 0.5) & (self.y + AGENT_H > top)
            self.y = np.where(on_top, top - AGENT_H, self.y).astype(float)
            self.v = np.where(on_top, 0.0, self.v)
            hit = rects_overlap(AGENT_X, trunc(self.y), AGENT_W, AGENT_H, hx, top, width, height)
        self.collided = hit
        scroll = SCROLL * ~hit  # the scenery stops while the runner is pinned
        self.obstacle_x = hx - scroll
        scroll_pebbles(self.pebbles, scroll[:, None], 0, self.rng)
        passed = hx + width < scroll  # the cactus's right edge, once scrolled, is off screen
        if np.count_nonzero(passed):
            self._spawn(passed)
            self.collided &= ~passed
        self.steps += 1
        reward = np.where(self.collided, -1.0, 1.0)
        return reward, np.zeros(self.num_envs, np.float32)

    def _step_one(self, action):
        y, v = runner_physics_one(self.y.item(), self.v.item(), action[0])
        top, width, height = HITBOX_ROWS[self.variant.item()]
        hx = self.obstacle_x.item()
        hit = rects_overlap(AGENT_X, int(y), AGENT_W, AGENT_H, hx, top, width, height)
        if hit and v > 0:
            overlap_x = min(AGENT_X + AGENT_W, hx + width) - max(AGENT_X, hx)
            if overlap_x / AGENT_W > 0.5 and y + AGENT_H > top:
                y, v = float(top - AGENT_H), 0.0
            hit = rects_overlap(AGENT_X, int(y), AGENT_W, AGENT_H, hx, top, width, height)
        self.y[0], self.v[0] = y, v
        scroll = 0 if hit else SCROLL
        self.obstacle_x[0] = hx - scroll
        if scroll:
            scroll_pebbles(self.pebbles[0], scroll, 0, self.rng)
        if hx + width < scroll:
            self._spawn(np.ones(1, bool))
            hit = False
        self.collided[0] = hit
        self.steps[0] += 1
        return (-1.0 if hit else 1.0), 0.0

    def _observation_one(self):
        return [(self.y.item() - REST_Y) / 224.0, self.v.item() / 10.0, self.obstacle_x.item() / 224.0]

    def _observation(self) -> np.ndarray:
        # Gather the raw state, then scale it with one division instead of one per field.
        obs = np.empty((self.num_envs, 3))
        obs[:, 0] = self.y - REST_Y
        obs[:, 1] = self.v
        obs[:, 2] = self.obstacle_x
        return (obs / OBS_SCALE).astype(np.float32)

    def _background(self) -> np.ndarray:
        image = vertical_gradient((150, 190, 220), (210, 220, 235))
        image[GROUND_Y:] = vertical_gradient((196, 166, 135), (140, 110, 90), rows=slice(GROUND_Y, 224))[GROUND_Y:]
        return image

    def draw(self, index: int) -> np.ndarray:
        if self._canvas is None:
            self._canvas = Canvas(self.frame_size)
        c = self._canvas
        pg, s = c.pygame, c.surface
        c.background("sky", self._background)
        pg.draw.line(s, (115, 90, 65), (0, GROUND_Y), (224, GROUND_Y), 2)
        for px, py in self.pebbles[index]:
            pg.draw.circle(s, (115, 90, 65), (int(px), int(py)), 1)
        airborne = self.y[index] < REST_Y - 0.001
        pose_step = self.steps[index] if not self.collided[index] else 0
        draw_runner(c, self.y[index], pose_step, airborne, cowboy=True)
        x0 = int(self.obstacle_x[index])
        for dx, top, w, h in PARTS[self.variant[index]]:
            x = x0 + dx
            pg.draw.rect(s, (108, 138, 72), (x, top, w, h))
            pg.draw.rect(s, (108, 138, 72), (x - 4, top + h // 3, 4, 10))
            pg.draw.rect(s, (108, 138, 72), (x + w, top + h // 3 - 5, 4, 10))
        radius, cx, cy, *color = (int(v) for v in self.sun[index])
        glow = c.translucent()
        for k in range(3):
            pg.draw.circle(glow, (*color, 40), (cx, cy), radius * (2 - k / 2))
        s.blit(glow, (0, 0))
        pg.draw.circle(s, color, (cx, cy), radius)
        if self.collided[index]:
            c.tint((220, 60, 60), 20)
        return c.to_array()
