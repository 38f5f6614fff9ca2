"""pygame-cartpole-*: the classic cart-pole (Barto/Gym equations, modified constants), batched.

Five tasks share one simulator (spec §13-16): ``balance`` and ``swingup`` starts, dense or sparse
reward, and a ``tremor`` variant whose random "mine tremors" add a constant angular acceleration
to the pole for a few steps. There are no cart walls and no termination.
"""
from __future__ import annotations

import math

import numpy as np

from newt.envs.miniarcade.core import Canvas, MiniArcadeGame

GRAVITY = 9.81
MASS_CART = 0.9
MASS_POLE = 0.11
TOTAL_MASS = MASS_CART + MASS_POLE
HALF_LENGTH = 0.6
POLEMASS_LENGTH = MASS_POLE * HALF_LENGTH
FORCE_MAG = 11.0
TAU = 0.025
X_THRESHOLD = 2.4
SPARSE_ANGLE = 0.15
INIT_NOISE = 0.065

# Rendering: metres -> pixels, cart and scenery geometry.
PX_PER_M = (184 - 28) / (2 * X_THRESHOLD)
CART_W, CART_H, CART_Y = 28, 14, 154
POLE_PX = int(round(2 * HALF_LENGTH * PX_PER_M))
CEILING_Y = 45
LANTERNS = ((50, 59), (154, 59))
FLOOR_COLOR = (100, 75, 45)
MAX_ROCKS = 7

# Tremor dust: each shake step spawns a particle with probability 0.3; particles live < 40
# steps and shakes are >= 50 steps apart, so only the latest shake's dust is ever visible.
DUST_Y0 = CEILING_Y + 5
DUST_MAX_LIFE = 40

#: MMBench task name -> constructor arguments.
VARIANTS = {
    "pygame-cartpole-balance": {"task": "balance", "sparse": False, "tremor": False},
    "pygame-cartpole-swingup": {"task": "swingup", "sparse": False, "tremor": False},
    "pygame-cartpole-balance-sparse": {"task": "balance", "sparse": True, "tremor": False},
    "pygame-cartpole-swingup-sparse": {"task": "swingup", "sparse": True, "tremor": False},
    "pygame-cartpole-tremor": {"task": "balance", "sparse": False, "tremor": True},
}
TASKS = ("balance", "swingup")


def euler_step(x, x_dot, theta, theta_dot, force, pole_accel, cos, sin):
    """One explicit Euler step of the cart-pole; every update uses the old state.

    Written with arithmetic operators only, so it runs on Python floats (one env, where numpy's
    per-call overhead would dominate) and on numpy arrays (a batch) alike. ``pole_accel`` is the
    tremor term added to the pole's angular acceleration before the cart's is computed.
    """
    c, s = cos(theta), sin(theta)
    temp = (force + POLEMASS_LENGTH * theta_dot * theta_dot * s) / TOTAL_MASS
    theta_acc = (GRAVITY * s - c * temp) / (HALF_LENGTH * (4.0 / 3.0 - MASS_POLE * c * c / TOTAL_MASS))
    theta_acc = theta_acc + pole_accel
    x_acc = temp - POLEMASS_LENGTH * theta_acc * c / TOTAL_MASS
    return x + TAU * x_dot, x_dot + TAU * x_acc, theta + TAU * theta_dot, theta_dot + TAU * theta_acc


def reward(x, theta, sparse: bool, wrap: bool, minimum):
    """Dense ``(1 - min(|theta|, pi/2) / (pi/2))`` or sparse ``|theta| < 0.15``, gated by ``|x| <= 2.4``.

    With ``wrap`` the angle is first wrapped into ``[-pi, pi)``; the original does not wrap, so a
    pole that turned over once earns nothing when upright again. Works on floats and arrays.
    """
    if wrap:
        theta = (theta + math.pi) % (2 * math.pi) - math.pi
    in_bounds = abs(x) <= X_THRESHOLD
    if sparse:
        return (abs(theta) < SPARSE_ANGLE) * in_bounds
    return (1.0 - minimum(abs(theta), math.pi / 2) / (math.pi / 2)) * in_bounds


class Cartpole(MiniArcadeGame):
    """Batched cart-pole with the MiniArcade constants (tau = 0.025 s, force 11 N, pole 1.2 m).

    Observation (4): ``(x, x_dot, theta, theta_dot)`` raw (metres, radians, unwrapped).
    Reward: dense ``(1 - min(|theta|, pi/2)/(pi/2)) * [|x| <= 2.4]`` or, with ``sparse``,
    ``[|theta| < 0.15 and |x| <= 2.4]``. No success signal.

    Args:
        num_envs: game copies.
        seed: random seed.
        task: ``"balance"`` (all state components ~ U[-0.065, 0.065)) or ``"swingup"`` (pole
            hanging down, theta = pi + U[-0.065, 0.065)).
        sparse: sparse reward.
        tremor: random tremors add 1.75-5 rad/s^2 to the pole's angular acceleration for 5-10
            steps, every 50-90 steps (first one after 40-80).
        compat: keep the original's unwrapped angle in the reward (see :func:`reward`);
            ``False`` wraps it. The observation is raw either way.

    Example:
        >>> game = Cartpole(num_envs=2, seed=0, **VARIANTS["pygame-cartpole-swingup"])
        >>> obs = game.reset()
        >>> obs.shape, bool(abs(obs[0, 2] - 3.14159) < 0.07)
        ((2, 4), True)
        >>> obs, reward, success = game.step(np.zeros((2, 1)))
        >>> bool(reward.max() < 0.1)
        True
    """

    obs_dim = 4
    action_dim = 1

    def __init__(
        self,
        num_envs: int = 1,
        seed: int | None = None,
        task: str = "balance",
        sparse: bool = False,
        tremor: bool = False,
        compat: bool = True,
    ):
        if task not in TASKS:
            raise ValueError(f"Unknown cartpole task {task!r}; allowed: {TASKS}")
        super().__init__(num_envs, seed)
        self.task, self.sparse, self.tremor, self.compat = task, bool(sparse), bool(tremor), bool(compat)
        n = num_envs
        self.state = np.zeros((n, 4))
        self.steps = np.zeros(n, np.int64)
        # Tremor schedule as piecewise-constant events: the pole acceleration of the next step
        # (the shake force during a shake, else 0), the step index at which it next changes, and
        # the step range [start, end) of the latest shake (its dust is drawn from it).
        self.tremor_accel = np.zeros(n)
        self.tremor_change = np.zeros(n, np.int64)
        self.shake_start = np.full(n, -1000, np.int64)
        self.shake_end = np.full(n, -1000, np.int64)
        # Scenery drawn at reset: jagged ceiling, floor rocks, lantern flicker phases.
        self.ceiling = np.zeros((n, 12), np.int64)
        self.rock_count = np.zeros(n, np.int64)
        self.rocks = np.zeros((n, MAX_ROCKS, 6), np.int64)  # cx, cy, base, shade, is_ellipse, rx
        self.rock_ry = np.zeros((n, MAX_ROCKS), np.int64)
        self.lantern_phase = np.zeros((n, 2))
        # Render-time noise (lantern flicker, camera shake, tremor dust) comes from a generator keyed by (this per-episode key from
        # ``render_rng``, step), so a frame is a function of the state and drawing never changes the game.
        self.render_key = np.zeros(n, np.int64)
        self._canvas = None

    # ------------------------------------------------------------------ reset / step
    def _reset(self, mask: np.ndarray) -> None:
        k = int(mask.sum())
        if not k:
            return
        rng = self.rng
        state = rng.uniform(-INIT_NOISE, INIT_NOISE, (k, 4))
        if self.task == "swingup":
            state[:, 2] += math.pi
        self.state[mask] = state
        self.steps[mask] = 0
        self.ceiling[mask] = CEILING_Y + rng.integers(0, 12, (k, 12))
        self.rock_count[mask] = rng.integers(5, 8, k)
        base = rng.integers(4, 8, (k, MAX_ROCKS))
        rocks = np.stack(
            [
                rng.integers(10, 214, (k, MAX_ROCKS)),
                224 - rng.integers(26, 34, (k, MAX_ROCKS)),
                base,
                rng.integers(70, 110, (k, MAX_ROCKS)),
                rng.integers(0, 2, (k, MAX_ROCKS)),
                np.trunc(base * rng.uniform(1.2, 1.6, (k, MAX_ROCKS))),
            ],
            axis=-1,
        )
        self.rocks[mask] = rocks
        self.rock_ry[mask] = np.trunc(base * rng.uniform(0.8, 1.2, (k, MAX_ROCKS)))
        self.lantern_phase[mask] = rng.uniform(0, 2 * math.pi, (k, 2))
        self.render_key[mask] = self.render_rng.integers(0, 2**62, k)
        if self.tremor:
            self.tremor_accel[mask] = 0.0
            self.tremor_change[mask] = rng.integers(40, 81, k)  # the first shake's first step
            self.shake_start[mask] = -1000
            self.shake_end[mask] = -1000

    def _advance_tremors(self) -> None:
        """Start or end shakes where the schedule changes at the step index ``self.steps``.

        The original counts down I{40..80} steps to the first shake (I{50..90} between the end of
        one and the start of the next); a shake lasts I{5..10} steps and adds
        ``U[0.35, 1) * 5 * (+-1)`` rad/s^2 to the pole's angular acceleration. Equivalently, the
        acceleration is constant between change points, which is all a step needs to read.
        """
        change = self.steps >= self.tremor_change
        if not np.count_nonzero(change):
            return
        env = change.nonzero()[0]
        ending = self.tremor_accel[env] != 0.0
        end, start = env[ending], env[~ending]
        if end.size:
            self.tremor_accel[end] = 0.0
            self.tremor_change[end] = self.steps[end] + self.rng.integers(50, 91, end.size)
        if start.size:
            k = start.size
            duration = self.rng.integers(5, 11, k)
            self.tremor_accel[start] = self.rng.uniform(0.35, 1.0, k) * 5.0 * self.rng.choice((-1.0, 1.0), k)
            self.tremor_change[start] = self.steps[start] + duration
            self.shake_start[start] = self.steps[start]
            self.shake_end[start] = self.steps[start] + duration

    def _step(self, action: np.ndarray):
        s = self.state
        new = euler_step(
            s[:, 0], s[:, 1], s[:, 2], s[:, 3], action[:, 0] * FORCE_MAG, self.tremor_accel, np.cos, np.sin
        )
        s[:, 0], s[:, 1], s[:, 2], s[:, 3] = new
        self.steps += 1
        if self.tremor:
            self._advance_tremors()
        return reward(new[0], new[2], self.sparse, not self.compat, np.minimum), np.zeros(self.num_envs, np.float32)

    def _step_one(self, action):
        x, x_dot, theta, theta_dot = euler_step(
            *self.state[0].tolist(), action[0] * FORCE_MAG, self.tremor_accel.item(), math.cos, math.sin
        )
        self.state[0] = (x, x_dot, theta, theta_dot)
        self.steps[0] += 1
        if self.tremor and self.steps.item() >= self.tremor_change.item():
            self._advance_tremors()
        return float(reward(x, theta, self.sparse, not self.compat, min)), 0.0

    def _observation(self) -> np.ndarray:
        return self.state.astype(np.float32)

    def _observation_one(self):
        return self.state[0].tolist()

    # ------------------------------------------------------------------ rendering
    def _draw_dust(self, pg, surf, i: int) -> None:
        """Dust of the latest shake: each shake step t spawned a particle with probability 0.3
        (x ~ I{20..203}, fall speed U[1.5, 4), life I{18..39}, radius I{2..3}); it falls from
        y = 50 and disappears when its life runs out or it reaches y = 214. The draws come from a
        generator keyed by (episode key, t), so the dust is a function of the state."""
        steps = int(self.steps[i])
        first = max(int(self.shake_start[i]), steps - DUST_MAX_LIFE)
        for t in range(first, min(int(self.shake_end[i]), steps)):
            draw = np.random.default_rng((int(self.render_key[i]), t, 1))
            if draw.random() >= 0.3:
                continue
            x, life, radius = draw.integers((20, 18, 2), (204, 40, 4))
            age = steps - t
            y = DUST_Y0 + draw.uniform(1.5, 4.0) * age
            if age < life and y < 214:
                # The original draws the RGBA dust onto an alpha surface, which stores the colour
                # without blending, so the dust ends up opaque in the frame.
                pg.draw.circle(surf, (150, 120, 90), (int(x), int(y)), int(radius))

    @staticmethod
    def _background() -> np.ndarray:
        t = np.arange(224) / 224.0
        rows = np.stack([np.trunc(120 - 30 * t), np.trunc(90 - 30 * t), np.trunc(50 - 15 * t)], axis=-1)
        return np.broadcast_to(rows[:, None, :], (224, 224, 3)).astype(np.uint8)

    def draw(self, index: int) -> np.ndarray:
        if self._canvas is None:
            self._canvas = Canvas(self.frame_size)
        canvas, pg = self._canvas, self._canvas.pygame
        surf = canvas.surface
        i = index
        steps = int(self.steps[i])
        noise = np.random.default_rng((int(self.render_key[i]), steps, 0))
        canvas.background("cartpole", self._background)

        glow = pg.Surface((110, 110), pg.SRCALPHA)
        for (lx, ly), phase in zip(LANTERNS, self.lantern_phase[i].tolist()):
            pg.draw.rect(surf, (230, 190, 90), (lx, ly, 12, 16))
            pg.draw.rect(surf, (120, 100, 60), (lx, ly, 12, 16), 2)
            pg.draw.rect(surf, (160, 160, 160), (lx + 4, ly - 14, 4, 14))
            flicker = 0.9 + 0.35 * math.sin(2 * math.pi * steps / 60.0 + phase) + noise.normal(0.0, 0.08)
            peak = int(90 * min(1.3, max(0.4, flicker)))
            glow.fill((0, 0, 0, 0))
            for radius in range(55, 0, -3):
                alpha = int(peak * (1.0 - radius / 55) ** 2)
                if alpha > 0:
                    pg.draw.circle(glow, (255, 210, 120, alpha), (55, 55), radius)
            surf.blit(glow, (lx + 6 - 55, ly + 8 - 55))

        edge = [(0, CEILING_Y)]
        edge += [(int(j * 224 / 11), int(y)) for j, y in enumerate(self.ceiling[i].tolist())]
        edge.append((224, CEILING_Y))
        pg.draw.polygon(surf, (85, 65, 45), [(0, 0), (224, 0), (224, CEILING_Y), *edge[::-1]])
        pg.draw.polygon(surf, (85, 65, 45), edge)

        pg.draw.rect(surf, FLOOR_COLOR, (0, 192, 224, 32))
        for (cx, cy, base, shade, is_ellipse, rx), ry in zip(
            self.rocks[i, : self.rock_count[i]].tolist(), self.rock_ry[i].tolist()
        ):
            color = (shade, max(0, shade - 25), max(0, shade - 35))
            if is_ellipse:
                pg.draw.ellipse(surf, color, (cx - rx, cy - ry, 2 * rx, 2 * ry))
            else:
                pg.draw.circle(surf, color, (cx, cy), base)

        rail_y = CART_Y + CART_H // 2
        pg.draw.line(surf, (125, 120, 120), (0, rail_y), (224, rail_y), 6)
        x, _, theta, _ = self.state[i].tolist()
        px = int(round(112 + x * PX_PER_M))
        cart = (px - CART_W // 2, CART_Y - CART_H // 2, CART_W, CART_H)
        pg.draw.rect(surf, (180, 110, 60), cart)
        pg.draw.rect(surf, (190, 185, 185), cart, 2)
        # Wheel offsets as the original computes them: -28 // 3 = -10 and 28 // 3 = 9.
        for offset in (-CART_W // 3, CART_W // 3):
            pg.draw.circle(surf, (200, 195, 195), (px + offset, rail_y), 5)
        top = CART_Y - CART_H // 2
        tip = (px + int(round(POLE_PX * math.sin(theta))), top - int(round(POLE_PX * math.cos(theta))))
        pg.draw.line(surf, (200, 140, 80), (px, top), tip, 4)

        if self.tremor:
            self._draw_dust(pg, surf, i)
            accel = float(self.tremor_accel[i])
            if accel != 0.0:  # a shake is under way (or starts with the next step)
                # Camera shake: the frame moves by (-dx, -dy); exposed borders show the floor colour.
                m = min(5, int(abs(accel) / FORCE_MAG * 5))
                dx, dy = (int(v) for v in noise.integers(-m, m + 1, 2))
                shaken = pg.Surface((224, 224))
                shaken.fill(FLOOR_COLOR)
                shaken.blit(surf, (-dx, -dy))
                surf.blit(shaken, (0, 0))
        return canvas.to_array()
