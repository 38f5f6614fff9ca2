"""DMControl, DMControl-ext and the held-out DMC variants as TorchRL environments.

Every task of these families runs through one adapter, :class:`DMControlTaskEnv`, which takes
a ``dm_control.rl.control.Environment`` and gives the MMBench single-task env: each action is
repeated for 2 control steps (the env-step reward is the sum of both control rewards), the
observation is dm_control's observation dict flattened in dict order to float32, ``score`` is
the cumulative control reward / 1000, ``success`` is NaN, and episodes are truncated after
``episode_length`` env steps (500, i.e. the 1000 control steps of one dm_control episode).

The adapter is a lean :class:`~torchrl.envs.EnvBase` rather than
:class:`~torchrl.envs.DMControlWrapper` + ``CatTensors`` / ``DoubleToFloat`` / ``StepCounter``:
that stack costs about 0.7 ms per step, which makes walker-walk ~2x slower than the official
MMBench stack (see ``benchmarks/envs.py``).

Rendering is offscreen. ``MUJOCO_GL`` defaults to ``egl`` (headless) when this module is
imported before dm_control; set ``MUJOCO_GL=osmesa`` for pure-software rendering or
``MUJOCO_GL=glfw`` for a display.

Example:
    >>> from newt.envs import task_info
    >>> from newt.envs.dmcontrol import make_dmcontrol_env
    >>> env = make_dmcontrol_env(task_info("cheetah-run"), seed=0)
    >>> td = env.rollout(3)
    >>> td["next", "observation"].shape, td["next", "score"].shape
    (torch.Size([3, 17]), torch.Size([3, 1]))
"""
from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")
if os.environ["MUJOCO_GL"] in ("egl", "osmesa"):
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

import numpy as np
import torch
from dm_control import suite
from dm_control.rl import control
from dm_control.suite import quadruped
from tensordict import TensorDictBase
from torchrl.data import Bounded, Categorical, Composite, Unbounded
from torchrl.envs import DeviceCastTransform, EnvBase, TransformedEnv

from newt.envs.multitask import RawStep
from newt.envs.contract import check_obs, check_seed
from newt.envs.registry import TaskInfo

__all__ = ["DMControlTaskEnv", "load_suite_task", "make_dmcontrol_env"]

#: Control steps per env step for every DMControl-family task.
ACTION_REPEAT = 2
#: Normaliser of the score: a perfect episode has 1000 control rewards of 1.
SCORE_SCALE = 1000.0
# dm_control domain names that differ from the MMBench prefix.
_DOMAIN_ALIASES = {"cup": "ball_in_cup", "pointmass": "point_mass"}


def _quadruped_sensor_names(self, *sensor_types):
    # dm_control 1.0.28 calls np.in1d, which numpy 2.4 removed; same logic with np.isin.
    try:
        return self._sensor_types_to_names[sensor_types]
    except KeyError:
        [sensor_ids] = np.where(np.isin(self.model.sensor_type, sensor_types))
        names = [self.model.id2name(s_id, "sensor") for s_id in sensor_ids]
        self._sensor_types_to_names[sensor_types] = names
        return names


if not hasattr(np, "in1d"):
    quadruped.Physics._get_sensor_names = _quadruped_sensor_names


class DMControlTaskEnv(EnvBase):
    """MMBench adapter around one dm_control environment.

    Args:
        env: a ``dm_control.rl.control.Environment`` (e.g. from ``suite.load``).

    Keyword Args:
        max_steps: env steps per episode; ``truncated`` is True exactly at this step.
        action_repeat: control steps per env step (rewards are summed). Defaults to 2.
        from_pixels: also render a ``pixels`` entry, uint8 ``[3, render_size, render_size]``.
        render_size: side of the rendered square frame. Defaults to 224.
        camera_id: index of the MuJoCo camera to render. Defaults to 0.

    Actions are float32 in [-1, 1] and mapped linearly onto the dm_control action bounds (the
    identity for every MMBench model). An action of the wrong width or with NaN entries raises
    ``ValueError``. ``set_seed`` reseeds the task's ``RandomState``, which draws every initial
    state, so the same seed gives the same episode.

    Example:
        >>> from dm_control import suite
        >>> env = DMControlTaskEnv(suite.load("cartpole", "swingup"), max_steps=500)
        >>> env.observation_spec["observation"].shape, env.action_spec.shape
        (torch.Size([5]), torch.Size([1]))
    """

    def __init__(
        self,
        env: control.Environment,
        *,
        max_steps: int,
        action_repeat: int = ACTION_REPEAT,
        from_pixels: bool = False,
        render_size: int = 224,
        camera_id: int = 0,
    ):
        super().__init__(device="cpu", batch_size=torch.Size([]))
        self._env = env
        self.max_steps = max_steps
        self.action_repeat = action_repeat
        self.from_pixels = from_pixels
        self.render_size = render_size
        self.camera_id = camera_id
        # [env steps, control return] since reset; a plain list because nn.Module attribute
        # assignment (EnvBase is a Module) costs more per step than the list update.
        self._episode = [0, 0.0]

        obs_dim = sum(int(np.prod(s.shape)) for s in env.observation_spec().values())
        spec = env.action_spec()
        self._action_dim = int(spec.shape[0])
        low = np.broadcast_to(spec.minimum, spec.shape)
        high = np.broadcast_to(spec.maximum, spec.shape)
        identity = np.allclose(low, -1.0) and np.allclose(high, 1.0)
        self._action_scale = None if identity else ((high - low) / 2.0, (high + low) / 2.0)

        observation = Composite(
            observation=Unbounded((obs_dim,), dtype=torch.float32),
            success=Unbounded((1,), dtype=torch.float32),
            score=Unbounded((1,), dtype=torch.float32),
        )
        if from_pixels:
            observation["pixels"] = Bounded(
                0, 255, (3, render_size, render_size), dtype=torch.uint8
            )
            self._check_renderer()
        self.observation_spec = observation
        self.action_spec = Bounded(-1.0, 1.0, (self._action_dim,), dtype=torch.float32)
        self.reward_spec = Unbounded((1,), dtype=torch.float32)
        flag = Categorical(2, (1,), dtype=torch.bool)
        self.done_spec = Composite(done=flag, terminated=flag.clone(), truncated=flag.clone())

    @property
    def dm_env(self) -> control.Environment:
        """The wrapped dm_control environment."""
        return self._env

    def _check_renderer(self) -> None:
        try:
            self._env.physics.render(8, 8, camera_id=self.camera_id)
        except Exception as err:  # any backend failure surfaces here, at construction
            raise RuntimeError(
                f"obs='rgb' needs offscreen MuJoCo rendering, which failed ({err!r}) with "
                f"MUJOCO_GL={os.environ.get('MUJOCO_GL')!r}. Set MUJOCO_GL=egl (needs libEGL, "
                "e.g. apt install libegl1) or MUJOCO_GL=osmesa (apt install libosmesa6) "
                "before importing dm_control."
            ) from err

    def _raw_output(self, time_step, reward: float, truncated: bool) -> RawStep:
        flat = np.concatenate(
            [np.ravel(v) for v in time_step.observation.values()], dtype=np.float32
        )
        pixels = None
        if self.from_pixels:
            frame = self._env.physics.render(
                self.render_size, self.render_size, camera_id=self.camera_id
            )
            pixels = torch.from_numpy(np.ascontiguousarray(frame.transpose(2, 0, 1)))
        return RawStep(flat, reward, np.nan, self._episode[1] / SCORE_SCALE, truncated, pixels)

    def _raw_reset(self) -> RawStep:
        """Reset the episode; the :class:`~newt.envs.multitask.RawStep` hook."""
        self._episode[:] = [0, 0.0]
        return self._raw_output(self._env.reset(), 0.0, False)

    def _raw_step(self, action: np.ndarray) -> RawStep:
        """One env step of a checked float32 ``[action_dim]`` action, without tensordicts.

        The :class:`~newt.envs.multitask.RawStep` hook that ``_step`` and
        :class:`~newt.envs.multitask.MultiTaskEnv` both run.
        """
        action = action.astype(np.float64)
        if self._action_scale is not None:
            scale, offset = self._action_scale
            action = action * scale + offset
        reward = 0.0
        for _ in range(self.action_repeat):
            time_step = self._env.step(action)
            reward += time_step.reward or 0.0
            if time_step.last():
                break
        episode = self._episode
        episode[0] += 1
        episode[1] += reward
        truncated = episode[0] >= self.max_steps
        if time_step.last() and not truncated:
            raise RuntimeError(
                f"The dm_control episode ended after {episode[0]} env steps, before "
                f"max_steps={self.max_steps}: the task's time limit does not match."
            )
        return self._raw_output(time_step, reward, truncated)

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs) -> TensorDictBase:
        return self._raw_reset().tensordict(with_reward=False, device=self.device)

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        action = tensordict.get("action").detach().cpu().numpy()
        if action.shape != (self._action_dim,):
            raise ValueError(
                f"Expected an action of shape ({self._action_dim},), got {tuple(action.shape)}."
            )
        if np.isnan(action).any():
            raise ValueError(f"The action contains NaN: {action.tolist()}.")
        return self._raw_step(action).tensordict(with_reward=True, device=self.device)

    def _set_seed(self, seed: int | None) -> None:
        if seed is not None:
            self._env.task._random = np.random.RandomState(seed)

    def close(self, *, raise_if_closed: bool = True) -> None:
        self._env.close()
        super().close(raise_if_closed=raise_if_closed)


def load_suite_task(name: str, seed: int | None = None) -> control.Environment:
    """Load a standard DMControl task by its MMBench name (e.g. ``"cup-catch"``).

    The name is split at the first ``-`` into dm_control (domain, task), with ``-`` turned into
    ``_`` and the aliases ``cup`` -> ``ball_in_cup``, ``pointmass`` -> ``point_mass``.

    Raises:
        KeyError: the name is no dm_control suite task.
    """
    domain, _, task = name.replace("-", "_").partition("_")
    domain = _DOMAIN_ALIASES.get(domain, domain)
    if (domain, task) not in suite.ALL_TASKS:
        raise KeyError(f"{name!r} is not a dm_control suite task ((domain, task)={domain, task}).")
    return suite.load(domain, task, task_kwargs={"random": seed}, visualize_reward=False)


def make_dmcontrol_env(
    task: TaskInfo,
    *,
    obs: str = "state",
    seed: int | None = None,
    device="cpu",
    render_size: int = 224,
) -> EnvBase:
    """Build the native MMBench env of a DMControl, DMControl-ext or held-out DMC task.

    Domain ``dmcontrol`` loads the dm_control suite task; ``dmcontrol-ext`` (the custom tasks
    and the held-out variants) gets its dm_control environment from :mod:`newt.envs.dmc_ext`.
    Both are wrapped by :class:`DMControlTaskEnv`. Camera 0 is rendered, camera 2 for
    quadruped.

    Args:
        task: the task's :class:`~newt.envs.TaskInfo`.

    Keyword Args:
        obs: ``"state"`` or ``"rgb"`` (adds ``pixels``).
        seed: seeds the task's random state (initial states); ``None`` draws fresh entropy.
        device: device of the output tensors; simulation runs on CPU.
        render_size: side of the ``pixels`` frame. Defaults to 224.

    Example:
        >>> from newt.envs import task_info
        >>> env = make_dmcontrol_env(task_info("walker-walk"), seed=1)
        >>> env.action_spec.shape
        torch.Size([6])
    """
    check_obs(obs)
    check_seed(seed)
    seed = None if seed is None else int(seed)
    if task.domain == "dmcontrol":
        dm_env = load_suite_task(task.name, seed)
        camera_id = 2 if task.name.startswith("quadruped-") else 0
    elif task.domain == "dmcontrol-ext":
        from newt.envs import dmc_ext

        dm_env = dmc_ext.load(task.name, seed)
        camera_id = dmc_ext.camera_id(task.name)
    else:
        raise ValueError(
            f"make_dmcontrol_env builds domains 'dmcontrol' and 'dmcontrol-ext', "
            f"got {task.name!r} of domain {task.domain!r}."
        )
    env = DMControlTaskEnv(
        dm_env,
        max_steps=task.episode_length,
        from_pixels=obs == "rgb",
        render_size=render_size,
        camera_id=camera_id,
    )
    if seed is not None:
        env.set_seed(seed)
    if torch.device(device) != env.device:
        env = TransformedEnv(env, DeviceCastTransform(device, env.device))
    return env
