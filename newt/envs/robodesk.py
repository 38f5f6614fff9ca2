"""MMBench RoboDesk tasks (6, prefix ``rd-``) as a TorchRL env.

Behaviour (MMBench spec, part 2 section 4):

* RoboDesk's Franka desk with dense reward and action repeat 10 inside RoboDesk: each agent
  step solves IK for the end-effector target ``ee + 0.01 * a[0:3]``, moves the wrist by
  ``a[3]`` and sets the finger targets from ``a[4]``, ten times, summing the task's dense reward
  (each clipped to [0, 1], so up to 10 per step);
* reset: RoboDesk's reset (randomised drawer, slide, objects and arm pose), then one zero-action
  step whose reward is dropped; its observation is returned;
* observation: the state dict flattened in alphabetical key order: ``end_effector`` (3),
  ``qpos_objects`` (26), ``qpos_robot`` (9), ``qvel_objects`` (26), ``qvel_robot`` (9) = 73;
* ``success`` is the task's success function on the state after the step; ``score`` equals it;
  episodes last 100 agent steps;
* rgb: a free camera at distance 1.4, azimuth 90, elevation -60, looking at (0, 0.535, 1.1),
  rendered directly at ``render_size`` (no crop, no resize).

RoboDesk 1.0.0 renders an image inside every observation (about 250 ms per step on a CPU
renderer) through a Pillow API removed in Pillow 10. Here the observation is built without
rendering, and a frame is rendered only with ``obs="rgb"``. ``PIL.Image.ANTIALIAS`` is aliased to
``LANCZOS`` before importing RoboDesk, so its own ``render`` also works on current Pillow.

RoboDesk 1.0.0 fills ``qpos_objects`` with the object *velocities* (a copy of ``qvel[9:]``), so
object positions are never observed. ``compat=True`` (default) reproduces that, as the official
runs did; ``compat=False`` puts the real object positions ``qpos[9:]`` there (29 values: the
three free bodies have quaternions), giving a 76-d observation.

RoboDesk draws its reset randomness from the global ``np.random``; each env here keeps its own
numpy RNG state, swapped in around the reset, so seeding the env fixes its episodes and the
global state is left untouched.

Example:
    >>> from newt.envs import task_info
    >>> from newt.envs.robodesk import make_robodesk_env
    >>> env = make_robodesk_env(task_info("rd-push-red"), seed=0)
    >>> td = env.rollout(2)
    >>> td["next", "observation"].shape
    torch.Size([2, 73])
"""
from __future__ import annotations

import contextlib
import io

import numpy as np
import PIL.Image
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.envs import EnvBase, TransformedEnv

if not hasattr(PIL.Image, "ANTIALIAS"):  # removed in Pillow 10; RoboDesk's render uses it
    PIL.Image.ANTIALIAS = PIL.Image.LANCZOS
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    # RoboDesk imports the old ``gym``, which prints an "unmaintained" notice on import.
    import robodesk
from dm_control import mujoco as dm_mujoco

from newt.envs.registry import TaskInfo
from newt.envs.contract import check_obs, fixed_length, set_task_specs

__all__ = ["ROBODESK_TASKS", "RoboDeskEnv", "make_robodesk_env"]

#: MMBench task -> RoboDesk task.
ROBODESK_TASKS: dict[str, str] = {
    "rd-push-red": "push_red",
    "rd-push-green": "push_green",
    "rd-push-blue": "push_blue",
    "rd-open-slide": "open_slide",
    "rd-open-drawer": "open_drawer",
    "rd-flat-block-in-bin": "flat_block_in_bin",
}

_ACTION_REPEAT = 10
_ROBOT_JOINTS = 9
_CAMERA = dict(distance=1.4, azimuth=90.0, elevation=-60.0, lookat=(0.0, 0.535, 1.1))


def _scalar(value) -> float:
    return float(np.asarray(value, dtype=np.float64).reshape(()))


class _StateDesk(robodesk.RoboDesk):
    """RoboDesk whose observation is the flat state vector, built without rendering."""

    def __init__(self, task: str, compat: bool):
        super().__init__(task=task, reward="dense", action_repeat=_ACTION_REPEAT, episode_length=None)
        self.compat = compat

    def _get_obs(self) -> np.ndarray:
        qpos, qvel = self.physics.data.qpos, self.physics.data.qvel
        objects = qvel[_ROBOT_JOINTS:] if self.compat else qpos[_ROBOT_JOINTS:]
        return np.concatenate(
            [
                self.physics.named.data.site_xpos["end_effector"],
                objects,
                qpos[:_ROBOT_JOINTS],
                qvel[_ROBOT_JOINTS:],
                qvel[:_ROBOT_JOINTS],
            ]
        ).astype(np.float32)


class RoboDeskEnv(EnvBase):
    """One MMBench RoboDesk task (see the module docstring for its behaviour).

    Episodes do not end here; :func:`make_robodesk_env` adds the 100-step limit.

    Args:
        task: an ``rd-*`` key of :data:`ROBODESK_TASKS`.
        obs: ``"state"`` or ``"rgb"`` (state plus a ``pixels`` frame).
        render_size: side of the square ``pixels`` frame.
        compat: reproduce RoboDesk's velocities-for-positions observation (73-d).
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
        if task not in ROBODESK_TASKS:
            raise ValueError(f"Unknown RoboDesk task {task!r}; expected one of {sorted(ROBODESK_TASKS)}.")
        check_obs(obs)
        super().__init__(device=device, batch_size=torch.Size([]))
        self.task = task
        self.obs_mode = obs
        self.render_size = int(render_size)
        self.sim = _StateDesk(ROBODESK_TASKS[task], compat=bool(compat))
        self._success_fn = self.sim.reward_functions[self.sim.task]
        self._rng_state = np.random.RandomState().get_state()
        self._camera = None
        self._zero_action = np.zeros(5)
        obs_dim = 73 if compat else 76

        set_task_specs(
            self, obs_dim, 5, self.render_size if obs == "rgb" else None
        )

    def _set_seed(self, seed: int | None) -> None:
        self._rng_state = np.random.RandomState(seed).get_state()

    def render(self) -> torch.Tensor:
        """The desk seen by MMBench's camera, as a ``[3, render_size, render_size]`` uint8 tensor."""
        if self._camera is None:
            try:
                camera = dm_mujoco.Camera(
                    physics=self.sim.physics,
                    height=self.render_size,
                    width=self.render_size,
                    camera_id=-1,
                )
            except Exception as err:
                raise RuntimeError(
                    "MuJoCo offscreen rendering is unavailable. Set MUJOCO_GL=egl (needs libegl1) "
                    "or MUJOCO_GL=osmesa (needs libosmesa6) before importing mujoco."
                ) from err
            free_camera = camera._render_camera  # dm_control exposes no public setter
            free_camera.distance = _CAMERA["distance"]
            free_camera.azimuth = _CAMERA["azimuth"]
            free_camera.elevation = _CAMERA["elevation"]
            free_camera.lookat[:] = _CAMERA["lookat"]
            self._camera = camera
        frame = self._camera.render(depth=False, segmentation=False)
        return torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)

    def _output(self, obs: np.ndarray, reward: float | None) -> TensorDict:
        # RoboDesk returns some success flags as 1-element arrays.
        success = torch.tensor([_scalar(self._success_fn("success"))], dtype=torch.float32)
        out = {
            "observation": torch.from_numpy(obs),
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
        outer = np.random.get_state()
        np.random.set_state(self._rng_state)
        try:
            self.sim.reset()
        finally:
            self._rng_state = np.random.get_state()
            np.random.set_state(outer)
        obs, _, _, _ = self.sim.step(self._zero_action)
        return self._output(obs, None)

    def _step(self, tensordict: TensorDictBase) -> TensorDict:
        obs, reward, _, _ = self.sim.step(tensordict["action"].cpu().numpy().astype(np.float64))
        return self._output(obs, _scalar(reward))

    def close(self, *, raise_if_closed: bool = True):
        if self._camera is not None:
            self._camera._scene.free()
            self._camera = None
        super().close(raise_if_closed=raise_if_closed)


def make_robodesk_env(
    task: TaskInfo,
    *,
    obs: str = "state",
    seed: int | None = None,
    device="cpu",
    render_size: int = 224,
    compat: bool = True,
) -> TransformedEnv:
    """Build an MMBench RoboDesk task: :class:`RoboDeskEnv` with a fixed 100-step episode.

    Args:
        task: the task's :class:`~newt.envs.TaskInfo` (domain ``"robodesk"``).
        obs: ``"state"`` or ``"rgb"``.
        seed: seeds the placement drawn at every reset.
        device: torch device of the output tensors.
        render_size: side of the ``pixels`` frame in rgb mode.
        compat: ``True`` reproduces RoboDesk's observation bug (object velocities in place of
            positions, 73-d); ``False`` observes the object positions (76-d).

    Example:
        >>> from newt.envs import task_info
        >>> env = make_robodesk_env(task_info("rd-open-drawer"), compat=False)
        >>> env.observation_spec["observation"].shape
        torch.Size([76])
    """
    env = RoboDeskEnv(task.name, obs=obs, render_size=render_size, compat=compat, device=device)
    return fixed_length(env, task, seed)
