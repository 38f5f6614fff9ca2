"""Box2D tasks of MMBench (5 BipedalWalker terrains, 3 LunarLander variants) as TorchRL envs.

The gymnasium env classes here subclass gymnasium's ``BipedalWalker`` and ``LunarLander`` and
change what MMBench changes (domains.md, part 1, section 7):

* BipedalWalker: the official code patched the module constants ``SCALE = 15`` and
  ``VIEWPORT_W = VIEWPORT_H = 224`` *after* import. Values computed at import time (terrain
  step and height, body shapes, lidar range, start pose) keep their ``SCALE = 30`` values;
  values read at run time use 15 and 224: the velocity observations are scaled by
  ``0.3 * (224 / 15) / 50``, the progress reward is ``130 x / 15`` (double the stock value)
  and the frame is 224x224 at 15 px/m. Each variant builds its own terrain.
* LunarLander (continuous, no wind): a 400x400 world (13.33 m wide, not 20), 7 or 9 terrain
  chunks, a lower and randomised start, a weaker initial push (+-600), and two goal-reaching
  variants (hover, takeoff) with a 10-dim observation and a distance reward.

Visual randomisation (sky, ground, lander colours) and the hills terrain used the global
numpy RNG in the official code; here they use the env's own seeded generator, so a seed fixes
the whole episode. ``make_box2d_env`` wraps them into :class:`~newt.envs.gym_mujoco.GymTaskEnv`:
actions clipped to ``[-1, 1]`` and repeated twice, per-physics-step reward clipping
(BipedalWalker ``clip(r, -1, 10)``, lunarlander-land ``clip(r, -5, 10) / 20``), no early
termination, 250-step episodes and ``score = clip(return / 250)`` (BipedalWalker) or
``clip(return / 500)`` (LunarLander; lunarlander-land can therefore score at most 0.5).
``make_box2d_env(..., compat=False)`` corrects the two plain bugs (scale, land score).

Example:
    >>> from newt.envs import task_info
    >>> from newt.envs.box2d import make_box2d_env
    >>> env = make_box2d_env(task_info("lunarlander-hover"), seed=0)
    >>> td = env.rollout(250)
    >>> td["observation"].shape, td["next", "truncated"].sum().item()
    (torch.Size([250, 10]), 1)
"""
from __future__ import annotations

import math

import Box2D
import gymnasium as gym
import numpy as np
import torch
from Box2D.b2 import circleShape, fixtureDef, polygonShape, revoluteJointDef
from gymnasium import spaces
from gymnasium.envs.box2d import bipedal_walker as _bw
from gymnasium.envs.box2d import lunar_lander as _ll
from gymnasium.utils import EzPickle

from newt.envs.gym_mujoco import GymTaskEnv, check_build_args
from newt.envs.registry import TaskInfo

__all__ = [
    "BOX2D_TASKS",
    "BipedalWalkerFlat",
    "BipedalWalkerHills",
    "BipedalWalkerObstacles",
    "BipedalWalkerRugged",
    "BipedalWalkerUneven",
    "ClippedReward",
    "LunarLanderHover",
    "LunarLanderLand",
    "LunarLanderTakeoff",
    "MMBenchBipedalWalker",
    "make_box2d_env",
]


def _draw_bodies(surf, gfxdraw, bodies, scale: float) -> None:
    """Draw Box2D bodies (polygons, edges, circles) with their ``color1``/``color2``."""
    import pygame

    for body in bodies:
        for fixture in body.fixtures:
            trans = fixture.body.transform
            if type(fixture.shape) is circleShape:
                center = trans * fixture.shape.pos * scale
                radius = fixture.shape.radius * scale
                pygame.draw.circle(surf, color=body.color1, center=center, radius=radius)
                pygame.draw.circle(surf, color=body.color2, center=center, radius=radius)
                continue
            path = [trans * v * scale for v in fixture.shape.vertices]
            if len(path) > 2:
                pygame.draw.polygon(surf, color=body.color1, points=path)
                gfxdraw.aapolygon(surf, path, body.color1)
                gfxdraw.aapolygon(surf, path, body.color2)
            else:
                pygame.draw.aaline(surf, body.color1, path[0], path[1])


def _jittered_color(rng: np.random.Generator, base, common: int, per_channel: int) -> list[int]:
    """``base`` + one shared offset in ``[-common, common)`` + per-channel offsets, clipped."""
    offset = rng.integers(-common, common) + rng.integers(-per_channel, per_channel, size=3)
    return np.clip(np.asarray(base) + offset, 0, 255).tolist()


# ---------------------------------------------------------------------------------------------
# BipedalWalker
# ---------------------------------------------------------------------------------------------

#: Run-time scale (px per metre) and viewport of MMBench's BipedalWalker (stock: 30, 600x400).
WALKER_SCALE = 15.0
WALKER_VIEWPORT = 224
_TERRAIN_X = np.arange(_bw.TERRAIN_LENGTH) * _bw.TERRAIN_STEP
_GROUND_PALETTE = np.array(
    [
        [102, 153, 76], [94, 163, 60], [80, 120, 58], [119, 125, 58], [181, 149, 101],
        [194, 160, 134], [181, 130, 91], [122, 176, 114], [128, 191, 128], [143, 194, 143],
        [155, 166, 123], [125, 87, 57], [133, 111, 94], [145, 120, 120], [184, 165, 128],
        [200, 180, 150], [96, 158, 102],
    ]
)


class MMBenchBipedalWalker(_bw.BipedalWalker):
    """gymnasium's ``BipedalWalker`` with MMBench's run-time scale and a custom terrain.

    Subclasses implement :meth:`_terrain_heights`. Body, joints, motors, lidar and start pose
    are gymnasium's; :meth:`step` reads the run-time ``SCALE = 15`` and 224x224 viewport as
    described in the module docstring. Observations are the stock 24 values, rewards the stock
    shaping with ``130 x / 15`` progress, ``-100`` on every step after the hull touched the
    ground (sticky) or ``x < 0``.

    Args:
        render_mode: ``None`` or ``"rgb_array"`` (224x224 frames at 15 px/m).
        official_scale: ``True`` (default) reproduces the official run-time scale in the
            velocity observations and the progress reward; ``False`` uses gymnasium's stock
            values (``0.12 vx``, ``0.08 vy``, ``130 x / 30``), which the patch was not meant
            to change. Rendering is the same either way.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": _bw.FPS}

    def __init__(self, render_mode: str | None = None, *, official_scale: bool = True):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}.")
        super().__init__(render_mode=render_mode, hardcore=False)
        # Pickle with this class's own arguments, not the stock ones.
        EzPickle.__init__(self, render_mode, official_scale=official_scale)
        self.official_scale = official_scale
        if official_scale:
            width = height = WALKER_VIEWPORT / WALKER_SCALE
            self._progress_per_metre = 130 / WALKER_SCALE
        else:
            width, height = _bw.VIEWPORT_W / _bw.SCALE, _bw.VIEWPORT_H / _bw.SCALE
            self._progress_per_metre = 130 / _bw.SCALE
        self._speed_scale = (0.3 * width / _bw.FPS, 0.3 * height / _bw.FPS)

    def _terrain_heights(self) -> np.ndarray:
        """Height of each of the 200 terrain points (may also add obstacle bodies)."""
        raise NotImplementedError

    def _add_static_box(self, corners) -> None:
        self.fd_polygon.shape.vertices = corners
        body = self.world.CreateStaticBody(fixtures=self.fd_polygon)
        body.color1, body.color2 = (255, 255, 255), (153, 153, 153)
        self.terrain.append(body)

    def _generate_terrain(self, hardcore: bool) -> None:
        rng = self.np_random
        self.terrain = []
        self.terrain_x = _TERRAIN_X.tolist()
        self.terrain_y = np.asarray(self._terrain_heights(), dtype=np.float64).tolist()
        start_color = _GROUND_PALETTE[rng.integers(len(_GROUND_PALETTE))]
        ground = start_color.copy()
        self.terrain_poly = []
        for i in range(_bw.TERRAIN_LENGTH - 1):
            edge = [
                (self.terrain_x[i], self.terrain_y[i]),
                (self.terrain_x[i + 1], self.terrain_y[i + 1]),
            ]
            self.fd_edge.shape.vertices = edge
            body = self.world.CreateStaticBody(fixtures=self.fd_edge)
            # The ground colour drifts slowly along the track, within +-15 of its start.
            ground = np.clip(ground + rng.integers(-1, 1, size=3), start_color - 15, start_color + 15)
            body.color1 = (int(ground[0]) - 20, int(rng.integers(ground[1], 255)), int(ground[2]))
            body.color2 = tuple(int(c) for c in ground)
            self.terrain.append(body)
            self.terrain_poly.append((edge + [(edge[1][0], 0), (edge[0][0], 0)], ground.tolist()))
        self.terrain.reverse()

    def _generate_clouds(self) -> None:
        rng = self.np_random
        sky_offset = rng.integers(-7, 7, size=3) + rng.integers(-7, 7)
        cloud_offset = rng.integers(-4, 4, size=3) + rng.integers(-4, 4) + (0.5 * sky_offset).astype(int)
        self.sky_color = np.clip(np.array([215, 215, 252]) + sky_offset, 0, 255).tolist()
        self.cloud_color = np.clip(np.array([247, 247, 247]) + cloud_offset, 0, 255).tolist()
        step = _bw.TERRAIN_STEP
        self.cloud_poly = []
        for _ in range(_bw.TERRAIN_LENGTH // 20):
            x = rng.uniform(0, _bw.TERRAIN_LENGTH) * step
            y = WALKER_VIEWPORT / WALKER_SCALE * 3 / 4
            poly = [
                (
                    x + 15 * step * math.sin(3.14 * 2 * a / 5) + rng.uniform(0, 5 * step),
                    y + 5 * step * math.cos(3.14 * 2 * a / 5) + rng.uniform(0, 5 * step),
                )
                for a in range(5)
            ]
            self.cloud_poly.append((poly, min(p[0] for p in poly), max(p[0] for p in poly)))

    def step(self, action):
        action = np.asarray(action, dtype=np.float64)
        torque = np.clip(np.abs(action), 0.0, 1.0)
        for joint, speed, a, t in zip(
            self.joints, (_bw.SPEED_HIP, _bw.SPEED_KNEE) * 2, action, torque
        ):
            joint.motorSpeed = float(speed * np.sign(a))
            joint.maxMotorTorque = float(_bw.MOTORS_TORQUE * t)
        self.world.Step(1.0 / _bw.FPS, 6 * 30, 2 * 30)

        hull = self.hull
        pos, vel = hull.position, hull.linearVelocity
        for i, ray in enumerate(self.lidar):
            ray.fraction = 1.0
            ray.p1 = pos
            ray.p2 = (
                pos[0] + math.sin(1.5 * i / 10.0) * _bw.LIDAR_RANGE,
                pos[1] - math.cos(1.5 * i / 10.0) * _bw.LIDAR_RANGE,
            )
            self.world.RayCast(ray, ray.p1, ray.p2)
        joints, legs = self.joints, self.legs
        state = np.array(
            [
                hull.angle,
                2.0 * hull.angularVelocity / _bw.FPS,
                self._speed_scale[0] * vel.x,
                self._speed_scale[1] * vel.y,
                joints[0].angle,
                joints[0].speed / _bw.SPEED_HIP,
                joints[1].angle + 1.0,
                joints[1].speed / _bw.SPEED_KNEE,
                float(legs[1].ground_contact),
                joints[2].angle,
                joints[2].speed / _bw.SPEED_HIP,
                joints[3].angle + 1.0,
                joints[3].speed / _bw.SPEED_KNEE,
                float(legs[3].ground_contact),
                *(ray.fraction for ray in self.lidar),
            ],
            dtype=np.float32,
        )
        self.scroll = pos.x - WALKER_VIEWPORT / WALKER_SCALE / 5

        shaping = self._progress_per_metre * pos[0] - 5.0 * abs(hull.angle)
        reward = 0.0 if self.prev_shaping is None else shaping - self.prev_shaping
        self.prev_shaping = shaping
        reward -= 0.00035 * _bw.MOTORS_TORQUE * float(torque.sum())
        terminated = False
        if self.game_over or pos[0] < 0:
            reward, terminated = -100.0, True
        if pos[0] > (_bw.TERRAIN_LENGTH - _bw.TERRAIN_GRASS) * _bw.TERRAIN_STEP:
            terminated = True
        return state, reward, terminated, False, {}

    def render(self):
        if self.render_mode is None:
            raise RuntimeError("render() needs render_mode='rgb_array'.")
        import pygame
        from pygame import gfxdraw

        scale, view = WALKER_SCALE, WALKER_VIEWPORT
        scroll = self.scroll
        surf = pygame.Surface((view + max(0.0, scroll) * scale, view))
        left = scroll * scale
        pygame.draw.polygon(
            surf, self.sky_color, [(left, 0), (left + view, 0), (left + view, view), (left, view)]
        )
        for poly, x1, x2 in self.cloud_poly:
            if x2 < scroll / 2 or x1 > scroll / 2 + view / scale:
                continue
            points = [(p[0] * scale + left / 2, p[1] * scale) for p in poly]
            pygame.draw.polygon(surf, self.cloud_color, points)
            gfxdraw.aapolygon(surf, points, (255, 255, 255))
        for poly, color in self.terrain_poly:
            if poly[1][0] < scroll or poly[0][0] > scroll + view / scale:
                continue
            points = [(x * scale, y * scale) for x, y in poly]
            pygame.draw.polygon(surf, color, points)
            gfxdraw.aapolygon(surf, points, color)
        # One lidar ray is drawn per frame, sweeping back and forth every 20 frames.
        self.lidar_render = (self.lidar_render + 1) % 100
        i = self.lidar_render
        if i < 2 * len(self.lidar):
            ray = self.lidar[i] if i < len(self.lidar) else self.lidar[len(self.lidar) - i - 1]
            if hasattr(ray, "p2"):
                start = (ray.p1[0] * scale, ray.p1[1] * scale)
                pygame.draw.line(surf, (255, 0, 0), start, (ray.p2[0] * scale, ray.p2[1] * scale))
        _draw_bodies(surf, gfxdraw, self.drawlist, scale)
        surf = pygame.transform.flip(surf, False, True)
        return np.transpose(np.array(pygame.surfarray.pixels3d(surf)), (1, 0, 2))[:, -view:]


def _random_walk_terrain(rng, damping: float, pull: float, noise: float) -> np.ndarray:
    """Heights from a damped random walk pulled back to the start height, within [1, 5.5]."""
    heights = np.empty(_bw.TERRAIN_LENGTH)
    velocity, y = 0.0, _bw.TERRAIN_HEIGHT
    for i in range(_bw.TERRAIN_LENGTH):
        velocity = damping * velocity + pull * np.sign(_bw.TERRAIN_HEIGHT - y)
        if i > _bw.TERRAIN_STARTPAD:
            velocity += noise * rng.uniform(-1, 1)
        y = min(max(y + velocity, 1.0), 5.5)
        heights[i] = y
    return heights


class BipedalWalkerFlat(MMBenchBipedalWalker):
    """Flat ground at the stock terrain height (3.33 m)."""

    def _terrain_heights(self) -> np.ndarray:
        return np.full(_bw.TERRAIN_LENGTH, _bw.TERRAIN_HEIGHT)


class BipedalWalkerUneven(MMBenchBipedalWalker):
    """Gently uneven ground: flat start pad, then a random walk (noise 1/15 per point)."""

    def _terrain_heights(self) -> np.ndarray:
        return _random_walk_terrain(self.np_random, 0.8, 0.011, 1 / WALKER_SCALE)


class BipedalWalkerRugged(MMBenchBipedalWalker):
    """Rugged ground: as uneven with less damping and 2.25 times the noise."""

    def _terrain_heights(self) -> np.ndarray:
        return _random_walk_terrain(self.np_random, 0.75, 0.015, 2.25 / WALKER_SCALE)


class BipedalWalkerHills(MMBenchBipedalWalker):
    """A sine wave of hills, no start pad: the walker drops onto the slope at reset.

    ``y = clip(offset + amplitude * sin(2 pi x / wavelength), 1, 5.5)`` with
    ``offset = 3.33 + U(-1, -0.8)``, ``amplitude ~ U(0.4, 0.8)``, ``wavelength ~ U(7, 14)``;
    the drawn values are kept as ``hill_offset``, ``hill_amplitude``, ``hill_wavelength``.
    """

    def _terrain_heights(self) -> np.ndarray:
        rng = self.np_random
        self.hill_offset = _bw.TERRAIN_HEIGHT + rng.uniform(-1, -0.8)
        self.hill_amplitude = rng.uniform(0.4, 0.8)
        self.hill_wavelength = rng.uniform(7, 14)
        waves = self.hill_amplitude * np.sin(2 * np.pi * _TERRAIN_X / self.hill_wavelength)
        return np.clip(self.hill_offset + waves, 1.0, 5.5)


class BipedalWalkerObstacles(MMBenchBipedalWalker):
    """Grass stretches alternating with stumps and pits (gymnasium's hardcore, reduced).

    Stumps are ``c`` steps wide and ``0.75 c`` steps high, pits are two walls 3 steps deep
    ``c`` steps apart, with ``c`` in {2, 3}; grass stretches last 5 to 9 points, with noise
    1/15 per point and heights within [1.5, 5.5]. No stairs.
    """

    def _terrain_heights(self) -> np.ndarray:
        rng, step, top = self.np_random, _bw.TERRAIN_STEP, _bw.TERRAIN_HEIGHT
        grass, stump, pit = 0, 1, 2
        state, velocity, y = grass, 0.0, top
        counter, oneshot, pit_top = _bw.TERRAIN_STARTPAD, False, 0.0
        heights = np.empty(_bw.TERRAIN_LENGTH)
        for i in range(_bw.TERRAIN_LENGTH):
            x = i * step
            if state == grass and not oneshot:
                velocity = 0.8 * velocity + 0.01 * np.sign(top - y)
                if i > _bw.TERRAIN_STARTPAD:
                    velocity += rng.uniform(-1, 1) / WALKER_SCALE
                y = min(max(y + velocity, 1.5), 5.5)
            elif state == pit and oneshot:
                counter = int(rng.integers(2, 4))
                wall = [(x, y), (x + step, y), (x + step, y - 3 * step), (x, y - 3 * step)]
                self._add_static_box(wall)
                self._add_static_box([(px + counter * step, py) for px, py in wall])
                counter += 2
                pit_top = y
            elif state == pit:
                y = pit_top - (3 * step if counter > 1 else 0.0)
            elif state == stump and oneshot:
                counter = int(rng.integers(2, 4))
                width, height = counter * step, 0.75 * counter * step
                self._add_static_box([(x, y), (x + width, y), (x + width, y + height), (x, y + height)])
            oneshot = False
            heights[i] = y
            counter -= 1
            if counter == 0:
                counter = int(rng.integers(_bw.TERRAIN_GRASS // 2, _bw.TERRAIN_GRASS))
                state = int(rng.integers(stump, pit + 1)) if state == grass else grass
                oneshot = True
        return heights


# ---------------------------------------------------------------------------------------------
# LunarLander
# ---------------------------------------------------------------------------------------------

#: Side of MMBench's LunarLander viewport in pixels (stock: 600x400).
LANDER_VIEWPORT = 400
_WORLD = LANDER_VIEWPORT / _ll.SCALE  # 13.33 m wide and high
_HALF = _WORLD / 2
_LEG_DOWN = _ll.LEG_DOWN / _ll.SCALE
_INITIAL_PUSH = 600.0


class LunarLanderLand(_ll.LunarLander):
    """MMBench's continuous LunarLander: land on the pad (``lunarlander-land``).

    Engines, legs, contact rules, the shaping/fuel reward and the crash (``-100``) / rest
    (``+100``) rules are gymnasium's; the world is 13.33 m wide (a 400x400 viewport) with 7 or
    9 terrain chunks, the lander starts at ``(W/2, 0.8 H)`` times ``U(0.95, 1.05)`` each with
    a push of up to 600 N per axis. Observation (8): position relative to the pad, velocity,
    angle, angular velocity and leg contacts, normalised with the 13.33 m world.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": _ll.FPS}
    #: Zero-action physics steps run at reset before the one whose observation is returned.
    settle_steps = 0

    def __init__(self, render_mode: str | None = None):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}.")
        super().__init__(render_mode=render_mode, continuous=True)
        EzPickle.__init__(self, render_mode)  # pickle with this class's own arguments
        self.observation_space = spaces.Box(-np.inf, np.inf, (self.obs_dim,), dtype=np.float32)
        self.goal: np.ndarray | None = None

    @property
    def obs_dim(self) -> int:
        return 8

    def _start_pose(self) -> tuple[float, float, tuple[float, float]]:
        """Lander start ``(x, y, initial force)``."""
        rng = self.np_random
        y = 0.8 * _WORLD * rng.uniform(0.95, 1.05)
        x = _HALF * rng.uniform(0.95, 1.05)
        return x, y, (rng.uniform(-_INITIAL_PUSH, _INITIAL_PUSH), rng.uniform(-_INITIAL_PUSH, _INITIAL_PUSH))

    def _sample_goal(self) -> np.ndarray | None:
        return None

    def _build_terrain(self) -> None:
        rng = self.np_random
        chunks = int(rng.choice([7, 9]))
        height = rng.uniform(0, _WORLD / 2, size=(chunks + 1,))
        chunk_x = [_WORLD / (chunks - 1) * i for i in range(chunks)]
        self.helipad_x1 = chunk_x[chunks // 2 - 1]
        self.helipad_x2 = chunk_x[chunks // 2 + 1]
        self.helipad_y = _WORLD / 4
        height[chunks // 2 - 2 : chunks // 2 + 3] = self.helipad_y
        smooth_y = [0.33 * (height[i - 1] + height[i] + height[i + 1]) for i in range(chunks)]
        self.moon = self.world.CreateStaticBody(shapes=Box2D.b2.edgeShape(vertices=[(0, 0), (_WORLD, 0)]))
        self.sky_polys = []
        for i in range(chunks - 1):
            p1, p2 = (chunk_x[i], smooth_y[i]), (chunk_x[i + 1], smooth_y[i + 1])
            self.moon.CreateEdgeFixture(vertices=[p1, p2], density=0, friction=0.1)
            self.sky_polys.append([p1, p2, (p2[0], _WORLD), (p1[0], _WORLD)])
        self.moon.color1 = self.moon.color2 = (0, 0, 0)

    def _build_lander(self, x: float, y: float, force: tuple[float, float]) -> None:
        scale = _ll.SCALE
        self.lander = self.world.CreateDynamicBody(
            position=(x, y),
            angle=0.0,
            fixtures=fixtureDef(
                shape=polygonShape(vertices=[(px / scale, py / scale) for px, py in _ll.LANDER_POLY]),
                density=5.0,
                friction=0.1,
                categoryBits=0x0010,
                maskBits=0x001,
                restitution=0.0,
            ),
        )
        self.lander.color1, self.lander.color2 = self.lander_color, (77, 77, 128)
        self.lander.ApplyForceToCenter((float(force[0]), float(force[1])), True)
        self.legs = []
        for side in (-1, +1):
            leg = self.world.CreateDynamicBody(
                position=(x - side * _ll.LEG_AWAY / scale, y),
                angle=side * 0.05,
                fixtures=fixtureDef(
                    shape=polygonShape(box=(_ll.LEG_W / scale, _ll.LEG_H / scale)),
                    density=1.0,
                    restitution=0.0,
                    categoryBits=0x0020,
                    maskBits=0x001,
                ),
            )
            leg.ground_contact = False
            leg.color1, leg.color2 = self.lander.color1, self.lander.color2
            # Spring-loaded legs: a weak motor pushes each leg outwards within its range.
            joint = revoluteJointDef(
                bodyA=self.lander,
                bodyB=leg,
                localAnchorA=(0, 0),
                localAnchorB=(side * _ll.LEG_AWAY / scale, _ll.LEG_DOWN / scale),
                enableMotor=True,
                enableLimit=True,
                maxMotorTorque=_ll.LEG_SPRING_TORQUE,
                motorSpeed=+0.3 * side,
            )
            joint.lowerAngle, joint.upperAngle = (0.4, 0.9) if side == -1 else (-0.9, -0.4)
            leg.joint = self.world.CreateJoint(joint)
            self.legs.append(leg)
        self.drawlist = [self.lander] + self.legs

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        gym.Env.reset(self, seed=seed)
        self._destroy()
        # A fresh world each episode, as gymnasium does (stale contacts otherwise).
        self.world = Box2D.b2World(gravity=(0, self.gravity))
        self.world.contactListener_keepref = _ll.ContactDetector(self)
        self.world.contactListener = self.world.contactListener_keepref
        self.game_over = False
        # gymnasium's step keeps its own (600x400-viewport) shaping in ``prev_shaping``.
        self.prev_shaping = self._prev_shaping = None
        self._build_terrain()
        rng = self.np_random
        self.lander_color = _jittered_color(rng, (128, 102, 230), 10, 5)
        self.sky_color = _jittered_color(rng, (20, 10, 15), 10, 5)
        self.surf_color = _jittered_color(rng, (230, 215, 220), 15, 10)
        self.flag_color = _jittered_color(rng, (204, 204, 0), 15, 5)
        self._build_lander(*self._start_pose())
        self.goal = self._sample_goal()
        zero = np.zeros(2)
        for _ in range(self.settle_steps):
            self.step(zero)
        return self.step(zero)[0], {}

    def _observation(self) -> np.ndarray:
        pos, vel, lander = self.lander.position, self.lander.linearVelocity, self.lander
        return np.array(
            [
                (pos.x - _HALF) / _HALF,
                (pos.y - (self.helipad_y + _LEG_DOWN)) / _HALF,
                vel.x * _HALF / _ll.FPS,
                vel.y * _HALF / _ll.FPS,
                lander.angle,
                20.0 * lander.angularVelocity / _ll.FPS,
                float(self.legs[0].ground_contact),
                float(self.legs[1].ground_contact),
            ],
            dtype=np.float32,
        )

    def _reward(self, obs: np.ndarray, main_power: float, side_power: float) -> tuple[float, bool]:
        """Reward of one physics step and whether gymnasium would end the episode."""
        shaping = (
            -100 * np.sqrt(obs[0] * obs[0] + obs[1] * obs[1])
            - 100 * np.sqrt(obs[2] * obs[2] + obs[3] * obs[3])
            - 100 * abs(obs[4])
            + 10 * obs[6]
            + 10 * obs[7]
        )
        reward = 0.0 if self._prev_shaping is None else float(shaping - self._prev_shaping)
        self._prev_shaping = shaping
        reward -= 0.30 * main_power + 0.03 * side_power
        terminated = False
        if self.game_over or abs(obs[0]) >= 1.0:
            reward, terminated = -100.0, True
        if not self.lander.awake:
            reward, terminated = 100.0, True
        return reward, terminated

    def step(self, action):
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        # gymnasium's step fires the engines and steps the world; its own observation and
        # reward assume a 600x400 viewport and are replaced by MMBench's below.
        super().step(action)
        main_power = (min(action[0], 1.0) + 1.0) * 0.5 if action[0] > 0.0 else 0.0
        side_power = min(abs(action[1]), 1.0) if abs(action[1]) > 0.5 else 0.0
        obs = self._observation()
        reward, terminated = self._reward(obs, main_power, side_power)
        return obs, reward, terminated, False, {}

    def _draw_goal(self, surf, gfxdraw) -> None:
        import pygame

        for x in (self.helipad_x1 * _ll.SCALE, self.helipad_x2 * _ll.SCALE):
            y1 = self.helipad_y * _ll.SCALE
            y2 = y1 + 50
            pygame.draw.line(surf, self.surf_color, (x, y1), (x, y2), width=2)
            flag = [(x, y2), (x, y2 - 10), (x + 25, y2 - 5)]
            pygame.draw.polygon(surf, self.flag_color, flag)
            gfxdraw.aapolygon(surf, flag, self.flag_color)

    def render(self):
        if self.render_mode is None:
            raise RuntimeError("render() needs render_mode='rgb_array'.")
        import pygame
        from pygame import gfxdraw

        scale = _ll.SCALE
        surf = pygame.Surface((LANDER_VIEWPORT, LANDER_VIEWPORT))
        pygame.draw.rect(surf, self.surf_color, surf.get_rect())
        # Engine particles fade out over a few frames, then are removed.
        for particle in self.particles:
            particle.ttl -= 0.15
            color = (
                int(max(0.2, 0.15 + particle.ttl) * 255),
                int(max(0.2, 0.5 * particle.ttl) * 255),
                int(max(0.2, 0.5 * particle.ttl) * 255),
            )
            particle.color1 = particle.color2 = color
        self._clean_particles(False)
        for poly in self.sky_polys:
            points = [(x * scale, y * scale) for x, y in poly]
            pygame.draw.polygon(surf, self.sky_color, points)
            gfxdraw.aapolygon(surf, points, self.sky_color)
        _draw_bodies(surf, gfxdraw, self.particles + self.drawlist, scale)
        self._draw_goal(surf, gfxdraw)
        surf = pygame.transform.flip(surf, False, True)
        return np.transpose(np.array(pygame.surfarray.pixels3d(surf)), (1, 0, 2))


class LunarLanderHover(LunarLanderLand):
    """Fly to and hold a goal about 3.3 m above the pad (``lunarlander-hover``).

    The goal is the pad centre at twice the pad height, plus ``U(-1, 1)`` m per coordinate.
    Observation (10): the 8 of :class:`LunarLanderLand`, then the goal minus the lander
    position divided by 6.67. Reward per physics step: ``clip(1 - distance / 6 - 0.03 main
    - 0.003 side, 0, 1)``, and 0 whenever the lander is lower than standing on the pad.
    """

    @property
    def obs_dim(self) -> int:
        return 10

    def _sample_goal(self) -> np.ndarray:
        centre = np.array([(self.helipad_x1 + self.helipad_x2) / 2, 2 * self.helipad_y], dtype=np.float32)
        return centre + self.np_random.uniform(-1, 1, size=(2,))

    def _observation(self) -> np.ndarray:
        pos = self.lander.position
        to_goal = [(self.goal[0] - pos.x) / _HALF, (self.goal[1] - pos.y) / _HALF]
        return np.concatenate([super()._observation(), np.asarray(to_goal, dtype=np.float32)])

    def _reward(self, obs: np.ndarray, main_power: float, side_power: float) -> tuple[float, bool]:
        pos = self.lander.position
        distance = math.hypot(pos.x - self.goal[0], pos.y - self.goal[1])
        reward = 1.0 - distance / 6 - 0.03 * main_power - 0.003 * side_power
        if pos.y < self.helipad_y + _LEG_DOWN:
            reward = 0.0
        return min(max(reward, 0.0), 1.0), self.game_over

    def _draw_goal(self, surf, gfxdraw) -> None:
        x, y = self.goal * _ll.SCALE
        gfxdraw.filled_circle(surf, int(x), int(y), int(_ll.SCALE), (*self.flag_color, 104))


class LunarLanderTakeoff(LunarLanderHover):
    """Take off from the pad and fly to a goal high up (``lunarlander-takeoff``).

    The lander starts standing on the pad (x in the middle half of the pad), pressed down by
    1200 N with a sideways push of up to 300 N, and settles for 5 zero-action steps at reset.
    The goal is uniform in ``[2.67, 10.67] x [8, 10.67]`` m. Reward and observation as hover.
    """

    settle_steps = 5

    def _start_pose(self) -> tuple[float, float, tuple[float, float]]:
        width = self.helipad_x2 - self.helipad_x1
        x = self.np_random.uniform(self.helipad_x1 + 0.25 * width, self.helipad_x2 - 0.25 * width)
        push = 0.5 * self.np_random.uniform(-_INITIAL_PUSH, _INITIAL_PUSH)
        return x, self.helipad_y + _LEG_DOWN, (push, -2 * _INITIAL_PUSH)

    def _sample_goal(self) -> np.ndarray:
        x = self.np_random.uniform(0.2 * LANDER_VIEWPORT, 0.8 * LANDER_VIEWPORT) / _ll.SCALE
        y = self.np_random.uniform(0.6 * LANDER_VIEWPORT, 0.8 * LANDER_VIEWPORT) / _ll.SCALE
        return np.array([x, y], dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# TorchRL builder
# ---------------------------------------------------------------------------------------------


class ClippedReward(gym.RewardWrapper):
    """``clip(reward, low, high) / divisor`` on every gymnasium step.

    Example:
        >>> env = ClippedReward(LunarLanderLand(), -5.0, 10.0, divisor=20.0)
        >>> env.reward(-100.0)
        -0.25
    """

    def __init__(self, env: gym.Env, low: float, high: float, divisor: float = 1.0):
        super().__init__(env)
        self.low, self.high, self.divisor = low, high, divisor

    def reward(self, reward):
        return min(max(float(reward), self.low), self.high) / self.divisor


#: task name -> (gymnasium env class, per-physics-step reward clip (low, high, divisor) or
#: None, score range).
BOX2D_TASKS: dict[str, tuple[type[gym.Env], tuple[float, float, float] | None, tuple[float, float]]] = {
    "bipedal-walker-flat": (BipedalWalkerFlat, (-1.0, 10.0, 1.0), (0.0, 250.0)),
    "bipedal-walker-uneven": (BipedalWalkerUneven, (-1.0, 10.0, 1.0), (0.0, 250.0)),
    "bipedal-walker-rugged": (BipedalWalkerRugged, (-1.0, 10.0, 1.0), (0.0, 250.0)),
    "bipedal-walker-hills": (BipedalWalkerHills, (-1.0, 10.0, 1.0), (0.0, 250.0)),
    "bipedal-walker-obstacles": (BipedalWalkerObstacles, (-1.0, 10.0, 1.0), (0.0, 250.0)),
    "lunarlander-land": (LunarLanderLand, (-5.0, 10.0, 20.0), (0.0, 500.0)),
    "lunarlander-hover": (LunarLanderHover, None, (0.0, 500.0)),
    "lunarlander-takeoff": (LunarLanderTakeoff, None, (0.0, 500.0)),
}

#: Physics steps per agent step for every Box2D task.
BOX2D_ACTION_REPEAT = 2
#: Score range of lunarlander-land with ``compat=False``: at most 10 / 20 per physics step.
LAND_MAX_RETURN_RANGE = (0.0, 250.0)


def make_box2d_env(
    task: TaskInfo,
    *,
    obs: str = "state",
    seed: int | None = None,
    device: torch.device | str = "cpu",
    render_size: int = 224,
    compat: bool = True,
    **kwargs,
) -> GymTaskEnv:
    """Build one Box2D MMBench task as a TorchRL env (native, unpadded widths).

    ``compat=True`` (default) reproduces the official tasks, quirks included, so scores
    compare with the paper. ``compat=False`` fixes two plain bugs: BipedalWalker observations
    and progress reward use gymnasium's stock scale (see :class:`MMBenchBipedalWalker`), and
    ``lunarlander-land`` normalises its return by 250, its largest possible value, so that
    its score reaches 1 (official: by 500, capping it at 0.5).

    Args:
        task: the task's :class:`~newt.envs.registry.TaskInfo` (domain ``"box2d"``).
        obs: ``"state"`` or ``"rgb"`` (adds ``pixels``: the pygame frame, 224x224 for
            BipedalWalker and 400x400 for LunarLander, resized to ``render_size``).
        seed: seed of the env's random generator (terrain, start state, engine noise, colours).
        device: device of the output tensors.
        render_size: side of ``pixels``.
        compat: reproduce the official behaviour (see above).
        **kwargs: extra keyword arguments of the gymnasium env class.

    Example:
        >>> from newt.envs import task_info
        >>> env = make_box2d_env(task_info("bipedal-walker-hills"), seed=0)
        >>> env.observation_spec["observation"].shape, env.action_spec.shape
        (torch.Size([24]), torch.Size([4]))
    """
    check_build_args(task, "box2d", obs, seed, render_size)
    if task.name not in BOX2D_TASKS:
        raise ValueError(f"Unknown box2d task {task.name!r}; known: {', '.join(BOX2D_TASKS)}.")
    env_cls, reward_clip, score_range = BOX2D_TASKS[task.name]
    if not compat:
        if issubclass(env_cls, MMBenchBipedalWalker):
            kwargs = {"official_scale": False, **kwargs}
        if task.name == "lunarlander-land":
            score_range = LAND_MAX_RETURN_RANGE
    # Engine particles are only decoration (they never touch the lander): skip them without rgb.
    gym_env = env_cls(render_mode="rgb_array" if obs == "rgb" else None, **kwargs)
    if reward_clip is not None:
        gym_env = ClippedReward(gym_env, *reward_clip)
    env = GymTaskEnv(
        gym_env,
        episode_length=task.episode_length,
        score_range=score_range,
        action_repeat=BOX2D_ACTION_REPEAT,
        clip_action=True,
        pixels=obs == "rgb",
        render_size=render_size,
        device=device,
    )
    if seed is not None:
        env.set_seed(seed)
    return env
