"""MPPI planning in the latent space of a Newt world model, as a TorchRL policy module."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from tensordict import NestedKey, TensorDictBase
from tensordict.nn import TensorDictModuleBase
from torchrl.envs.utils import ExplorationType, exploration_type

from newt.objectives.utils import compile_options, task_discounts

__all__ = ["MPPIPlanner"]


class MPPIPlanner(TensorDictModuleBase):
    """Newt's MPPI planner: a policy that reads ``observation`` and writes ``action``.

    Every call plans for all envs of the batch at once (no Python loop over envs):

    1. encode the observation; roll out ``num_pi_trajs`` action sequences of length
       ``horizon`` from the policy prior through the dynamics;
    2. start from the previous plan's mean shifted by one step (zero where ``is_init`` is
       true) and ``std = max_std``; with constrained planning, blend both toward the
       mean and std of the policy sequences with weight
       ``w = max(0, 1 - max(0, step - constraint_start_step) / constraint_final_step)``
       (the official schedule: ``w`` reaches 0 at ``start + final``);
    3. ``iterations`` times: sample ``num_samples - num_pi_trajs`` sequences from the
       Gaussian (clipped to [-1, 1]), add the policy sequences, zero the masked action
       dims, score every sequence by the discounted sum of predicted rewards plus the
       discounted Q (mean of two random heads) at the policy's action after the last
       step, keep the ``num_elites`` best and refit mean and std with weights
       ``exp(temperature * (V - max V))`` (std clipped to ``[min_std, max_std]``);
    4. draw one elite with probability proportional to its weight and return its first
       action. Under ``ExplorationType.RANDOM`` (TorchRL collectors' default) Gaussian
       noise with the final std of the first step is added; under any other
       exploration type, or outside any ``set_exploration_type`` context, the action is
       returned as is.

    With ``mpc=False`` the planner returns the policy prior's action instead: a sample
    under ``ExplorationType.RANDOM``, the mean otherwise.

    **Warm-start state.** The previous plan's mean lives in the module, one row per env
    of the batch; it is re-allocated (zeros) whenever the batch shape changes, and each
    row is reset when that env's ``is_init`` is true (add ``torchrl.envs.InitTracker``
    to the env). This works with ``env.rollout``, batched envs of any size and with
    multi-process collectors (each worker keeps its own copy of the policy). The
    alternative, carrying the mean in the tensordict with a ``TensorDictPrimer``, would
    require a transform on every env and would store ``horizon x action_dim`` extra
    floats per step in the replay buffer; the state is transient planning state, so the
    module keeps it. Call :meth:`reset` to drop it. The state is not part of the
    ``state_dict``.

    **Steps.** The constrained-planning weight depends on the number of environment
    steps collected so far, given with :meth:`set_step` (a buffer, so it is saved and
    synchronised with the weights of multi-process collectors). It starts at 0, i.e.
    fully constrained, as at the start of official training.

    Args:
        world_model (NewtWorldModel): the model to plan with.

    Keyword Args:
        horizon (int): planning horizon. Defaults to ``3``.
        num_samples (int): sequences scored per iteration, policy ones included.
            Defaults to ``512``.
        num_elites (int): sequences kept to refit the distribution. Defaults to ``64``.
        num_pi_trajs (int): sequences drawn from the policy prior. Defaults to ``24``.
        iterations (int): MPPI iterations. Defaults to ``6``.
        min_std (float): lower clip of the sampling std. Defaults to ``0.05``.
        max_std (float): initial std and its upper clip. Defaults to ``2.0``.
        temperature (float): multiplies the value gaps in the weights. Defaults to ``0.5``.
        discount (float, sequence or tensor): discount, or one per task. Defaults to
            ``0.99``.
        mpc (bool): plan (``True``) or act with the policy prior. Defaults to ``True``.
        constrained_planning (bool): blend the initial distribution toward the policy
            prior. Defaults to ``True``.
        constraint_start_step (int): step at which the blend starts to fade. Defaults to
            ``2_000_000``.
        constraint_final_step (int): length of the fade. Defaults to ``10_000_000``.
        observation_key, task_key, is_init_key, action_key (NestedKey): tensordict keys.
            ``task`` is read only by task-conditioned models.
        compile (bool or dict): wrap the planning computation (encoding, policy
            sequences, the MPPI iterations) in :func:`torch.compile`; a dict gives its
            keyword arguments, e.g. ``{"mode": "reduce-overhead"}``, which also captures
            CUDA graphs on CUDA (the official setting). The warm-start state stays outside
            the compiled region. Compilation happens on the first call for each batch
            shape. Defaults to ``False``.

    Example:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> from torchrl.envs.utils import ExplorationType, set_exploration_type
        >>> from newt.modules.planner import MPPIPlanner
        >>> from newt.modules.world_model import NewtWorldModel
        >>> model = NewtWorldModel(obs_dim=5, action_dim=2, model_size="S", latent_dim=16, mlp_dim=32, enc_dim=32)
        >>> planner = MPPIPlanner(model, num_samples=32, num_elites=4, num_pi_trajs=4, iterations=2)
        >>> td = TensorDict({"observation": torch.randn(3, 5), "is_init": torch.ones(3, 1, dtype=torch.bool)}, [3])
        >>> with set_exploration_type(ExplorationType.RANDOM):
        ...     planner(td)["action"].shape
        torch.Size([3, 2])
    """

    def __init__(
        self,
        world_model,
        *,
        horizon: int = 3,
        num_samples: int = 512,
        num_elites: int = 64,
        num_pi_trajs: int = 24,
        iterations: int = 6,
        min_std: float = 0.05,
        max_std: float = 2.0,
        temperature: float = 0.5,
        discount: float | Sequence[float] | torch.Tensor = 0.99,
        mpc: bool = True,
        constrained_planning: bool = True,
        constraint_start_step: int = 2_000_000,
        constraint_final_step: int = 10_000_000,
        observation_key: NestedKey = "observation",
        task_key: NestedKey = "task",
        is_init_key: NestedKey = "is_init",
        action_key: NestedKey = "action",
        compile: bool | dict = False,
    ) -> None:
        super().__init__()
        for name, value, low in (
            ("horizon", horizon, 1),
            ("num_samples", num_samples, 1),
            ("num_elites", num_elites, 1),
            ("num_pi_trajs", num_pi_trajs, 0),
            ("iterations", iterations, 1),
        ):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
        if num_pi_trajs >= num_samples:
            raise ValueError(
                f"num_pi_trajs ({num_pi_trajs}) must be smaller than num_samples ({num_samples})."
            )
        if num_elites > num_samples:
            raise ValueError(f"num_elites ({num_elites}) cannot exceed num_samples ({num_samples}).")
        if not 0.0 < min_std <= max_std:
            raise ValueError(f"need 0 < min_std <= max_std, got min_std={min_std}, max_std={max_std}.")
        if constraint_final_step < 1 or constraint_start_step < 0:
            raise ValueError(
                "constraint_start_step must be >= 0 and constraint_final_step >= 1, got "
                f"{constraint_start_step} and {constraint_final_step}."
            )
        discount = task_discounts(discount)
        self.world_model = world_model
        self.horizon = horizon
        self.num_samples = num_samples
        self.num_elites = num_elites
        self.num_pi_trajs = num_pi_trajs
        self.iterations = iterations
        self.min_std = min_std
        self.max_std = max_std
        self.temperature = temperature
        self.mpc = mpc
        self.constrained_planning = constrained_planning
        self.constraint_start_step = constraint_start_step
        self.constraint_final_step = constraint_final_step
        self.register_buffer("discount", discount)
        self.register_buffer("step", torch.zeros((), dtype=torch.int64))
        self.observation_key = observation_key
        self.task_key = task_key
        self.is_init_key = is_init_key
        self.action_key = action_key
        self.multitask = world_model.is_multitask
        self.in_keys = [observation_key, is_init_key] + ([task_key] if self.multitask else [])
        self.out_keys = [action_key]
        self._prev_mean: torch.Tensor | None = None
        self.compile_options = compile_options(compile)
        self._compiled_mppi = None

    def __getstate__(self):
        # A compiled function does not pickle (multi-process collectors pickle the policy);
        # each copy compiles its own on first use.
        state = self.__dict__.copy()
        state["_compiled_mppi"] = None
        return state

    # ------------------------------------------------------------------ state
    def set_step(self, step: int) -> None:
        """Sets the environment step that drives the constrained-planning schedule."""
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}.")
        self.step.fill_(step)

    def reset(self) -> None:
        """Forgets the warm-start means of every env."""
        self._prev_mean = None

    def constraint_weight(self) -> torch.Tensor:
        """Weight of the policy prior in the initial distribution (0 when disabled)."""
        if not self.constrained_planning:
            return torch.zeros((), device=self.step.device)
        elapsed = (self.step - self.constraint_start_step).clamp_min(0).float()
        return (1.0 - elapsed / self.constraint_final_step).clamp_min(0.0)

    def _previous_mean(self, num_envs: int, device: torch.device) -> torch.Tensor:
        """The last plan's mean ``[E, H, A]``, zeros when there is none for this batch shape."""
        shape = (num_envs, self.horizon, self.world_model.action_dim)
        prev = self._prev_mean
        if prev is None or prev.shape != shape or prev.device != device:
            return torch.zeros(shape, device=device)
        return prev

    @staticmethod
    def _warm_start(prev_mean: torch.Tensor, is_init: torch.Tensor) -> torch.Tensor:
        """The previous mean shifted one step ahead, zero where an episode starts."""
        shifted = torch.cat([prev_mean[:, 1:], torch.zeros_like(prev_mean[:, :1])], 1)
        return torch.where(is_init.view(-1, 1, 1), torch.zeros_like(shifted), shifted)

    # ------------------------------------------------------------------ planning
    def _discount(self, task: torch.Tensor | None, num_envs: int, like: torch.Tensor) -> torch.Tensor:
        if task is None or self.discount.numel() == 1:
            return self.discount[:1].expand(num_envs).to(like.dtype)
        return self.discount[task].to(like.dtype)

    def _estimate_value(self, z, actions, task, discount) -> torch.Tensor:
        """Discounted predicted return of ``actions`` ``[E, N, H, A]`` from ``z`` ``[E, N, L]``."""
        model = self.world_model
        value = torch.zeros(z.shape[:-1], dtype=z.dtype, device=z.device)
        weight = torch.ones_like(discount).unsqueeze(-1)
        for t in range(self.horizon):
            action = actions[:, :, t]
            value = value + weight * model.two_hot.decode(model.reward(z, action, task)).squeeze(-1)
            z = model.next(z, action, task)
            weight = weight * discount.unsqueeze(-1)
        action, _ = model.pi(z, task)
        q = model.Q(z, action, task, return_type="avg").squeeze(-1)
        return value + weight * q

    def _policy_sequences(self, z, task) -> torch.Tensor:
        """``num_pi_trajs`` sequences from the policy prior, ``[E, P, H, A]``."""
        model = self.world_model
        num_envs, count = z.shape[0], self.num_pi_trajs
        z = z.unsqueeze(1).expand(num_envs, count, z.shape[-1])
        actions = []
        for t in range(self.horizon):
            action, _ = model.pi(z, task)
            actions.append(action)
            if t < self.horizon - 1:
                z = model.next(z, action, task)
        return torch.stack(actions, 2)

    def _plan(self, obs, task, is_init, explore: bool) -> torch.Tensor:
        prev_mean = self._previous_mean(obs.shape[0], obs.device)
        mppi = self._mppi
        if self.compile_options is not None:
            if self._compiled_mppi is None:
                self._compiled_mppi = torch.compile(self._mppi, **self.compile_options)
            mppi = self._compiled_mppi
            # CUDA graphs (mode="reduce-overhead"): each plan is a new step; outputs are
            # cloned below because the next replay overwrites them.
            torch.compiler.cudagraph_mark_step_begin()
        action, mean = mppi(obs, task, is_init, prev_mean, explore)
        if self.compile_options is not None:
            action, mean = action.clone(), mean.clone()
        self._prev_mean = mean
        return action

    def _mppi(self, obs, task, is_init, prev_mean, explore: bool):
        """One MPPI plan for every env; returns ``(action [E, A], final mean [E, H, A])``."""
        model = self.world_model
        num_envs = obs.shape[0]
        z = model.encode(obs, task)
        mask = model.action_mask(task).to(z.dtype)
        if mask.ndim == 1:
            mask = mask.expand(num_envs, -1)
        action_dim = mask.shape[-1]
        mask = mask.unsqueeze(1)  # [E, 1, A], broadcast over time (and samples below)

        count = self.num_pi_trajs
        mean = self._warm_start(prev_mean.to(z.dtype), is_init)
        std = torch.full_like(mean, self.max_std)
        pi_actions = z.new_empty(num_envs, 0, self.horizon, action_dim)
        if count:
            pi_actions = self._policy_sequences(z, task)
            if self.constrained_planning and count > 1:
                weight = self.constraint_weight().to(z.dtype)
                pi_mean = pi_actions.mean(1)
                pi_std = pi_actions.std(1).clamp(self.min_std, self.max_std)
                mean = torch.lerp(mean, pi_mean, weight)
                std = torch.lerp(std, pi_std, weight)

        z = z.unsqueeze(1).expand(num_envs, self.num_samples, z.shape[-1])
        discount = self._discount(task, num_envs, z)
        sample_mask = mask.unsqueeze(1)  # [E, 1, 1, A]
        for _ in range(self.iterations):
            noise = torch.randn(
                num_envs, self.num_samples - count, self.horizon, action_dim,
                dtype=z.dtype, device=z.device,
            )
            sampled = (mean.unsqueeze(1) + std.unsqueeze(1) * noise).clamp(-1, 1)
            actions = torch.cat([pi_actions, sampled], 1) * sample_mask
            value = self._estimate_value(z, actions, task, discount).nan_to_num(0.0)
            elite_value, elite_index = value.topk(self.num_elites, dim=1)
            elite_actions = actions.gather(
                1, elite_index[:, :, None, None].expand(-1, -1, self.horizon, action_dim)
            )
            score = torch.exp(self.temperature * (elite_value - elite_value.max(1, keepdim=True).values))
            score = score / (score.sum(1, keepdim=True) + 1e-9)
            weights = score[:, :, None, None]
            mean = (weights * elite_actions).sum(1) / (weights.sum(1) + 1e-9)
            deviation = (elite_actions - mean.unsqueeze(1)).pow(2)
            variance = (weights * deviation).sum(1) / (weights.sum(1) + 1e-9)
            std = variance.sqrt().clamp(self.min_std, self.max_std)
            mean = mean * mask
            std = std * mask

        chosen = torch.multinomial(score, 1)
        plan = elite_actions.gather(1, chosen[:, :, None, None].expand(-1, 1, self.horizon, action_dim))
        action = plan[:, 0, 0].clamp(-1, 1)
        if explore:
            action = (action + std[:, 0] * torch.randn_like(action)).clamp(-1, 1)
        return action, mean

    @torch.no_grad()
    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        obs = tensordict.get(self.observation_key)
        batch_shape = tensordict.batch_size
        obs = obs.reshape(-1, obs.shape[-1])
        task = None
        if self.multitask:
            task = tensordict.get(self.task_key, None)
            if task is None:
                raise KeyError(
                    "The world model is task-conditioned but the tensordict has no "
                    f"{self.task_key!r} entry."
                )
            task = task.reshape(obs.shape[0]).long()
        explore = exploration_type() == ExplorationType.RANDOM
        if self.mpc:
            is_init = tensordict.get(self.is_init_key, None)
            if is_init is None:
                raise KeyError(
                    f"MPPIPlanner needs the episode-start flag {self.is_init_key!r}: add "
                    "torchrl.envs.InitTracker() to the environment."
                )
            action = self._plan(obs, task, is_init.reshape(obs.shape[0]), explore)
        else:
            z = self.world_model.encode(obs, task)
            action, info = self.world_model.pi(z, task)
            if not explore:
                action = info["mean"]
        return tensordict.set(self.action_key, action.reshape(*batch_shape, action.shape[-1]))
