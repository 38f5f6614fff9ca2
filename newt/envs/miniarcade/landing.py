"""pygame-landing: land a helicopter on a ship sailing back and forth (fully vectorised)."""
from __future__ import annotations

import numpy as np

from newt.envs.miniarcade.core import Canvas, MiniArcadeGame, clip, rects_overlap, trunc

WATER_Y = 179
HELI_W, HELI_H = 28, 18
THRUST, DAMPING, GRAVITY = 0.6, 0.96, 0.2
DECK_W, DECK_H, DECK_TOP, DECK_CY = 70, 12, 183, 189
HALF_DECK = DECK_W // 2


class Landing(MiniArcadeGame):
    """Fly under gravity and land gently on the moving deck (dense contact and hover rewards).

    Observation (7): x/224, y/224 (helicopter top-left), v_x/10, v_y/10, ship centre x/224,
    189/224 (deck centre y, constant), ship velocity/5.

    Example:
        >>> game = Landing(num_envs=2, seed=0)
        >>> game.reset()[:, 4].tolist()  # the ship starts at x = 74
        [0.3303571343421936, 0.3303571343421936]
    """

    obs_dim = 7
    action_dim = 2

    def __init__(self, num_envs: int = 1, seed: int | None = None):
        super().__init__(num_envs, seed)
        n = num_envs
        self.pos = np.zeros((n, 2))
        self.vel = np.zeros((n, 2))
        self.ship_x = np.full(n, 74.0)
        self.ship_dir = np.ones(n)
        self.ship_speed = np.full(n, 1.4)
        self.locked = np.zeros(n, bool)
        self.contact = np.zeros(n, bool)
        self.stars = np.zeros((n, 40, 2))
        self._canvas = None

    def _reset(self, mask: np.ndarray) -> None:
        k = int(mask.sum())
        self.pos[mask] = self.rng.uniform(12, 36, (k, 2))
        self.vel[mask] = self.rng.uniform(-0.3, 0.3, (k, 2))
        self.ship_x[mask] = 224 // 3
        self.ship_dir[mask] = self.rng.choice((-1.0, 1.0), k)
        self.ship_speed[mask] = 1.4 + self.rng.uniform(-0.3, 0.3, k)
        self.locked[mask] = False
        self.contact[mask] = False
        self.stars[mask, :, 0] = self.rng.uniform(0, 224, (k, 40))
        self.stars[mask, :, 1] = self.rng.uniform(0, WATER_Y - 10, (k, 40))

    def _step(self, action: np.ndarray):
        vx = self.vel[:, 0] + THRUST * action[:, 0]
        vy = self.vel[:, 1] + THRUST * action[:, 1] + GRAVITY
        x = clip(self.pos[:, 0] + vx, 0.0, 224.0 - HELI_W)
        y = clip(self.pos[:, 1] + vy, 0.0, 224.0 - HELI_H)
        vx, vy = vx * DAMPING, vy * DAMPING
        ship_x = self.ship_x + self.ship_dir * self.ship_speed
        at_left, at_right = ship_x - HALF_DECK <= 0, ship_x + HALF_DECK >= 224
        ship_x = np.where(at_left, HALF_DECK, np.where(at_right, 224 - HALF_DECK, ship_x))
        self.ship_dir = np.where(at_left, 1.0, np.where(at_right, -1.0, self.ship_dir))
        self.ship_x = ship_x
        deck_l = trunc(ship_x - HALF_DECK)
        deck_r = deck_l + DECK_W
        hl, ht = trunc(x), trunc(y)
        v_pre = vy
        hit = rects_overlap(hl, ht, HELI_W, HELI_H, deck_l, DECK_TOP, DECK_W, DECK_H)
        if hit.any():
            pen_x = np.minimum(hl + HELI_W - deck_l, deck_r - hl)
            pen_y = np.minimum(ht + HELI_H - DECK_TOP, DECK_TOP + DECK_H - ht)
            vertical = hit & (pen_y <= pen_x)
            above = ht + HELI_H // 2 < DECK_CY
            top, bottom = vertical & above, vertical & ~above
            y = np.where(top, DECK_TOP - HELI_H, np.where(bottom, DECK_TOP + DECK_H, y))
            vy = np.where(top, np.minimum(vy, 0.0), np.where(bottom, np.maximum(vy, 0.0), vy))
            vx = np.where(top, 0.9 * vx, vx)
            side = hit & ~vertical
            left = side & (hl + HELI_W // 2 < deck_l + HALF_DECK)
            right = side & ~left
            x = np.where(left, deck_l - HELI_W, np.where(right, deck_r, x))
            vx = np.where(left, np.minimum(vx, 0.0), np.where(right, np.maximum(vx, 0.0), vx))
            hl, ht = trunc(x), trunc(y)
        contact = (hl + HELI_W > deck_l + 4) & (hl < deck_r - 4) & (np.abs(ht + HELI_H - DECK_TOP) <= 3)
        u = self.ship_dir * self.ship_speed
        vx = np.where(contact, 0.7 * vx + 0.3 * u, vx)
        self.locked = contact & (self.locked | ((np.abs(vy) < 0.2) & (np.abs(vx - u) < 0.2)))
        vx = np.where(self.locked, u, vx)
        vy = np.where(self.locked, np.minimum(vy, 0.0), vy)
        y = np.where(self.locked, float(DECK_TOP - HELI_H), y)
        self.pos = np.stack([x, y], axis=1)
        self.vel = np.stack([vx, vy], axis=1)
        # Reward, from the rectangle before the lock snap.
        hcx, hcy = hl + HELI_W // 2, ht + HELI_H // 2
        centring = clip(np.abs(hcx - (deck_l + HALF_DECK)) / HALF_DECK, 0.0, 1.0)
        reward = np.where(contact, 0.1 + 0.9 * (1.0 - centring), 0.0)
        reward -= 0.001 * np.maximum(vy, 0.0)
        reward -= np.where(contact & ~self.contact, np.minimum(10.0, 2.0 * np.maximum(0.0, v_pre)), 0.0)
        hover = 0.025 * (1.0 - centring) + 0.1 * (1.0 - clip(np.abs(hcy - DECK_CY) / 224.0, 0.0, 1.0))
        reward += np.where(hcy > DECK_TOP, -0.5, hover)
        self.contact = contact
        return reward, np.zeros(self.num_envs, np.float32)

    def observation(self) -> np.ndarray:
        obs = np.empty((self.num_envs, self.obs_dim), np.float32)
        obs[:, 0:2] = self.pos / 224.0
        obs[:, 2:4] = self.vel / 10.0
        obs[:, 4] = self.ship_x / 224.0
        obs[:, 5] = DECK_CY / 224.0
        obs[:, 6] = self.ship_dir * self.ship_speed / 5.0
        return obs

    def draw(self, index: int) -> np.ndarray:
        if self._canvas is None:
            self._canvas = Canvas(self.frame_size)
        c = self._canvas
        pg, s = c.pygame, c.surface
        s.fill((150, 190, 255))
        pg.draw.rect(s, (50, 120, 200), (0, WATER_Y, 224, 224 - WATER_Y))
        for x, y in self.stars[index]:
            pg.draw.circle(s, (240, 240, 255), (int(x), int(y)), 1)
        left = int(self.ship_x[index] - HALF_DECK)
        right = left + DECK_W
        bottom = DECK_TOP + DECK_H
        pg.draw.polygon(s, (120, 120, 140), [(left, bottom), (right, bottom), (right - 10, bottom + 16), (left + 10, bottom + 16)])
        pg.draw.polygon(s, (80, 80, 100), [(left, bottom), (right, bottom), (right - 10, bottom + 16), (left + 10, bottom + 16)], 1)
        pg.draw.rect(s, (240, 240, 240), (left, DECK_TOP, DECK_W, DECK_H))
        pg.draw.rect(s, (200, 200, 200), (left, DECK_TOP, DECK_W, DECK_H), 1)
        pg.draw.line(s, (200, 200, 200), (left + 4, DECK_TOP + 6), (right - 4, DECK_TOP + 6), 1)
        forward = self.ship_dir[index] > 0
        bow_x = right if forward else left
        tip = bow_x + (10 if forward else -10)
        pg.draw.polygon(s, (240, 240, 240), [(bow_x, DECK_TOP), (tip, DECK_TOP), (bow_x, bottom)])
        cabin_x = left + 4 if forward else right - 22
        pg.draw.rect(s, (200, 200, 210), (cabin_x, DECK_TOP - 12, 18, 12))
        for k in range(3):
            pg.draw.rect(s, (70, 110, 190), (cabin_x + 2 + 6 * k, DECK_TOP - 9, 3, 3))
        flag_x = left + HALF_DECK
        pg.draw.line(s, (60, 60, 60), (flag_x, DECK_TOP), (flag_x, DECK_TOP - 10), 1)
        pg.draw.polygon(s, (220, 40, 40), [(flag_x, DECK_TOP - 10), (flag_x + 6, DECK_TOP - 8), (flag_x, DECK_TOP - 6)])
        x, y = (int(v) for v in self.pos[index])
        body = [(x + 4, y + 9), (x + 14, y + 2), (x + 26, y + 7), (x + 24, y + 14), (x + 10, y + 15)]
        pg.draw.line(s, (90, 120, 180), (x + 4, y + 9), (x - 8, y + 7), 2)
        pg.draw.polygon(s, (180, 200, 220), body)
        pg.draw.polygon(s, (90, 120, 180), body, 1)
        pg.draw.line(s, (120, 120, 120), (x + 4, y + HELI_H - 1), (x + 24, y + HELI_H - 1), 2)
        pg.draw.line(s, (40, 40, 40), (x + 14 - 16, y - 3), (x + 14 + 16, y - 3), 2)
        if self.contact[index]:
            c.tint((80, 220, 120), 40)
        return c.to_array()
