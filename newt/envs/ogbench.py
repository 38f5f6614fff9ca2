"""MMBench OGBench tasks (12 + 2 held-out, prefix ``og-``) as a TorchRL env.

Only OGBench's environments are used (no dataset is downloaded): the locomaze point/ant maze
env, the online ant with OGBench's directional-XY wrapper, and the online ant-ball env.

Behaviour (MMBench spec, part 2 section 3):

* **mazes** (``og-point-*``: 4 inner steps per agent step, 100 agent steps; ``og-ant-*``: 2 and
  200). OGBench's reset (a task drawn uniformly from the maze's list, noisy start and goal) on
  the layouts and task lists of :mod:`newt.envs.ogbench_mazes`. OGBench's own reward and
  termination are discarded; after the last inner step, with ``d = xy - goal``:
  ``success = ||d|| <= tol`` (tol 1.0 point, 0.5 ant) and
  ``reward = success - (0.5 ||d||_1 + 0.5 ||d||_2 + p) / 20``, ``p = 0.025 * ||xy - xy_prev||``
  (point, over the last inner step) or ``0.001 * ||qvel||`` (ant). Observation, all divided by
  20: point ``[xy, xy - xy_prev, goal, d, ||d||]`` (9); ant ``[qpos, qvel, xy, goal, d, ||d||]``
  (36; the official env declared 29). ``score = success``.
* **og-ant**: move along a random unit direction ``z`` (redrawn every 100 steps); reward is the
  xy displacement projected on ``z``; observation ``[qpos[2:], qvel, z]`` (29, unscaled);
  ``success`` is 0 and ``score = clip(cumulative reward, 0, 250) / 250``; 1000 steps.
* **og-antball**: push the ball to the goal; OGBench's reward and success (ball within 0.5 of
  the goal); the goal is redrawn from ``U(-3, 3)^2`` after OGBench's reset; 42-d observation,
  unscaled; ``score = success``; 200 steps.
* Terminations (goal reached, unhealthy ant) are ignored: episodes have the fixed length.
* rgb: mazes use OGBench's top-down camera, og-ant the default camera at distance 4,
  og-antball a top-down camera at distance 8, rendered at ``render_size``.

OGBench draws its randomness (task, start/goal noise, direction, ant-ball goal) from the global
``np.random``. Here each env keeps its own numpy RNG state, swapped in around OGBench's calls:
seeding the env fixes its episodes and the global state is left untouched. The official runs
used ogbench 1.1.5; this uses 1.2.2 (its maze env is unchanged in what MMBench relies on).

Example:
    >>> from newt.envs import task_info
    >>> from newt.envs.ogbench import make_ogbench_env
    >>> env = make_ogbench_env(task_info("og-point-maze"), seed=0)
    >>> td = env.rollout(3)
    >>> td["next", "observation"].shape
    torch.Size([3, 9])
"""
from __future__ import annotations

import contextlib
import functools

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.envs import EnvBase, TransformedEnv

from ogbench.locomaze.maze import make_maze_env
from ogbench.online_locomotion.ant import AntEnv as OnlineAntEnv
from ogbench.online_locomotion.ant_ball import AntBallEnv
from ogbench.online_locomotion.wrappers import GymXYWrapper

from newt.envs.ogbench_mazes import LAYOUTS, maze_tasks
from newt.envs.registry import TaskInfo
from newt.envs.contract import check_obs, fixed_length, set_task_specs

__all__ = ["OGBENCH_TASKS", "OGBenchEnv", "make_ogbench_env"]

#: task -> (kind, maze layout or None). Kinds: "point" / "ant" mazes, "ant-xy", "antball".
OGBENCH_TASKS: dict[str, tuple[str, str | None]] = {
    "og-ant": ("ant-xy", None),
    "og-antball": ("antball", None),
    "og-point-arena": ("point", "arena"),
    "og-point-maze": ("point", "medium"),
    "og-point-bottleneck": ("point", "bottleneck"),
    "og-point-circle": ("point", "circle"),
    "og-point-spiral": ("point", "spiral"),
    "og-ant-arena": ("ant", "arena"),
    "og-ant-maze": ("ant", "medium"),
    "og-ant-bottleneck": ("ant", "bottleneck"),
    "og-ant-circle": ("ant", "circle"),
    "og-ant-spiral": ("ant", "spiral"),
    "og-point-var1": ("point", "var1"),
    "og-point-var2": ("point", "var2"),
}
_ACTION_REPEAT = {"point": 4, "ant": 2, "ant-xy": 1, "antball": 1}
_OBS_DIM = {"point": 9, "ant": 36, "ant-xy": 29, "antball": 42}
_ACTION_DIM = {"point": 2, "ant": 8, "ant-xy": 8, "antball": 8}
_GOAL_TOL = {"point": 1.0, "ant": 0.5}
_OBS_SCALE = 20.0
_DIRECTION_INTERVAL = 100
_ANT_XY_SCORE_MAX = 250.0
_ANTBALL_GOAL_RANGE = 3.0
_ANTBALL_CAMERA_DISTANCE = 8.0


@functools.cache
def _layout_maze_class(loco: str) -> type:
    """OGBench's maze env class for ``loco``, building walls from a layout given at init.

    OGBench creates the class inside its factory, so it is taken from a throw-away arena env.
    """
    base = type(make_maze_env(loco, "maze", maze_type="arena"))

    class LayoutMazeEnv(base):
        def __init__(self, layout, **kwargs):
            self._layout = np.array(layout)
            super().__init__(maze_type="arena", **kwargs)

        def update_tree(self, tree):
            # Runs right after OGBench picked its arena map and before the walls are added.
            self.maze_map = self._layout
            super().update_tree(tree)

    return LayoutMazeEnv


class OGBenchEnv(EnvBase):
    """One MMBench OGBench task (see the module docstring for its behaviour).

    Episodes do not end here; :func:`make_ogbench_env` adds the fixed length.

    Args:
        task: an ``og-*`` key of :data:`OGBENCH_TASKS`.
        obs: ``"state"`` or ``"rgb"`` (state plus a ``pixels`` frame).
        render_size: side of the square ``pixels`` frame.
        device: torch device of the output tensors.
    """

    def __init__(self, task: str, *, obs: str = "state", render_size: int = 224, device="cpu"):
        if task not in OGBENCH_TASKS:
            raise ValueError(f"Unknown OGBench task {task!r}; expected one of {sorted(OGBENCH_TASKS)}.")
        check_obs(obs)
        super().__init__(device=device, batch_size=torch.Size([]))
        self.task = task
        self.obs_mode = obs
        self.render_size = int(render_size)
        self.kind, maze = OGBENCH_TASKS[task]
        self.action_repeat = _ACTION_REPEAT[self.kind]
        self._rng_state = np.random.RandomState().get_state()
        self._return = 0.0
        size = dict(render_mode="rgb_array", width=self.render_size, height=self.render_size)
        with self._own_numpy_rng():
            if self.kind in ("point", "ant"):
                if maze in LAYOUTS:
                    self.sim = _layout_maze_class(self.kind)(LAYOUTS[maze], **size)
                else:
                    self.sim = make_maze_env(self.kind, "maze", maze_type=maze, **size)
                self.sim.task_infos = [
                    dict(
                        task_name=f"task{k + 1}",
                        init_ij=init,
                        init_xy=self.sim.ij_to_xy(init),
                        goal_ij=goal,
                        goal_xy=self.sim.ij_to_xy(goal),
                    )
                    for k, (init, goal) in enumerate(maze_tasks(maze))
                ]
                self.sim.num_tasks = len(self.sim.task_infos)
                self.wrapper = self.sim
            elif self.kind == "ant-xy":
                self.sim = OnlineAntEnv(**size)
                self.wrapper = GymXYWrapper(self.sim, resample_interval=_DIRECTION_INTERVAL)
            else:
                self.sim = AntBallEnv(**size)
                self.sim.mujoco_renderer.viewer.cam.distance = _ANTBALL_CAMERA_DISTANCE
                self.wrapper = self.sim

        set_task_specs(
            self, _OBS_DIM[self.kind], _ACTION_DIM[self.kind], self.render_size if obs == "rgb" else None
        )

    @contextlib.contextmanager
    def _own_numpy_rng(self):
        outer = np.random.get_state()
        np.random.set_state(self._rng_state)
        try:
            yield
        finally:
            self._rng_state = np.random.get_state()
            np.random.set_state(outer)

    def _set_seed(self, seed: int | None) -> None:
        seeds = np.random.SeedSequence(seed).generate_state(3)
        self._rng_state = np.random.RandomState(seeds[0]).get_state()
        self.sim.np_random = np.random.default_rng(seeds[1])  # the simulator's reset noise
        self.sim.action_space.seed(int(seeds[2]))  # the random actions of a maze reset

    def render(self) -> torch.Tensor:
        """The current frame as a ``[3, render_size, render_size]`` uint8 tensor."""
        viewer = self.sim.mujoco_renderer.viewer
        if viewer is not None:
            # gymnasium's offscreen viewer renders into whatever GL context is current; with
            # several envs in one process that can be another env's.
            viewer.make_context_current()
        try:
            frame = self.sim.render()
        except Exception as err:
            raise RuntimeError(
                "MuJoCo offscreen rendering is unavailable. Set MUJOCO_GL=egl (needs libegl1) or "
                "MUJOCO_GL=osmesa (needs libosmesa6) before importing mujoco."
            ) from err
        return torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)

    def _maze_observation(self, loco_obs: np.ndarray, prev_xy: np.ndarray) -> np.ndarray:
        xy = self.sim.get_xy()
        goal = np.asarray(self.sim.get_oracle_rep())
        to_goal = xy - goal
        head = [xy, xy - prev_xy] if self.kind == "point" else [loco_obs, xy]
        return np.concatenate([*head, goal, to_goal, [np.linalg.norm(to_goal)]]) / _OBS_SCALE

    def _output(self, obs: np.ndarray, success: float, score: float, reward: float | None):
        out = {
            "observation": torch.from_numpy(obs.astype(np.float32)),
            "success": torch.tensor([success], dtype=torch.float32),
            "score": torch.tensor([score], dtype=torch.float32),
            "done": torch.zeros(1, dtype=torch.bool),
            "terminated": torch.zeros(1, dtype=torch.bool),
            "truncated": torch.zeros(1, dtype=torch.bool),
        }
        if reward is not None:
            out["reward"] = torch.tensor([reward], dtype=torch.float32)
        if self.obs_mode == "rgb":
            out["pixels"] = self.render()
        return TensorDict(out, batch_size=(), device=self.device)

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs) -> TensorDict:
        self._return = 0.0
        with self._own_numpy_rng():
            obs, _ = self.wrapper.reset()
            if self.kind == "antball":
                self.sim.set_goal(np.random.uniform(-_ANTBALL_GOAL_RANGE, _ANTBALL_GOAL_RANGE, 2))
                obs = self.sim._get_obs()
        if self.kind in ("point", "ant"):
            xy = self.sim.get_xy()
            obs = self._maze_observation(obs, xy)
        return self._output(obs, 0.0, 0.0, None)

    def _step(self, tensordict: TensorDictBase) -> TensorDict:
        action = tensordict["action"].cpu().numpy().astype(np.float64)
        if self.kind in ("point", "ant"):
            for _ in range(self.action_repeat):
                obs, _, _, _, info = self.sim.step(action)
            xy, goal = self.sim.get_xy(), np.asarray(self.sim.get_oracle_rep())
            to_goal = xy - goal
            dist = float(np.linalg.norm(to_goal))
            success = float(dist <= _GOAL_TOL[self.kind])
            if self.kind == "point":
                penalty = 0.025 * np.linalg.norm(xy - info["prev_qpos"])
            else:
                penalty = 0.001 * np.linalg.norm(info["qvel"])
            reward = success - (0.5 * np.abs(to_goal).sum() + 0.5 * dist + penalty) / _OBS_SCALE
            obs = self._maze_observation(obs, info["prev_qpos"][:2])
            return self._output(obs, success, success, float(reward))
        # og-ant and og-antball take one inner step; og-ant may redraw its direction in it.
        with self._own_numpy_rng():
            obs, reward, _, _, info = self.wrapper.step(action)
        reward = float(reward)
        self._return += reward
        if self.kind == "ant-xy":
            success, score = 0.0, min(max(self._return, 0.0), _ANT_XY_SCORE_MAX) / _ANT_XY_SCORE_MAX
        else:
            success = score = float(info["success"])
        return self._output(obs, success, score, reward)

    def close(self, *, raise_if_closed: bool = True):
        self.sim.close()
        super().close(raise_if_closed=raise_if_closed)


def make_ogbench_env(
    task: TaskInfo,
    *,
    obs: str = "state",
    seed: int | None = None,
    device="cpu",
    render_size: int = 224,
    compat: bool = True,
) -> TransformedEnv:
    """Build an MMBench OGBench task: :class:`OGBenchEnv` with its fixed episode length.

    Args:
        task: the task's :class:`~newt.envs.TaskInfo` (domain ``"ogbench"``).
        obs: ``"state"`` or ``"rgb"``.
        seed: seeds the env's own random streams (task draw, noise, directions).
        device: torch device of the output tensors.
        render_size: side of the ``pixels`` frame in rgb mode.
        compat: accepted so that every domain builder takes it; this domain has no official
            bug to correct, so both values give the same env.

    Example:
        >>> from newt.envs import task_info
        >>> env = make_ogbench_env(task_info("og-ant-maze"))
        >>> env.observation_spec["observation"].shape, env.action_spec.shape
        (torch.Size([36]), torch.Size([8]))
    """
    env = OGBenchEnv(task.name, obs=obs, render_size=render_size, device=device)
    return fixed_length(env, task, seed)
