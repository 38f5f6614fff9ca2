"""pygame-chase-evade: tag against an AI in a circular arena with orbiting pillars (batched, with a single-copy twin)."""
from __future__ import annotations

import math

import numpy as np

from newt.envs.miniarcade.core import Canvas, MiniArcadeGame, length, length_one, vertical_gradient

CENTRE = np.array([112.0, 118.0])
CENTRE_X, CENTRE_Y = CENTRE.tolist()
ARENA_R = 90
CHAR_R = 8
SPEED = 3.5
EVADER_SPEED = 0.95 * SPEED
PLAY_R = ARENA_R - CHAR_R - 4
ROLE_CHANGE_R = ARENA_R - CHAR_R - 15
PILLAR_R, ORBIT_R, PILLAR_SPIN = 12, 40, 0.01
CATCH_DIST = 2 * CHAR_R
ORANGE, GREEN = (255, 140, 0), (70, 160, 70)
#: The pillars' angles on their orbit at phase 0.
PILLAR_ANGLES = 2 * np.pi * np.arange(3) / 3
PILLAR_ANGLE_LIST = PILLAR_ANGLES.tolist()
#: Divisors of the observation's entries (the agent's role is 0 or 1).
OBS_SCALE = np.array([224.0] * 2 + [SPEED] * 2 + [224.0] * 2 + [SPEED] * 2 + [1.0] + [224.0] * 6)
PUSH_R = PILLAR_R + CHAR_R
AVOID_R = 3 * PILLAR_R
RIM_R = 72


def _unit(v: np.ndarray, norm: np.ndarray | None = None) -> np.ndarray:
    """``v`` scaled to length 1 (zero vectors stay zero); ``norm``: its length, if already known."""
    if norm is None:
        norm = length(v[..., 0], v[..., 1])
    return v / np.where(norm > 0, norm, 1.0)[..., None]


def _scaled(x: float, y: float, norm: float) -> tuple[float, float]:
    """``(x, y) / norm`` where ``norm > 0``, else ``(x, y)``: :func:`_unit` with a known norm."""
    return (x / norm, y / norm) if norm > 0 else (x, y)


def _unit_one(x: float, y: float) -> tuple[float, float]:
    """:func:`_unit` of one vector, on floats."""
    return _scaled(x, y, length_one(x, y))


def _clamp_radius_one(x: float, y: float, radius: float) -> tuple[float, float]:
    """:func:`_clamp_radius` of one point, on floats."""
    dx, dy = x - CENTRE_X, y - CENTRE_Y
    dist = length_one(dx, dy)
    if dist > radius:
        return CENTRE_X + dx * radius / dist, CENTRE_Y + dy * radius / dist
    return x, y


def _push_out_one(pillars, x: float, y: float, vx: float, vy: float) -> tuple[float, float, float, float]:
    """:meth:`ChaseEvade._push_out` of one character at (x, y) with velocity (vx, vy), on floats.

    Like the batched code, the pushes and reflections of all touched pillars are summed first.
    """
    push_x = push_y = turn_x = turn_y = 0.0
    touched = False
    for px, py in pillars:
        tx, ty = px - x, py - y
        if (dist := length_one(tx, ty)) < PUSH_R:
            touched = True
            nx, ny = _scaled(tx, ty, dist)
            depth = PUSH_R - dist + 0.5
            push_x += nx * depth
            push_y += ny * depth
            vn = vx * nx + vy * ny
            if vn > 0:
                turn_x += 2 * vn * nx
                turn_y += 2 * vn * ny
    if not touched:
        return x, y, vx, vy
    return x - push_x, y - push_y, vx - turn_x, vy - turn_y


def _clamp_radius(p: np.ndarray, radius: float) -> np.ndarray:
    d = p - CENTRE
    dist = length(d[:, 0], d[:, 1])
    outside = dist > radius
    if not np.count_nonzero(outside):  # guarded: almost always inside, and the pull-in costs ~5 calls
        return p
    dist = dist[:, None]
    return np.where(outside[:, None], CENTRE + d * radius / np.maximum(dist, 1e-9), p)


class ChaseEvade(MiniArcadeGame):
    """Tag: as evader the agent earns +0.1*d/90 per step, as pursuer it pays 0.1*d/90.

    A catch (centres closer than 16 px) swaps the roles; then, for at least 5 steps, the new
    pursuer walks back to the centre and the new evader walks outward, ignoring actions.

    Observation (15): agent x/224, y/224, agent v/3.5, AI x/224, y/224, AI v/3.5, 1 if the agent
    is the evader, then the 3 pillars (x/224, y/224).

    Example:
        >>> game = ChaseEvade(num_envs=2, seed=0)
        >>> game.reset()[:, 4:6].tolist()  # the AI starts at the arena centre
        [[0.5, 0.5267857313156128], [0.5, 0.5267857313156128]]
    """

    obs_dim = 15
    action_dim = 2

    def __init__(self, num_envs: int = 1, seed: int | None = None):
        super().__init__(num_envs, seed)
        n = num_envs
        self.agent = np.zeros((n, 2))
        self.agent_vel = np.zeros((n, 2))
        self.ai = np.zeros((n, 2))
        self.ai_vel = np.zeros((n, 2))
        self.agent_evades = np.zeros(n, bool)
        self.pillar_phase = np.zeros(n)
        self.pillar_dir = np.ones(n)
        self.pillars = np.zeros((n, 3, 2))
        self.role_change = np.zeros(n, bool)
        self.role_counter = np.zeros(n, np.int64)
        self.steps = np.zeros(n, np.int64)
        self.flash = np.zeros(n, np.int64)
        self.flash_pos = np.zeros((n, 2))
        self.flash_agent_caught = np.zeros(n, bool)
        self._canvas = None

    def _place_pillars(self) -> None:
        angles = self.pillar_phase[:, None] + PILLAR_ANGLES
        angles += (self.pillar_dir * PILLAR_SPIN * self.steps)[:, None]
        pillars = np.empty((self.num_envs, 3, 2))
        np.cos(angles, out=pillars[..., 0])
        np.sin(angles, out=pillars[..., 1])
        pillars *= ORBIT_R
        pillars += CENTRE
        self.pillars = pillars

    def _reset(self, mask: np.ndarray) -> None:
        k = int(mask.sum())
        phi = self.rng.uniform(0, 2 * np.pi, k)
        self.agent[mask] = CENTRE + 75 * np.stack([np.cos(phi), np.sin(phi)], axis=1)
        self.ai[mask] = CENTRE
        self.agent_vel[mask] = self.ai_vel[mask] = 0.0
        self.agent_evades[mask] = self.rng.integers(0, 2, k) == 1
        self.pillar_phase[mask] = self.rng.uniform(0, 2 * np.pi, k)
        self.pillar_dir[mask] = self.rng.choice((-1.0, 1.0), k)
        self.role_change[mask] = False
        self.role_counter[mask] = 0
        self.flash[mask] = 0
        self.steps[mask] = 0
        self._place_pillars()

    def _push_out(self, p: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # The pillars are 69 px apart and a push moves at most 20.5 px from one pillar, so a
        # character touches at most one of them: pushing against all three at once equals the
        # original's one-pillar-at-a-time loop.
        to_pillars = self.pillars - p[:, None, :]
        dist = length(to_pillars[..., 0], to_pillars[..., 1])
        hit = dist < PILLAR_R + CHAR_R
        if not np.count_nonzero(hit):
            return p, v
        n = _unit(to_pillars, dist)
        depth = np.where(hit, PILLAR_R + CHAR_R - dist + 0.5, 0.0)
        p = p - (n * depth[..., None]).sum(axis=1)
        vn = (v[:, None, :] * n).sum(axis=-1)
        v = v - (2 * np.where(hit & (vn > 0), vn, 0.0)[..., None] * n).sum(axis=1)
        return p, v

    def _pursuit(self, agent: np.ndarray) -> np.ndarray:
        """Unit heading of a pursuing AI: toward the agent, steering around nearby pillars."""
        ai = self.ai
        to_pillars = ai[:, None, :] - self.pillars
        pillar_dist = length(to_pillars[..., 0], to_pillars[..., 1])
        weight = np.where(pillar_dist < AVOID_R, (AVOID_R - pillar_dist) / AVOID_R, 0.0)
        avoid = weight[..., None] * _unit(to_pillars, pillar_dist)
        return _unit(_unit(agent - ai) + avoid.sum(axis=1))

    def _evasion(self, agent: np.ndarray) -> np.ndarray:
        """Unit heading of an evading AI: run away, keep off the rim, hide behind pillars,
        zig-zag when close.

        The rim and hiding terms are added only where they are non-zero: adding a zero vector
        changes nothing here (the heading has no ``-0.0`` components to turn into ``+0.0``).
        """
        ai = self.ai
        away = agent - ai
        flee = _unit(ai - agent)
        from_centre = ai - CENTRE
        centre_dist = length(from_centre[:, 0], from_centre[:, 1])
        near_rim = centre_dist > RIM_R
        if np.count_nonzero(near_rim):
            flee -= 0.5 * _unit(from_centre, centre_dist) * near_rim[:, None]
        behind = ((agent[:, None, :] - self.pillars) * (ai[:, None, :] - self.pillars)).sum(-1) < 0
        if np.count_nonzero(behind):
            flee += 0.02 * ((self.pillars - ai[:, None, :]) * behind[..., None]).sum(axis=1)
        zig_zag = (length(away[:, 0], away[:, 1]) < 36) & ~self.agent_evades
        if np.count_nonzero(zig_zag):
            perp = _unit(np.stack([away[:, 1], -away[:, 0]], axis=1))
            signs = self.rng.choice((-1.0, 1.0), (self.num_envs, 2))
            flee += np.where(zig_zag[:, None], 0.2 * perp * signs, 0.0)
        return _unit(flee)

    def _pursuit_one(self, ax: float, ay: float, bx: float, by: float, pillars) -> tuple[float, float]:
        """:meth:`_pursuit` of the single copy: agent at (ax, ay), AI at (bx, by)."""
        avoid_x = avoid_y = 0.0
        for px, py in pillars:
            tx, ty = bx - px, by - py
            if (dist := length_one(tx, ty)) < AVOID_R:
                weight = (AVOID_R - dist) / AVOID_R
                nx, ny = _scaled(tx, ty, dist)
                avoid_x += weight * nx
                avoid_y += weight * ny
        ux, uy = _unit_one(ax - bx, ay - by)
        return _unit_one(ux + avoid_x, uy + avoid_y)

    def _evasion_one(self, ax: float, ay: float, bx: float, by: float, pillars) -> tuple[float, float]:
        """:meth:`_evasion` of the single copy: agent at (ax, ay), AI at (bx, by).

        The hiding term is added even when zero, which changes nothing (see :meth:`_evasion`).
        """
        # |ai - agent| is also the norm of the zig-zag's perpendicular: the length ignores the
        # order and the signs of its arguments.
        gap = length_one(bx - ax, by - ay)
        fx, fy = _scaled(bx - ax, by - ay, gap)
        cx, cy = bx - CENTRE_X, by - CENTRE_Y
        if (centre_dist := length_one(cx, cy)) > RIM_R:
            fx -= 0.5 * (cx / centre_dist)
            fy -= 0.5 * (cy / centre_dist)
        hide_x = hide_y = 0.0
        for px, py in pillars:
            if (ax - px) * (bx - px) + (ay - py) * (by - py) < 0:
                hide_x += px - bx
                hide_y += py - by
        fx += 0.02 * hide_x
        fy += 0.02 * hide_y
        if gap < 36:
            (sign_x, sign_y), = self.rng.choice((-1.0, 1.0), (1, 2)).tolist()
            perp_x, perp_y = _scaled(ay - by, -(ax - bx), gap)
            fx += 0.2 * perp_x * sign_x
            fy += 0.2 * perp_y * sign_y
        return _unit_one(fx, fy)

    def _ai_direction(self, agent: np.ndarray) -> np.ndarray:
        """Unit heading of the AI, reacting to the agent's position after this step's move.

        Each heading is computed only if some env needs it (one env needs one of them).
        """
        evading = np.count_nonzero(self.agent_evades)
        if evading == self.num_envs:
            return self._pursuit(agent)
        if not evading:
            return self._evasion(agent)
        return np.where(self.agent_evades[:, None], self._pursuit(agent), self._evasion(agent))

    def _play(self, action: np.ndarray, playing: np.ndarray) -> None:
        agent_speed = np.where(self.agent_evades, EVADER_SPEED, SPEED)[:, None]
        agent_vel = action * agent_speed
        agent = _clamp_radius(self.agent + agent_vel, PLAY_R)
        agent, agent_vel = self._push_out(agent, agent_vel)
        ai_speed = np.where(self.agent_evades, SPEED, EVADER_SPEED)[:, None]
        ai_vel = self._ai_direction(agent) * ai_speed
        ai = _clamp_radius(self.ai + ai_vel, PLAY_R)
        ai, ai_vel = self._push_out(ai, ai_vel)
        if np.count_nonzero(~playing):  # the envs changing roles keep their characters' state
            m = playing[:, None]
            agent, agent_vel = np.where(m, agent, self.agent), np.where(m, agent_vel, self.agent_vel)
            ai, ai_vel = np.where(m, ai, self.ai), np.where(m, ai_vel, self.ai_vel)
        self.agent, self.agent_vel, self.ai, self.ai_vel = agent, agent_vel, ai, ai_vel

    def _play_one(self, action: list[float], pillars, evades: bool) -> None:
        """:meth:`_play` of the single copy, on floats."""
        agent_speed, ai_speed = (EVADER_SPEED, SPEED) if evades else (SPEED, EVADER_SPEED)
        ((ax, ay),), ((bx, by),) = self.agent.tolist(), self.ai.tolist()
        vx, vy = action[0] * agent_speed, action[1] * agent_speed
        ax, ay = _clamp_radius_one(ax + vx, ay + vy, PLAY_R)
        ax, ay, vx, vy = _push_out_one(pillars, ax, ay, vx, vy)
        heading = self._pursuit_one if evades else self._evasion_one
        wx, wy = heading(ax, ay, bx, by, pillars)
        wx, wy = wx * ai_speed, wy * ai_speed
        bx, by = _clamp_radius_one(bx + wx, by + wy, PLAY_R)
        bx, by, wx, wy = _push_out_one(pillars, bx, by, wx, wy)
        self.agent[0], self.agent_vel[0], self.ai[0], self.ai_vel[0] = (ax, ay), (vx, vy), (bx, by), (wx, wy)

    def _catch(self, caught: np.ndarray) -> None:
        """Swap the roles where the pursuer caught the evader, and start the role change."""
        self.flash[caught] = 12
        self.flash_pos[caught] = (self.agent[caught] + self.ai[caught]) / 2
        self.flash_agent_caught[caught] = self.agent_evades[caught]
        self.agent_evades ^= caught
        self.role_change |= caught
        self.role_counter[caught] = 0

    def _change_roles(self, changing: np.ndarray) -> None:
        self.role_counter[changing] += 1
        agent_pursues = ~self.agent_evades[:, None]
        pursuer = np.where(agent_pursues, self.agent, self.ai)
        evader = np.where(agent_pursues, self.ai, self.agent)
        to_centre = CENTRE - pursuer
        dist = length(to_centre[:, 0], to_centre[:, 1])[:, None]
        pursuer = np.where(dist > 1.5, pursuer + SPEED * _unit(to_centre), pursuer)
        out = evader - CENTRE
        dist = length(out[:, 0], out[:, 1])[:, None]
        evader = _clamp_radius(np.where(dist > 0.01, evader + EVADER_SPEED * _unit(out), evader), ROLE_CHANGE_R)
        m = changing[:, None]
        self.agent = np.where(m, np.where(agent_pursues, pursuer, evader), self.agent)
        self.ai = np.where(m, np.where(agent_pursues, evader, pursuer), self.ai)
        home = length(*(pursuer - CENTRE).T) < 2
        self.role_change &= ~(changing & (self.role_counter >= 5) & home)

    def _step(self, action: np.ndarray):
        self._place_pillars()
        changing = self.role_change.copy()
        n_changing = np.count_nonzero(changing)
        if n_changing:
            self._change_roles(changing)
        if n_changing < self.num_envs:
            self._play(action.astype(float), ~changing)
        gap = self.agent - self.ai
        distance = length(gap[:, 0], gap[:, 1])
        caught = ~changing & (distance < CATCH_DIST)
        if np.count_nonzero(caught):
            self._catch(caught)
        reward = np.where(self.agent_evades, 0.1, -0.1) * distance / 90.0
        self.steps += 1
        return reward, np.zeros(self.num_envs, np.float32)

    def _step_one(self, action):
        steps = self.steps.item()
        turn, phase = self.pillar_dir.item() * PILLAR_SPIN * steps, self.pillar_phase.item()
        pillars = []  # _place_pillars (math.cos and math.sin give numpy's values here)
        for offset in PILLAR_ANGLE_LIST:
            angle = phase + offset + turn
            pillars.append((math.cos(angle) * ORBIT_R + CENTRE_X, math.sin(angle) * ORBIT_R + CENTRE_Y))
        self.pillars[0] = pillars
        changing = self.role_change.item()
        if changing:  # a few steps after each catch: the batched code
            self._change_roles(np.ones(1, bool))
        else:
            self._play_one(action, pillars, self.agent_evades.item())
        ((ax, ay),), ((bx, by),) = self.agent.tolist(), self.ai.tolist()
        distance = length_one(ax - bx, ay - by)
        if not changing and distance < CATCH_DIST:
            self._catch(np.ones(1, bool))
        self.steps[0] = steps + 1
        return (0.1 if self.agent_evades.item() else -0.1) * distance / 90.0, 0.0

    def _observation_one(self):
        ((ax, ay),), ((vx, vy),) = self.agent.tolist(), self.agent_vel.tolist()
        ((bx, by),), ((wx, wy),) = self.ai.tolist(), self.ai_vel.tolist()
        obs = [ax / 224.0, ay / 224.0, vx / SPEED, vy / SPEED, bx / 224.0, by / 224.0, wx / SPEED, wy / SPEED]
        obs.append(float(self.agent_evades.item()))
        obs += [p / 224.0 for p in self.pillars.ravel().tolist()]
        return obs

    def _observation(self) -> np.ndarray:
        # Gather the raw state, then scale it with one division instead of one per field.
        n = self.num_envs
        obs = np.empty((n, self.obs_dim))
        obs[:, 0:2] = self.agent
        obs[:, 2:4] = self.agent_vel
        obs[:, 4:6] = self.ai
        obs[:, 6:8] = self.ai_vel
        obs[:, 8] = self.agent_evades
        obs[:, 9:15] = self.pillars.reshape(n, 6)
        return (obs / OBS_SCALE).astype(np.float32)

    def _draw_character(self, s, pg, pos, color, step: int, moving: bool) -> None:
        x, y = int(pos[0]), int(pos[1])
        bob = 2 if moving and (step // 3) % 2 else 0
        pg.draw.ellipse(s, color, (x - 6, y + 6 - bob, 5, 4))
        pg.draw.ellipse(s, color, (x + 1, y + 6 - 2 + bob, 5, 4))
        pg.draw.ellipse(s, (220, 220, 220), (x - 6, y - 9, 12, 18))
        pg.draw.rect(s, color, (x - 6, y - 2, 12, 4))
        pg.draw.ellipse(s, (220, 220, 220), (x - 10, y - 3, 4, 7))
        pg.draw.ellipse(s, (220, 220, 220), (x + 6, y - 3, 4, 7))
        pg.draw.polygon(s, color, [(x - 6, y - 8), (x + 6, y - 8), (x, y - 16)])

    def draw(self, index: int) -> np.ndarray:
        if self._canvas is None:
            self._canvas = Canvas(self.frame_size)
        c = self._canvas
        pg, s = c.pygame, c.surface
        evader_color = ORANGE if self.agent_evades[index] else GREEN
        c.background(
            evader_color,
            lambda: (0.75 * vertical_gradient((130, 185, 180), (80, 170, 180)) + 0.25 * np.array(evader_color)).astype(np.uint8),
        )
        centre = CENTRE.astype(int).tolist()
        pg.draw.circle(s, (40, 40, 45), centre, ARENA_R)
        pg.draw.circle(s, (220, 220, 220), centre, ARENA_R, 2)
        pg.draw.line(s, (150, 150, 150), (centre[0], centre[1] - 12), (centre[0], centre[1] + 12), 2)
        pg.draw.polygon(s, evader_color, [(centre[0], centre[1] - 12), (centre[0] + 8, centre[1] - 9), (centre[0], centre[1] - 6)])
        for px, py in self.pillars[index]:
            pg.draw.rect(s, (90, 90, 95), (int(px) - 12, int(py), 24, 4))
            pg.draw.circle(s, (130, 130, 130), (int(px), int(py)), PILLAR_R)
        team = "orange" if self.agent_evades[index] else "green"
        word_color = ORANGE if self.agent_evades[index] else (0, 180, 0)
        c.text(team, 18, word_color, (6, 3))
        c.text(" is evading", 18, (255, 255, 255), (6 + 9 * len(team), 3))
        step = int(self.steps[index])
        self._draw_character(s, pg, self.ai[index], GREEN, step, bool(np.any(self.ai_vel[index])))
        self._draw_character(s, pg, self.agent[index], ORANGE, step, bool(np.any(self.agent_vel[index])))
        if self.flash[index] > 0:
            # The flash is visual only; like the original, rendering advances its timer.
            t = 12 - self.flash[index]
            radius = 10 + 40 * (t / 6 if t < 6 else (12 - t) / 6)
            color = ORANGE if self.flash_agent_caught[index] else GREEN
            pg.draw.circle(s, color, self.flash_pos[index].astype(int).tolist(), int(radius), 3)
            self.flash[index] -= 1
        if self.role_change[index]:
            pursuer_color = GREEN if self.agent_evades[index] else ORANGE
            digit = max(1, 3 - int(self.role_counter[index]) // 5)
            c.text(str(digit), 28, pursuer_color, (centre[0], centre[1] - 30), anchor="midbottom")
        return c.to_array()
