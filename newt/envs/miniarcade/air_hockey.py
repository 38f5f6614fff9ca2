"""pygame-air-hockey: the bottom mallet against a delayed AI mallet (batched, with a single-copy twin)."""
from __future__ import annotations

import numpy as np

from newt.envs.miniarcade.core import Canvas, MiniArcadeGame, clamp, clip, length, length_one, trunc

RINK_L, RINK_R, RINK_T, RINK_B = 33, 191, 24, 200
MOUTH_L, MOUTH_R = 84, 140
PUCK_R, MALLET_R = 6, 10
AGENT_SPEED = 7.5
AI_SPEED = 0.85 * AGENT_SPEED
LAUNCH_SPEED, MAX_SPEED = 6.0, 12.0
AGENT_SPAWN, AI_SPAWN, AI_HOME_XY = (112.0, 170.0), (112.0, 54.0), (112.0, 52.0)
AI_HOME = np.array(AI_HOME_XY)
#: The mallets' boxes ((x_lo, y_lo), (x_hi, y_hi)), as floats for one env, arrays for the batch.
AGENT_BOX, AI_BOX = ((43.0, 122.0), (181.0, 190.0)), ((43.0, 34.0), (181.0, 102.0))
AGENT_LO, AGENT_HI = map(np.array, AGENT_BOX)
AI_LO, AI_HI = map(np.array, AI_BOX)
AI_DEFENSE_Y = 83.0
#: Divisors of the observation's entries.
OBS_SCALE = np.array([224.0, 224.0, MAX_SPEED, MAX_SPEED] + [224.0, 224.0, AGENT_SPEED, AGENT_SPEED] * 2)


def clamp_to(x: float, y: float, box) -> tuple[float, float]:
    """The point ``(x, y)`` clamped into ``box`` ``((x_lo, y_lo), (x_hi, y_hi))``, on floats."""
    (x_lo, y_lo), (x_hi, y_hi) = box
    return clamp(x, x_lo, x_hi), clamp(y, y_lo, y_hi)


def collide_one(px, py, pvx, pvy, mx, my, mvx, mvy) -> tuple[float, float, float, float]:
    """:meth:`AirHockey._collide` of one puck ``(px, py, pvx, pvy)`` with one mallet; the new puck."""
    dx, dy = px - mx, py - my
    reach = PUCK_R + MALLET_R
    dist = length_one(dx, dy)
    if dist >= reach:
        return px, py, pvx, pvy
    push = reach - dist + 0.5
    nx, ny = (dx / dist, dy / dist) if dist > 0 else (dx, dy)  # the batched code divides by 1
    px, py = px + nx * push, py + ny * push
    v_rel = (pvx - mvx) * nx + (pvy - mvy) * ny
    if v_rel < 0:
        pvx, pvy = pvx - 1.9 * v_rel * nx + 0.35 * mvx, pvy - 1.9 * v_rel * ny + 0.35 * mvy
    return px, py, pvx, pvy


class AirHockey(MiniArcadeGame):
    """Air hockey: +1 for a goal in the top mouth, -1 for one conceded in the bottom mouth.

    Observation (12): puck x/224, y/224, v_x/12, v_y/12, agent x/224, y/224, agent v/7.5
    (the commanded velocity, = the action), AI x/224, y/224, AI v/7.5.

    Example:
        >>> game = AirHockey(num_envs=2, seed=0)
        >>> game.reset()[:, 4:6].tolist()  # agent mallet spawn
        [[0.5, 0.7589285969734192], [0.5, 0.7589285969734192]]
    """

    obs_dim = 12
    action_dim = 2

    def __init__(self, num_envs: int = 1, seed: int | None = None):
        super().__init__(num_envs, seed)
        n = num_envs
        self.puck = np.zeros((n, 2))
        self.puck_vel = np.zeros((n, 2))
        self.agent = np.zeros((n, 2))
        self.agent_vel = np.zeros((n, 2))
        self.ai = np.zeros((n, 2))
        self.ai_vel = np.zeros((n, 2))
        self.ai_delay = np.zeros(n, np.int64)
        self.ai_in_zone = np.zeros(n, bool)
        self.scores = np.zeros((n, 2), np.int64)
        self._canvas = None

    def _launch(self, mask: np.ndarray, to_top: np.ndarray) -> None:
        k = int(mask.sum())
        if not k:
            return
        self.agent[mask], self.ai[mask] = AGENT_SPAWN, AI_SPAWN
        self.agent_vel[mask] = self.ai_vel[mask] = 0.0
        theta = np.pi * self.rng.uniform(-0.35, 0.35, k)
        sign = self.rng.choice((-1.0, 1.0), k)
        self.puck[mask] = 112.0
        self.puck_vel[mask, 0] = LAUNCH_SPEED * np.cos(theta) * sign
        self.puck_vel[mask, 1] = np.where(to_top, -1.0, 1.0) * LAUNCH_SPEED * np.abs(0.7 * np.sin(theta) + 0.3)

    def _reset(self, mask: np.ndarray) -> None:
        to_top = self.rng.random(int(mask.sum())) < 0.5
        self.scores[mask] = 0
        self.ai_delay[mask] = 0
        self.ai_in_zone[mask] = False
        self._launch(mask, to_top)

    def _react(self, mask: np.ndarray) -> None:
        """Draw the AI's reaction delay where the puck enters its zone: 5-10 steps, 1-4 when fast."""
        speed = np.hypot(self.puck_vel[mask, 0], self.puck_vel[mask, 1])
        n = clip((speed - 2.0) / 8.0, 0.0, 1.0)
        lo, hi = trunc(5 - 4 * n), trunc(10 - 6 * n)
        self.ai_delay[mask] = self.rng.integers(lo, hi + 1)

    def _move_ai(self) -> None:
        zone = (self.puck[:, 1] < 120) & (self.puck_vel[:, 1] < 0)
        entering = zone & ~self.ai_in_zone
        if np.count_nonzero(entering):
            self._react(entering)
        self.ai_in_zone = zone
        waiting = zone & (self.ai_delay > 0)
        if np.count_nonzero(waiting):
            self.ai_delay -= waiting
        chase = zone & ~waiting
        target = AI_HOME
        if np.count_nonzero(chase):
            defend = np.stack(
                [clip(self.puck[:, 0], 43.0, 181.0), np.minimum(self.puck[:, 1] + 12, AI_DEFENSE_Y)], axis=1
            )
            target = np.where(chase[:, None], defend, AI_HOME)
        d = target - self.ai
        dist = length(d[:, 0], d[:, 1])
        moving = dist > 1e-5
        noise = self.rng.normal(0.0, 0.25, (self.num_envs, 2))
        step = d / np.maximum(dist, 1e-5)[:, None] * np.minimum(AI_SPEED, dist)[:, None] + noise
        if np.count_nonzero(moving) < self.num_envs:  # guarded: with the noise it is ~never on target
            step = np.where(moving[:, None], step, 0.0)
        self.ai_vel = step
        self.ai = clip(self.ai + self.ai_vel, AI_LO, AI_HI)

    def _collide(self, mallet: np.ndarray, mallet_vel: np.ndarray) -> None:
        delta = self.puck - mallet
        dist = length(delta[:, 0], delta[:, 1])
        hit = dist < PUCK_R + MALLET_R
        if not np.count_nonzero(hit):
            return
        overlap = PUCK_R + MALLET_R - dist
        normal = delta / np.where(dist > 0, dist, 1.0)[:, None]
        self.puck = np.where(hit[:, None], self.puck + normal * (overlap + 0.5)[:, None], self.puck)
        v_rel = ((self.puck_vel - mallet_vel) * normal).sum(axis=1)
        bounce = hit & (v_rel < 0)
        new_vel = self.puck_vel - 1.9 * v_rel[:, None] * normal + 0.35 * mallet_vel
        self.puck_vel = np.where(bounce[:, None], new_vel, self.puck_vel)

    def _step(self, action: np.ndarray):
        self.agent_vel = AGENT_SPEED * action.astype(float)
        self.agent = clip(self.agent + self.agent_vel, AGENT_LO, AGENT_HI)
        self._move_ai()
        self.puck += self.puck_vel
        self._collide(self.agent, self.agent_vel)
        self._collide(self.ai, self.ai_vel)
        px, py = self.puck[:, 0], self.puck[:, 1]
        vx, vy = self.puck_vel[:, 0], self.puck_vel[:, 1]
        # Guarded: the walls only matter where the puck reaches them. px - PUCK_R < RINK_L and
        # px + PUCK_R > RINK_R with the constants folded: near the walls these are exact.
        left, right = px < RINK_L + PUCK_R, px > RINK_R - PUCK_R
        if np.count_nonzero(left | right):
            right &= ~left
            px[left], px[right] = RINK_L + PUCK_R, RINK_R - PUCK_R
            vx[left | right] *= -0.9
        reward = np.zeros(self.num_envs, np.float32)
        # Goals and the top and bottom walls all need the puck past a wall's line.
        if np.count_nonzero((py < RINK_T + PUCK_R) | (py > RINK_B - PUCK_R)):
            in_mouth = (px >= MOUTH_L) & (px <= MOUTH_R)
            scored = (py <= RINK_T - 10) & in_mouth
            top_wall = ~scored & (py - PUCK_R < RINK_T) & ~in_mouth
            py[top_wall] = RINK_T + PUCK_R
            vy[top_wall] *= -0.9
            conceded = (py >= RINK_B + 10) & in_mouth
            bottom_wall = ~conceded & (py + PUCK_R > RINK_B) & ~in_mouth
            py[bottom_wall] = RINK_B - PUCK_R
            vy[bottom_wall] *= -0.9
            self.scores[scored, 0] += 1
            self.scores[conceded, 1] += 1
            goal = scored | conceded
            if np.count_nonzero(goal):
                self._launch(goal, scored[goal])
            reward = scored.astype(np.float32) - conceded
        self.puck_vel *= 0.998
        speed = length(self.puck_vel[:, 0], self.puck_vel[:, 1])
        too_fast = speed > MAX_SPEED
        if np.count_nonzero(too_fast):
            self.puck_vel *= np.where(too_fast, MAX_SPEED / np.maximum(speed, 1e-9), 1.0)[:, None]
        return reward, np.zeros(self.num_envs, np.float32)

    def _step_one(self, action):
        avx, avy = AGENT_SPEED * action[0], AGENT_SPEED * action[1]
        ax, ay = self.agent[0].tolist()
        ax, ay = clamp_to(ax + avx, ay + avy, AGENT_BOX)
        self.agent[0, 0], self.agent[0, 1] = ax, ay
        self.agent_vel[0, 0], self.agent_vel[0, 1] = avx, avy
        px, py = self.puck[0].tolist()
        pvx, pvy = self.puck_vel[0].tolist()
        ix, iy, ivx, ivy = self._move_ai_one(px, py, pvy)
        px, py = px + pvx, py + pvy
        px, py, pvx, pvy = collide_one(px, py, pvx, pvy, ax, ay, avx, avy)
        px, py, pvx, pvy = collide_one(px, py, pvx, pvy, ix, iy, ivx, ivy)
        if px < RINK_L + PUCK_R:
            px, pvx = float(RINK_L + PUCK_R), pvx * -0.9
        elif px > RINK_R - PUCK_R:
            px, pvx = float(RINK_R - PUCK_R), pvx * -0.9
        scored = conceded = False
        if py < RINK_T + PUCK_R or py > RINK_B - PUCK_R:
            # Outside the mouth the puck bounces off the wall, inside it goes on to the goal line.
            in_mouth = MOUTH_L <= px <= MOUTH_R
            if not in_mouth and py - PUCK_R < RINK_T:
                py, pvy = float(RINK_T + PUCK_R), pvy * -0.9
            if not in_mouth and py + PUCK_R > RINK_B:
                py, pvy = float(RINK_B - PUCK_R), pvy * -0.9
            scored, conceded = in_mouth and py <= RINK_T - 10, in_mouth and py >= RINK_B + 10
        self.puck[0, 0], self.puck[0, 1] = px, py
        reward = 0.0
        if scored or conceded:
            self.scores[0, 0 if scored else 1] += 1
            self._launch(np.ones(1, bool), scored)
            pvx, pvy = self.puck_vel[0].tolist()
            reward = 1.0 if scored else -1.0
        pvx, pvy = pvx * 0.998, pvy * 0.998
        speed = length_one(pvx, pvy)
        if speed > MAX_SPEED:
            pvx, pvy = pvx * (MAX_SPEED / speed), pvy * (MAX_SPEED / speed)
        self.puck_vel[0, 0], self.puck_vel[0, 1] = pvx, pvy
        return reward, 0.0

    def _move_ai_one(self, px: float, py: float, pvy: float) -> tuple[float, float, float, float]:
        """:meth:`_move_ai` for the single copy, the puck at ``(px, py)`` moving at ``pvy`` down;
        the AI mallet's new ``(x, y, v_x, v_y)``."""
        zone = py < 120 and pvy < 0
        if zone and not self.ai_in_zone.item():
            self._react(np.ones(1, bool))
        self.ai_in_zone[0] = zone
        tx, ty = AI_HOME_XY
        if zone:
            delay = self.ai_delay.item()
            if delay > 0:
                self.ai_delay[0] = delay - 1
            else:
                tx, ty = clamp(px, 43.0, 181.0), min(py + 12, AI_DEFENSE_Y)
        ix, iy = self.ai[0].tolist()
        dx, dy = tx - ix, ty - iy
        dist = length_one(dx, dy)
        noise_x, noise_y = self.rng.normal(0.0, 0.25, 2).tolist()
        vx = vy = 0.0
        if dist > 1e-5:
            speed = min(AI_SPEED, dist)
            vx, vy = dx / dist * speed + noise_x, dy / dist * speed + noise_y
        ix, iy = clamp_to(ix + vx, iy + vy, AI_BOX)
        self.ai[0, 0], self.ai[0, 1] = ix, iy
        self.ai_vel[0, 0], self.ai_vel[0, 1] = vx, vy
        return ix, iy, vx, vy

    def _observation_one(self):
        (px, py), (pvx, pvy) = self.puck[0].tolist(), self.puck_vel[0].tolist()
        (ax, ay), (avx, avy) = self.agent[0].tolist(), self.agent_vel[0].tolist()
        (ix, iy), (ivx, ivy) = self.ai[0].tolist(), self.ai_vel[0].tolist()
        return [px / 224.0, py / 224.0, pvx / MAX_SPEED, pvy / MAX_SPEED,
                ax / 224.0, ay / 224.0, avx / AGENT_SPEED, avy / AGENT_SPEED,
                ix / 224.0, iy / 224.0, ivx / AGENT_SPEED, ivy / AGENT_SPEED]

    def _observation(self) -> np.ndarray:
        # Gather the raw state, then scale it with one division instead of one per field.
        obs = np.empty((self.num_envs, self.obs_dim))
        obs[:, 0:2] = self.puck
        obs[:, 2:4] = self.puck_vel
        obs[:, 4:6] = self.agent
        obs[:, 6:8] = self.agent_vel
        obs[:, 8:10] = self.ai
        obs[:, 10:12] = self.ai_vel
        return (obs / OBS_SCALE).astype(np.float32)

    def draw(self, index: int) -> np.ndarray:
        if self._canvas is None:
            self._canvas = Canvas(self.frame_size)
        c = self._canvas
        pg, s = c.pygame, c.surface
        s.fill((0, 0, 0))
        pg.draw.rect(s, (200, 200, 200), (RINK_L, RINK_T, RINK_R - RINK_L, RINK_B - RINK_T), 2)
        pg.draw.rect(s, (0, 0, 0), (MOUTH_L, RINK_T - 2, MOUTH_R - MOUTH_L, 8))
        pg.draw.rect(s, (0, 0, 0), (MOUTH_L, RINK_B - 2, MOUTH_R - MOUTH_L, 8))
        pg.draw.line(s, (80, 80, 80), (RINK_L, 112), (RINK_R, 112), 2)
        pg.draw.circle(s, (255, 255, 255), self.puck[index].astype(int).tolist(), PUCK_R)
        pg.draw.circle(s, (255, 140, 0), self.agent[index].astype(int).tolist(), MALLET_R)
        pg.draw.circle(s, (180, 180, 180), self.ai[index].astype(int).tolist(), MALLET_R)
        c.text(str(self.scores[index, 1]), 20, (180, 180, 180), (112, RINK_T - 2), anchor="midbottom")
        c.text(str(self.scores[index, 0]), 20, (255, 140, 0), (112, RINK_B + 2), anchor="midtop")
        return c.to_array()
