"""pygame-highway: dodge traffic on a 5-lane road (per-env loop; traffic rules are sequential)."""
from __future__ import annotations

import math

import numpy as np

from newt.envs.miniarcade.core import Canvas, MiniArcadeGame, clamp

ROAD_TOP, ROAD_BOTTOM = 18, 206
LANE_H = (ROAD_BOTTOM - ROAD_TOP) / 5
LANES = [ROAD_TOP + LANE_H * (k + 0.5) for k in range(5)]
CAR_L, CAR_H = 28, 18
#: Pixel row of the top edge of a car in each lane.
LANE_TOPS = [int(y - CAR_H / 2) for y in LANES]
THRUST, DAMPING = 0.65, 0.95
TRAFFIC_SPEED, YELLOW_SPEED = 6.0, 7.2
SLOTS = 4
SPAWN_GAP = 18
CLEAR_WINDOW = int(CAR_L * 2.5)
STICK_STEPS = 5
#: Car types: (colour, length); index 1 (yellow) is the fast car, index 2 the truck.
CAR_TYPES = (((95, 135, 212), 28), ((227, 188, 34), 28), ((82, 140, 66), 56))
YELLOW, TRUCK = 1, 2


class _Car:
    __slots__ = ("active", "x", "lane", "kind", "length", "passed", "respawn", "timer")

    def __init__(self, respawn: int):
        self.active, self.x, self.lane, self.kind, self.length = False, 0.0, 0, 0, CAR_L
        self.passed, self.respawn, self.timer = False, respawn, 0


class _Road:
    def __init__(self, rng: np.random.Generator):
        self.x = float(rng.uniform(20, 60))
        self.y = LANES[int(rng.integers(1, 4))] - CAR_H / 2
        self.vx, self.vy = (float(v) for v in rng.uniform(-0.2, 0.2, 2))
        self.dash = 0
        self.flash = 0
        self.stuck: _Car | None = None
        self.cars = [_Car(int(rng.integers(0, 7))) for _ in range(SLOTS)]
        self.steps = 0


def traffic_cap(steps: int) -> int:
    """Cars allowed at once: 1 at the start, growing to 4 at step 499."""
    return int(math.floor(1 + 3 * min(max(steps / 499, 0.0), 1.0) + 1e-9))


#: traffic_cap of each step up to 499, from where it stays at 4.
_CAPS = [traffic_cap(steps) for steps in range(500)]


def nearest_lane(centre_y: float) -> int:
    """The lane whose centre is nearest to ``centre_y`` (the lower one on a tie).

    Example:
        >>> nearest_lane(LANES[1]), nearest_lane((LANES[1] + LANES[2]) / 2), nearest_lane(500.0)
        (1, 1, 4)
    """
    # The lanes are equally spaced, so centre_y lies in lane k's strip; rounding can only put it
    # one strip off at a strip's edge, where the exact distances to the neighbours decide.
    k = clamp(int((centre_y - ROAD_TOP) / LANE_H), 0, 4)
    if k > 0 and abs(centre_y - LANES[k - 1]) <= abs(centre_y - LANES[k]):
        return k - 1
    if k < 4 and abs(centre_y - LANES[k + 1]) < abs(centre_y - LANES[k]):
        return k + 1
    return k


def _gap_obs(gap: float | None) -> float:
    """A lane gap as observed: /224 clipped to [0, 1], or -1 without a car ahead."""
    return -1.0 if gap is None else clamp(gap / 224, 0.0, 1.0)


class Highway(MiniArcadeGame):
    """Drive a car with 2-D thrust through traffic: -1 per collision (the car then sticks to the
    other car for up to 5 steps), plus small shaping for lane centring, a clear lane ahead and
    smooth actions.

    Observation (24): x/224, centre y/224, v/10, collision flash/3, distance to the nearest car
    ahead in the own lane and whether the lanes above/below are clear (and their distances),
    lane offset, lane/4, then 4 traffic slots (x/224, centre y/224, is_truck) or (-1, -1, -1).

    Args:
        num_envs: game copies.
        seed: random seed.
        compat: keep the original quirk that the collision flash (observation 4) only counts
            down when a frame is rendered; ``False`` counts it down every step.

    Example:
        >>> game = Highway(num_envs=2, seed=0)
        >>> game.reset().shape
        (2, 24)
    """

    obs_dim = 24
    action_dim = 2

    def __init__(self, num_envs: int = 1, seed: int | None = None, compat: bool = True):
        super().__init__(num_envs, seed)
        self.compat = compat
        self.roads = [None] * num_envs
        self._canvas = None
        self._reset(np.ones(num_envs, bool))

    def _spawn(self, road: _Road, car: _Car, x: float | None = None) -> bool:
        kind = int(self.rng.integers(0, 3))
        length = CAR_TYPES[kind][1]
        for _ in range(8):
            lane = int(self.rng.integers(0, 5))
            sx = x if x is not None else 224 + float(self.rng.uniform(20, 60))
            if all(
                not (o.active and o.lane == lane and abs(o.x - sx) < max(length, o.length) + SPAWN_GAP)
                for o in road.cars
            ):
                car.active, car.x, car.lane, car.kind, car.length = True, sx, lane, kind, length
                car.passed, car.respawn, car.timer = False, 0, 0
                return True
        return False

    def _reset(self, mask: np.ndarray) -> None:
        for i in np.flatnonzero(mask):
            road = self.roads[i] = _Road(self.rng)
            self._spawn(road, road.cars[0], x=224.0 + 40.0)

    @staticmethod
    def _ahead(road: _Road, car: _Car) -> _Car | None:
        best, best_gap = None, math.inf
        for o in road.cars:
            if o is not car and o.active and o.lane == car.lane and o.x < car.x:
                gap = car.x - (o.x + o.length)
                if 0 <= gap < best_gap:
                    best, best_gap = o, gap
        return best

    def _advance(self, road: _Road, car: _Car) -> float:
        """The car's new x: yellow cars are faster unless close behind another car."""
        if car.kind != YELLOW:
            return car.x - TRAFFIC_SPEED
        ahead = self._ahead(road, car)
        speed = YELLOW_SPEED
        if ahead is not None and car.x - (ahead.x + ahead.length) <= max(car.length, ahead.length):
            speed = TRAFFIC_SPEED
        new_x = car.x - speed
        return max(new_x, ahead.x + ahead.length + 1) if ahead is not None else new_x

    def _unstick(self, road: _Road) -> None:
        car = road.stuck
        car.active, car.respawn, car.passed, car.timer = False, int(self.rng.integers(4, 11)), False, 0
        road.vx = road.vy = 0.0
        road.stuck = None

    @staticmethod
    def _lane_gaps(road: _Road) -> list[float | None]:
        """Per lane, the distance from the agent's nose to the nearest car ahead (``None``: no car)."""
        front = road.x + CAR_L
        gaps = [None] * 5
        for c in road.cars:
            if c.active:
                gap = c.x - front
                if gap >= 0 and (gaps[c.lane] is None or gap < gaps[c.lane]):
                    gaps[c.lane] = gap
        return gaps

    def _step_road(self, road: _Road, ax: float, ay: float) -> float:
        if not self.compat and road.flash > 0:
            road.flash -= 1
        road.vx += THRUST * ax
        road.vy += THRUST * ay
        road.x += road.vx
        road.y += road.vy
        road.vx *= DAMPING
        road.vy *= DAMPING
        road.x = clamp(road.x, 0.0, 224.0 - CAR_L)
        road.y = clamp(road.y, float(ROAD_TOP), float(ROAD_BOTTOM - CAR_H))
        reward = 0.0
        road.dash = (road.dash + 6) % 32
        cap = _CAPS[min(road.steps, 499)]
        car = road.stuck
        if car is not None:
            if car.kind == YELLOW:
                ahead = self._ahead(road, car)
                speed = YELLOW_SPEED
                if ahead is not None and car.x - (ahead.x + ahead.length) <= max(car.length, ahead.length):
                    speed = TRAFFIC_SPEED
            else:
                ahead, speed = None, TRAFFIC_SPEED
            car_x = car.x - speed
            desired = car_x - (CAR_L - 1)
            agent_x = road.x - speed
            if agent_x < 0 or desired < 0:
                self._unstick(road)
            else:
                if ahead is not None:
                    car_x = max(car_x, ahead.x + ahead.length + 1)
                car.x = car_x
                car.timer -= 1
                road.x = min(agent_x, desired)
                if car.x + car.length < 0 or car.timer <= 0:
                    self._unstick(road)
        rx, ry = int(road.x), int(road.y)
        active_count = 0
        for car in road.cars:
            if not car.active:
                if car.respawn > 0:
                    car.respawn -= 1
                if car.respawn == 0 and active_count < cap:
                    if self._spawn(road, car):
                        active_count += 1
                    else:
                        car.respawn = 1
                continue
            active_count += 1
            if car is road.stuck:
                continue
            car.x = self._advance(road, car)
            if car.x + car.length < road.x:
                car.passed = True
            cy = LANE_TOPS[car.lane]
            cx = int(car.x)
            if road.stuck is None and cx < rx + CAR_L and rx < cx + car.length and cy < ry + CAR_H and ry < cy + CAR_H:
                car.timer, road.stuck, road.flash = STICK_STEPS, car, 3
                reward -= 1.0
            if car.timer == 0 and car.x + car.length < 0:
                car.active, car.respawn = False, int(self.rng.integers(4, 11))
        centre_y = road.y + CAR_H / 2
        lane = nearest_lane(centre_y)
        reward += 0.01 * math.exp(-(((centre_y - LANES[lane]) / (LANE_H / 2)) ** 2))
        gap = self._lane_gaps(road)[lane]
        if gap is None:
            reward += 0.01
        elif gap < 3 * CAR_L:
            reward -= 0.02 * (1 - gap / (3 * CAR_L))
        else:
            reward += 0.005
        reward -= 0.0005 * (ax * ax + ay * ay)
        road.steps += 1
        return reward

    def _step(self, action: np.ndarray):
        reward = [self._step_road(road, ax, ay) for road, (ax, ay) in zip(self.roads, action.tolist())]
        return np.array(reward, np.float32), np.zeros(self.num_envs, np.float32)

    def _observation(self) -> np.ndarray:
        # The rows are dense: one flat list converted once costs less than 24 scalar writes per env.
        obs = []
        for road in self.roads:
            centre_y = road.y + CAR_H / 2
            lane = nearest_lane(centre_y)
            gaps = self._lane_gaps(road)
            above = gaps[lane - 1] if lane > 0 else None
            below = gaps[lane + 1] if lane < 4 else None
            obs += (road.x / 224, centre_y / 224, road.vx / 10, road.vy / 10, road.flash / 3, _gap_obs(gaps[lane]))
            # A neighbour lane is clear when it is on the road and its nearest car ahead is beyond CLEAR_WINDOW.
            obs.append(float(lane > 0 and (above is None or above > CLEAR_WINDOW)))
            obs.append(float(lane < 4 and (below is None or below > CLEAR_WINDOW)))
            obs += (_gap_obs(above), _gap_obs(below))
            obs += (clamp((centre_y - LANES[lane]) / (LANE_H / 2), -1.0, 1.0), lane / 4)
            for car in road.cars:
                if car.active:
                    obs += (car.x / 224, LANES[car.lane] / 224, float(car.kind == TRUCK))
                else:
                    obs += (-1.0, -1.0, -1.0)
        return np.array(obs, np.float32).reshape(self.num_envs, self.obs_dim)

    def _draw_car(self, s, pg, x, y, length, body, border) -> None:
        pg.draw.rect(s, body, (x, y, length, CAR_H))
        pg.draw.rect(s, border, (x, y, length, CAR_H), 2)
        radius = max(2, int(0.12 * CAR_H))
        for wx in (x + int(0.22 * length), x + length - int(0.22 * length)):
            for wy in (y + 2, y + CAR_H - 2):
                pg.draw.circle(s, (0, 0, 0), (wx, wy), radius)

    def draw(self, index: int) -> np.ndarray:
        if self._canvas is None:
            self._canvas = Canvas(self.frame_size)
        c = self._canvas
        pg, s = c.pygame, c.surface
        road = self.roads[index]
        s.fill((97, 133, 80))
        pg.draw.rect(s, (60, 60, 60), (0, ROAD_TOP, 224, ROAD_BOTTOM - ROAD_TOP))
        offset = road.dash % 24
        for k in range(1, 5):
            y = int(ROAD_TOP + LANE_H * k)
            for x in range(-offset, 224, 24):
                pg.draw.line(s, (220, 220, 220), (x, y), (x + 14, y), 2)
        pg.draw.line(s, (200, 200, 200), (0, ROAD_TOP), (224, ROAD_TOP), 2)
        pg.draw.line(s, (200, 200, 200), (0, ROAD_BOTTOM), (224, ROAD_BOTTOM), 2)
        for car in road.cars:
            if car.active:
                color, _ = CAR_TYPES[car.kind]
                self._draw_car(s, pg, int(car.x), LANE_TOPS[car.lane], car.length, color, (40, 40, 40))
        x, y = int(road.x), int(road.y)
        self._draw_car(s, pg, x, y, CAR_L, (220, 60, 60), (120, 20, 20))
        layer = c.translucent()
        nose = x + CAR_L + 4
        pg.draw.polygon(layer, (220, 60, 60, 128), [(nose, y + 5), (nose + 8, y + 9), (nose, y + 13)])
        s.blit(layer, (0, 0))
        if road.flash > 0:
            c.tint((220, 60, 60), 50)
            if self.compat:
                # The original counts the flash down only here, in rendering.
                road.flash -= 1
        return c.to_array()
