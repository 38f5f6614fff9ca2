"""pygame-reacher-easy / -hard (held out): a torque-controlled 2-link planar arm, batched.

The fingertip must reach a red target; the reward is 1 per step inside it (spec §18).
"""
from __future__ import annotations

import math

import numpy as np

from newt.envs.miniarcade.core import Canvas, MiniArcadeGame, length, length_one

LINK = 0.11  # both links, metres
REACH = 2 * LINK
Q2_LIMIT = math.radians(160.0)
DT = 0.02
TORQUE = (90.0, 180.0)
DRAG_LINEAR = (4.0, 38.0)
DRAG_QUADRATIC = (1.2, 0.05)
MAX_SPEED = 30.0
FINGER_RADIUS = 0.01
TARGET_DISTANCE = (0.05, 0.20)
TARGET_RADII = {"easy": 0.04, "hard": 0.025}

# Rendering: metres -> pixels around the arena centre (y up in the world, down on screen).
PX_PER_M = 184 * 0.45 / REACH
CENTER = 112
TRAIL = 10

#: MMBench task name -> constructor arguments.
VARIANTS = {
    "pygame-reacher-easy": {"variant": "easy"},
    "pygame-reacher-hard": {"variant": "hard"},
}


def arm_step(q1, q2, w1, w2, a1, a2, minimum, maximum):
    """One semi-implicit Euler step of both joints (new speeds move the angles).

    Arithmetic only, so it runs on Python floats (one env, where numpy's per-call overhead
    dominates; pass ``min``/``max``) and on numpy arrays (pass ``np.minimum``/``np.maximum``).
    """
    w1 = w1 + DT * (TORQUE[0] * a1 - (DRAG_LINEAR[0] * w1 + DRAG_QUADRATIC[0] * abs(w1) * w1))
    w2 = w2 + DT * (TORQUE[1] * a2 - (DRAG_LINEAR[1] * w2 + DRAG_QUADRATIC[1] * abs(w2) * w2))
    w1 = minimum(maximum(w1, -MAX_SPEED), MAX_SPEED)
    w2 = minimum(maximum(w2, -MAX_SPEED), MAX_SPEED)
    q1 = q1 + DT * w1
    q2 = q2 + DT * w2
    free = abs(q2) <= Q2_LIMIT
    q2 = minimum(maximum(q2, -Q2_LIMIT), Q2_LIMIT)
    w2 = w2 * free + 0.0  # the elbow stops at its limit (+ 0.0 turns -0.0 into 0.0)
    return q1, q2, w1, w2


def fingertip(q1, q2, cos, sin):
    """Fingertip position (metres, y up) of joint angles ``q1``, ``q2``; floats or arrays."""
    return LINK * (cos(q1) + cos(q1 + q2)), LINK * (sin(q1) + sin(q1 + q2))


def to_pixels(x, y) -> tuple[int, int]:
    """World metres (y up, base at the origin) -> integer screen pixels (y down)."""
    return int(CENTER + x * PX_PER_M), int(CENTER - y * PX_PER_M)


class Reacher(MiniArcadeGame):
    """Batched 2-link reacher: links of 0.11 m, torques (90, 180) per unit action, dt = 0.02 s.

    Per joint, semi-implicit Euler: ``omega += dt * (torque * a - d_lin * omega - d_quad *
    |omega| * omega)``, clipped to +-30 rad/s, then ``q += dt * omega``; the elbow is limited to
    +-160 degrees (hitting the limit zeroes its speed), the shoulder is free and unwrapped.

    Observation (6): ``(q1, q2, target_x - tip_x, target_y - tip_y, omega1, omega2)`` raw.
    Reward: 1 while the fingertip is within the target radius (0.04 m easy, 0.025 m hard).
    No success signal.

    Args:
        num_envs: game copies.
        seed: random seed.
        variant: ``"easy"`` or ``"hard"``.

    Example:
        >>> game = Reacher(num_envs=3, seed=0, variant="hard")
        >>> game.reset().shape
        (3, 6)
        >>> _, reward, _ = game.step(np.zeros((3, 2)))
        >>> reward.shape
        (3,)
    """

    obs_dim = 6
    action_dim = 2

    def __init__(self, num_envs: int = 1, seed: int | None = None, variant: str = "easy"):
        if variant not in TARGET_RADII:
            raise ValueError(f"Unknown reacher variant {variant!r}; allowed: {tuple(TARGET_RADII)}")
        super().__init__(num_envs, seed)
        self.variant = variant
        self.target_radius = TARGET_RADII[variant]
        n = num_envs
        #: Columns: q1, q2, omega1, omega2, target x, target y, fingertip x, fingertip y.
        self.state = np.zeros((n, 8))
        self.steps = np.zeros(n, np.int64)
        # Fingertip history for the drawn trail: one ring shared by all envs, written at
        # ``cursor`` every step; an env's valid entries are its last min(steps + 1, TRAIL).
        self.trail = np.zeros((TRAIL, n, 2))
        self.cursor = 0
        self._canvas = None

    def _reset(self, mask: np.ndarray) -> None:
        k = int(mask.sum())
        if not k:
            return
        rng = self.rng
        q1 = rng.uniform(-math.pi, math.pi, k)
        q2 = rng.uniform(-Q2_LIMIT, Q2_LIMIT, k)
        angle = rng.uniform(0.0, 2 * math.pi, k)
        # The original caps the distance at reach - 0.015 m; with U[0.05, 0.20) it never binds.
        distance = np.minimum(rng.uniform(*TARGET_DISTANCE, k), REACH - (FINGER_RADIUS + 0.005))
        tip = np.stack(fingertip(q1, q2, np.cos, np.sin), axis=-1)
        zeros = np.zeros(k)
        self.state[mask] = np.stack(
            [q1, q2, zeros, zeros, distance * np.cos(angle), distance * np.sin(angle), tip[:, 0], tip[:, 1]],
            axis=-1,
        )
        self.steps[mask] = 0
        self.trail[self.cursor, mask] = tip

    def _step(self, action: np.ndarray):
        s = self.state
        q1, q2, w1, w2 = arm_step(s[:, 0], s[:, 1], s[:, 2], s[:, 3], action[:, 0], action[:, 1], np.minimum, np.maximum)
        fx, fy = fingertip(q1, q2, np.cos, np.sin)
        s[:, 0], s[:, 1], s[:, 2], s[:, 3], s[:, 6], s[:, 7] = q1, q2, w1, w2, fx, fy
        inside = (length(s[:, 4] - fx, s[:, 5] - fy) <= self.target_radius).astype(np.float32)
        self._advance_trail()
        return inside, np.zeros(self.num_envs, np.float32)

    def _step_one(self, action):
        q1, q2, w1, w2, tx, ty, _, _ = self.state[0].tolist()
        q1, q2, w1, w2 = arm_step(q1, q2, w1, w2, action[0], action[1], min, max)
        fx, fy = fingertip(q1, q2, math.cos, math.sin)
        self.state[0] = (q1, q2, w1, w2, tx, ty, fx, fy)
        self._advance_trail()
        return float(length_one(tx - fx, ty - fy) <= self.target_radius), 0.0

    def _advance_trail(self) -> None:
        self.steps += 1
        self.cursor = (self.cursor + 1) % TRAIL
        self.trail[self.cursor] = self.state[:, 6:8]

    def _observation(self) -> np.ndarray:
        s = self.state
        obs = np.empty((self.num_envs, 6), np.float32)
        obs[:, 0:2] = s[:, 0:2]
        obs[:, 2:4] = s[:, 4:6] - s[:, 6:8]
        obs[:, 4:6] = s[:, 2:4]
        return obs

    def _observation_one(self):
        q1, q2, w1, w2, tx, ty, fx, fy = self.state[0].tolist()
        return [q1, q2, tx - fx, ty - fy, w1, w2]

    # ------------------------------------------------------------------ rendering
    @staticmethod
    def _background() -> np.ndarray:
        """Diagonal teal -> purple -> pink gradient."""
        ramp = np.linspace(0.0, 1.0, 224, dtype=np.float32)
        t = (ramp[None, :] + ramp[:, None]) * 0.5
        first = np.clip(2 * t, 0, 1)[..., None]
        second = np.clip(2 * t - 1, 0, 1)[..., None]
        teal, purple, pink = (np.array(c, np.float32) for c in ((120, 160, 160), (115, 95, 165), (160, 90, 130)))
        rgb = (1 - first) * teal + first * purple
        rgb = (1 - second) * rgb + second * pink
        return np.clip(rgb, 0, 255).astype(np.uint8)

    def draw(self, index: int) -> np.ndarray:
        if self._canvas is None:
            self._canvas = Canvas(self.frame_size)
        canvas, pg = self._canvas, self._canvas.pygame
        surf = canvas.surface
        i = index
        canvas.background("reacher", self._background)
        panel = pg.Surface((184, 184), pg.SRCALPHA)
        pg.draw.rect(panel, (0, 0, 0, 30), panel.get_rect(), border_radius=14)
        surf.blit(panel, (20, 20))
        pg.draw.rect(surf, (60, 220, 255), (20, 20, 184, 184), width=2, border_radius=14)
        pg.draw.rect(surf, (255, 70, 200), (23, 23, 178, 178), width=1, border_radius=12)

        q1, _, _, _, tx, ty, fx, fy = self.state[i].tolist()
        target_px = to_pixels(tx, ty)
        radius_px = max(2, int(self.target_radius * PX_PER_M))
        pg.draw.circle(surf, (210, 70, 60), target_px, radius_px)
        pg.draw.circle(surf, (220, 80, 70), target_px, radius_px, width=3)

        base = to_pixels(0.0, 0.0)
        elbow = to_pixels(LINK * math.cos(q1), LINK * math.sin(q1))
        tip = to_pixels(fx, fy)
        pg.draw.line(surf, (180, 180, 180), base, elbow, 6)
        pg.draw.line(surf, (255, 140, 0), elbow, tip, 6)
        pg.draw.circle(surf, (160, 160, 160), base, 4)
        pg.draw.circle(surf, (255, 200, 120), elbow, 4)

        finger_px = max(2, int(FINGER_RADIUS * PX_PER_M))
        count = min(int(self.steps[i]) + 1, TRAIL)
        dot = pg.Surface((2 * finger_px + 1, 2 * finger_px + 1), pg.SRCALPHA)
        for j in range(count):  # oldest first, fading in
            x, y = to_pixels(*self.trail[(self.cursor - count + 1 + j) % TRAIL, i].tolist())
            dot.fill((0, 0, 0, 0))
            pg.draw.circle(dot, (220, 220, 220, 12 + 12 * j), (finger_px, finger_px), finger_px)
            surf.blit(dot, (x - finger_px, y - finger_px), special_flags=pg.BLEND_PREMULTIPLIED)
        pg.draw.circle(surf, (230, 230, 230), tip, finger_px)
        return canvas.to_array()
