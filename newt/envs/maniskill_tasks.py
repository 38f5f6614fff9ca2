"""ManiSkill3 task classes that MMBench adds to the stock ones, registered on import.

Registered ids (prefixed ``MMBench-`` so they never clash with ManiSkill's own):

* ``MMBench-PickCubexArm6-v1``: PickCube-v1 with the ``xarm6_robotiq`` robot, no step limit.
* ``MMBench-Reach-v1`` / ``MMBench-ReachxArm6-v1``: PickCube's table scene without a cube; move
  the TCP to a goal sphere (radius 0.025) drawn at xy ~ U(-0.1, 0.1)^2, z ~ U(0, 0.3). Success:
  ``||goal - tcp|| <= 0.025``; dense reward ``5 (1 + success - tanh(5 d))``, normalised by 5, so
  the reward used lies in [0, 2]. Observation extras: TCP pose, goal, goal - TCP. 50 steps.
* ``MMBench-CartpoleBalanceSparse-v1`` / ``MMBench-CartpoleSwingUpSparse-v1``: the stock
  cartpole tasks with reward ``1`` when ``(cos(theta) + 1) / 2 > 0.85``, else ``0``.
* ``MMBench-PickSingleYCB-v1``: PickSingleYCB-v1 restricted to one YCB ``model_id``.
* ``MMBench-PushYCB-v1``: PushCube-v1 with the cube replaced by one YCB object (``model_id``),
  keeping the name ``cube`` and PushCube's logic with a half-size of 0.04 (spawn z = 0.04,
  success needs the object's z below 0.045).

Example:
    >>> import gymnasium as gym
    >>> import newt.envs.maniskill_tasks  # registers the ids
    >>> env = gym.make("MMBench-Reach-v1", obs_mode="state", sim_backend="physx_cpu")
    >>> env.observation_space.shape
    (1, 31)
"""
from __future__ import annotations

import numpy as np
import sapien
import torch
from mani_skill.envs.tasks.control.cartpole import CartpoleBalanceEnv, CartpoleSwingUpEnv
from mani_skill.envs.tasks.tabletop.pick_cube import PickCubeEnv
from mani_skill.envs.tasks.tabletop.pick_single_ycb import PickSingleYCBEnv
from mani_skill.envs.tasks.tabletop.push_cube import PushCubeEnv
from mani_skill.utils.building import actors
from mani_skill.utils.registration import REGISTERED_ENVS, register_env
from mani_skill.utils.scene_builder.table import TableSceneBuilder
from mani_skill.utils.structs.pose import Pose

__all__ = [
    "PickCubeXArm6Env",
    "ReachEnv",
    "ReachXArm6Env",
    "CartpoleBalanceSparseEnv",
    "CartpoleSwingUpSparseEnv",
    "PickOneYCBEnv",
    "PushYCBEnv",
]

_XARM6 = "xarm6_robotiq"
_SPARSE_UPRIGHT = 0.85


def _register(uid: str, **kwargs):
    # Re-importing the module (e.g. a reload) must not fail on an existing id.
    return register_env(uid, override=uid in REGISTERED_ENVS, **kwargs)


@_register("MMBench-PickCubexArm6-v1")
class PickCubeXArm6Env(PickCubeEnv):
    """PickCube with the xArm6 + Robotiq gripper (PickCube's own config for that robot)."""

    def __init__(self, *args, robot_uids=_XARM6, **kwargs):
        super().__init__(*args, robot_uids=_XARM6, **kwargs)


@_register("MMBench-Reach-v1", max_episode_steps=50)
class ReachEnv(PickCubeEnv):
    """Reach a goal position with the TCP; PickCube's scene without the cube."""

    def _load_scene(self, options: dict):
        self.table_scene = TableSceneBuilder(self, robot_init_qpos_noise=self.robot_init_qpos_noise)
        self.table_scene.build()
        self.goal_site = actors.build_sphere(
            self.scene,
            radius=self.goal_thresh,
            color=[0, 1, 0, 1],
            name="goal_site",
            body_type="kinematic",
            add_collision=False,
            initial_pose=sapien.Pose(),
        )
        self._hidden_objects.append(self.goal_site)

    def _initialize_episode(self, env_idx: torch.Tensor, options: dict):
        with torch.device(self.device):
            n = len(env_idx)
            self.table_scene.initialize(env_idx)
            goal = torch.zeros((n, 3))
            half = self.cube_spawn_half_size
            goal[:, :2] = torch.rand((n, 2)) * 2 * half - half
            goal[:, 0] += self.cube_spawn_center[0]
            goal[:, 1] += self.cube_spawn_center[1]
            goal[:, 2] = torch.rand(n) * self.max_goal_height
            self.goal_site.set_pose(Pose.create_from_pq(goal))

    def _get_obs_extra(self, info: dict):
        obs = dict(tcp_pose=self.agent.tcp_pose.raw_pose, goal_pos=self.goal_site.pose.p)
        if "state" in self.obs_mode:
            obs["tcp_to_goal_pos"] = self.goal_site.pose.p - self.agent.tcp_pose.p
        return obs

    def _tcp_to_goal(self) -> torch.Tensor:
        return torch.linalg.norm(self.goal_site.pose.p - self.agent.tcp_pose.p, axis=1)

    def evaluate(self):
        return {"success": self._tcp_to_goal() <= self.goal_thresh}

    def compute_dense_reward(self, obs, action, info: dict):
        return 5 * (1 + info["success"].float() - torch.tanh(5 * self._tcp_to_goal()))


@_register("MMBench-ReachxArm6-v1", max_episode_steps=50)
class ReachXArm6Env(ReachEnv):
    """:class:`ReachEnv` with the xArm6 + Robotiq gripper."""

    def __init__(self, *args, robot_uids=_XARM6, **kwargs):
        super().__init__(*args, robot_uids=_XARM6, **kwargs)


def _sparse_upright(env) -> torch.Tensor:
    return ((env.pole_angle_cosine + 1) / 2 > _SPARSE_UPRIGHT).float()


@_register("MMBench-CartpoleBalanceSparse-v1", max_episode_steps=1000)
class CartpoleBalanceSparseEnv(CartpoleBalanceEnv):
    """Cartpole balance with a sparse reward: 1 while the pole is within ~45.6 deg of upright."""

    def compute_dense_reward(self, obs, action, info: dict):
        return _sparse_upright(self)


@_register("MMBench-CartpoleSwingUpSparse-v1", max_episode_steps=1000)
class CartpoleSwingUpSparseEnv(CartpoleSwingUpEnv):
    """Cartpole swing-up with the same sparse reward as :class:`CartpoleBalanceSparseEnv`."""

    def compute_dense_reward(self, obs, action, info: dict):
        return _sparse_upright(self)


@_register("MMBench-PickSingleYCB-v1", max_episode_steps=50, asset_download_ids=["ycb"])
class PickOneYCBEnv(PickSingleYCBEnv):
    """PickSingleYCB-v1 whose object is always ``model_id`` (rebuilt at every reset, as stock)."""

    def __init__(self, *args, model_id: str, **kwargs):
        self.mmbench_model_id = model_id
        super().__init__(*args, **kwargs)

    def _load_scene(self, options: dict):
        self.all_model_ids = np.array([self.mmbench_model_id])
        super()._load_scene(options)


@_register("MMBench-PushYCB-v1", max_episode_steps=50, asset_download_ids=["ycb"])
class PushYCBEnv(PushCubeEnv):
    """PushCube-v1 with one YCB object in place of the cube (half-size constant 0.04)."""

    cube_half_size = 0.04

    def __init__(self, *args, model_id: str, **kwargs):
        self.model_id = model_id
        super().__init__(*args, **kwargs)

    def _load_scene(self, options: dict):
        self.table_scene = TableSceneBuilder(env=self, robot_init_qpos_noise=self.robot_init_qpos_noise)
        self.table_scene.build()
        builder = actors.get_actor_builder(self.scene, id=f"ycb:{self.model_id}")
        builder.initial_pose = sapien.Pose(p=[0, 0, 0])
        self.obj = builder.build(name="cube")
        self.goal_region = actors.build_red_white_target(
            self.scene,
            radius=self.goal_radius,
            thickness=1e-5,
            name="goal_region",
            add_collision=False,
            body_type="kinematic",
            initial_pose=sapien.Pose(p=[0, 0, 1e-3]),
        )
