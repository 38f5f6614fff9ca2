"""MMBench ManiSkill3 tasks (36 + 11 held-out, prefix ``ms-``) as a TorchRL env.

Behaviour (MMBench spec, part 2 section 2):

* ``gym.make(env_id, obs_mode="state", control_mode=<task's>, num_envs=1,
  sim_backend="physx_cpu")`` with ManiSkill's default reward mode (``normalized_dense`` for every
  task here) and its registered step limit (twice the MMBench length, or none);
* action repeat 2: the normalised action is applied in two ManiSkill steps, rewards summed;
* observation: ManiSkill's flat state vector (agent qpos and qvel, then the task's extras);
* ``success`` is ManiSkill's ``info["success"]`` after the second inner step (0 for tasks that
  define none: ant, hopper, cartpole); ``score`` is the cumulative episode reward / 1000 for the
  cartpole tasks, / 600 for the hopper tasks (so at most ~0.83), and ``success`` otherwise (ant
  tasks therefore always score 0, as in the official runs);
* terminations (ManiSkill's success/fail) are ignored: episodes have the fixed MMBench length;
* rgb: ManiSkill's human render camera at ``render_size``.

The task classes MMBench adds (Reach, the xArm6 variants, sparse cartpoles, single-object YCB
pick/push) live in :mod:`newt.envs.maniskill_tasks`.

**Assets.** The YCB tasks (``ms-pick-<object>``, ``ms-push-<object>``), the xArm6 tasks and
``ms-anymal-reach`` need data that ManiSkill downloads on demand. Nothing is downloaded here:
ManiSkill reads its data folder from ``MS_ASSET_DIR`` (``<MS_ASSET_DIR>/data``, default
``~/.maniskill``), and building such a task without the data raises :class:`FileNotFoundError`
at creation, naming the ``python -m mani_skill.utils.download_asset <id>`` command to run on a
machine with internet access. ``MS_ASSET_DIR`` must be set before ``mani_skill`` is imported.

**Simulator.** SAPIEN needs a Vulkan device even for state observations; on a CPU-only Debian
12 machine install Mesa's lavapipe from bookworm-backports (``mesa-vulkan-drivers`` 25.x).

``compat=True`` (default) keeps the official scores. ``compat=False`` corrects two plain bugs:
hopper scores divide by 500 (the most an episode can collect) instead of 600, and the ant tasks,
which have no success flag and so always scored 0, score their cumulative reward / 1000.

Differences from the official runs: ManiSkill 3.0.1 instead of the 2025-09 nightly, and episode
randomisation (ManiSkill's torch RNG) seeded per episode from the env's own generator instead of
the global torch RNG, so seeding the env fixes its episodes without touching global state.

Example:
    >>> from newt.envs import task_info
    >>> from newt.envs.maniskill import make_maniskill_env
    >>> env = make_maniskill_env(task_info("ms-reach"), seed=0)
    >>> td = env.rollout(3)
    >>> td["next", "observation"].shape
    torch.Size([3, 31])
"""
from __future__ import annotations

import os
from pathlib import Path

import gymnasium as gym
import mani_skill
import mani_skill.envs  # registers the stock tasks
import numpy as np
import torch
from mani_skill.utils.assets.data import DATA_SOURCES
from tensordict import TensorDict, TensorDictBase
from torchrl.envs import EnvBase, TransformedEnv

import newt.envs.maniskill_tasks  # noqa: F401  (registers MMBench's task classes)
from newt.envs.registry import TaskInfo
from newt.envs.contract import check_obs, fixed_length, set_task_specs

__all__ = ["MANISKILL_TASKS", "ManiSkillEnv", "make_maniskill_env", "missing_assets"]

_ACTION_REPEAT = 2
_EE_POSE, _EE_POS, _JOINT_DELTA = "pd_ee_delta_pose", "pd_ee_delta_pos", "pd_joint_delta_pos"


def _ycb(env_id: str, model_id: str) -> tuple:
    return (env_id, _EE_POSE, {"model_id": model_id}, ("ycb",))


#: task -> (ManiSkill env id, control mode or None for the default, extra kwargs, asset ids).
MANISKILL_TASKS: dict[str, tuple[str, str | None, dict, tuple[str, ...]]] = {
    "ms-ant-walk": ("MS-AntWalk-v1", None, {}, ()),
    "ms-ant-run": ("MS-AntRun-v1", None, {}, ()),
    "ms-cartpole-balance": ("MS-CartpoleBalance-v1", None, {}, ()),
    "ms-cartpole-swingup": ("MS-CartpoleSwingUp-v1", None, {}, ()),
    "ms-cartpole-balance-sparse": ("MMBench-CartpoleBalanceSparse-v1", None, {}, ()),
    "ms-cartpole-swingup-sparse": ("MMBench-CartpoleSwingUpSparse-v1", None, {}, ()),
    "ms-hopper-stand": ("MS-HopperStand-v1", None, {}, ()),
    "ms-hopper-hop": ("MS-HopperHop-v1", None, {}, ()),
    "ms-pick-cube": ("PickCube-v1", _EE_POS, {}, ()),
    "ms-pick-cube-eepose": ("PickCube-v1", _EE_POSE, {}, ()),
    "ms-pick-cube-so": ("PickCubeSO100-v1", _JOINT_DELTA, {}, ()),
    "ms-poke-cube": ("PokeCube-v1", _EE_POSE, {}, ()),
    "ms-push-cube": ("PushCube-v1", _EE_POSE, {}, ()),
    "ms-pull-cube": ("PullCube-v1", _EE_POSE, {}, ()),
    "ms-pull-cube-tool": ("PullCubeTool-v1", _EE_POSE, {}, ()),
    "ms-stack-cube": ("StackCube-v1", _EE_POSE, {}, ()),
    "ms-place-sphere": ("PlaceSphere-v1", _EE_POS, {}, ()),
    "ms-lift-peg": ("LiftPegUpright-v1", _EE_POSE, {}, ()),
    "ms-pick-apple": _ycb("MMBench-PickSingleYCB-v1", "013_apple"),
    "ms-pick-banana": _ycb("MMBench-PickSingleYCB-v1", "011_banana"),
    "ms-pick-can": _ycb("MMBench-PickSingleYCB-v1", "005_tomato_soup_can"),
    "ms-pick-hammer": _ycb("MMBench-PickSingleYCB-v1", "048_hammer"),
    "ms-pick-fork": _ycb("MMBench-PickSingleYCB-v1", "030_fork"),
    "ms-pick-knife": _ycb("MMBench-PickSingleYCB-v1", "032_knife"),
    "ms-pick-mug": _ycb("MMBench-PickSingleYCB-v1", "025_mug"),
    "ms-pick-orange": _ycb("MMBench-PickSingleYCB-v1", "017_orange"),
    "ms-pick-screwdriver": _ycb("MMBench-PickSingleYCB-v1", "044_flat_screwdriver"),
    "ms-pick-spoon": _ycb("MMBench-PickSingleYCB-v1", "031_spoon"),
    "ms-pick-tennis-ball": _ycb("MMBench-PickSingleYCB-v1", "056_tennis_ball"),
    "ms-pick-baseball": _ycb("MMBench-PickSingleYCB-v1", "055_baseball"),
    "ms-pick-sponge": _ycb("MMBench-PickSingleYCB-v1", "026_sponge"),
    "ms-pick-cube-xarm6": ("MMBench-PickCubexArm6-v1", _EE_POS, {}, ("xarm6",)),
    "ms-reach": ("MMBench-Reach-v1", _EE_POS, {}, ()),
    "ms-reach-eepose": ("MMBench-Reach-v1", _EE_POSE, {}, ()),
    "ms-reach-xarm6": ("MMBench-ReachxArm6-v1", _EE_POS, {}, ("xarm6",)),
    "ms-anymal-reach": ("AnymalC-Reach-v1", _JOINT_DELTA, {}, ("anymal_c",)),
    # Held-out tasks.
    "ms-push-apple": _ycb("MMBench-PushYCB-v1", "013_apple"),
    "ms-push-pear": _ycb("MMBench-PushYCB-v1", "016_pear"),
    "ms-push-rubiks-cube": _ycb("MMBench-PushYCB-v1", "077_rubiks_cube"),
    "ms-push-can": _ycb("MMBench-PushYCB-v1", "005_tomato_soup_can"),
    "ms-push-sponge": _ycb("MMBench-PushYCB-v1", "026_sponge"),
    "ms-push-banana": _ycb("MMBench-PushYCB-v1", "011_banana"),
    "ms-push-screwdriver": _ycb("MMBench-PushYCB-v1", "044_flat_screwdriver"),
    "ms-pick-rubiks-cube": _ycb("MMBench-PickSingleYCB-v1", "077_rubiks_cube"),
    "ms-pick-cup": _ycb("MMBench-PickSingleYCB-v1", "065-a_cups"),
    "ms-pick-golf-ball": _ycb("MMBench-PickSingleYCB-v1", "058_golf_ball"),
    "ms-pick-soccer-ball": _ycb("MMBench-PickSingleYCB-v1", "053_mini_soccer_ball"),
}

#: Score divisor of the cumulative episode reward (official); other tasks score their success.
_SCORE_DIVISOR = {"cartpole": 1000.0, "hopper": 600.0}
#: With ``compat=False``: the largest cumulative reward an episode can collect (inner rewards
#: are at most 1: 2 x 500 steps for ant and cartpole, 2 x 250 for hopper).
_SCORE_DIVISOR_CORRECTED = {"cartpole": 1000.0, "hopper": 500.0, "ant": 1000.0}


def _asset_data_dir() -> Path:
    return Path(os.environ.get("MS_ASSET_DIR", Path.home() / ".maniskill")) / "data"


def missing_assets(task: str) -> list[str]:
    """The ManiSkill data ids ``task`` needs that are absent from ``<MS_ASSET_DIR>/data``.

    Example:
        >>> missing_assets("ms-pick-cube")
        []
    """
    if task not in MANISKILL_TASKS:
        raise ValueError(f"Unknown ManiSkill task {task!r}; expected one of {sorted(MANISKILL_TASKS)}.")
    data_dir = _asset_data_dir()
    return [
        asset
        for asset in MANISKILL_TASKS[task][3]
        if not (data_dir / DATA_SOURCES[asset].target_path).exists()
    ]


def _check_assets(task: str) -> None:
    missing = missing_assets(task)
    data_dir = _asset_data_dir()
    if missing:
        commands = "; ".join(f"python -m mani_skill.utils.download_asset {a} -y" for a in missing)
        raise FileNotFoundError(
            f"ManiSkill task {task!r} needs the assets {missing}, which are not in {data_dir} "
            f"(the 'data' folder of MS_ASSET_DIR). Nothing is downloaded at run time: on a "
            f"machine with internet access run `MS_ASSET_DIR=<dir> {commands}`, copy <dir> "
            f"here and set MS_ASSET_DIR=<dir> before starting Python."
        )
    if MANISKILL_TASKS[task][3] and Path(mani_skill.ASSET_DIR) != data_dir:
        raise RuntimeError(
            f"ManiSkill was imported with its data folder at {mani_skill.ASSET_DIR}, but "
            f"MS_ASSET_DIR now points to {data_dir.parent}. Set MS_ASSET_DIR before importing "
            f"mani_skill (or newt.envs.maniskill)."
        )


class ManiSkillEnv(EnvBase):
    """One MMBench ManiSkill3 task (see the module docstring for its behaviour).

    Episodes do not end here; :func:`make_maniskill_env` adds the fixed length.

    Args:
        task: an ``ms-*`` key of :data:`MANISKILL_TASKS`.
        obs: ``"state"`` or ``"rgb"`` (state plus a ``pixels`` frame).
        render_size: side of the square ``pixels`` frame.
        compat: keep the official score definitions (see the module docstring).
        device: torch device of the output tensors.
    """

    def __init__(
        self,
        task: str,
        *,
        obs: str = "state",
        render_size: int = 224,
        compat: bool = True,
        device="cpu",
    ):
        if task not in MANISKILL_TASKS:
            raise ValueError(f"Unknown ManiSkill task {task!r}; expected one of {sorted(MANISKILL_TASKS)}.")
        check_obs(obs)
        _check_assets(task)
        super().__init__(device=device, batch_size=torch.Size([]))
        self.task = task
        self.obs_mode = obs
        self.render_size = int(render_size)
        env_id, control_mode, extra, _ = MANISKILL_TASKS[task]
        camera = dict(width=self.render_size, height=self.render_size)
        try:
            self.sim = gym.make(
                env_id,
                obs_mode="state",
                control_mode=control_mode,
                num_envs=1,
                render_mode="rgb_array" if obs == "rgb" else None,
                sensor_configs=camera,
                human_render_camera_configs=camera,
                reconfiguration_freq=None,
                sim_backend="physx_cpu",
                **extra,
            )
        except RuntimeError as err:
            if "render" in str(err) or "device" in str(err):
                raise RuntimeError(
                    "ManiSkill (SAPIEN) found no Vulkan device; it needs one even for state "
                    "observations. On Debian 12 install Mesa's CPU driver from "
                    "bookworm-backports: apt-get install -t bookworm-backports mesa-vulkan-drivers "
                    f"libvulkan1. ({err})"
                ) from err
            raise
        divisors = _SCORE_DIVISOR if compat else _SCORE_DIVISOR_CORRECTED
        self._score_divisor = next((d for k, d in divisors.items() if k in task), None)
        self._rng = np.random.RandomState()
        self._return = 0.0

        obs_dim = self.sim.unwrapped.single_observation_space.shape[-1]
        action_space = self.sim.unwrapped.single_action_space
        if not (np.all(action_space.low == -1) and np.all(action_space.high == 1)):
            raise RuntimeError(
                f"{env_id} with control mode {control_mode} has action bounds "
                f"{action_space.low}..{action_space.high}, expected a normalised [-1, 1] box."
            )
        set_task_specs(
            self, obs_dim, action_space.shape[-1], self.render_size if obs == "rgb" else None
        )

    def _set_seed(self, seed: int | None) -> None:
        self._rng = np.random.RandomState(seed)

    def render(self) -> torch.Tensor:
        """The human render camera's frame as a ``[3, render_size, render_size]`` uint8 tensor."""
        return self.sim.render()[0].permute(2, 0, 1).to(torch.uint8).cpu()

    def _output(self, obs: torch.Tensor, info: dict, reward: float | None) -> TensorDict:
        success = float(info["success"][0]) if "success" in info else 0.0
        if self._score_divisor is None:
            score = success
        else:
            score = self._return / self._score_divisor
        out = {
            "observation": obs[0].to(torch.float32).cpu(),
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
        # A seeded reset makes ManiSkill draw the episode under a forked, seeded torch RNG.
        obs, info = self.sim.reset(seed=int(self._rng.randint(2**31)))
        return self._output(obs, info, None)

    def _step(self, tensordict: TensorDictBase) -> TensorDict:
        action = tensordict["action"].cpu().unsqueeze(0)
        reward = 0.0
        for _ in range(_ACTION_REPEAT):
            obs, r, _, truncated, info = self.sim.step(action)
            reward += float(r[0])
            if bool(truncated[0]):
                break
        self._return += reward
        return self._output(obs, info, reward)

    def close(self, *, raise_if_closed: bool = True):
        self.sim.close()
        super().close(raise_if_closed=raise_if_closed)


def make_maniskill_env(
    task: TaskInfo,
    *,
    obs: str = "state",
    seed: int | None = None,
    device="cpu",
    render_size: int = 224,
    compat: bool = True,
) -> TransformedEnv:
    """Build an MMBench ManiSkill3 task: :class:`ManiSkillEnv` with its fixed episode length.

    Args:
        task: the task's :class:`~newt.envs.TaskInfo` (domain ``"maniskill"``).
        obs: ``"state"`` or ``"rgb"``.
        seed: seeds the episode randomisation.
        device: torch device of the output tensors.
        render_size: side of the ``pixels`` frame in rgb mode.
        compat: ``True`` keeps the official scores (hopper capped at ~0.83, ant always 0);
            ``False`` corrects them (see the module docstring).

    Raises:
        FileNotFoundError: the task needs ManiSkill assets that are not in ``MS_ASSET_DIR``.

    Example:
        >>> from newt.envs import task_info
        >>> env = make_maniskill_env(task_info("ms-cartpole-balance"))
        >>> env.action_spec.shape
        torch.Size([1])
    """
    env = ManiSkillEnv(task.name, obs=obs, render_size=render_size, compat=compat, device=device)
    return fixed_length(env, task, seed)
