"""pygame-landing: land a helicopter on a ship sailing back and forth (batched, with a single-copy twin)."""
from __future__ import annotations

import numpy as np

from newt.envs.miniarcade.core import Canvas, MiniArcadeGame, clamp, clip, rects_overlap, trunc

WATER_Y = 179
HELI_W, HELI_H = 28, 18
THRUST, DAMPING, GRAVITY = 0.6, 0.96, 0.2
DECK_W, DECK_H, DECK_TOP, DECK_CY = 70, 12, 183, 189
HALF_DECK = DECK_W // 2
#: Bounds of the helicopter's top-left corner.
HELI_MAX = np.array([224.0 - HELI_W, 224.0 - HELI_H])
#: Divisors of the observation's entries.
OBS_SCALE = np.array([224.0, 224.0, 10.0, 10.0, 224.0, 224.0, 5.0])


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
        vel = self.vel + THRUST * action
        vel[:, 1] += GRAVITY
        pos = clip(self.pos + vel, 0.0, HELI_MAX)
        vel *= DAMPING
        ship_x = self.ship_x + self.ship_dir * self.ship_speed
        at_left, at_right = ship_x <= HALF_DECK, ship_x >= 224 - HALF_DECK
        if np.count_nonzero(at_left | at_right):  # the ship turns at either end of its run
            ship_x = np.where(at_left, HALF_DECK, np.where(at_right, 224 - HALF_DECK, ship_x))
            self.ship_dir = np.where(at_left, 1.0, np.where(at_right, -1.0, self.ship_dir))
        self.ship_x = ship_x
        deck_l = trunc(ship_x - HALF_DECK)
        heli = trunc(pos)
        # The helicopter's top-left corner in the deck's frame for x (relative to its left edge).
        offset_x, ht = heli[:, 0] - deck_l, heli[:, 1]
        hit = rects_overlap(offset_x, ht, HELI_W, HELI_H, 0, DECK_TOP, DECK_W, DECK_H)
        v_pre = vel[:, 1]  # the touchdown penalty's fall speed: read before the lock changes vel
        if np.count_nonzero(hit):  # push the helicopter out of the deck along the shallower axis
            v_pre = v_pre.copy()  # ... and before the push
            x, y, vx, vy = pos[:, 0], pos[:, 1], vel[:, 0], vel[:, 1]  # views: the updates write through
            hl = heli[:, 0]
            deck_r = deck_l + DECK_W
            pen_x = np.minimum(hl + HELI_W - deck_l, deck_r - hl)
            pen_y = np.minimum(ht + HELI_H - DECK_TOP, DECK_TOP + DECK_H - ht)
            vertical = hit & (pen_y <= pen_x)
            above = ht + HELI_H // 2 < DECK_CY
            top, bottom = vertical & above, vertical & ~above
            y[:] = np.where(top, DECK_TOP - HELI_H, np.where(bottom, DECK_TOP + DECK_H, y))
            vy[:] = np.where(top, np.minimum(vy, 0.0), np.where(bottom, np.maximum(vy, 0.0), vy))
            vx[:] = np.where(top, 0.9 * vx, vx)
            side = hit & ~vertical
            left = side & (hl + HELI_W // 2 < deck_l + HALF_DECK)
            right = side & ~left
            x[:] = np.where(left, deck_l - HELI_W, np.where(right, deck_r, x))
            vx[:] = np.where(left, np.minimum(vx, 0.0), np.where(right, np.maximum(vx, 0.0), vx))
            heli = trunc(pos)
            offset_x, ht = heli[:, 0] - deck_l, heli[:, 1]
        contact = (offset_x > 4 - HELI_W) & (offset_x < DECK_W - 4) & (np.abs(ht + (HELI_H - DECK_TOP)) <= 3)
        # 1 - (distance between the centres / half the deck, capped at 1).
        closeness = 1.0 - np.minimum(np.abs(offset_x + (HELI_W // 2 - HALF_DECK)) / HALF_DECK, 1.0)
        landing_bonus = touchdown_penalty = 0.0  # off the deck: subtracting 0.0 leaves the reward as is
        if np.count_nonzero(contact):  # guarded: off the deck nothing here applies
            landing_bonus = np.where(contact, 0.1 + 0.9 * closeness, 0.0)
            touchdown = contact & ~self.contact
            touchdown_penalty = np.where(touchdown, np.minimum(10.0, 2.0 * np.maximum(0.0, v_pre)), 0.0)
            u = self.ship_dir * self.ship_speed
            vx, vy = vel[:, 0], vel[:, 1]
            vx[:] = np.where(contact, 0.7 * vx + 0.3 * u, vx)
            self.locked = contact & (self.locked | ((np.abs(vy) < 0.2) & (np.abs(vx - u) < 0.2)))
            vx[:] = np.where(self.locked, u, vx)
            vy[:] = np.where(self.locked, np.minimum(vy, 0.0), vy)
            pos[:, 1] = np.where(self.locked, float(DECK_TOP - HELI_H), pos[:, 1])
        else:
            self.locked = np.zeros(self.num_envs, bool)
        self.pos, self.vel, self.contact = pos, vel, contact
        # Reward, from the rectangle before the lock snap. The hover term's distance to the deck
        # centre row is at most 180/224 (the helicopter stays in the frame): no clip to 1 needed.
        hover = 0.025 * closeness + 0.1 * (1.0 - np.abs(ht + (HELI_H // 2 - DECK_CY)) / 224.0)
        reward = landing_bonus - 0.001 * np.maximum(vel[:, 1], 0.0) - touchdown_penalty
        reward += np.where(ht > DECK_TOP - HELI_H // 2, -0.5, hover)  # centre below the deck top
        return reward, np.zeros(self.num_envs, np.float32)

    def _step_one(self, action):
        (x, y), (vx, vy) = self.pos[0].tolist(), self.vel[0].tolist()
        vx += THRUST * action[0]
        vy = vy + THRUST * action[1] + GRAVITY
        x, y = clamp(x + vx, 0.0, 224.0 - HELI_W), clamp(y + vy, 0.0, 224.0 - HELI_H)
        vx *= DAMPING
        vy *= DAMPING
        ship_dir, ship_speed = self.ship_dir.item(), self.ship_speed.item()
        ship_x = self.ship_x.item() + ship_dir * ship_speed
        if ship_x <= HALF_DECK:  # the ship turns at either end of its run
            ship_x, ship_dir = float(HALF_DECK), 1.0
        elif ship_x >= 224 - HALF_DECK:
            ship_x, ship_dir = float(224 - HALF_DECK), -1.0
        self.ship_x[0], self.ship_dir[0] = ship_x, ship_dir
        deck_l = int(ship_x - HALF_DECK)
        deck_r = deck_l + DECK_W
        hl, ht = int(x), int(y)
        v_pre = vy  # the touchdown penalty's fall speed, before the push and the lock
        if rects_overlap(hl, ht, HELI_W, HELI_H, deck_l, DECK_TOP, DECK_W, DECK_H):
            # Push the helicopter out of the deck along the shallower axis.
            pen_x = min(hl + HELI_W - deck_l, deck_r - hl)
            pen_y = min(ht + HELI_H - DECK_TOP, DECK_TOP + DECK_H - ht)
            if pen_y <= pen_x:
                if ht + HELI_H // 2 < DECK_CY:
                    y, vy, vx = float(DECK_TOP - HELI_H), min(vy, 0.0), 0.9 * vx
                else:
                    y, vy = float(DECK_TOP + DECK_H), max(vy, 0.0)
            elif hl + HELI_W // 2 < deck_l + HALF_DECK:
                x, vx = float(deck_l - HELI_W), min(vx, 0.0)
            else:
                x, vx = float(deck_r), max(vx, 0.0)
            hl, ht = int(x), int(y)
        contact = hl + HELI_W > deck_l + 4 and hl < deck_r - 4 and abs(ht + HELI_H - DECK_TOP) <= 3
        # 1 - (distance between the centres / half the deck, capped at 1).
        closeness = 1.0 - min(abs(hl + HELI_W // 2 - (deck_l + HALF_DECK)) / HALF_DECK, 1.0)
        landing_bonus = touchdown_penalty = 0.0
        locked = False
        if contact:
            landing_bonus = 0.1 + 0.9 * closeness
            if not self.contact.item():
                touchdown_penalty = min(10.0, 2.0 * max(0.0, v_pre))
            u = ship_dir * ship_speed
            vx = 0.7 * vx + 0.3 * u
            locked = self.locked.item() or (abs(vy) < 0.2 and abs(vx - u) < 0.2)
            if locked:
                vx, vy, y = u, min(vy, 0.0), float(DECK_TOP - HELI_H)
        self.pos[0], self.vel[0] = (x, y), (vx, vy)
        self.contact[0], self.locked[0] = contact, locked
        # Reward, from the rectangle before the lock snap, summed in the batched code's order.
        reward = landing_bonus - 0.001 * max(vy, 0.0) - touchdown_penalty
        if ht > DECK_TOP - HELI_H // 2:  # centre below the deck top
            return reward - 0.5, 0.0
        hover = 0.025 * closeness + 0.1 * (1.0 - abs(ht + (HELI_H // 2 - DECK_CY)) / 224.0)
        return reward + hover, 0.0

    def _observation_one(self):
        (x, y), (vx, vy) = self.pos[0].tolist(), self.vel[0].tolist()
        u = self.ship_dir.item() * self.ship_speed.item()
        return [x / 224.0, y / 224.0, vx / 10.0, vy / 10.0, self.ship_x.item() / 224.0, DECK_CY / 224.0, u / 5.0]

    def _observation(self) -> np.ndarray:
        # Gather the raw state, then scale it with one division instead of one per field.
        obs = np.empty((self.num_envs, self.obs_dim))
        obs[:, 0:2] = self.pos
        obs[:, 2:4] = self.vel
        obs[:, 4] = self.ship_x
        obs[:, 5] = DECK_CY
        obs[:, 6] = self.ship_dir * self.ship_speed
        return (obs / OBS_SCALE).astype(np.float32)

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
