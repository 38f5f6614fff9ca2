"""MMBench Atari tasks (27, prefix ``atari-``) as a TorchRL env on the Arcade Learning Environment.

The agent acts with a continuous 3-vector ``(radius, theta, fire)`` in ``[-1, 1]^3``. MMBench was
run with ale-py 0.10, whose continuous mode turns that vector into one of the 18 full-set joystick
actions with an asymmetric threshold (LEFT whenever ``x < 0.5``, DOWN whenever ``y < 0.5``), so
in practice only the four diagonals (with or without FIRE) are reachable and the zero action is
DOWN. ale-py 0.12 fixed the threshold, which changes what a policy's actions mean. This module
therefore maps the action itself (:func:`continuous_to_ale_action`) and drives ALE with discrete
action ids and paddle strength ``radius``, 4 frames per step, as the official runs did.

Behaviour (MMBench spec, part 2 section 5):

* observation: the 128-byte console RAM as float32 divided by 255 (no stacking, no history);
* reward: the raw game-score change over the 4 frames, no clipping;
* ``success`` is always 0 (ALE has none); ``score = clip((R - min_return) / (max_return -
  min_return), 0, 1)`` with ``R`` the episode's cumulative reward so far (:data:`ATARI_GAMES`);
* 1000 agent steps per episode; a game over is ignored: ALE keeps returning the frozen final
  state with zero reward until the step limit;
* no sticky actions, no no-op starts, no life-loss signals: start states are deterministic.

``compat=True`` (the default) reproduces the official behaviour, bugs included. ``compat=False``
uses the corrected threshold of ale-py 0.12 (a real dead zone, so NOOP and the cardinal moves are
reachable) and keeps the RAM divided by 255 in rgb mode (the official rgb mode passes raw RAM).

Example:
    >>> from newt.envs import task_info
    >>> from newt.envs.atari import make_atari_env
    >>> env = make_atari_env(task_info("atari-pong"), seed=0)
    >>> td = env.rollout(3)
    >>> td["next", "observation"].shape, td["next", "score"].shape
    (torch.Size([3, 128]), torch.Size([3, 1]))
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from tensordict import TensorDict, TensorDictBase
from torchrl.envs import EnvBase, TransformedEnv

import ale_py

from newt.envs.registry import TaskInfo
from newt.envs.contract import check_obs, fixed_length, set_task_specs

__all__ = ["ATARI_GAMES", "AtariEnv", "continuous_to_ale_action", "make_atari_env"]

#: task -> (ALE ROM id, min_return, max_return) used for the normalised score.
ATARI_GAMES: dict[str, tuple[str, float, float]] = {
    "atari-alien": ("alien", 0, 1000),
    "atari-assault": ("assault", 0, 1000),
    "atari-asterix": ("asterix", 0, 5000),
    "atari-atlantis": ("atlantis", 0, 50000),
    "atari-bank-heist": ("bank_heist", 0, 1000),
    "atari-battle-zone": ("battle_zone", 0, 15000),
    "atari-beamrider": ("beam_rider", 0, 2000),
    "atari-boxing": ("boxing", -100, 100),
    "atari-chopper-command": ("chopper_command", 0, 1000),
    "atari-crazy-climber": ("crazy_climber", 0, 20000),
    "atari-double-dunk": ("double_dunk", 0, 25),
    "atari-gopher": ("gopher", 0, 2000),
    "atari-ice-hockey": ("ice_hockey", -15, 15),
    "atari-jamesbond": ("jamesbond", 0, 1000),
    "atari-kangaroo": ("kangaroo", 0, 10000),
    "atari-krull": ("krull", 0, 10000),
    "atari-ms-pacman": ("ms_pacman", 0, 5000),
    "atari-name-this-game": ("name_this_game", 0, 3000),
    "atari-phoenix": ("phoenix", 0, 1000),
    "atari-pong": ("pong", -21, 21),
    "atari-road-runner": ("road_runner", 0, 50000),
    "atari-robotank": ("robotank", 0, 50),
    "atari-seaquest": ("seaquest", 0, 5000),
    "atari-space-invaders": ("space_invaders", 0, 2000),
    "atari-tutankham": ("tutankham", 0, 100),
    "atari-upndown": ("up_n_down", 0, 5000),
    "atari-yars-revenge": ("yars_revenge", 0, 20000),
}

_FRAMESKIP = 4
_MAX_FRAMES_PER_EPISODE = 108_000  # the ALE v5 default; 1000 steps use only 4000 frames
_THRESHOLD = 0.5
_SCREEN_HEIGHT, _SCREEN_WIDTH = 210, 160
_OBS_CANVAS = 224  # the official rgb frame: the native screen centred on a black 224x224 canvas
_FLOAT32_PI = np.float32(np.pi)

# (horizontal, vertical, fire) -> ALE action, horizontal/vertical in {-1, 0, 1} (left/down = -1).
_ACTIONS = {
    (0, 0, False): ale_py.Action.NOOP,
    (0, 0, True): ale_py.Action.FIRE,
    (0, 1, False): ale_py.Action.UP,
    (0, -1, False): ale_py.Action.DOWN,
    (-1, 0, False): ale_py.Action.LEFT,
    (1, 0, False): ale_py.Action.RIGHT,
    (0, 1, True): ale_py.Action.UPFIRE,
    (0, -1, True): ale_py.Action.DOWNFIRE,
    (-1, 0, True): ale_py.Action.LEFTFIRE,
    (1, 0, True): ale_py.Action.RIGHTFIRE,
    (-1, 1, False): ale_py.Action.UPLEFT,
    (1, 1, False): ale_py.Action.UPRIGHT,
    (-1, -1, False): ale_py.Action.DOWNLEFT,
    (1, -1, False): ale_py.Action.DOWNRIGHT,
    (-1, 1, True): ale_py.Action.UPLEFTFIRE,
    (1, 1, True): ale_py.Action.UPRIGHTFIRE,
    (-1, -1, True): ale_py.Action.DOWNLEFTFIRE,
    (1, -1, True): ale_py.Action.DOWNRIGHTFIRE,
}


def continuous_to_ale_action(action, compat: bool = True) -> tuple[ale_py.Action, float]:
    """Map an agent action in ``[-1, 1]^3`` to ``(ALE action, paddle strength)``.

    The action is first mapped linearly onto ale-py's continuous box: radius ``r = (a0 + 1) / 2``,
    angle ``theta = pi * a1``, fire value ``f = (a2 + 1) / 2`` (float32, as the official wrapper
    computed it). With ``x = r cos(theta)``, ``y = r sin(theta)`` and threshold 0.5, the
    direction is RIGHT if ``x > 0.5`` and UP if ``y > 0.5``; LEFT/DOWN if ``x < 0.5`` / ``y <
    0.5`` with ``compat=True`` (ale-py 0.10's comparison) or if ``x < -0.5`` / ``y < -0.5`` with
    ``compat=False`` (ale-py 0.12's). FIRE if ``f > 0.5``. The paddle strength is ``r``.

    Example:
        >>> continuous_to_ale_action([0.0, 0.0, 0.0])[0].name
        'DOWN'
        >>> continuous_to_ale_action([0.0, 0.0, 0.0], compat=False)[0].name
        'NOOP'
        >>> continuous_to_ale_action([1.0, 0.25, 1.0])[0].name
        'UPRIGHTFIRE'
    """
    a = np.asarray(action, dtype=np.float32)
    radius = (a[0] + np.float32(1)) / np.float32(2)
    theta = a[1] * _FLOAT32_PI
    fire_value = (a[2] + np.float32(1)) / np.float32(2)
    x = radius * np.cos(theta)
    y = radius * np.sin(theta)
    lower = _THRESHOLD if compat else -_THRESHOLD
    horizontal = int(x > _THRESHOLD) - int(x < lower)
    vertical = int(y > _THRESHOLD) - int(y < lower)
    return _ACTIONS[(horizontal, vertical, bool(fire_value > _THRESHOLD))], float(radius)


class AtariEnv(EnvBase):
    """One ALE game with MMBench's observation, action mapping, reward and score.

    Episodes do not end here (game overs are ignored); :func:`make_atari_env` adds the
    1000-step limit with :class:`~torchrl.envs.StepCounter`.

    Args:
        task: an ``atari-*`` key of :data:`ATARI_GAMES`.
        obs: ``"state"`` (RAM) or ``"rgb"`` (RAM plus a ``pixels`` frame).
        render_size: side of the square ``pixels`` frame.
        compat: reproduce the official ale-py 0.10 behaviour (see the module docstring).
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
        if task not in ATARI_GAMES:
            raise ValueError(f"Unknown Atari task {task!r}; expected one of {sorted(ATARI_GAMES)}.")
        check_obs(obs)
        super().__init__(device=device, batch_size=torch.Size([]))
        self.task = task
        self.obs_mode = obs
        self.render_size = int(render_size)
        self.compat = bool(compat)
        rom, self.min_return, self.max_return = ATARI_GAMES[task]
        self._rom_path = ale_py.roms.get_rom_path(rom)

        self.ale = ale_py.ALEInterface()
        self.ale.setLoggerMode(ale_py.LoggerMode.Error)
        self.ale.setFloat("repeat_action_probability", 0.0)
        self.ale.setInt("max_num_frames_per_episode", _MAX_FRAMES_PER_EPISODE)
        self._load(seed=None)
        self._ram_scale = 1.0 if (obs == "rgb" and self.compat) else 1.0 / 255.0
        self._return = 0.0

        set_task_specs(
            self, 128, 3, self.render_size if obs == "rgb" else None
        )

    def _load(self, seed: int | None) -> None:
        # Same derivation of the ALE seed as ale-py's gymnasium env.
        _, ale_seed = np.random.SeedSequence(seed).generate_state(n_words=2)
        self.ale.setInt("random_seed", np.int32(ale_seed))
        self.ale.loadROM(self._rom_path)

    def _set_seed(self, seed: int | None) -> None:
        self._load(seed)

    def _score(self) -> float:
        span = self.max_return - self.min_return
        return min(max((self._return - self.min_return) / span, 0.0), 1.0)

    def _frame(self) -> torch.Tensor:
        screen = torch.from_numpy(self.ale.getScreenRGB()).permute(2, 0, 1)
        # Frames smaller than the screen are made on the official canvas, then downsampled.
        side = self.render_size if self.render_size >= _SCREEN_HEIGHT else _OBS_CANVAS
        canvas = torch.zeros(3, side, side, dtype=torch.uint8)
        top, left = (side - _SCREEN_HEIGHT) // 2, (side - _SCREEN_WIDTH) // 2
        canvas[:, top : top + _SCREEN_HEIGHT, left : left + _SCREEN_WIDTH] = screen
        if side != self.render_size:
            canvas = F.interpolate(canvas[None].float(), size=self.render_size, mode="area")
            canvas = canvas[0].round().clamp(0, 255).to(torch.uint8)
        return canvas

    def _observe(self, reward: float | None) -> TensorDict:
        ram = torch.from_numpy(self.ale.getRAM().astype(np.float32) * np.float32(self._ram_scale))
        out = {
            "observation": ram,
            "success": torch.zeros(1),
            "score": torch.tensor([self._score()], dtype=torch.float32),
            "done": torch.zeros(1, dtype=torch.bool),
            "terminated": torch.zeros(1, dtype=torch.bool),
            "truncated": torch.zeros(1, dtype=torch.bool),
        }
        if reward is not None:
            out["reward"] = torch.tensor([reward], dtype=torch.float32)
        if self.obs_mode == "rgb":
            out["pixels"] = self._frame()
        return TensorDict(out, batch_size=(), device=self.device)

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs) -> TensorDict:
        self.ale.reset_game()
        self._return = 0.0
        return self._observe(None)

    def _step(self, tensordict: TensorDictBase) -> TensorDict:
        action, strength = continuous_to_ale_action(tensordict["action"].cpu().numpy(), self.compat)
        reward = 0.0
        for _ in range(_FRAMESKIP):
            # After a game over ALE refuses to advance and returns 0: the state stays frozen.
            reward += self.ale.act(action, strength)
        self._return += reward
        return self._observe(reward)


def make_atari_env(
    task: TaskInfo,
    *,
    obs: str = "state",
    seed: int | None = None,
    device="cpu",
    render_size: int = 224,
    compat: bool = True,
) -> TransformedEnv:
    """Build an MMBench Atari task: :class:`AtariEnv` with a fixed 1000-step episode.

    Args:
        task: the task's :class:`~newt.envs.TaskInfo` (domain ``"atari"``).
        obs: ``"state"`` or ``"rgb"``.
        seed: seeds ALE when given (the start state is deterministic either way).
        device: torch device of the output tensors.
        render_size: side of the ``pixels`` frame in rgb mode.
        compat: ``True`` reproduces ale-py 0.10's action thresholds and the raw-RAM rgb state
            of the official runs; ``False`` uses the corrected behaviour.

    Example:
        >>> from newt.envs import task_info
        >>> env = make_atari_env(task_info("atari-boxing"))
        >>> env.action_spec.shape
        torch.Size([3])
    """
    env = AtariEnv(task.name, obs=obs, render_size=render_size, compat=compat, device=device)
    return fixed_length(env, task, seed)
