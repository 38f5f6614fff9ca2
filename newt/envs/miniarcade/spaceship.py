"""pygame-spaceship: fly over a scrolling starfield, collect coins, avoid the asteroid (batched, with a single-copy twin)."""
from __future__ import annotations

import numpy as np

from newt.envs.miniarcade.core import Canvas, MiniArcadeGame, clamp, clip, rects_overlap, trunc

SHIP_W, SHIP_H = 28, 18
THRUST, DAMPING = 0.65, 0.95
SCROLL, STAR_SCROLL = 12, 6
COIN_R, ASTEROID_R = 9, 18
MAX_COINS = 4
N_STARS = 50
#: Bounds of the ship's top-left corner.
SHIP_MAX = np.array([224.0 - SHIP_W, 224.0 - SHIP_H])
#: A coin touches the ship when its centre is within (-COIN_R, COIN_REACH) of the ship's corner.
COIN_REACH = np.array([SHIP_W + COIN_R, SHIP_H + COIN_R])
#: Divisors of the observation's entries.
OBS_SCALE = np.array([224.0, 224.0, 10.0, 10.0] + [224.0] * 10)


class Spaceship(MiniArcadeGame):
    """Thrust a ship in 2-D: +1 per coin, -2 per step overlapping the asteroid.

    Observation (14): ship x/224, y/224 (top-left), v_x/10, v_y/10, 4 coin slots (x/224, y/224)
    or (-1, -1), asteroid (x/224, y/224) or (-1, -1) when inactive.

    Args:
        num_envs: game copies.
        seed: random seed.
        compat: keep the original quirk that an active asteroid (and the collision flag)
            survives a reset and flies on into the next episode.

    Example:
        >>> game = Spaceship(num_envs=2, seed=0)
        >>> game.reset()[:, :2].tolist()
        [[0.1785714328289032, 0.5], [0.1785714328289032, 0.5]]
    """

    obs_dim = 14
    action_dim = 2

    def __init__(self, num_envs: int = 1, seed: int | None = None, compat: bool = True):
        super().__init__(num_envs, seed)
        self.compat = compat
        n = num_envs
        self.pos = np.zeros((n, 2))
        self.vel = np.zeros((n, 2))
        self.coins = np.zeros((n, MAX_COINS, 2), np.int64)
        self.live = np.zeros((n, MAX_COINS), bool)
        self.asteroid = np.zeros((n, 2))
        self.asteroid_active = np.zeros(n, bool)
        self.asteroid_angle = np.zeros(n)
        self.asteroid_shape = np.ones((n, 10))
        self.collided = np.zeros(n, bool)
        self.stars = np.zeros((n, N_STARS, 2))
        self._canvas = None

    def _spawn(self, mask: np.ndarray) -> None:
        idx = np.flatnonzero(mask)
        k = len(idx)
        count = self.rng.integers(2, MAX_COINS + 1, k)
        x0 = 224 + self.rng.integers(20, 60, k)
        y = self.rng.integers(30, 194, k)
        change = self.rng.random((k, MAX_COINS)) < 0.6
        dy = np.where(change, self.rng.choice((-18, 18), (k, MAX_COINS)), 0)  # from each coin to the next
        for i in range(MAX_COINS):
            self.coins[idx, i, 1] = y
            y = clip(y + dy[:, i], 20, 204)
        self.coins[idx, :, 0] = x0[:, None] + 27 * np.arange(MAX_COINS)
        self.live[idx] = np.arange(MAX_COINS) < count[:, None]
        # The asteroid trails the coin sequence, half of the time, when none is flying.
        want = ~self.asteroid_active[idx] & (self.rng.random(k) < 0.5)
        for _ in range(5):
            if not want.any():
                break
            j = idx[want]
            m = len(j)
            ax = x0[want] + 27 * (count[want] + 2) + self.rng.uniform(-30, 30, m)
            ay = self.rng.integers(40, 184, m).astype(float)
            cx, cy = self.coins[j, :, 0], self.coins[j, :, 1]
            blocked = self.live[j] & rects_overlap(
                trunc(ax - ASTEROID_R)[:, None], trunc(ay - ASTEROID_R)[:, None], 36, 36, cx - COIN_R, cy - COIN_R, 18, 18
            )
            ok = ~blocked.any(axis=1)
            placed = j[ok]
            self.asteroid[placed, 0], self.asteroid[placed, 1] = ax[ok], ay[ok]
            self.asteroid_active[placed] = True
            self.asteroid_angle[placed] = 0.0
            self.asteroid_shape[placed] = 0.7 + 0.6 * self.rng.random((len(placed), 10))
            want[np.flatnonzero(want)[ok]] = False

    def _reset(self, mask: np.ndarray) -> None:
        self.pos[mask] = (40.0, 112.0)
        self.vel[mask] = 0.0
        if not self.compat:
            self.asteroid_active[mask] = False
            self.collided[mask] = False
        self._spawn(mask)
        self.stars[mask] = self.rng.uniform(0, 224, (int(mask.sum()), N_STARS, 2))

    def _step(self, action: np.ndarray):
        self.vel += THRUST * action
        self.pos += self.vel
        self.vel *= DAMPING
        self.pos = clip(self.pos, 0.0, SHIP_MAX)
        ship = trunc(self.pos)
        reward = np.zeros(self.num_envs, np.float32)
        active = self.asteroid_active
        if np.count_nonzero(active):
            self.asteroid[active, 0] -= SCROLL
            self.asteroid_angle[active] += 0.02
            self.asteroid_active = active & (self.asteroid[:, 0] >= -ASTEROID_R)
            ax, ay = trunc(self.asteroid[:, 0] - ASTEROID_R), trunc(self.asteroid[:, 1] - ASTEROID_R)
            hit = rects_overlap(ship[:, 0], ship[:, 1], SHIP_W, SHIP_H, ax, ay, 36, 36)
            self.collided = np.where(active, hit, self.collided)
            reward -= 2.0 * (active & hit)
        self.coins[:, :, 0] -= SCROLL
        self._scroll_stars(self.stars)
        respawn = (~self.live | (self.coins[:, :, 0] < -COIN_R)).all(axis=1)
        if np.count_nonzero(respawn):
            self._spawn(respawn)
        # rects_overlap of each coin's box (centre +- COIN_R) with the ship's, per axis: the coin's
        # centre lies strictly inside the ship's box grown by COIN_R (integers, so the same test).
        offset = self.coins - ship[:, None, :]
        inside = (offset > -COIN_R) & (offset < COIN_REACH)
        got = self.live & inside[:, :, 0] & inside[:, :, 1]
        if np.count_nonzero(got):
            self.live &= ~got
            reward += got.sum(axis=1)
        return reward, np.zeros(self.num_envs, np.float32)

    def _step_one(self, action):
        (x, y), (vx, vy) = self.pos[0].tolist(), self.vel[0].tolist()
        vx += THRUST * action[0]
        vy += THRUST * action[1]
        x, y = clamp(x + vx, 0.0, 224.0 - SHIP_W), clamp(y + vy, 0.0, 224.0 - SHIP_H)
        self.pos[0], self.vel[0] = (x, y), (vx * DAMPING, vy * DAMPING)
        ship_x, ship_y = int(x), int(y)
        reward = 0.0
        if self.asteroid_active.item():
            ax, ay = self.asteroid[0].tolist()
            ax -= SCROLL
            self.asteroid[0, 0] = ax
            self.asteroid_angle[0] += 0.02
            self.asteroid_active[0] = ax >= -ASTEROID_R
            hit = rects_overlap(ship_x, ship_y, SHIP_W, SHIP_H, int(ax - ASTEROID_R), int(ay - ASTEROID_R), 36, 36)
            self.collided[0] = hit
            if hit:
                reward -= 2.0
        coins = self.coins[0]
        coins[:, 0] -= SCROLL
        self._scroll_stars(self.stars[0])
        live = self.live[0].tolist()
        if all(not alive or cx < -COIN_R for cx, alive in zip(coins[:, 0].tolist(), live)):
            self._spawn(np.ones(1, bool))
            live = self.live[0].tolist()
        for i, (cx, cy) in enumerate(coins.tolist()):
            # _step's test on one coin: its centre lies strictly inside the ship's box grown by COIN_R.
            if live[i] and -COIN_R < cx - ship_x < SHIP_W + COIN_R and -COIN_R < cy - ship_y < SHIP_H + COIN_R:
                self.live[0, i] = False
                reward += 1.0
        return reward, 0.0

    def _scroll_stars(self, stars: np.ndarray) -> None:
        """Scroll the stars ``[..., 50, 2]`` of every env or one; those off the left edge wrap around."""
        # Boolean indexing of the column views costs a third of that of ``stars[wrapped, 0]``.
        x, y = stars[..., 0], stars[..., 1]
        x -= STAR_SCROLL
        wrapped = x < 0
        k = np.count_nonzero(wrapped)
        if k:  # on most steps: each of the 50 stars wraps every ~37 steps
            x[wrapped] = 224.0
            y[wrapped] = self.rng.uniform(0, 224, k)

    def _observation_one(self):
        (x, y), (vx, vy) = self.pos[0].tolist(), self.vel[0].tolist()
        obs = [x / 224.0, y / 224.0, vx / 10.0, vy / 10.0]
        for (cx, cy), alive in zip(self.coins[0].tolist(), self.live[0].tolist()):
            obs += (cx / 224.0, cy / 224.0) if alive else (-1.0, -1.0)
        if self.asteroid_active.item():
            ax, ay = self.asteroid[0].tolist()
            return obs + [ax / 224.0, ay / 224.0]
        return obs + [-1.0, -1.0]

    def _observation(self) -> np.ndarray:
        # Gather the raw state, then scale it with one division instead of one per field;
        # missing coins and an inactive asteroid read -224, which scales to -1.
        n = self.num_envs
        obs = np.empty((n, self.obs_dim))
        obs[:, 0:2] = self.pos
        obs[:, 2:4] = self.vel
        obs[:, 4:12] = np.where(self.live[:, :, None], self.coins, -224).reshape(n, -1)
        obs[:, 12:14] = np.where(self.asteroid_active[:, None], self.asteroid, -224.0)
        return (obs / OBS_SCALE).astype(np.float32)

    def draw(self, index: int) -> np.ndarray:
        if self._canvas is None:
            self._canvas = Canvas(self.frame_size)
        c = self._canvas
        pg, s = c.pygame, c.surface
        s.fill((0, 0, 0))
        for x, y in self.stars[index]:
            pg.draw.circle(s, (255, 255, 255), (int(x), int(y)), 1)
        x, y = self.pos[index]
        speed = float(np.hypot(*self.vel[index]))
        if speed > 0.1:
            # Flame jitter comes from a separate generator, so rendering never changes the game.
            length = min(28.0, 14 + 4 * speed) * (1 + self.render_rng.uniform(-0.1, 0.1))
            width = (4 + 0.3 * speed) * (1 + self.render_rng.uniform(-0.1, 0.1))
            for color, scale in (((255, 255, 120), 1.0), ((255, 200, 60), 0.7), ((255, 140, 0), 0.5)):
                tip = (x - length * scale, y + 9)
                pg.draw.polygon(s, color, [(x, y + 9 - width * scale), tip, (x, y + 9 + width * scale)])
        pg.draw.polygon(s, (180, 180, 255), [(x, y), (x, y + SHIP_H), (x + SHIP_W, y + 9)])
        pg.draw.line(s, (100, 100, 200), (x + 4, y - 2), (x + 4, y + 20), 2)
        for (cx, cy), live in zip(self.coins[index], self.live[index]):
            if live:
                pg.draw.circle(s, (255, 215, 0), (int(cx), int(cy)), COIN_R)
                pg.draw.circle(s, (200, 160, 0), (int(cx), int(cy)), COIN_R, 2)
        if self.asteroid_active[index]:
            ax, ay = self.asteroid[index]
            angles = np.deg2rad(36 * np.arange(10)) + self.asteroid_angle[index]
            radii = ASTEROID_R * self.asteroid_shape[index]
            points = np.column_stack([ax + radii * np.cos(angles), ay + radii * np.sin(angles)]).tolist()
            pg.draw.polygon(s, (100, 100, 100), points)
            pg.draw.polygon(s, (60, 60, 60), points, 2)
        if self.collided[index]:
            c.tint((220, 60, 60), 40)
        return c.to_array()
