"""pygame-pong: the agent's left paddle against a delayed-reaction AI (batched, with a single-copy twin)."""
from __future__ import annotations

import numpy as np

from newt.envs.miniarcade.core import Canvas, MiniArcadeGame, clamp, clip, rects_overlap, trunc

COURT_LO, COURT_HI = 20.0, 204.0
PADDLE_W, PADDLE_H = 6, 40
AGENT_X, OPPONENT_X = 30, 188
PADDLE_Y_MAX = 164.0
PADDLE_SPEED = 8.5
BALL_SIZE = 7
BALL_SPEED = 8.0
#: Divisors of the observation's entries.
OBS_SCALE = np.array([224.0, 224.0, BALL_SPEED, BALL_SPEED, 224.0, 224.0])


class Pong(MiniArcadeGame):
    """Pong against an AI that waits 2-6 steps after the ball crosses 30% of the court.

    Observation (6): ball x/224, y/224, ball v_x/8, v_y/8, agent paddle top/224, AI paddle top/224.
    Reward: +1 when the ball leaves past the AI, -1 past the agent (then a new serve).

    Args:
        num_envs: game copies.
        seed: random seed.
        compat: keep the original quirk that the AI's reaction delay survives a reset.

    Example:
        >>> game = Pong(num_envs=2, seed=0)
        >>> game.reset().shape
        (2, 6)
    """

    obs_dim = 6
    action_dim = 1

    def __init__(self, num_envs: int = 1, seed: int | None = None, compat: bool = True):
        super().__init__(num_envs, seed)
        self.compat = compat
        n = num_envs
        self.ball = np.zeros((n, 2))
        self.vel = np.zeros((n, 2))
        self.agent_y = np.full(n, 92.0)
        self.opponent_y = np.full(n, 92.0)
        self.ai_delay = np.zeros(n, np.int64)
        self.ai_in_zone = np.zeros(n, bool)
        self.scores = np.zeros((n, 2), np.int64)
        self._canvas = None

    def _serve(self, mask: np.ndarray) -> None:
        k = int(mask.sum())
        if not k:
            return
        theta = np.pi * self.rng.uniform(-0.5, 0.5, k)
        direction = self.rng.choice((-1.0, 1.0), k)
        self.ball[mask] = 112.0
        self.vel[mask, 0] = BALL_SPEED * direction * np.cos(theta)
        self.vel[mask, 1] = BALL_SPEED * np.sin(theta)

    def _reset(self, mask: np.ndarray) -> None:
        self.agent_y[mask] = 92.0
        self.opponent_y[mask] = 92.0
        self.scores[mask] = 0
        if not self.compat:
            self.ai_delay[mask] = 0
            self.ai_in_zone[mask] = False
        self._serve(mask)

    def _react(self, mask: np.ndarray) -> None:
        """Draw the AI's reaction delay where the ball enters its zone: 6-9 steps, 2-6 when fast."""
        speed = np.hypot(self.vel[mask, 0], self.vel[mask, 1])
        n = clip((speed - 3.0) / 5.0, 0.0, 1.0)
        lo, hi = trunc(6 - 4 * n), trunc(9 - 3 * n)
        self.ai_delay[mask] = self.rng.integers(lo, hi + 1)

    def _move_ai(self) -> None:
        progress = (self.ball[:, 0] - COURT_LO) / (COURT_HI - COURT_LO)
        near = progress > 0.3
        entering = near & ~self.ai_in_zone
        if np.count_nonzero(entering):
            self._react(entering)
        self.ai_in_zone = near
        waiting = near & (self.ai_delay > 0)
        self.ai_delay -= waiting
        chasing = near & ~waiting
        # Guarded: the paddle only moves while chasing (and is in the court already otherwise).
        if np.count_nonzero(chasing):
            factor = 0.5 + 0.35 * clip((progress - 0.3) / 0.65, 0.0, 1.0)
            target = self.ball[:, 1] - 20.0
            step = np.where(target > self.opponent_y, PADDLE_SPEED, -PADDLE_SPEED) * factor
            opponent_y = np.where(chasing, self.opponent_y + step, self.opponent_y)
            self.opponent_y = clip(opponent_y, COURT_LO, PADDLE_Y_MAX)

    def _step(self, action: np.ndarray):
        self.agent_y = clip(self.agent_y + PADDLE_SPEED * action[:, 0], COURT_LO, PADDLE_Y_MAX)
        self._move_ai()
        self.ball += self.vel
        by = self.ball[:, 1]
        # by - BALL_SIZE < COURT_LO and by + BALL_SIZE > COURT_HI, with the constants folded: near
        # these edges the sum and difference are exact, so the comparisons agree.
        wall = (by < COURT_LO + BALL_SIZE) | (by > COURT_HI - BALL_SIZE)
        if np.count_nonzero(wall):
            self.vel[wall, 1] *= -1
        corner = trunc(self.ball - 3.5)
        bx0, by0 = corner[:, 0], corner[:, 1]
        # Guarded: most steps the ball is between the paddles' columns and can hit neither.
        if np.count_nonzero((bx0 < AGENT_X + PADDLE_W) | (bx0 + BALL_SIZE > OPPONENT_X)):
            hit_agent = rects_overlap(bx0, by0, BALL_SIZE, BALL_SIZE, AGENT_X, trunc(self.agent_y), PADDLE_W, PADDLE_H)
            hit_agent &= self.vel[:, 0] < 0
            self.vel[hit_agent, 0] *= -1
            hit_opp = rects_overlap(bx0, by0, BALL_SIZE, BALL_SIZE, OPPONENT_X, trunc(self.opponent_y), PADDLE_W, PADDLE_H)
            hit_opp &= self.vel[:, 0] > 0
            self.vel[hit_opp, 0] *= -1
        bx = self.ball[:, 0]
        lost = bx < COURT_LO
        won = ~lost & (bx > COURT_HI)
        if not np.count_nonzero(lost | won):  # guarded: a point ends on few steps
            return np.zeros(self.num_envs, np.float32), np.zeros(self.num_envs, np.float32)
        reward = won.astype(np.float32) - lost
        self.scores[won, 0] += 1
        self.scores[lost, 1] += 1
        self._serve(won | lost)
        return reward, np.zeros(self.num_envs, np.float32)

    def _step_one(self, action):
        agent_y = clamp(self.agent_y.item() + PADDLE_SPEED * action[0], COURT_LO, PADDLE_Y_MAX)
        self.agent_y[0] = agent_y
        bx, by = self.ball[0].tolist()
        opponent_y = self._move_ai_one(bx, by)
        vx, vy = self.vel[0].tolist()
        bx += vx
        by += vy
        if by < COURT_LO + BALL_SIZE or by > COURT_HI - BALL_SIZE:
            vy = -vy
        bx0, by0 = int(bx - 3.5), int(by - 3.5)
        if bx0 < AGENT_X + PADDLE_W or bx0 + BALL_SIZE > OPPONENT_X:
            ball = (bx0, by0, BALL_SIZE, BALL_SIZE)
            if vx < 0 and rects_overlap(*ball, AGENT_X, int(agent_y), PADDLE_W, PADDLE_H):
                vx = -vx
            if vx > 0 and rects_overlap(*ball, OPPONENT_X, int(opponent_y), PADDLE_W, PADDLE_H):
                vx = -vx
        self.ball[0, 0], self.ball[0, 1] = bx, by
        self.vel[0, 0], self.vel[0, 1] = vx, vy
        if COURT_LO <= bx <= COURT_HI:
            return 0.0, 0.0
        won = bx > COURT_HI
        self.scores[0, 0 if won else 1] += 1
        self._serve(np.ones(1, bool))
        return (1.0 if won else -1.0), 0.0

    def _move_ai_one(self, bx: float, by: float) -> float:
        """:meth:`_move_ai` for the single copy, with the ball at ``(bx, by)``; the AI paddle's new top."""
        opponent_y = self.opponent_y.item()
        progress = (bx - COURT_LO) / (COURT_HI - COURT_LO)
        near = progress > 0.3
        if near and not self.ai_in_zone.item():
            self._react(np.ones(1, bool))
        self.ai_in_zone[0] = near
        if near:
            delay = self.ai_delay.item()
            if delay > 0:
                self.ai_delay[0] = delay - 1
            else:
                factor = 0.5 + 0.35 * clamp((progress - 0.3) / 0.65, 0.0, 1.0)
                step = (PADDLE_SPEED if by - 20.0 > opponent_y else -PADDLE_SPEED) * factor
                opponent_y = clamp(opponent_y + step, COURT_LO, PADDLE_Y_MAX)
                self.opponent_y[0] = opponent_y
        return opponent_y

    def _observation_one(self):
        (bx, by), (vx, vy) = self.ball[0].tolist(), self.vel[0].tolist()
        return [bx / 224.0, by / 224.0, vx / BALL_SPEED, vy / BALL_SPEED,
                self.agent_y.item() / 224.0, self.opponent_y.item() / 224.0]

    def _observation(self) -> np.ndarray:
        # Gather the raw state, then scale it with one division instead of one per field.
        obs = np.empty((self.num_envs, 6))
        obs[:, 0:2] = self.ball
        obs[:, 2:4] = self.vel
        obs[:, 4] = self.agent_y
        obs[:, 5] = self.opponent_y
        return (obs / OBS_SCALE).astype(np.float32)

    def draw(self, index: int) -> np.ndarray:
        if self._canvas is None:
            self._canvas = Canvas(self.frame_size)
        c, pg = self._canvas, self._canvas.pygame
        s = c.surface
        s.fill((0, 0, 0))
        pg.draw.rect(s, (255, 255, 255), (20, 20, 184, 184), 2)
        pg.draw.rect(s, (255, 140, 0), (AGENT_X, int(self.agent_y[index]), PADDLE_W, PADDLE_H))
        pg.draw.rect(s, (180, 180, 180), (OPPONENT_X, int(self.opponent_y[index]), PADDLE_W, PADDLE_H))
        bx, by = self.ball[index]
        pg.draw.rect(s, (255, 255, 255), (int(bx - 3.5), int(by - 3.5), BALL_SIZE, BALL_SIZE))
        c.text(str(self.scores[index, 0]), 20, (255, 140, 0), (36, -2))
        c.text(str(self.scores[index, 1]), 20, (180, 180, 180), (188, -2), anchor="topright")
        return c.to_array()
