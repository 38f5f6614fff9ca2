"""pygame-coconut-dodge: walk left and right along the ground and dodge falling coconuts, batched.

Each step in contact with a falling coconut costs -1; the number of coconuts grows from 1 to 5
over the 500-step episode (spec §12).
"""
from __future__ import annotations

import math

import numpy as np

from newt.envs.miniarcade.core import Canvas, MiniArcadeGame, clamp, clip, length, length_one

AREA, AREA_SIZE = 12, 200
GROUND = AREA + AREA_SIZE
HORIZON_Y = AREA + 92  # sky/sand border (visual)
AGENT_R, AGENT_Y = 9, AREA + AREA_SIZE - 12
AGENT_X0 = AREA + AREA_SIZE / 2
AGENT_LOW, AGENT_HIGH = AREA + AGENT_R, AREA + AREA_SIZE - AGENT_R
THRUST, DAMPING, MAX_SPEED = 0.85, 0.97, 5.0
SLOTS = 6  # maximum number of coconuts
HORIZON_STEPS = 500  # the difficulty ramps over one episode
CRACK_STEPS = 10
PUFF, PUFF_LIFE = 16, 16  # dust particles per landing, their life in steps
MAX_SPECKLES = 4
STAR_COUNT = 22
# Fields of a coconut slot row. The thresholds are stored so that one comparison tests every
# slot: WALL_HALF is the reach of x from the centre (inf on unused slots), LAND_Y the landing
# height (inf unless falling), HIT_DISTANCE the hit radius (0 unless falling), CRACK_TIMER the
# steps left on the ground (inf unless cracked).
X, Y, VX, VY, MOVING, RADIUS, WALL_HALF, LAND_Y, HIT_DISTANCE = range(9)
CRACK_TIMER, SPLIT_DIR, DARK, STRIPE, SPECKLE_COUNT, SPECKLES = range(9, 15)
SLOT_FIELDS = SPECKLES + 3 * MAX_SPECKLES  # speckles: (dx, dy, size) each
EMPTY_SLOT = np.zeros(SLOT_FIELDS)
EMPTY_SLOT[[X, Y]] = AREA
EMPTY_SLOT[[WALL_HALF, LAND_Y, CRACK_TIMER]] = np.inf
CENTER_X = AREA + AREA_SIZE / 2
#: Step at which the ``count + 1``-th coconut joins (never once all 6 are in play).
NEXT_COCONUT = np.array([0, 100, 200, 300, 400, 500, np.iinfo(np.int64).max])
# Coconut observation: ((x - 12)/200, (y - 12)/200, v_x/5, v_y/5).
OBS_SHIFT = np.array([AREA, AREA, 0.0, 0.0])
POSITION_SCALE, VELOCITY_SCALE = 1 / AREA_SIZE, 1 / MAX_SPEED
OBS_SCALE = np.array([POSITION_SCALE, POSITION_SCALE, VELOCITY_SCALE, VELOCITY_SCALE])
NO_FALLING_COCONUT = np.array([0.0, -1.0])
FOOT_Y = AGENT_Y - 6 - 9 + 18 + 2  # footprints sit just below the body ellipse

#: MMBench task name -> constructor arguments.
VARIANTS = {"pygame-coconut-dodge": {}}


def _disc_points(radius: int) -> np.ndarray:
    """Integer offsets inside the disc of ``radius`` (the speckle rejection sampler's support)."""
    d = np.arange(-radius, radius + 1)
    dx, dy = np.meshgrid(d, d, indexing="ij")
    inside = dx**2 + dy**2 <= radius**2
    return np.stack([dx[inside], dy[inside]], axis=-1)


# Speckle offsets for coconut radius r (6, 7, 8) are uniform over the lattice points of the disc
# of radius r - 2, exactly what rejection sampling of integer offsets yields.
_SPECKLE_SUPPORT = [_disc_points(r - 2) for r in (6, 7, 8)]
SPECKLE_COUNTS = np.array([len(p) for p in _SPECKLE_SUPPORT])
SPECKLE_POINTS = np.zeros((3, SPECKLE_COUNTS.max(), 2), np.int64)
for _k, _p in enumerate(_SPECKLE_SUPPORT):
    SPECKLE_POINTS[_k, : len(_p)] = _p
SPECKLE_POINT_LISTS, SPECKLE_COUNT_LIST = [p.tolist() for p in _SPECKLE_SUPPORT], SPECKLE_COUNTS.tolist()


def difficulty(steps: np.ndarray) -> np.ndarray:
    """``clip(steps / 500, 0, 1)``: scales coconut speeds; the count is ``1 + trunc(5 d)``."""
    return np.clip(steps / HORIZON_STEPS, 0.0, 1.0)


class CoconutDodge(MiniArcadeGame):
    """Batched Coconut Dodge.

    The traveller (collision radius 9 at y = 200) has 1-D thrust: ``v = clip(0.97 (v + 0.85 a),
    -5, 5)``, ``x = clip(x + v, 21, 203)``. Coconuts (radius 6-8) fall from the top edge,
    bounce off the side walls, crack on the ground (harmless for 10 steps) and respawn.
    Reward -1 on any step where a falling coconut overlaps the traveller, else 0. No success.

    Observation (29): ``(x - 12)/200``, ``v/5``; offset to the nearest falling coconut
    ``((c_x - x)/200, (c_y - 200)/200)`` or ``(0, -1)``; collision flag (5 steps from a hit);
    then all coconuts (falling and cracked) nearest first, each ``((c_x - 12)/200,
    (c_y - 12)/200, v_x/5, v_y/5)``, zero-padded to 6.

    Args:
        num_envs: game copies.
        seed: random seed.

    Example:
        >>> game = CoconutDodge(num_envs=2, seed=0)
        >>> obs = game.reset()
        >>> obs.shape, obs[:, 0].tolist()
        ((2, 29), [0.5, 0.5])
    """

    obs_dim = 29
    action_dim = 1

    def __init__(self, num_envs: int = 1, seed: int | None = None):
        super().__init__(num_envs, seed)
        n, k = num_envs, SLOTS
        #: The traveller's collision centre (x, 200); ``agent_x`` is a view of its x column.
        self.agent_xy = np.tile([AGENT_X0, float(AGENT_Y)], (n, 1))
        self.agent_x = self.agent_xy[:, 0]
        self.agent_v = np.zeros(n)
        self.steps = np.zeros(n, np.int64)
        self.collision_timer = np.zeros(n, np.int64)
        self.count = np.zeros(n, np.int64)  # coconuts in play: slots [0, count)
        self.next_coconut = np.zeros(n, np.int64)  # step at which the next one joins
        self.active = np.zeros((n, k), bool)  # slot < count
        self.falling = np.zeros((n, k), bool)  # false on unused slots
        #: Everything about each coconut slot, one row of ``SLOT_FIELDS`` (so a spawn is one write).
        #: Unused slots hold ``EMPTY_SLOT``: position (12, 12) and speed 0, which observe as zeros.
        self.slots = np.zeros((n, k, SLOT_FIELDS))
        self.slots[:] = EMPTY_SLOT
        self.coconuts = self.slots[..., X : VY + 1]  # x, y, v_x, v_y
        self.motion = self.slots[..., MOVING : MOVING + 1]  # 1 while falling, else 0
        self.wall_half = self.slots[..., WALL_HALF]
        self.land_y = self.slots[..., LAND_Y]
        self.hit_distance = self.slots[..., HIT_DISTANCE]
        self.crack_timer = self.slots[..., CRACK_TIMER]
        self.split_dir = self.slots[..., SPLIT_DIR]
        self.distance = np.full((n, k), np.inf)  # to the traveller; inf on unused slots
        # Dust puff of each slot's last landing: the step it was born and its particles'
        # start x, y, velocity x, y and radius (positions follow from the age).
        self.puff_born = np.full((n, k), -1000, np.int64)
        self.puff = np.zeros((n, k, PUFF, 5))
        # Walk animation and footprints (two drops of two prints alive at most).
        self.walk_phase = np.zeros(n)
        self.foot_ready = np.zeros(n, np.int64)  # first step at which a walking traveller leaves prints
        self.foot_x = np.zeros((n, 2))
        self.foot_born = np.full((n, 2), -1000, np.int64)
        # Scenery drawn at reset: stars (x, y, r), palm scales, dune amplitude and phase.
        self.stars = np.zeros((n, STAR_COUNT, 3), np.int64)
        self.palm_scale = np.zeros((n, 2))
        self.dunes = np.zeros((n, 2, 2))
        # Render-time noise (hit shake) comes from a generator keyed by (this per-episode key from
        # ``render_rng``, step), so a frame is a function of the state and drawing never changes the game.
        self.render_key = np.zeros(n, np.int64)
        self._rows = np.arange(n)
        # Views used every step (made once: numpy's per-call overhead dominates small batches).
        self._position, self._velocity = self.coconuts[..., :2], self.coconuts[..., 2:]
        self._cx, self._cy = self.coconuts[..., 0], self.coconuts[..., 1]
        self._agent_column = self.agent_xy[:, 0:1]
        self._row_column = self._rows[:, None]
        self._canvas = None

    # ------------------------------------------------------------------ spawning
    def _spawn(self, env: np.ndarray, slot: np.ndarray) -> None:
        """Spawn fresh coconuts at the top edge in the given (env, slot) pairs.

        All draws come from one uniform block (integers by flooring), which keeps the original
        distributions: radius 7 + I{-1..1}, light/dark shell, stripe, 2-4 speckles uniform over
        the lattice points of the disc of radius r - 2 with sizes I{1..2}, x ~ U[12 + r, 212 - r),
        v_x ~ U[-0.5, 0.5) (1 + 0.6 d), v_y ~ U[1.4, 2.6) (1 + 0.8 d) at the current difficulty d.
        """
        m = env.size
        u = self.rng.random((m, 15))
        d = difficulty(self.steps[env])
        size = (3 * u[:, 0]).astype(np.int64)
        r = 6.0 + size
        row = np.zeros((m, SLOT_FIELDS))
        row[:, X] = AREA + r + (AREA_SIZE - 2 * r) * u[:, 1]
        row[:, Y] = AREA + r + 1
        row[:, VX] = (u[:, 2] - 0.5) * (1.0 + 0.6 * d)
        row[:, VY] = (1.4 + 1.2 * u[:, 3]) * (1.0 + 0.8 * d)
        row[:, MOVING] = 1.0
        row[:, RADIUS] = r
        row[:, WALL_HALF] = AREA_SIZE / 2 - r
        row[:, LAND_Y] = GROUND - r
        row[:, HIT_DISTANCE] = AGENT_R + r
        row[:, CRACK_TIMER] = np.inf
        row[:, DARK] = u[:, 4] < 0.5
        row[:, STRIPE] = u[:, 5] < 0.5
        row[:, SPECKLE_COUNT] = 2 + (3 * u[:, 6]).astype(np.int64)
        speckles = np.empty((m, MAX_SPECKLES, 3))
        pick = (u[:, 7:11] * SPECKLE_COUNTS[size][:, None]).astype(np.int64)
        speckles[..., :2] = SPECKLE_POINTS[size[:, None], pick]
        speckles[..., 2] = 1 + (2 * u[:, 11:15]).astype(np.int64)
        row[:, SPECKLES:] = speckles.reshape(m, 3 * MAX_SPECKLES)
        self.slots[env, slot] = row
        self.falling[env, slot] = True
        self.active[env, slot] = True

    def _spawn_one(self, slot: int) -> None:
        """:meth:`_spawn` of one coconut of the single copy, on floats (the same draws)."""
        u = self.rng.random(15).tolist()
        d = clamp(self.steps.item() / HORIZON_STEPS, 0.0, 1.0)
        size = int(3 * u[0])
        r = 6.0 + size
        row = [0.0] * SLOT_FIELDS
        row[X] = AREA + r + (AREA_SIZE - 2 * r) * u[1]
        row[Y] = AREA + r + 1
        row[VX] = (u[2] - 0.5) * (1.0 + 0.6 * d)
        row[VY] = (1.4 + 1.2 * u[3]) * (1.0 + 0.8 * d)
        row[MOVING] = 1.0
        row[RADIUS] = r
        row[WALL_HALF] = AREA_SIZE / 2 - r
        row[LAND_Y] = GROUND - r
        row[HIT_DISTANCE] = AGENT_R + r
        row[CRACK_TIMER] = math.inf
        row[DARK] = u[4] < 0.5
        row[STRIPE] = u[5] < 0.5
        row[SPECKLE_COUNT] = 2 + int(3 * u[6])
        points, n_points = SPECKLE_POINT_LISTS[size], SPECKLE_COUNT_LIST[size]
        for j in range(MAX_SPECKLES):
            row[SPECKLES + 3 * j : SPECKLES + 3 * j + 2] = points[int(u[7 + j] * n_points)]
            row[SPECKLES + 3 * j + 2] = 1 + int(2 * u[11 + j])
        self.slots[0, slot] = row
        self.falling[0, slot] = self.active[0, slot] = True

    def _spawn_puffs(self, env: np.ndarray, slot: np.ndarray) -> None:
        """Dust puffs (16 particles, mostly upward, biased along the split) where coconuts landed:
        angle U[0.9, 2.2), speed U[0.8, 2.2), upward lift U[0.6, 1.1), start jitter x +-3, y +-1,
        radius I{2..3}."""
        u = self.rng.random((env.size, PUFF, 6))
        angle, speed, lift = 0.9 + 1.3 * u[..., 0], 0.8 + 1.4 * u[..., 1], 0.6 + 0.5 * u[..., 2]
        side = 0.7 + 0.3 * self.split_dir[env, slot]
        puff = np.empty((env.size, PUFF, 5))
        puff[..., 0] = self.coconuts[env, slot, 0][:, None] + 6 * u[..., 3] - 3
        puff[..., 1] = GROUND - 2 + 2 * u[..., 4] - 1
        puff[..., 2] = speed * np.cos(angle) * side[:, None]
        puff[..., 3] = -np.abs(speed * np.sin(angle)) * lift
        puff[..., 4] = 2 + (2 * u[..., 5]).astype(np.int64)
        self.puff[env, slot] = puff
        self.puff_born[env, slot] = self.steps[env]

    # ------------------------------------------------------------------ reset / step
    def _reset(self, mask: np.ndarray) -> None:
        k = int(mask.sum())
        if not k:
            return
        rng = self.rng
        self.stars[mask] = np.stack(
            [
                rng.integers(AREA + 6, AREA + AREA_SIZE - 6, (k, STAR_COUNT)),
                rng.integers(AREA + 6, HORIZON_Y - 6, (k, STAR_COUNT)),
                rng.integers(1, 3, (k, STAR_COUNT)),
            ],
            axis=-1,
        )
        self.palm_scale[mask] = np.array([1.1, 0.55]) * rng.uniform(0.9, 1.1, (k, 2))
        self.dunes[mask] = np.stack(
            [
                np.stack([rng.uniform(3.0, 5.0, k), rng.uniform(0, 2 * math.pi, k)], axis=-1),
                np.stack([rng.uniform(4.5, 6.0, k), rng.uniform(0, 2 * math.pi, k)], axis=-1),
            ],
            axis=1,
        )
        self.render_key[mask] = self.render_rng.integers(0, 2**62, k)
        self.agent_x[mask] = AGENT_X0
        self.agent_v[mask] = 0.0
        self.walk_phase[mask] = 0.0
        self.foot_ready[mask] = 0
        self.foot_born[mask] = -1000
        self.puff_born[mask] = -1000
        self.steps[mask] = 0
        self.collision_timer[mask] = 0
        self.falling[mask] = False
        self.active[mask] = False
        self.slots[mask] = EMPTY_SLOT
        self.count[mask] = 1
        self.next_coconut[mask] = NEXT_COCONUT[1]
        env = np.flatnonzero(mask)
        self._spawn(env, np.zeros_like(env))
        self._measure()

    def _measure(self) -> None:
        """Distances from the traveller (x, 200) to every coconut centre (inf on unused slots)."""
        self.distance = np.where(self.active, length(self._cx - self._agent_column, self._cy - AGENT_Y), np.inf)

    def _bounce_and_land(self, bounce: np.ndarray, landed: np.ndarray) -> None:
        """Falling coconuts that crossed a side wall bounce (clamped, v_x negated); those that
        reached the ground crack."""
        c = self.coconuts
        if np.count_nonzero(bounce):
            env, slot = bounce.nonzero()
            reach = self.wall_half[env, slot]
            c[env, slot, 0] = np.clip(c[env, slot, 0], CENTER_X - reach, CENTER_X + reach)
            c[env, slot, 2] *= -1
        if np.count_nonzero(landed):
            self._crack(*landed.nonzero())

    def _crack(self, env: np.ndarray, slot: np.ndarray) -> None:
        """Coconuts in the (env, slot) pairs hit the ground: they rest there, harmless, for 10
        steps, split in the direction of travel and raise a dust puff."""
        c = self.coconuts
        c[env, slot, 1] = self.land_y[env, slot]
        self.falling[env, slot] = False
        self.slots[env, slot, MOVING] = 0.0
        self.slots[env, slot, LAND_Y] = np.inf
        self.slots[env, slot, HIT_DISTANCE] = 0.0
        self.crack_timer[env, slot] = CRACK_STEPS
        self.split_dir[env, slot] = np.where(c[env, slot, 2] >= 0, 1, -1)
        self._spawn_puffs(env, slot)

    def _crack_one(self, slot: int) -> None:
        """:meth:`_crack` of one coconut of the single copy."""
        row = self.slots[0, slot]
        row[Y] = row[LAND_Y]
        row[LAND_Y] = np.inf
        row[MOVING] = row[HIT_DISTANCE] = 0.0
        row[CRACK_TIMER] = CRACK_STEPS
        row[SPLIT_DIR] = 1 if row[VX] >= 0 else -1
        self.falling[0, slot] = False
        self._spawn_puffs(np.zeros(1, np.int64), np.array([slot]))

    def _step(self, action: np.ndarray):
        v = clip(DAMPING * (self.agent_v + THRUST * action[:, 0]), -MAX_SPEED, MAX_SPEED)
        self.agent_v = v
        speed = np.abs(v)
        self.walk_phase += 0.12 * speed
        x = np.minimum(np.maximum(self.agent_x + v, AGENT_LOW), AGENT_HIGH, out=self.agent_x)

        # Coconuts: falling ones move, bounce off the side walls and may land (crack); cracked
        # ones count down (before this step's landings start theirs at 10) and respawn.
        self._position += self._velocity * self.motion
        self.crack_timer -= 1
        bounce = np.abs(self._cx - CENTER_X) > self.wall_half
        landed = self._cy >= self.land_y
        if np.count_nonzero(bounce | landed):
            self._bounce_and_land(bounce, landed)
        respawn = self.crack_timer <= 0
        if np.count_nonzero(respawn):
            self._spawn(*respawn.nonzero())

        # Footprints: a pair every 4 steps while walking.
        drop = (speed > 0.25) & (self.steps >= self.foot_ready)
        if np.count_nonzero(drop):
            env = drop.nonzero()[0]
            ring = (self.foot_born[env, 1] < self.foot_born[env, 0]).astype(np.int64)  # the older drop
            self.foot_x[env, ring] = x[env].astype(np.int64) - np.where(v[env] >= 0, 1, -1)
            self.foot_born[env, ring] = self.steps[env] + 1
            self.foot_ready[env] = self.steps[env] + 4

        self.steps += 1
        # Top up to 1 + trunc(5 d) coconuts (integer form of the same count). Fresh coconuts
        # start at the top edge, so spawning them before the hit test changes nothing.
        grow = self.steps >= self.next_coconut
        if np.count_nonzero(grow):
            env = grow.nonzero()[0]
            self._spawn(env, self.count[env])
            self.count[env] += 1
            self.next_coconut[env] = NEXT_COCONUT[self.count[env]]
        self._measure()
        # Hit: any falling coconut overlapping the traveller's circle; the collision flag then
        # stays up for the hit step and the 4 following ones.
        hit = np.logical_or.reduce(self.distance < self.hit_distance, axis=1)
        self.collision_timer = np.where(hit, 5, np.maximum(self.collision_timer - 1, 0))
        return hit * np.float32(-1.0), np.zeros(self.num_envs, np.float32)

    def _step_one(self, action):
        v = clamp(DAMPING * (self.agent_v.item() + THRUST * action[0]), -MAX_SPEED, MAX_SPEED)
        speed = abs(v)
        x = clamp(self.agent_x.item() + v, float(AGENT_LOW), float(AGENT_HIGH))
        self.agent_v[0], self.agent_x[0] = v, x
        self.walk_phase[0] += 0.12 * speed

        # Coconuts, in the order of _step: the slots in play [0, count) move (falling ones, whose
        # crack timer is inf) or count down (cracked ones, which do not move), then bounce, land
        # and respawn.
        count = self.count.item()
        rows = self.slots[0, :count, : CRACK_TIMER + 1].tolist()
        positions, landed, respawn = [], [], []
        for k, (cx, cy, cvx, cvy, moving, _, reach, land_y, _, timer) in enumerate(rows):
            if moving:
                cx, cy = cx + cvx, cy + cvy
            else:
                timer -= 1
                self.crack_timer[0, k] = timer
            if abs(cx - CENTER_X) > reach:
                cx = clamp(cx, CENTER_X - reach, CENTER_X + reach)
                self.coconuts[0, k, 2] = -cvx
            positions.append((cx, cy))
            if cy >= land_y:
                landed.append(k)
            if timer <= 0:
                respawn.append(k)
        self._position[0, :count] = positions
        for k in landed:
            self._crack_one(k)
        for k in respawn:
            self._spawn_one(k)

        steps = self.steps.item()
        if speed > 0.25 and steps >= self.foot_ready.item():
            (born_0, born_1), = self.foot_born.tolist()
            ring = int(born_1 < born_0)  # the older drop
            self.foot_x[0, ring] = int(x) - (1 if v >= 0 else -1)
            self.foot_born[0, ring] = steps + 1
            self.foot_ready[0] = steps + 4

        self.steps[0] = steps = steps + 1
        if steps >= self.next_coconut.item():
            self._spawn_one(count)
            self.count[0] = count = count + 1
            self.next_coconut[0] = NEXT_COCONUT[count]
        distance = [
            length_one(cx - x, cy - AGENT_Y) if active else math.inf
            for (cx, cy), active in zip(self._position[0].tolist(), self.active[0].tolist())
        ]
        self.distance[0] = distance
        hit = any(d < h for d, h in zip(distance, self.hit_distance[0].tolist()))
        self.collision_timer[0] = 5 if hit else max(self.collision_timer.item() - 1, 0)
        return (-1.0 if hit else -0.0), 0.0  # -0.0: the batched code's False * -1.0

    def _observation_one(self):
        x = self.agent_x.item()
        (distance,), (falling,), (coconuts,) = self.distance.tolist(), self.falling.tolist(), self.coconuts.tolist()
        obs = [(x - AREA) / AREA_SIZE, self.agent_v.item() / MAX_SPEED]
        order = sorted(range(SLOTS), key=distance.__getitem__)  # stable, as argsort(kind="stable")
        nearest = next((k for k in order if falling[k]), None)  # so the first minimum, as argmin
        if nearest is None:
            obs += NO_FALLING_COCONUT.tolist()
        else:
            cx, cy, _, _ = coconuts[nearest]
            obs += [(cx - x) / AREA_SIZE, (cy - AGENT_Y) / AREA_SIZE]
        obs.append(1.0 if self.collision_timer.item() > 0 else 0.0)
        for k in order:
            cx, cy, cvx, cvy = coconuts[k]
            obs += [(cx - AREA) * POSITION_SCALE, (cy - AREA) * POSITION_SCALE]
            obs += [cvx * VELOCITY_SCALE, cvy * VELOCITY_SCALE]
        return obs

    def _observation(self) -> np.ndarray:
        n = self.num_envs
        x = self.agent_x
        dist = self.distance
        falling = self.falling
        nearest = self.coconuts[self._rows, np.where(falling, dist, np.inf).argmin(axis=1)]
        any_falling = np.logical_or.reduce(falling, axis=1)
        obs = np.empty((n, 29), np.float32)
        obs[:, 0] = (x - AREA) / AREA_SIZE
        obs[:, 1] = self.agent_v / MAX_SPEED
        offset = (nearest[:, :2] - self.agent_xy) / AREA_SIZE
        obs[:, 2:4] = np.where(any_falling[:, None], offset, NO_FALLING_COCONUT)
        obs[:, 4] = self.collision_timer > 0
        order = dist.argsort(axis=1, kind="stable")
        obs[:, 5:] = ((self.coconuts[self._row_column, order] - OBS_SHIFT) * OBS_SCALE).reshape(n, SLOTS * 4)
        return obs

    # ------------------------------------------------------------------ rendering
    @staticmethod
    def _sky_and_sand(pg) -> np.ndarray:
        """Black frame with the translucent sunset sky and sand bands blended on (cached)."""
        surf = pg.Surface((224, 224))
        surf.fill((0, 0, 0))
        sky_h = HORIZON_Y - AREA
        sky = pg.Surface((AREA_SIZE, sky_h), pg.SRCALPHA)
        for row in range(sky_h):
            t = row / (sky_h - 1)
            color = (int((1 - t) * 80 + t * 252), int((1 - t) * 40 + t * 165), int((1 - t) * 120 + t * 3), 235)
            pg.draw.line(sky, color, (0, row), (AREA_SIZE, row))
        surf.blit(sky, (AREA, AREA))
        sand = pg.Surface((AREA_SIZE, GROUND - HORIZON_Y), pg.SRCALPHA)
        sand.fill((196, 178, 128, 235))
        surf.blit(sand, (AREA, HORIZON_Y))
        return pg.surfarray.array3d(surf).transpose(1, 0, 2)

    def _draw_scenery(self, pg, surf, i: int) -> None:
        stars = pg.Surface((AREA_SIZE, HORIZON_Y - AREA), pg.SRCALPHA)
        for sx, sy, sr in self.stars[i].tolist():
            pg.draw.circle(stars, (255, 255, 255, 110), (sx - AREA, sy - AREA), sr)
        surf.blit(stars, (AREA, AREA))
        (amp1, phase1), (amp2, phase2) = self.dunes[i].tolist()
        near = [(AREA, HORIZON_Y)]
        near += [(AREA + j, HORIZON_Y + int(amp1 + amp1 * math.sin(j / 23.0 + phase1))) for j in range(AREA_SIZE + 1)]
        far = [(AREA, HORIZON_Y + 10)]
        far += [
            (AREA + j, HORIZON_Y + int(12 + amp2 * math.sin((j + 40) / 19.0 + phase2))) for j in range(AREA_SIZE + 1)
        ]
        bottom = [(AREA + AREA_SIZE, GROUND), (AREA, GROUND)]
        pg.draw.polygon(surf, (208, 190, 140), near + bottom)
        pg.draw.polygon(surf, (192, 175, 132), far + bottom)
        s1, s2 = self.palm_scale[i].tolist()
        draw_palm(pg, surf, AREA + int(AREA_SIZE * 0.28), HORIZON_Y + 16, s1, 1)
        draw_palm(pg, surf, AREA + int(AREA_SIZE * 0.76), HORIZON_Y + 6, s2, -1)
        pg.draw.rect(surf, (230, 230, 230), (AREA, AREA, AREA_SIZE, AREA_SIZE), 2)

    def _draw_coconut(self, pg, surf, i: int, k: int) -> None:
        slot = self.slots[i, k]
        cx, cy, r = int(slot[X]), int(slot[Y]), int(slot[RADIUS])
        rim = (90, 66, 38)
        if self.falling[i, k]:
            pg.draw.circle(surf, (110, 82, 46) if slot[DARK] else (133, 102, 62), (cx, cy), r)
            pg.draw.circle(surf, rim, (cx, cy), r, 2)
            if slot[STRIPE]:
                for t in np.linspace(-0.6, 0.6, 10).tolist():
                    surf.set_at((cx + int((r - 2) * math.cos(t)), cy + int((r - 2) * math.sin(t))), rim)
            speckles = slot[SPECKLES:].reshape(MAX_SPECKLES, 3)[: int(slot[SPECKLE_COUNT])]
            for dx, dy, size in speckles.astype(int).tolist():
                pg.draw.circle(surf, (70, 52, 30), (cx + dx, cy + dy), size)
            return
        # Cracked: two halves that separate, droop and show white flesh over the 10 steps.
        progress = (CRACK_STEPS - min(max(int(slot[CRACK_TIMER]), 0), CRACK_STEPS)) / CRACK_STEPS
        spread = int(6 * progress) + int(2 * progress) * int(slot[SPLIT_DIR])
        y = cy + int(2 * progress)
        for hx, start in ((cx - spread, math.pi / 2), (cx + spread, -math.pi / 2)):
            shell = arc_points(hx, y, r, start)
            pg.draw.polygon(surf, (123, 92, 52), shell)
            pg.draw.lines(surf, rim, False, shell, 2)
            pg.draw.lines(surf, (240, 240, 240), False, arc_points(hx, y, r - 3, start), 2)

    def _draw_traveller(self, pg, surf, i: int) -> None:
        x, y = int(self.agent_x[i]), AGENT_Y
        phase = float(self.walk_phase[i])
        skin, outline = (235, 205, 170), (160, 120, 90)
        body = pg.Rect(x - 7, y - 6 - 9, 14, 18)
        pg.draw.ellipse(surf, skin, body)
        pg.draw.ellipse(surf, outline, body, 2)
        head_y = body.top - 4
        pg.draw.rect(surf, skin, (x - 3, head_y + 2, 6, 4))
        pg.draw.circle(surf, (245, 220, 185), (x, head_y), 5)
        pg.draw.circle(surf, outline, (x, head_y), 5, 1)
        sway = 4.0 * math.sin(phase)
        arm = pg.Surface((10, 4), pg.SRCALPHA)
        pg.draw.ellipse(arm, outline, (0, 0, 10, 4))
        for centre, angle in (((body.right - 1, body.top + 5), -35 + sway), ((body.left + 1, body.top + 5), 35 - sway)):
            rotated = pg.transform.rotate(arm, angle)
            surf.blit(rotated, rotated.get_rect(center=centre).topleft)
        step = 2.0 * math.sin(phase)
        pg.draw.ellipse(surf, (90, 70, 55), (x - 6, body.bottom + int(-0.6 * step), 6, 3))
        pg.draw.ellipse(surf, (90, 70, 55), (x + 1, body.bottom + int(0.6 * step), 6, 3))

    def draw(self, index: int) -> np.ndarray:
        if self._canvas is None:
            self._canvas = Canvas(self.frame_size)
        canvas, pg = self._canvas, self._canvas.pygame
        surf = canvas.surface
        i = index
        steps = int(self.steps[i])
        canvas.background("coconut_dodge", lambda: self._sky_and_sand(pg))
        self._draw_scenery(pg, surf, i)

        prints = pg.Surface((6, 3), pg.SRCALPHA)
        for fx, born in zip(self.foot_x[i].tolist(), self.foot_born[i].tolist()):
            life = 5 - (steps - born)
            if life > 0:
                prints.fill((0, 0, 0, 0))
                pg.draw.ellipse(prints, (70, 55, 45, int(190 * life / 6)), (0, 0, 6, 3))
                for px in (fx - 5, fx + 5):
                    surf.blit(prints, (int(px - 3), FOOT_Y - 1))

        for k in range(int(self.count[i])):
            self._draw_coconut(pg, surf, i, k)

        for k in range(SLOTS):
            age = steps - int(self.puff_born[i, k])
            if age >= PUFF_LIFE:
                continue
            x0, y0, vx, vy, radius = self.puff[i, k].T
            px = x0 + age * vx
            py = y0 + age * vy + 0.15 * age * (age - 1) / 2
            inside = (px >= AREA) & (px <= GROUND) & (py >= AREA) & (py <= GROUND)
            alpha = int(230 * (PUFF_LIFE - age) / PUFF_LIFE)
            for dx, dy, dr in zip(px[inside].tolist(), py[inside].tolist(), radius[inside].astype(int).tolist()):
                dot = pg.Surface((2 * dr + 2, 2 * dr + 2), pg.SRCALPHA)
                pg.draw.circle(dot, (215, 195, 150, alpha), (dr + 1, dr + 1), dr)
                surf.blit(dot, (int(dx - dr - 1), int(dy - dr - 1)))

        self._draw_traveller(pg, surf, i)
        if self.collision_timer[i] > 0:
            canvas.tint((186, 108, 24), 70)
            dx, dy = (int(v) for v in np.random.default_rng((int(self.render_key[i]), steps)).integers(-3, 4, 2))
            shaken = pg.Surface((224, 224))
            shaken.fill((0, 0, 0))
            shaken.blit(surf, (dx, dy))
            surf.blit(shaken, (0, 0))
        return canvas.to_array()


def arc_points(cx: float, cy: float, r: float, start: float) -> list[tuple[float, float]]:
    """14 points on the half circle from angle ``start`` to ``start + pi`` (screen axes)."""
    return [(cx + r * math.cos(t), cy + r * math.sin(t)) for t in np.linspace(start, start + math.pi, 14).tolist()]


def draw_palm(pg, surf, x: int, base_y: int, scale: float, facing: int) -> None:
    """A dark palm silhouette: a curved trunk 44*scale tall and six fronds of leaflets."""
    color = (50, 35, 20)
    trunk = [(x + facing * int(5 * math.sin(1.2 * j / 11)), base_y - int(44 * scale * j / 11)) for j in range(12)]
    pg.draw.lines(surf, color, False, trunk, 3)
    bx, by = trunk[-1]
    width = 5.0 * scale
    for angle in (-1.05, -0.6, -0.2, 0.2, 0.6, 1.05):
        length = 26 * scale * (0.9 + 0.2 * (1 - abs(angle)))
        tip = (bx + int(facing * length * math.cos(angle)), by - int(length * math.sin(angle)))
        pg.draw.line(surf, color, (bx, by), tip, 2)
        for j in range(7):
            t = (j + 1) / 8
            a = angle + 0.25 * (t - 0.5)
            cx, cy = bx + int(facing * t * length * math.cos(a)), by - int(t * length * math.sin(a))
            dx, dy = facing * math.cos(a), -math.sin(a)
            nx, ny = -dy, dx
            side = -1 if j % 2 == 0 else 1
            leaf_len, leaf_w = width * (1.5 - t) * 2.2, width * (1.0 - 0.5 * t)
            p1 = (int(cx + side * nx * leaf_w), int(cy + side * ny * leaf_w))
            p2 = (
                int(cx + dx * leaf_len + side * nx * leaf_w * 0.4),
                int(cy + dy * leaf_len + side * ny * leaf_w * 0.4),
            )
            pg.draw.polygon(surf, color, [(cx, cy), p1, p2])
