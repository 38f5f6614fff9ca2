"""MMBench Meta-World tasks (49, prefix ``mw-``) as a TorchRL env.

Behaviour (MMBench spec, part 2 section 1), per agent step:

* the goal-observable Sawyer env of the task (``mw-door-open`` -> ``door-open``);
* action repeat 2: the 4-d action (xyz mocap delta of 1 cm per unit, gripper effort) is applied
  in two Meta-World steps and their shaped rewards (each in [0, 10]) are summed;
* observation: Meta-World's 39 floats (hand, gripper opening, two object poses, the same 18
  values of the previous inner step, goal), cast to float32;
* ``success`` is the env's own ``info["success"]`` after the second inner step; ``score`` equals
  it; episodes last 100 agent steps (200 inner steps, never reaching Meta-World's own 500);
* reset: Meta-World's reset, then one zero-action inner step whose observation is returned;
* object and goal placement is redrawn at every reset (Newt unfreezes Meta-World's "rand vec");
* rgb: the ``corner2`` camera moved to (0.75, 0.075, 0.7), frame flipped vertically.

Differences from the official runs, which used a fork of Meta-World's **v2** envs:

* metaworld 3.1.1 only ships **v3** envs, used here (``door-open-v3``). v3 is the v2 task set
  ported from mujoco-py/gym to the ``mujoco`` bindings and gymnasium: same XML scenes, same 39-d
  observation and 4-d action, same 500-step horizon, and the v2 reward functions by default
  (``reward_function_version="v2"``). metaworld 3.1.1 also fixed the dense reward of the
  button-press tasks (``button-press-topdown-wall`` gripper term) and added a ``corner4``
  camera, so ``corner2`` is looked up by name rather than by index.
* MuJoCo 3.3.0 (the version metaworld 3.1.1 pins) instead of 3.3.6: physics can drift in
  low decimals.
* The placement at each reset is drawn from the env's own generator, seeded by ``set_seed``
  (same uniform distribution over the task's reset space), not from the global ``np.random``:
  seeding the env fixes its episodes without touching global state.
* The rgb frame is rendered directly at ``render_size`` (the official one was rendered at
  224x224 and resized), with the same camera and the same vertical flip.

Example:
    >>> from newt.envs import task_info
    >>> from newt.envs.metaworld import make_metaworld_env
    >>> env = make_metaworld_env(task_info("mw-reach"), seed=0)
    >>> td = env.rollout(3)
    >>> td["next", "observation"].shape
    torch.Size([3, 39])
"""
from __future__ import annotations

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.envs import EnvBase, TransformedEnv

import metaworld
import mujoco

from newt.envs.registry import TaskInfo
from newt.envs.contract import check_obs, fixed_length, set_task_specs

__all__ = ["MetaWorldEnv", "make_metaworld_env", "metaworld_env_name"]

_ACTION_REPEAT = 2
_CAMERA = "corner2"
_CAMERA_POS = (0.75, 0.075, 0.7)


def _fresh_seed() -> int:
    """A seed from OS entropy (Meta-World needs an int seed; global numpy is left alone)."""
    return int(np.random.SeedSequence().generate_state(1)[0] >> 1)


def metaworld_env_name(task: str) -> str:
    """The metaworld 3.x goal-observable env key of an ``mw-*`` task.

    Example:
        >>> metaworld_env_name("mw-door-open")
        'door-open-v3-goal-observable'
    """
    name = f"{task.removeprefix('mw-')}-v3-goal-observable"
    if not task.startswith("mw-") or name not in metaworld.ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE:
        known = sorted(
            "mw-" + k.removesuffix("-v3-goal-observable")
            for k in metaworld.ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE
        )
        raise ValueError(f"Unknown Meta-World task {task!r}; expected one of {known}.")
    return name


class MetaWorldEnv(EnvBase):
    """One Meta-World v3 task with MMBench's reset, action repeat, success and camera.

    Episodes do not end here; :func:`make_metaworld_env` adds the 100-step limit.

    Args:
        task: an ``mw-*`` task name.
        obs: ``"state"`` or ``"rgb"`` (state plus a ``pixels`` frame).
        render_size: side of the square ``pixels`` frame.
        device: torch device of the output tensors.
    """

    def __init__(self, task: str, *, obs: str = "state", render_size: int = 224, device="cpu"):
        check_obs(obs)
        env_cls = metaworld.ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE[metaworld_env_name(task)]
        super().__init__(device=device, batch_size=torch.Size([]))
        self.task = task
        self.obs_mode = obs
        self.render_size = int(render_size)
        # The constructor's throw-away placement is drawn under this seed and restores the
        # global numpy state afterwards; set_seed decides the episodes.
        self.sim = env_cls(seed=_fresh_seed())
        self.sim._freeze_rand_vec = False
        self.sim.seeded_rand_vec = True
        camera = mujoco.mj_name2id(self.sim.model, mujoco.mjtObj.mjOBJ_CAMERA, _CAMERA)
        self.sim.model.cam_pos[camera] = _CAMERA_POS
        self._camera = camera
        self._renderer = None
        self._zero_action = np.zeros(4, dtype=np.float32)

        set_task_specs(
            self, 39, 4, self.render_size if obs == "rgb" else None
        )

    def _set_seed(self, seed: int | None) -> None:
        if seed is None:
            seed = _fresh_seed()
        self.sim.seed(seed)

    def render(self) -> torch.Tensor:
        """The ``corner2`` frame as a ``[3, render_size, render_size]`` uint8 tensor."""
        if self._renderer is None:
            try:
                self._renderer = mujoco.Renderer(self.sim.model, self.render_size, self.render_size)
            except Exception as err:
                raise RuntimeError(
                    "MuJoCo offscreen rendering is unavailable. Set MUJOCO_GL=egl (needs libegl1) "
                    "or MUJOCO_GL=osmesa (needs libosmesa6) before importing mujoco."
                ) from err
        self._renderer.update_scene(self.sim.data, camera=self._camera)
        # This camera's raw image is upside down; the official pipeline flips it.
        frame = self._renderer.render()[::-1]
        return torch.from_numpy(frame.copy()).permute(2, 0, 1)

    def _output(self, obs: np.ndarray, info: dict, reward: float | None) -> TensorDict:
        success = torch.tensor([float(info.get("success", 0.0))], dtype=torch.float32)
        out = {
            "observation": torch.from_numpy(obs.astype(np.float32)),
            "success": success,
            "score": success.clone(),
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
        self.sim.reset()
        obs, _, _, _, info = self.sim.step(self._zero_action)
        return self._output(obs, info, None)

    def _step(self, tensordict: TensorDictBase) -> TensorDict:
        action = tensordict["action"].cpu().numpy()
        reward = 0.0
        for _ in range(_ACTION_REPEAT):
            obs, r, terminated, truncated, info = self.sim.step(action.copy())
            reward += float(r)
            if terminated or truncated:
                break
        return self._output(obs, info, reward)

    def close(self, *, raise_if_closed: bool = True):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self.sim.close()
        super().close(raise_if_closed=raise_if_closed)


def make_metaworld_env(
    task: TaskInfo,
    *,
    obs: str = "state",
    seed: int | None = None,
    device="cpu",
    render_size: int = 224,
    compat: bool = True,
) -> TransformedEnv:
    """Build an MMBench Meta-World task: :class:`MetaWorldEnv` with a fixed 100-step episode.

    Args:
        task: the task's :class:`~newt.envs.TaskInfo` (domain ``"metaworld"``).
        obs: ``"state"`` or ``"rgb"``.
        seed: seeds the object/goal placement drawn at every reset.
        device: torch device of the output tensors.
        render_size: side of the ``pixels`` frame in rgb mode.
        compat: accepted so that every domain builder takes it; this domain has no official
            bug to correct, so both values give the same env.

    Example:
        >>> from newt.envs import task_info
        >>> env = make_metaworld_env(task_info("mw-door-open"))
        >>> env.action_spec.shape
        torch.Size([4])
    """
    env = MetaWorldEnv(task.name, obs=obs, render_size=render_size, device=device)
    return fixed_length(env, task, seed)
