"""pygame-bird-attack: a Space-Invaders-style shooter with a boss (per-env loop over list state)."""
from __future__ import annotations

from itertools import groupby
from operator import itemgetter

import numpy as np

from newt.envs.miniarcade.core import Canvas, MiniArcadeGame, clamp

ARENA_LO, ARENA_HI = 20, 204
AGENT_W, AGENT_H, AGENT_Y = 14, 8, 184
AGENT_SPEED, STUN_FACTOR = 6.0, 0.2
RELOAD, STUN = 8, 16
BULLET_SPEED = 7
BIRD_W, BIRD_H, BIRD_HP = 14, 12, 2
FIRE_P = 0.0075
BOSS_STEP, BOSS_FIRE_PERIOD, BOSS_FADE = 250, 50, 5
BOSS_BULLET_R, BOSS_BULLET_SPEED = 10, 5.0
BOSS_HOME = (112.0, 40.0)


class _Board:
    """The list-based state of one env (bullets and birds come and go).

    The formation moves as one: each bird keeps its starting position and hit points
    ``[x, y, hp]``, and the formation's offset ``(shift_x, shift_y)`` places it (all integers,
    so the sums are exact). The leftmost and rightmost starting x of the living birds are kept
    in ``span``, refreshed by :meth:`remove_bird`.
    """

    def __init__(self):
        self.x = 105.0
        self.reload = 0
        self.stun = 0
        self.bullets: list[list[float]] = []
        self.bird_bullets: list[list[float]] = []
        self.birds = [[40.0 + 20 * c, 40.0 + 20 * r, BIRD_HP] for r in range(2) for c in range(8)]
        self.shift_x = self.shift_y = 0.0
        self.span = (40.0, 180.0)
        self.direction = 1
        self.boss_active = False
        self.boss = list(BOSS_HOME)
        self.boss_timer = BOSS_FIRE_PERIOD
        self.boss_fade = 0
        self.boss_bullet: list[float] | None = None
        self.steps = 0
        self.kills = 0

    def remove_bird(self, bird: list[float]) -> None:
        """Remove a dead bird and refresh ``span``."""
        self.birds.remove(bird)
        if self.birds:
            xs = [other[0] for other in self.birds]
            self.span = (min(xs), max(xs))


class BirdAttack(MiniArcadeGame):
    """Shoot a 2 x 8 formation of 2-HP birds: +1 per kill, -2 per hit taken, +1 per step once
    every bird is dead. From step 250 an invulnerable boss fires aimed, wall-bouncing shots.

    Action: (horizontal velocity, fire if > 0). Observation (55): agent x/224, reload/5,
    living birds/16, 16 living-bird x/224 (zero-padded), lowest bird y/224, 5 agent bullets
    (x/224, y/224), 10 bird bullets (x/224, y/224), stun/10, boss bullet position/224 and
    velocity/5 (clipped; zeros without a boss bullet).

    Example:
        >>> game = BirdAttack(num_envs=2, seed=0)
        >>> game.reset()[:, 2].tolist()
        [1.0, 1.0]
    """

    obs_dim = 55
    action_dim = 2

    def __init__(self, num_envs: int = 1, seed: int | None = None):
        super().__init__(num_envs, seed)
        self.boards = [_Board() for _ in range(num_envs)]
        self._canvas = None

    def _reset(self, mask: np.ndarray) -> None:
        for i in np.flatnonzero(mask):
            self.boards[i] = _Board()

    def _step(self, action: np.ndarray):
        # As Python lists: indexing numpy arrays per env and per bird costs more than converting once.
        fire_draws = (self.rng.random((self.num_envs, 16)) < FIRE_P).tolist()
        boss_draws = self.rng.uniform(-1.0, 1.0, (self.num_envs, 2)).tolist()
        reward = [
            self._step_board(board, move, fire, fire_draw, boss_draw)
            for board, (move, fire), fire_draw, boss_draw in zip(self.boards, action.tolist(), fire_draws, boss_draws)
        ]
        return np.array(reward, np.float32), np.zeros(self.num_envs, np.float32)

    def _step_board(self, b: _Board, move: float, fire: float, fire_draw, boss_draw) -> float:
        reward = 0.0
        speed = AGENT_SPEED * (STUN_FACTOR if b.stun > 0 else 1.0)
        b.x = clamp(b.x + move * speed, ARENA_LO, ARENA_HI - AGENT_W)
        if b.stun > 0:
            b.stun -= 1
        if fire > 0 and b.reload == 0:
            b.bullets.append([b.x + 7, 178.0])
            b.reload = RELOAD
        if b.reload > 0:
            b.reload -= 1
        for bullet in b.bullets:
            bullet[1] -= BULLET_SPEED
        bullets = b.bullets = [bullet for bullet in b.bullets if bullet[1] > ARENA_LO]
        birds = b.birds
        if birds:
            shift = b.direction
            lo, hi = b.span
            if hi + b.shift_x + BIRD_W + shift > ARENA_HI or lo + b.shift_x + shift < ARENA_LO:
                b.direction = -b.direction
                b.shift_y += 4
            else:
                b.shift_x += shift
        sx, sy = b.shift_x, b.shift_y
        if any(fire_draw):
            for bird, shoots in zip(birds, fire_draw):
                if shoots:
                    b.bird_bullets.append([bird[0] + sx + 7, bird[1] + sy + 12])
        for bullet in b.bird_bullets:
            bullet[1] += BULLET_SPEED
        b.bird_bullets = [bullet for bullet in b.bird_bullets if bullet[1] < ARENA_HI]
        # Most steps every bullet is still below the formation's lowest row (which the last bird
        # is in): then none can hit (the 1 px margin covers rounding).
        if bullets and birds and min([bullet[1] for bullet in bullets]) < birds[-1][1] + sy + 13:
            # Birds of a row share their y: only the bullets level with a row can hit its birds.
            for y, row in groupby(list(birds), itemgetter(1)):
                centre_y = y + sy + 6
                level = [bullet for bullet in bullets if abs(bullet[1] - centre_y) < 6]
                if not level:
                    continue
                for bird in row:
                    centre_x = bird[0] + sx + 7
                    for bullet in level:
                        if abs(bullet[0] - centre_x) < 7:
                            bullets.remove(bullet)
                            level.remove(bullet)
                            bird[2] -= 1
                            if bird[2] <= 0:
                                reward += 1.0
                                b.kills += 1
                                b.remove_bird(bird)
                            break
        # Removing while iterating skips the bullet after a hit, as in the original.
        for bullet in b.bird_bullets:
            if abs(bullet[0] - (b.x + 7)) < 7 and abs(bullet[1] - (AGENT_Y + 4)) < 4:
                reward -= 2.0
                b.bird_bullets.remove(bullet)
                b.stun = b.reload = STUN
        if not b.boss_active and b.steps >= BOSS_STEP:
            b.boss_active, b.boss, b.boss_timer, b.boss_fade = True, list(BOSS_HOME), BOSS_FIRE_PERIOD, BOSS_FADE
        if b.boss_active:
            if b.boss_fade > 0:
                b.boss_fade -= 1
            else:
                b.boss[0] = clamp(BOSS_HOME[0] + 184 * 0.03 * boss_draw[0], 52.0, 172.0)
                b.boss[1] = clamp(BOSS_HOME[1] + 184 * 0.01 * boss_draw[1], 28.0, 104.0)
                b.boss_timer -= 1
                if b.boss_timer <= 0 and b.boss_bullet is None:
                    sx, sy = b.boss[0], b.boss[1] + 8
                    dx, dy = b.x + 7 - sx, AGENT_Y + 4 - sy
                    norm = max(float(np.hypot(dx, dy)), 1e-9)
                    b.boss_bullet = [sx, sy, BOSS_BULLET_SPEED * dx / norm, BOSS_BULLET_SPEED * dy / norm]
                    b.boss_timer = BOSS_FIRE_PERIOD
        if b.boss_bullet is not None:
            bb = b.boss_bullet
            bb[0] += bb[2]
            bb[1] += bb[3]
            if bb[0] - BOSS_BULLET_R < ARENA_LO or bb[0] + BOSS_BULLET_R > ARENA_HI:
                bb[2] = -bb[2]
            if bb[1] - BOSS_BULLET_R >= ARENA_HI:
                b.boss_bullet = None
            elif abs(bb[0] - (b.x + 7)) < 17 and abs(bb[1] - (AGENT_Y + 4)) < 14:
                reward -= 2.0
                b.stun = b.reload = STUN
                b.boss_bullet = None
        if not b.birds:
            reward += 1.0
        b.steps += 1
        return reward

    def _observation(self) -> np.ndarray:
        # The rows are mostly zero padding: scalar writes into zeros cost less than building whole rows,
        # and far less than slice writes from tuples.
        obs = np.zeros((self.num_envs, self.obs_dim), np.float32)
        for b, row in zip(self.boards, obs):
            birds, sx = b.birds, b.shift_x
            row[0] = b.x / 224
            row[1] = b.reload / 5
            row[2] = len(birds) / 16
            for j, bird in enumerate(birds, 3):
                row[j] = (bird[0] + sx) / 224
            # The birds are listed row by row, so the last one is in the lowest row.
            row[19] = (birds[-1][1] + b.shift_y) / 224 if birds else 20.0 / 224
            for j, (x, y) in enumerate(b.bullets[:5]):
                row[20 + 2 * j] = x / 224
                row[21 + 2 * j] = y / 224
            for j, (x, y) in enumerate(b.bird_bullets[:10]):
                row[30 + 2 * j] = x / 224
                row[31 + 2 * j] = y / 224
            row[50] = b.stun / 10
            if b.boss_bullet is not None:
                x, y, vx, vy = b.boss_bullet
                row[51] = clamp(x / 224, 0.0, 1.0)
                row[52] = clamp(y / 224, 0.0, 1.0)
                row[53] = clamp(vx / BOSS_BULLET_SPEED, -1.0, 1.0)
                row[54] = clamp(vy / BOSS_BULLET_SPEED, -1.0, 1.0)
        return obs

    def draw(self, index: int) -> np.ndarray:
        if self._canvas is None:
            self._canvas = Canvas(self.frame_size)
        c = self._canvas
        pg, s = c.pygame, c.surface
        b = self.boards[index]
        s.fill((0, 0, 0))
        pg.draw.rect(s, (255, 255, 255), (ARENA_LO, ARENA_LO, 184, 184), 2)
        x = int(b.x)
        pg.draw.rect(s, (255, 140, 0), (x, AGENT_Y, AGENT_W, AGENT_H))
        pg.draw.polygon(s, (255, 140, 0), [(x + 3, AGENT_Y), (x + 11, AGENT_Y), (x + 7, AGENT_Y - 6)])
        for bx, by, hp in b.birds:
            bx, by = bx + b.shift_x, by + b.shift_y
            points = [(bx, by), (bx + 7, by + 12), (bx + 14, by)]
            pg.draw.polygon(s, (200, 200, 200), points, 0 if hp >= BIRD_HP else 2)
        for bx, by in b.bullets:
            pg.draw.rect(s, (255, 140, 0), (int(bx) - 2, int(by) - 6, 4, 6))
        for bx, by in b.bird_bullets:
            pg.draw.rect(s, (200, 200, 200), (int(bx) - 2, int(by), 4, 6))
        if b.boss_active:
            cx, cy = b.boss
            alpha = int(255 * (BOSS_FADE - b.boss_fade) / BOSS_FADE)
            layer = c.translucent()
            points = [(cx - 32, cy + 8), (cx - 16, cy - 8), (cx, cy + 8), (cx + 16, cy - 8), (cx + 32, cy + 8)]
            pg.draw.lines(layer, (200, 200, 200, alpha), False, points, 3)
            s.blit(layer, (0, 0))
        if b.boss_bullet is not None:
            pg.draw.circle(s, (200, 200, 200), (int(b.boss_bullet[0]), int(b.boss_bullet[1])), BOSS_BULLET_R)
        color = (80, 200, 110) if b.kills >= 16 else (255, 255, 255)
        c.text(str(b.kills), 18, color, (24, 0))
        if b.stun > 0:
            layer = c.translucent()
            layer.fill((220, 30, 10, int(140 * b.stun / STUN)), (ARENA_LO, ARENA_LO, 184, 184))
            s.blit(layer, (0, 0))
        return c.to_array()
