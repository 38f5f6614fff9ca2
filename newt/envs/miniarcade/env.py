"""The TorchRL environment around a batched MiniArcade game."""
from __future__ import annotations

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Bounded, Categorical, Composite, Unbounded
from torchrl.envs import EnvBase

from newt.envs.contract import OBS_MODES, check_seed
from newt.envs.multitask import RawStep
from newt.envs.registry import TaskInfo, task_info



class MiniArcadeEnv(EnvBase):
    """A MiniArcade task as a TorchRL env, stepping ``num_envs`` copies of the game as one array.

    The env follows the MMBench env contract: ``observation`` (float32 state vector),
    ``action`` bounded in ``[-1, 1]``, float32 ``reward``, ``done``/``terminated``/``truncated``
    (episodes are truncated at the task's fixed length and never terminate), ``success`` and
    the running normalised ``score`` of the official wrapper; with ``obs="rgb"`` also
    ``pixels`` (uint8 ``[3, render_size, render_size]``), drawn offscreen with pygame after every
    reset and step.

    The batch size is ``[]`` for ``num_envs=1`` and ``[num_envs]`` otherwise. Partial resets
    (``"_reset"`` masks, as sent by collectors and ``step_and_maybe_reset``) restart only the
    selected copies. A single copy also has the :class:`~newt.envs.multitask.RawStep` hooks,
    which its ``_step`` and :class:`~newt.envs.multitask.MultiTaskEnv` run.

    Args:
        task: a MiniArcade task name (``"pygame-pong"``) or its :class:`~newt.envs.TaskInfo`.

    Keyword Args:
        obs: ``"state"`` or ``"rgb"``.
        num_envs: copies of the game stepped together.
        render_size: side of the ``pixels`` frame; the games draw 224 x 224, other sizes are
            resized (bilinear, antialiased).
        device: device of the output tensors (the games run on CPU).
        **game_kwargs: extra game constructor arguments (e.g. ``compat=False``).

    Example:
        >>> env = MiniArcadeEnv("pygame-cowboy", num_envs=8)
        >>> _ = env.set_seed(0)
        >>> td = env.rollout(5)
        >>> td["next", "reward"].shape
        torch.Size([8, 5, 1])
    """

    def __init__(
        self,
        task: str | TaskInfo,
        *,
        obs: str = "state",
        num_envs: int = 1,
        render_size: int = 224,
        device="cpu",
        **game_kwargs,
    ):
        from newt.envs.miniarcade import game_entry, make_game

        if isinstance(task, TaskInfo):
            task = task.name
        if obs not in OBS_MODES:
            raise ValueError(f"Unknown observation mode {obs!r}; allowed: {OBS_MODES}")
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
        if not isinstance(render_size, int) or render_size < 1:
            raise ValueError(f"render_size must be a positive int, got {render_size!r}")
        self.entry = game_entry(task)
        self.task = task_info(task)
        self.game = make_game(task, num_envs=num_envs, **game_kwargs)
        if self.game.action_dim != self.task.action_dim:
            raise RuntimeError(
                f"{task}: game action_dim {self.game.action_dim} != tasks.csv {self.task.action_dim}"
            )
        self.obs_mode = obs
        self.num_envs = num_envs
        self.render_size = render_size
        self.episode_length = self.task.episode_length
        batch_size = torch.Size([num_envs] if num_envs > 1 else [])
        super().__init__(device=device, batch_size=batch_size)
        self._steps = np.zeros(num_envs, np.int64)
        self._return = np.zeros(num_envs, np.float64)
        self._success = np.zeros(num_envs, np.float32)
        self._pixels = None
        self._entry_shape = (*batch_size, 1)
        self._action_shape = torch.Size((*batch_size, self.game.action_dim))
        self._on_cpu = self.device.type == "cpu"
        self._all_envs = np.ones(num_envs, bool)
        self._make_specs()

    def _make_specs(self) -> None:
        bs = self.batch_size
        one = (*bs, 1)
        observation = {
            "observation": Unbounded(shape=(*bs, self.game.obs_dim), dtype=torch.float32, device=self.device),
            "success": Unbounded(shape=one, dtype=torch.float32, device=self.device),
            "score": Unbounded(shape=one, dtype=torch.float32, device=self.device),
        }
        if self.obs_mode == "rgb":
            size = self.render_size
            observation["pixels"] = Bounded(
                0, 255, shape=(*bs, 3, size, size), dtype=torch.uint8, device=self.device
            )
        self.observation_spec = Composite(observation, shape=bs, device=self.device)
        self.action_spec = Bounded(
            -1.0, 1.0, shape=(*bs, self.game.action_dim), dtype=torch.float32, device=self.device
        )
        self.reward_spec = Unbounded(shape=one, dtype=torch.float32, device=self.device)
        done = Categorical(2, shape=one, dtype=torch.bool, device=self.device)
        self.done_spec = Composite(
            done=done, terminated=done.clone(), truncated=done.clone(), shape=bs, device=self.device
        )

    def _step_proc_data(self, next_tensordict_out: TensorDictBase) -> TensorDictBase:
        # _step already writes every done key and a [*batch, 1] reward, so TorchRL's generic
        # reshaping and done-completion pass is skipped (it costs about as much as a game step).
        if self.run_type_checks:
            return super()._step_proc_data(next_tensordict_out)
        return next_tensordict_out

    def _set_seed(self, seed: int | None) -> None:
        self.game.seed(seed)

    def _batched(self, t: torch.Tensor) -> torch.Tensor:
        """Drop the leading env dimension when the batch size is ``[]``."""
        return t if self.batch_size else t[0]

    def _frames(self, which: np.ndarray) -> torch.Tensor:
        """Draw the envs in ``which`` (the rest keep their last frame); ``uint8 [N, 3, S, S]``."""
        size = self.render_size
        if self._pixels is None:
            self._pixels = torch.zeros(self.num_envs, 3, size, size, dtype=torch.uint8)
            which = np.ones(self.num_envs, bool)
        for i in np.flatnonzero(which):
            frame = torch.from_numpy(self.game.draw(int(i))).permute(2, 0, 1)
            if size != frame.shape[-1]:
                frame = torch.nn.functional.interpolate(
                    frame[None].float(), size=(size, size), mode="bilinear", antialias=True
                )[0].round_().clamp_(0, 255).to(torch.uint8)
            self._pixels[i] = frame
        return self._pixels.clone()

    def _output(self, obs, success, reward=None, drawn=None) -> TensorDictBase:
        # One small fresh numpy array per entry wrapped with torch.from_numpy: cheaper than
        # slicing a shared tensor, which matters because this runs once per step.
        # The game's observation is a new array every call: it is wrapped without a copy.
        shape = self._entry_shape
        truncated = (self._steps >= self.episode_length).reshape(shape)
        out = {
            "observation": torch.from_numpy(obs.reshape(*shape[:-1], -1)),
            "success": torch.from_numpy(np.array(success, np.float32).reshape(shape)),
            "score": torch.from_numpy(self.entry.score(self._return, success).reshape(shape)),
            "done": torch.from_numpy(truncated),
            "truncated": torch.from_numpy(truncated.copy()),
            "terminated": torch.from_numpy(np.zeros(shape, bool)),
        }
        if reward is not None:
            out["reward"] = torch.from_numpy(np.array(reward, np.float32).reshape(shape))
        if self.obs_mode == "rgb":
            out["pixels"] = self._batched(self._frames(drawn))
        if not self._on_cpu:
            out = {key: value.to(self.device) for key, value in out.items()}
        return TensorDict._new_unsafe(out, batch_size=self.batch_size, device=self.device)

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs) -> TensorDictBase:
        mask = None if tensordict is None else tensordict.get("_reset", None)
        if mask is None:
            mask = np.ones(self.num_envs, bool)
        else:
            mask = mask.detach().cpu().numpy().reshape(self.num_envs)
        return self._output(self._restart(mask), self._success, drawn=mask)

    def _raw_reset(self) -> RawStep:
        """Restart the single copy; the :class:`~newt.envs.multitask.RawStep` hook."""
        self._check_single_copy()
        return self._raw_output(self._restart(self._all_envs), 0.0, 0.0)

    def _restart(self, mask: np.ndarray) -> np.ndarray:
        """New episodes, game and counters, for the copies in ``mask``; every copy's observation."""
        obs = self.game.reset(mask)
        self._steps[mask] = 0
        self._return[mask] = 0.0
        self._success[mask] = 0.0
        return obs

    def _raw_step(self, action: np.ndarray) -> RawStep:
        """One step of the single copy for a float32 ``[action_dim]`` action, without tensordicts;
        the :class:`~newt.envs.multitask.RawStep` hook."""
        self._check_single_copy()
        obs, reward, success = self.game.step(action.reshape(1, -1))
        reward, success = reward.item(), success.item()
        self._steps[0] += 1
        self._return[0] += reward
        self._success[0] = success
        return self._raw_output(obs, reward, success)

    def _raw_output(self, obs: np.ndarray, reward: float, success: float) -> RawStep:
        pixels = self._frames(self._all_envs)[0] if self.obs_mode == "rgb" else None
        score = self.entry.score(self._return, self._success).item()
        return RawStep(obs[0], reward, success, score, self._steps.item() >= self.episode_length, pixels)

    def _check_single_copy(self) -> None:
        if self.num_envs != 1:
            raise RuntimeError(f"The RawStep hooks step a single copy; this env has num_envs={self.num_envs}.")

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        action = tensordict.get("action")
        if action.shape != self._action_shape:
            raise ValueError(f"action must have shape {tuple(self._action_shape)}, got {tuple(action.shape)}")
        action = action.detach()
        if not self._on_cpu:
            action = action.cpu()
        if self.num_envs == 1:
            return self._raw_step(action.numpy()).tensordict(with_reward=True, device=self.device)
        obs, reward, success = self.game.step(action.numpy())
        # In-place updates: assigning an attribute of an EnvBase goes through its slow __setattr__.
        np.add(self._steps, 1, out=self._steps)
        np.add(self._return, reward, out=self._return)
        self._success[:] = success
        return self._output(obs, success, reward, self._all_envs)


def make_miniarcade_env(
    task: str | TaskInfo,
    *,
    obs: str = "state",
    seed: int | None = None,
    device="cpu",
    render_size: int = 224,
    num_envs: int = 1,
    **kwargs,
) -> MiniArcadeEnv:
    """Build a MiniArcade task as a TorchRL env (the ``miniarcade`` domain builder).

    Args:
        task: task name or :class:`~newt.envs.TaskInfo`.

    Keyword Args:
        obs: ``"state"`` or ``"rgb"``.
        seed: when given, seeds the env so that the same seed gives the same episodes.
        device: device of the output tensors.
        render_size: side of the ``pixels`` frame.
        num_envs: copies of the game in one batched env (batch size ``[num_envs]``; ``[]`` for 1).
        **kwargs: game constructor arguments.

    Example:
        >>> env = make_miniarcade_env("pygame-landing", seed=1, num_envs=2)
        >>> env.rollout(200)["next", "truncated"][:, -1].squeeze(-1).tolist()
        [True, True]
    """
    check_seed(seed)
    env = MiniArcadeEnv(task, obs=obs, num_envs=num_envs, render_size=render_size, device=device, **kwargs)
    if seed is not None:
        env.set_seed(int(seed))
    return env
