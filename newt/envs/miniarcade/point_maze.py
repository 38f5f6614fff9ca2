"""pygame-point-maze-var1..var4: a velocity-controlled point in a 5 x 5 block maze, batched.

The agent (a disc of radius 6) moves by direct velocity commands to a random goal; one free
cell is a "wind" cell that pushes it 2 px/step in a fixed direction (spec §17).
"""
from __future__ import annotations

import math

import numpy as np

from newt.envs.miniarcade.core import Canvas, MiniArcadeGame, clamp, clip, length, length_one

AREA, AREA_SIZE = 20, 184
CELL = AREA_SIZE / 5
#: Integer left/top edge of each grid column/row (cells are 37 px wide, some overlap by 1 px).
EDGES = tuple(int(round(AREA + CELL * j)) for j in range(5))
CELL_PX = int(round(CELL))
RADIUS = 6  # agent and goal
SPEED = 5.0
WIND = 2.0
LOW, HIGH = AREA + RADIUS + 1, AREA + AREA_SIZE - RADIUS - 1  # agent position bounds
SPAWN_LOW, SPAWN_HIGH = AREA + RADIUS + 2, AREA + AREA_SIZE - RADIUS - 2
GOAL_DISTANCE = (0.2 * AREA_SIZE, 0.7 * AREA_SIZE)
GOAL_REACHED = 2 * RADIUS
SPAWN_TRIES = 4000
TRAIL = 24
#: Wind direction index -> unit push (screen axes): up, right, down, left.
WIND_DIRECTIONS = np.array([[0.0, -1.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])

#: 5 x 5 grid templates, rows top to bottom (1 = wall). Index k is used by pygame-point-maze-var<k>;
#: template 0 belongs to no registered task.
TEMPLATES = (
    ("01101", "00100", "10001", "11000", "10010"),
    ("10110", "00100", "10001", "00100", "01101"),
    ("01100", "00001", "01100", "00110", "10000"),
    ("01110", "00100", "00100", "10001", "11111"),
    ("11011", "10001", "00000", "10001", "11011"),
)

#: MMBench task name -> constructor arguments.
VARIANTS = {f"pygame-point-maze-var{k}": {"variant": k} for k in (1, 2, 3, 4)}


def _cell_masks() -> np.ndarray:
    """``[25, 224, 224]`` bool: pixel ``(y, x)`` lies in cell ``5 * row + col`` (half-open rect)."""
    masks = np.zeros((25, 224, 224), bool)
    for row in range(5):
        for col in range(5):
            masks[5 * row + col, EDGES[row] : EDGES[row] + CELL_PX, EDGES[col] : EDGES[col] + CELL_PX] = True
    return masks


CELL_MASKS = _cell_masks()


class PointMaze(MiniArcadeGame):
    """Batched point maze on a fixed grid template.

    Each step: ``v = 5 a`` (+2 px/step along the wind if the truncated position is in the wind
    cell); move x then y, each accepted only if the truncated candidate (clamped to [27, 197])
    is outside every wall cell grown by 6 px. Reward ``1 - clip(|agent - goal| / 184, 0, 1)``;
    success ``|agent - goal| <= 12`` every step (not latched).

    Observation (44): agent x, y /224; goal x, y /224; v /5 (with wind); the 25 grid cells
    row-major (1 wall, 0 free, -1 wind cell); one-hot wind direction (up, right, down, left);
    (goal - agent) /184 and its norm; in-goal flag; in-wind flag; wind here /5; agent cell
    row /4 and column /4.

    Args:
        num_envs: game copies.
        seed: random seed.
        variant: grid template index (0-4); ``pygame-point-maze-var<k>`` uses template ``k``.

    Example:
        >>> game = PointMaze(num_envs=2, seed=0, variant=3)
        >>> obs = game.reset()
        >>> obs.shape, obs[0, 6:11].tolist()
        ((2, 44), [0.0, 1.0, 1.0, 1.0, 0.0])
    """

    obs_dim = 44
    action_dim = 2

    def __init__(self, num_envs: int = 1, seed: int | None = None, variant: int = 1):
        if variant not in range(len(TEMPLATES)):
            raise ValueError(f"Unknown point-maze variant {variant!r}; allowed: {tuple(range(len(TEMPLATES)))}")
        super().__init__(num_envs, seed)
        self.variant = variant
        self.grid = np.array([[int(c) for c in row] for row in TEMPLATES[variant]], np.float32)
        self.walls = np.flatnonzero(self.grid.ravel() == 1)
        self.free_cells = np.flatnonzero(self.grid.ravel() == 0)
        # blocked[y, x]: the integer point is inside some wall cell grown by the agent radius.
        self.blocked = np.zeros((224, 224), bool)
        for cell in self.walls:
            x0, y0 = EDGES[cell % 5], EDGES[cell // 5]
            self.blocked[y0 - RADIUS : y0 + CELL_PX + RADIUS, x0 - RADIUS : x0 + CELL_PX + RADIUS] = True
        n = num_envs
        self.agent = np.zeros((n, 2))
        self.goal = np.zeros((n, 2))
        self.velocity = np.zeros((n, 2))
        self.wind_cell = np.zeros(n, np.int64)
        self.wind_dir = np.zeros(n, np.int64)
        self.wind_push = np.zeros((n, 2))  # px/step added inside the wind cell
        self.steps = np.zeros(n, np.int64)
        self.glow_phase = np.zeros(n)
        # Render-time noise (goal glow flicker) comes from a generator keyed by (this per-episode key from
        # ``render_rng``, step), so a frame is a function of the state and drawing never changes the game.
        self.render_key = np.zeros(n, np.int64)
        # The grid (with the wind cell) and wind one-hot part of the observation, fixed per episode.
        self.layout_obs = np.zeros((n, 29), np.float32)
        # Agent positions for the drawn trail: one ring shared by all envs, written at ``cursor``;
        # an env's valid entries are its last min(steps + 1, TRAIL).
        self.trail = np.zeros((TRAIL, n, 2))
        self.cursor = 0
        self._canvas = None

    # ------------------------------------------------------------------ reset / step
    def _sample_free(self, k: int, anchor: np.ndarray | None = None, batch: int = 64) -> np.ndarray:
        """Rejection-sample ``k`` unblocked points in [28, 196)^2 (within the goal distance band of
        ``anchor`` when given), at most 4000 tries each, else the arena centre."""
        out = np.full((k, 2), AREA + AREA_SIZE / 2)
        pending = np.arange(k)
        tries = 0
        while pending.size and tries < SPAWN_TRIES:
            size = min(batch, SPAWN_TRIES - tries)
            cand = self.rng.uniform(SPAWN_LOW, SPAWN_HIGH, (pending.size, size, 2))
            ok = ~self.blocked[cand[..., 1].astype(np.int64), cand[..., 0].astype(np.int64)]
            if anchor is not None:
                d = np.linalg.norm(cand - anchor[pending, None], axis=-1)
                ok &= (d >= GOAL_DISTANCE[0]) & (d <= GOAL_DISTANCE[1])
            found = ok.any(axis=1)
            first = ok.argmax(axis=1)
            out[pending[found]] = cand[found, first[found]]
            pending = pending[~found]
            tries += size
        return out

    def _reset(self, mask: np.ndarray) -> None:
        k = int(mask.sum())
        if not k:
            return
        rng = self.rng
        wind_cell = self.free_cells[rng.integers(0, self.free_cells.size, k)]
        wind_dir = rng.integers(0, 4, k)
        agent = self._sample_free(k)
        goal = self._sample_free(k, anchor=agent)
        self.wind_cell[mask], self.wind_dir[mask] = wind_cell, wind_dir
        self.wind_push[mask] = WIND * WIND_DIRECTIONS[wind_dir]
        self.agent[mask], self.goal[mask] = agent, goal
        self.velocity[mask] = 0.0
        self.glow_phase[mask] = rng.uniform(0.0, 2 * math.pi, k)
        self.render_key[mask] = self.render_rng.integers(0, 2**62, k)
        self.steps[mask] = 0
        layout = np.zeros((k, 29), np.float32)
        layout[:, :25] = self.grid.ravel()
        rows = np.arange(k)
        layout[rows, wind_cell] = -1.0
        layout[rows, 25 + wind_dir] = 1.0
        self.layout_obs[mask] = layout
        self.trail[self.cursor, mask] = agent

    def _in_wind(self) -> np.ndarray:
        """Whether each agent's truncated position lies in its wind cell (not grown)."""
        px = self.agent.astype(np.int64)
        return CELL_MASKS[self.wind_cell, px[:, 1], px[:, 0]]

    def _step(self, action: np.ndarray):
        velocity = (SPEED * action).astype(np.float64)
        velocity += self.wind_push * self._in_wind()[:, None]
        self.velocity = velocity
        agent = self.agent
        # Axis-separated moves: the whole x move or nothing, then the whole y move or nothing.
        x = clip(agent[:, 0] + velocity[:, 0], LOW, HIGH)
        y_px = agent[:, 1].astype(np.int64)
        agent[:, 0] = np.where(self.blocked[y_px, x.astype(np.int64)], agent[:, 0], x)
        y = clip(agent[:, 1] + velocity[:, 1], LOW, HIGH)
        agent[:, 1] = np.where(self.blocked[y.astype(np.int64), agent[:, 0].astype(np.int64)], agent[:, 1], y)
        self.steps += 1
        self.cursor = (self.cursor + 1) % TRAIL
        self.trail[self.cursor] = agent
        distance = self._goal_distance()
        reward = 1.0 - np.minimum(distance / AREA_SIZE, 1.0)
        return reward, distance <= GOAL_REACHED

    def _goal_distance(self) -> np.ndarray:
        delta = self.goal - self.agent
        return length(delta[:, 0], delta[:, 1])

    def _step_one(self, action):
        ax, ay = self.agent[0].tolist()
        vx, vy = SPEED * action[0], SPEED * action[1]
        if CELL_MASKS[self.wind_cell.item(), int(ay), int(ax)]:
            wx, wy = self.wind_push[0].tolist()
            vx, vy = vx + wx, vy + wy
        self.velocity[0] = (vx, vy)
        x = clamp(ax + vx, LOW, HIGH)
        if not self.blocked[int(ay), int(x)]:
            ax = x
        y = clamp(ay + vy, LOW, HIGH)
        if not self.blocked[int(y), int(ax)]:
            ay = y
        self.agent[0] = (ax, ay)
        self.steps[0] += 1
        self.cursor = (self.cursor + 1) % TRAIL
        self.trail[self.cursor, 0] = (ax, ay)
        gx, gy = self.goal[0].tolist()
        distance = length_one(gx - ax, gy - ay)
        return 1.0 - min(distance / AREA_SIZE, 1.0), float(distance <= GOAL_REACHED)

    def _observation(self) -> np.ndarray:
        agent, goal = self.agent, self.goal
        obs = np.empty((self.num_envs, 44), np.float32)
        obs[:, 0:2] = agent / 224.0
        obs[:, 2:4] = goal / 224.0
        obs[:, 4:6] = self.velocity / SPEED
        obs[:, 6:35] = self.layout_obs
        delta = goal - agent
        distance = self._goal_distance()
        obs[:, 35:37] = delta / AREA_SIZE
        obs[:, 37] = distance / AREA_SIZE
        obs[:, 38] = distance <= GOAL_REACHED
        in_wind = self._in_wind()
        obs[:, 39] = in_wind
        obs[:, 40:42] = self.wind_push * (in_wind / SPEED)[:, None]
        cell = np.clip(np.floor(5 * ((agent - AREA) / AREA_SIZE)), 0, 4) / 4.0
        obs[:, 42] = cell[:, 1]
        obs[:, 43] = cell[:, 0]
        return obs

    def _observation_one(self):
        (ax, ay), (gx, gy) = self.agent[0].tolist(), self.goal[0].tolist()
        vx, vy = self.velocity[0].tolist()
        dx, dy = gx - ax, gy - ay
        distance = length_one(dx, dy)
        in_wind = bool(CELL_MASKS[self.wind_cell.item(), int(ay), int(ax)])
        wx, wy = self.wind_push[0].tolist()
        scale = in_wind / SPEED
        return [
            ax / 224.0, ay / 224.0, gx / 224.0, gy / 224.0, vx / SPEED, vy / SPEED,
            *self.layout_obs[0].tolist(),
            dx / AREA_SIZE, dy / AREA_SIZE, distance / AREA_SIZE, float(distance <= GOAL_REACHED),
            float(in_wind), wx * scale, wy * scale,
            clamp(math.floor(5 * ((ay - AREA) / AREA_SIZE)), 0, 4) / 4.0,
            clamp(math.floor(5 * ((ax - AREA) / AREA_SIZE)), 0, 4) / 4.0,
        ]

    # ------------------------------------------------------------------ rendering
    @staticmethod
    def _background() -> np.ndarray:
        image = np.empty((224, 224, 3), np.uint8)
        image[:] = (6, 8, 10)
        t = np.arange(AREA_SIZE) / (AREA_SIZE - 1)
        rows = np.stack([20 + 10 * (1 - t), 28 + 8 * (1 - t), 36 + 6 * (1 - t)], axis=-1).astype(np.uint8)
        image[AREA : AREA + AREA_SIZE, AREA : AREA + AREA_SIZE] = rows[:, None, :]
        return image

    def _draw_wind(self, pg, surf, i: int) -> None:
        cell, direction = int(self.wind_cell[i]), int(self.wind_dir[i])
        topleft = (EDGES[cell % 5], EDGES[cell // 5])
        layer = pg.Surface((CELL_PX, CELL_PX), pg.SRCALPHA)
        layer.fill((90, 150, 210, 55))
        surf.blit(layer, topleft)
        layer.fill((0, 0, 0, 0))
        gap, half_w, half_l, margin = 16, 4, 10, 12
        shift = (int(self.steps[i]) * 1.2) % gap
        centre = CELL_PX / 2

        def lattice(base: float) -> list[float]:
            """Arrow centres ``base + k * gap`` that keep ``margin`` px inside the cell."""
            lo, hi = math.ceil((margin - base) / gap), math.floor((CELL_PX - margin - base) / gap)
            return [base + k * gap for k in range(lo, hi + 1)]

        forward = 1 if direction in (1, 2) else -1
        along = lattice(centre + forward * shift)
        across = lattice(centre)
        for a in along:
            for b in across:
                back = forward * half_w
                if direction in (1, 3):  # horizontal flow: triangles pointing +-x
                    x, y = a, b
                    pts = [(x - back, y - half_l), (x - back, y + half_l), (x + back, y)]
                else:
                    x, y = b, a
                    pts = [(x - half_l, y - back), (x + half_l, y - back), (x, y + back)]
                pg.draw.polygon(layer, (120, 230, 255, 150), [(int(px), int(py)) for px, py in pts])
        surf.blit(layer, topleft)

    def _draw_goal(self, pg, surf, i: int) -> None:
        steps = int(self.steps[i])
        noise = np.random.default_rng((int(self.render_key[i]), steps)).normal(0.0, 0.02)
        flicker = 1.0 + 0.08 * math.sin(2 * math.pi * steps / 40.0 + float(self.glow_phase[i])) + noise
        flicker = max(0.85, min(1.15, flicker))
        max_r = int(round((RADIUS + 32) * flicker))
        peak = int(95 * flicker)
        inner, outer = (90, 235, 150), (60, 190, 120)
        glow = pg.Surface((2 * max_r, 2 * max_r), pg.SRCALPHA)
        for r in range(max_r, 0, -2):
            t = r / max_r
            alpha = int(peak * (1.0 - t) ** 2.2)
            if alpha > 0:
                color = tuple(int(ci * (1 - t) + co * t) for ci, co in zip(inner, outer))
                pg.draw.circle(glow, (*color, alpha), (max_r, max_r), r)
        gx, gy = (int(v) for v in self.goal[i])
        surf.blit(glow, (gx - max_r, gy - max_r))
        pg.draw.circle(surf, (80, 220, 120), (gx, gy), RADIUS)

    def draw(self, index: int) -> np.ndarray:
        if self._canvas is None:
            self._canvas = Canvas(self.frame_size)
        canvas, pg = self._canvas, self._canvas.pygame
        surf = canvas.surface
        i = index
        canvas.background("point_maze", self._background)
        pg.draw.rect(surf, (180, 180, 190), (AREA, AREA, AREA_SIZE, AREA_SIZE), 2)
        self._draw_wind(pg, surf, i)
        self._draw_goal(pg, surf, i)

        layer = canvas.translucent()
        count = min(int(self.steps[i]) + 1, TRAIL)
        for k in range(count):  # oldest first, growing and brightening
            x, y = (int(v) for v in self.trail[(self.cursor - count + 1 + k) % TRAIL, i])
            frac = k / max(1, count - 1)
            alpha = int(20 + 220 * frac)
            r = max(2, int(RADIUS * (0.6 + 0.4 * frac)))
            pg.draw.circle(layer, (255, 160, 60, alpha // 8), (x, y), r + 2)
            pg.draw.circle(layer, (255, 140, 0, alpha // 3), (x, y), r)
        surf.blit(layer, (0, 0))

        for cell in self.walls:
            rect = pg.Rect(EDGES[cell % 5], EDGES[cell // 5], CELL_PX, CELL_PX)
            pg.draw.rect(surf, (30, 30, 35), rect.move(1, 1), border_radius=4)
            pg.draw.rect(surf, (180, 180, 190), rect, border_radius=4)
            pg.draw.rect(surf, (120, 120, 130), rect, width=1, border_radius=4)

        ax, ay = (int(v) for v in self.agent[i])
        pg.draw.circle(surf, (255, 180, 80), (ax, ay), RADIUS)
        pg.draw.circle(surf, (255, 120, 0), (ax, ay), RADIUS, width=1)
        return canvas.to_array()
