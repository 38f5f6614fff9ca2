"""pygame-rocket-collect: thrust a rocket to coins among bouncing asteroids (batched, with a single-copy twin)."""
from __future__ import annotations

import numpy as np

from newt.envs.miniarcade.core import Canvas, MiniArcadeGame, clamp, clip, length, length_one

THRUST, DAMPING, MAX_SPEED = 0.75, 0.98, 4.0
ROCKET_R, COIN_R, ASTEROID_R = 10, 9, 14
LO, HI = 15.0, 209.0
MAX_ASTEROIDS = 3
DIAGONAL = 316.78
#: Squared distance of the rocket's and an asteroid's centres below which they touch.
CONTACT_SQ = (ROCKET_R + ASTEROID_R) ** 2
#: Steps between asteroid slots coming into use; the step from which each slot is in use.
SLOT_STEPS = 150
SLOT_START = SLOT_STEPS * np.arange(MAX_ASTEROIDS)
#: Divisors of the observation's entries (the collision flag is 0 or 1).
OBS_SCALE = np.array(
    [224.0, 224.0, MAX_SPEED, MAX_SPEED] + [224.0] * 4 + [1.0] + [224.0, 224.0, MAX_SPEED, MAX_SPEED] * MAX_ASTEROIDS
)


class RocketCollect(MiniArcadeGame):
    """Collect coins (+1) while asteroids bounce around (-0.2 per asteroid per contact step).

    A tiny bonus (at most 0.002 per step) rewards being near the coin. Asteroids: 1 at the start,
    2 from step 150, 3 from step 300.

    Observation (21): rocket x/224, y/224, v_x/4, v_y/4, coin x/224, y/224, (coin - rocket)/224,
    collision flag (contact in the last 5 steps), then 3 asteroid slots (x/224, y/224, v_x/4,
    v_y/4), zeros for an empty slot.

    Example:
        >>> game = RocketCollect(num_envs=2, seed=0)
        >>> game.reset()[:, 0:2].tolist()
        [[0.5, 0.8214285969734192], [0.5, 0.8214285969734192]]
    """

    obs_dim = 21
    action_dim = 2

    def __init__(self, num_envs: int = 1, seed: int | None = None):
        super().__init__(num_envs, seed)
        n = num_envs
        self.pos = np.zeros((n, 2))
        self.vel = np.zeros((n, 2))
        self.coin = np.zeros((n, 2))
        self.rocks = np.zeros((n, MAX_ASTEROIDS, 2))
        self.rock_vel = np.zeros((n, MAX_ASTEROIDS, 2))
        self.rock_angle = np.zeros((n, MAX_ASTEROIDS))
        self.rock_spin = np.zeros((n, MAX_ASTEROIDS))
        self.rock_shape = np.zeros((n, MAX_ASTEROIDS, 8, 2))
        self.entered = np.zeros((n, MAX_ASTEROIDS), bool)
        self.active = np.zeros((n, MAX_ASTEROIDS), bool)
        self.collision_timer = np.zeros(n, np.int64)
        self.steps = np.zeros(n, np.int64)
        self.score = np.zeros(n, np.int64)
        self.stars = np.zeros((n, 40, 3), np.int64)
        self._canvas = None

    def _new_coin(self, mask: np.ndarray) -> None:
        k = int(mask.sum())
        self.coin[mask, 0] = self.rng.integers(30, 194, k)
        self.coin[mask, 1] = self.rng.integers(40, 112, k)

    def _top_up(self) -> None:
        # Slot i is in use from step 150 i: 1 asteroid, 2 from step 150, 3 from step 300.
        need = (self.steps[:, None] >= SLOT_START) & ~self.active
        k = np.count_nonzero(need)
        if not k:
            return
        side = self.rng.integers(0, 4, k)
        along = self.rng.integers(20, 204, k).astype(float)
        x = np.choose(side, [along, along, np.full(k, -28.0), np.full(k, 252.0)])
        y = np.choose(side, [np.full(k, -28.0), np.full(k, 252.0), along, along])
        aim = self.rng.uniform(56, 168, (k, 2))
        speed = self.rng.uniform(1, 2.2, k)
        start = np.stack([x, y], axis=1)
        direction = aim - start
        direction /= np.hypot(direction[:, 0], direction[:, 1])[:, None]
        radii = ASTEROID_R + self.rng.integers(-3, 4, (k, 8, 2))
        angles = np.deg2rad(45 * np.arange(8))
        self.rocks[need] = start
        self.rock_vel[need] = direction * speed[:, None]
        self.rock_shape[need] = np.stack([radii[..., 0] * np.cos(angles), radii[..., 1] * np.sin(angles)], axis=-1)
        self.rock_spin[need] = self.rng.uniform(-0.02, 0.02, k)
        self.rock_angle[need] = 0.0
        self.entered[need] = False
        self.active |= need

    def _reset(self, mask: np.ndarray) -> None:
        self.pos[mask] = (112.0, 184.0)
        self.vel[mask] = 0.0
        self._new_coin(mask)
        self.active[mask] = False
        self.steps[mask] = 0
        self.score[mask] = 0
        self.collision_timer[mask] = 0
        self._top_up()
        k = int(mask.sum())
        self.stars[mask] = np.concatenate(
            [self.rng.integers(0, 224, (k, 40, 2)), self.rng.integers(1, 3, (k, 40, 1))], axis=-1
        )

    def _step(self, action: np.ndarray):
        self.vel = (self.vel + THRUST * action) * DAMPING
        speed = length(self.vel[:, 0], self.vel[:, 1])
        too_fast = speed > MAX_SPEED
        if np.count_nonzero(too_fast):
            self.vel *= np.where(too_fast, MAX_SPEED / np.maximum(speed, 1e-9), 1.0)[:, None]
        self.pos = clip(self.pos + self.vel, LO, HI)
        if np.count_nonzero(self.active) == self.active.size:  # all asteroids fly from step 300 on
            self.rocks += self.rock_vel
        else:
            self.rocks = np.where(self.active[:, :, None], self.rocks + self.rock_vel, self.rocks)
        self.rock_angle += self.rock_spin * self.active
        bound_lo, bound_hi = ASTEROID_R, 224 - ASTEROID_R
        within = (self.rocks >= bound_lo) & (self.rocks <= bound_hi)
        self.entered |= self.active & within[:, :, 0] & within[:, :, 1]
        bounce = self.entered[:, :, None] & ~within
        if np.count_nonzero(bounce):
            self.rocks = np.where(bounce, clip(self.rocks, bound_lo, bound_hi), self.rocks)
            self.rock_vel = np.where(bounce, -self.rock_vel, self.rock_vel)
        to_coin = self.coin - self.pos
        dist = length(to_coin[:, 0], to_coin[:, 1])
        # The rocket and the coin stay in the frame, so dist < DIAGONAL: the ratio needs no clip.
        reward = 0.002 * (1.0 - dist / DIAGONAL)
        got = dist < ROCKET_R + COIN_R
        if np.count_nonzero(got):
            reward += got
            self.score += got
            self._new_coin(got)
        gap = self.rocks - self.pos[:, None, :]
        contact = self.active & (gap[..., 0] * gap[..., 0] + gap[..., 1] * gap[..., 1] < CONTACT_SQ)
        if np.count_nonzero(contact):
            reward -= 0.2 * contact.sum(axis=1)
            self.collision_timer = np.where(contact.any(axis=1), 6, self.collision_timer)
        self.steps += 1
        self._top_up()
        self.collision_timer = np.maximum(self.collision_timer - 1, 0)
        return reward, np.zeros(self.num_envs, np.float32)

    def _step_one(self, action):
        vx, vy = self.vel[0].tolist()
        vx, vy = (vx + THRUST * action[0]) * DAMPING, (vy + THRUST * action[1]) * DAMPING
        speed = length_one(vx, vy)
        if speed > MAX_SPEED:
            vx, vy = vx * (MAX_SPEED / speed), vy * (MAX_SPEED / speed)
        x, y = self.pos[0].tolist()
        x, y = clamp(x + vx, LO, HI), clamp(y + vy, LO, HI)
        self.pos[0], self.vel[0] = (x, y), (vx, vy)
        rocks, rock_vel, angle = self.rocks[0].tolist(), self.rock_vel[0].tolist(), self.rock_angle[0].tolist()
        active, entered, spin = self.active[0].tolist(), self.entered[0].tolist(), self.rock_spin[0].tolist()
        bound_lo, bound_hi = ASTEROID_R, 224 - ASTEROID_R
        hits = 0
        for i in range(MAX_ASTEROIDS):
            if not active[i]:
                continue  # an idle slot's asteroid stays put, inside the bounds if it ever entered
            rock, v = rocks[i], rock_vel[i]
            rock[0] += v[0]
            rock[1] += v[1]
            angle[i] += spin[i]
            if entered[i]:
                for axis in (0, 1):
                    if not bound_lo <= rock[axis] <= bound_hi:  # bounce off the edge
                        rock[axis], v[axis] = clamp(rock[axis], bound_lo, bound_hi), -v[axis]
            elif bound_lo <= rock[0] <= bound_hi and bound_lo <= rock[1] <= bound_hi:
                entered[i] = True
            dx, dy = rock[0] - x, rock[1] - y
            hits += dx * dx + dy * dy < CONTACT_SQ
        self.rocks[0], self.rock_vel[0], self.rock_angle[0], self.entered[0] = rocks, rock_vel, angle, entered
        cx, cy = self.coin[0].tolist()
        dist = length_one(cx - x, cy - y)
        reward = 0.002 * (1.0 - dist / DIAGONAL)
        if dist < ROCKET_R + COIN_R:
            reward += 1.0
            self.score[0] += 1
            self._new_coin(np.ones(1, bool))
        timer = self.collision_timer.item()
        if hits:
            reward -= 0.2 * hits
            timer = 6
        self.collision_timer[0] = max(timer - 1, 0)
        steps = self.steps.item() + 1
        self.steps[0] = steps
        if not all(active[: 1 + steps // SLOT_STEPS]):  # a slot due in use is idle (see _top_up)
            self._top_up()
        return reward, 0.0

    def _observation_one(self):
        (x, y), (vx, vy), (cx, cy) = self.pos[0].tolist(), self.vel[0].tolist(), self.coin[0].tolist()
        obs = [x / 224.0, y / 224.0, vx / MAX_SPEED, vy / MAX_SPEED, cx / 224.0, cy / 224.0]
        obs += [(cx - x) / 224.0, (cy - y) / 224.0, float(self.collision_timer.item() > 0)]
        slots = zip(self.active[0].tolist(), self.rocks[0].tolist(), self.rock_vel[0].tolist())
        for active, (rx, ry), (rvx, rvy) in slots:
            obs += [rx / 224.0, ry / 224.0, rvx / MAX_SPEED, rvy / MAX_SPEED] if active else [0.0] * 4
        return obs

    def _observation(self) -> np.ndarray:
        # Gather the raw state, then scale it with one division instead of one per field.
        n = self.num_envs
        obs = np.empty((n, self.obs_dim))
        obs[:, 0:2] = self.pos
        obs[:, 2:4] = self.vel
        obs[:, 4:6] = self.coin
        obs[:, 6:8] = self.coin - self.pos
        obs[:, 8] = self.collision_timer > 0
        slots = np.concatenate([self.rocks, self.rock_vel], axis=-1)
        obs[:, 9:] = np.where(self.active[:, :, None], slots, 0.0).reshape(n, -1)
        return (obs / OBS_SCALE).astype(np.float32)

    def _background(self) -> np.ndarray:
        c = np.trunc(20 + 40 * np.arange(224) / 224).astype(np.uint8)
        image = np.zeros((224, 224, 3), np.uint8)
        image[:, :, 0] = (c // 2)[:, None]
        image[:, :, 2] = c[:, None]
        return image

    def draw(self, index: int) -> np.ndarray:
        if self._canvas is None:
            self._canvas = Canvas(self.frame_size)
        c = self._canvas
        pg, s = c.pygame, c.surface
        c.background("space", self._background)
        for x, y, r in self.stars[index]:
            pg.draw.circle(s, (255, 255, 255), (int(x), int(y)), int(r))
        x, y = self.pos[index]
        speed = float(np.hypot(*self.vel[index]))
        if speed > 0.05:
            length = 3 + 4 * speed
            pg.draw.polygon(s, (255, 170, 80), [(x - 5, y + 10), (x + 5, y + 10), (x, y + 10 + length)])
        pg.draw.polygon(s, (150, 150, 200), [(x - 8, y + 10), (x - 12, y + 14), (x - 5, y + 4)])
        pg.draw.polygon(s, (150, 150, 200), [(x + 8, y + 10), (x + 12, y + 14), (x + 5, y + 4)])
        pg.draw.polygon(s, (180, 180, 255), [(x, y - 14), (x - 8, y + 10), (x + 8, y + 10)])
        for j in np.flatnonzero(self.active[index]):
            angle = self.rock_angle[index, j]
            cos, sin = np.cos(angle), np.sin(angle)
            shape = self.rock_shape[index, j]
            points = np.column_stack(
                [shape[:, 0] * cos - shape[:, 1] * sin, shape[:, 0] * sin + shape[:, 1] * cos]
            ) + self.rocks[index, j]
            pg.draw.polygon(s, (120, 120, 120), points.tolist())
        cx, cy = self.coin[index].astype(int).tolist()
        pg.draw.circle(s, (255, 215, 0), (cx, cy), COIN_R)
        pg.draw.circle(s, (200, 120, 0), (cx, cy), COIN_R, 2)
        c.text(f"Score: {self.score[index]}", 16, (255, 255, 255), (5, 5))
        if self.collision_timer[index] > 0:
            c.tint((255, 0, 0), 80)
        return c.to_array()
