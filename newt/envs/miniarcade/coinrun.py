"""pygame-coinrun: the cowboy runner without cacti, collecting arcs of coins (batched, with a single-copy twin)."""
from __future__ import annotations

import numpy as np

from newt.envs.miniarcade.core import Canvas, MiniArcadeGame, clip, trunc, vertical_gradient
from newt.envs.miniarcade.cowboy import (
    AGENT_H,
    AGENT_W,
    AGENT_X,
    GROUND_Y,
    REST_Y,
    SCROLL,
    draw_runner,
    runner_physics,
    runner_physics_one,
    scroll_pebbles,
)

MAX_COINS = 5
COIN_R = 9
COIN_Y_LOW, COIN_Y_HIGH = 173, 83
#: Divisors of the observation's entries.
OBS_SCALE = np.array([224.0, 10.0] + [224.0] * 2 * MAX_COINS)


class CoinRun(MiniArcadeGame):
    """Jump to collect coins: +1 per coin touched.

    Observation (12): (y - 154)/224, v/10, then 5 coin slots (x/224, y/224) in sequence order,
    (-1, -1) for a collected or missing coin.

    Example:
        >>> game = CoinRun(num_envs=2, seed=0)
        >>> game.reset().shape
        (2, 12)
    """

    obs_dim = 12
    action_dim = 1

    def __init__(self, num_envs: int = 1, seed: int | None = None):
        super().__init__(num_envs, seed)
        n = num_envs
        self.y = np.full(n, float(REST_Y))
        self.v = np.zeros(n)
        self.coins = np.zeros((n, MAX_COINS, 2), np.int64)
        self.live = np.zeros((n, MAX_COINS), bool)  # exists and not yet collected
        self.steps = np.zeros(n, np.int64)
        self.pebbles = np.zeros((n, 10, 2))
        self.clouds = np.zeros((n, 7, 4))
        self._canvas = None

    def _spawn(self, mask: np.ndarray) -> None:
        k = int(mask.sum())
        count = self.rng.integers(2, MAX_COINS + 1, k)
        x0 = 224 + self.rng.integers(20, 60, k)
        y = COIN_Y_LOW - 18 * self.rng.integers(1, 5, k)
        change = self.rng.random((k, MAX_COINS)) < 0.6
        dy = np.where(change, self.rng.choice((-18, 18), (k, MAX_COINS)), 0)  # from each coin to the next
        ys = np.empty((k, MAX_COINS), np.int64)
        for i in range(MAX_COINS):
            ys[:, i] = y
            y = clip(y + dy[:, i], COIN_Y_HIGH, COIN_Y_LOW)
        self.coins[mask, :, 0] = x0[:, None] + 3 * COIN_R * np.arange(MAX_COINS)
        self.coins[mask, :, 1] = ys
        self.live[mask] = np.arange(MAX_COINS) < count[:, None]

    def _new_cloud(self, k: int, x: np.ndarray) -> np.ndarray:
        return np.stack(
            [x, self.rng.uniform(15, 82.8, k), self.rng.uniform(16, 26, k), 10 * self.rng.uniform(0.18, 0.42, k)],
            axis=-1,
        )

    def _reset(self, mask: np.ndarray) -> None:
        k = int(mask.sum())
        self.y[mask] = REST_Y
        self.v[mask] = 0.0
        self.steps[mask] = 0
        self._spawn(mask)
        self.pebbles[mask, :, 0] = 224 * self.rng.uniform(-0.1, 1.0, (k, 10))
        self.pebbles[mask, :, 1] = GROUND_Y + self.rng.uniform(1, 4, (k, 10))
        x = np.concatenate([self.rng.uniform(0, 224, (k, 4)), self.rng.uniform(-67.2, 291.2, (k, 3))], axis=1)
        self.clouds[mask] = self._new_cloud((k, 7), x)

    def _step(self, action: np.ndarray):
        self.y, self.v = runner_physics(self.y, self.v, action[:, 0])
        self.coins[:, :, 0] -= SCROLL
        self._scroll_scenery(self.pebbles, self.clouds)
        done = ~self.live | (self.coins[:, :, 0] < -COIN_R)
        respawn = done.all(axis=1)
        if np.count_nonzero(respawn):
            self._spawn(respawn)
        self.steps += 1
        cx, cy = self.coins[:, :, 0], self.coins[:, :, 1]
        # rects_overlap of each coin's box (centre +- COIN_R) with the runner's, per axis: the coin's
        # centre lies strictly inside the runner's box grown by COIN_R (integers, so the same test).
        hit = self.live & (cx > AGENT_X - COIN_R) & (cx < AGENT_X + AGENT_W + COIN_R)
        if not np.count_nonzero(hit):  # guarded: most steps no coin is level with the runner
            return np.zeros(self.num_envs, np.float32), np.zeros(self.num_envs, np.float32)
        dy = cy - trunc(self.y)[:, None]
        hit &= (dy > -COIN_R) & (dy < AGENT_H + COIN_R)
        self.live &= ~hit
        return hit.sum(axis=1).astype(np.float32), np.zeros(self.num_envs, np.float32)

    def _step_one(self, action):
        y, v = runner_physics_one(self.y.item(), self.v.item(), action[0])
        self.y[0], self.v[0] = y, v
        coins = self.coins[0]
        coins[:, 0] -= SCROLL
        self._scroll_scenery(self.pebbles[0], self.clouds[0])
        (x, cy), live = coins.T.tolist(), self.live[0].tolist()
        if all(not alive or cx < -COIN_R for cx, alive in zip(x, live)):
            self._spawn(np.ones(1, bool))
            (x, cy), live = coins.T.tolist(), self.live[0].tolist()
        self.steps[0] += 1
        row = int(y)
        hits = 0
        for i in range(MAX_COINS):
            # _step's test on one coin: its centre lies strictly inside the runner's box grown by COIN_R.
            if live[i] and -COIN_R < x[i] - AGENT_X < AGENT_W + COIN_R and -COIN_R < cy[i] - row < AGENT_H + COIN_R:
                self.live[0, i] = False
                hits += 1
        return float(hits), 0.0

    def _scroll_scenery(self, pebbles: np.ndarray, clouds: np.ndarray) -> None:
        """Scroll the pebbles ``[..., 10, 2]`` and clouds ``[..., 7, 4]`` of every env or one."""
        scroll_pebbles(pebbles, SCROLL, -5, self.rng)
        x = clouds[..., 0]
        x -= clouds[..., 3]
        gone = x < -3 * clouds[..., 2]
        k = np.count_nonzero(gone)
        if k:
            clouds[gone] = self._new_cloud(k, 224 + self.rng.uniform(0, 60, k))

    def _observation_one(self):
        obs = [(self.y.item() - REST_Y) / 224.0, self.v.item() / 10.0]
        for (x, y), alive in zip(self.coins[0].tolist(), self.live[0].tolist()):
            obs += (x / 224.0, y / 224.0) if alive else (-1.0, -1.0)
        return obs

    def _observation(self) -> np.ndarray:
        # Gather the raw state, then scale it with one division instead of one per field;
        # collected or missing coins read -224, which scales to -1.
        obs = np.empty((self.num_envs, self.obs_dim))
        obs[:, 0] = self.y - REST_Y
        obs[:, 1] = self.v
        obs[:, 2:] = np.where(self.live[:, :, None], self.coins, -224).reshape(self.num_envs, -1)
        return (obs / OBS_SCALE).astype(np.float32)

    def _background(self) -> np.ndarray:
        image = vertical_gradient((173, 216, 230), (255, 182, 193), rows=slice(0, GROUND_Y))
        image[GROUND_Y:] = vertical_gradient((76, 130, 78), (112, 170, 112), rows=slice(GROUND_Y, 224))[GROUND_Y:]
        return image

    def draw(self, index: int) -> np.ndarray:
        if self._canvas is None:
            self._canvas = Canvas(self.frame_size)
        c = self._canvas
        pg, s = c.pygame, c.surface
        c.background("sky", self._background)
        pg.draw.line(s, (51, 92, 53), (0, GROUND_Y), (224, GROUND_Y), 2)
        for x, y, base, _ in self.clouds[index]:
            for dx, dy, scale in ((0, 0, 1.0), (base * 0.8, -base * 0.3, 0.8), (base * 1.5, 0, 0.9)):
                w, h = 2 * base * scale, base * scale
                pg.draw.ellipse(s, (255, 204, 214), (x + dx, y + dy, w, h))
        for px, py in self.pebbles[index]:
            pg.draw.circle(s, (51, 92, 53), (int(px), int(py)), 1)
        airborne = self.y[index] < REST_Y - 0.001
        draw_runner(c, self.y[index], self.steps[index], airborne, cowboy=False)
        phase = (self.steps[index] % 30) / 30
        rim = (int(200 + 55 * phase), int(160 + 60 * phase), int(60 * phase))
        for (x, y), live in zip(self.coins[index], self.live[index]):
            if live:
                pg.draw.circle(s, (255, 215, 0), (int(x), int(y)), COIN_R)
                pg.draw.circle(s, rim, (int(x), int(y)), COIN_R, 2)
                angle = 2 * np.pi * (self.steps[index] % 45) / 45
                pg.draw.circle(s, (255, 255, 220), (int(x + 4 * np.cos(angle)), int(y - 4 * np.sin(angle))), 2)
        return c.to_array()
