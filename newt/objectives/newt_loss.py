"""The Newt / TD-MPC2 objective as a TorchRL :class:`~torchrl.objectives.LossModule`."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tensordict import NestedKey, TensorDict, TensorDictBase
from tensordict.nn import TensorDictParams
from torchrl.objectives import LossModule

from newt.objectives.utils import RunningScale, discount_heuristic, task_discounts, temporal_weights

__all__ = ["NewtLoss"]


class NewtLoss(LossModule):
    """Model and policy losses of Newt (a multitask TD-MPC2) on slices of trajectories.

    The input is a tensordict shaped ``[B, H+1]`` (``B`` slices of ``H+1`` consecutive
    steps, as :class:`~torchrl.data.SliceSampler` returns them once reshaped) holding
    ``observation``, ``action``, ``("next", "reward")`` and, for multitask models,
    ``task``. Actions and rewards of the last step are not used. From the first encoded
    observation the latent state is rolled out for ``H`` steps with the dataset actions.

    Model loss (``loss_consistency + loss_reward + loss_value``, plus ``loss_prior`` in
    pretraining), each term a sum over steps of ``rho_t`` times a batch mean, with
    ``rho_t = rho**t / sum_{k<=H} rho**k`` (normalised over ``H+1`` entries):

    - consistency: MSE between the rolled-out latents and the encoded next observations
      (targets without gradient), weight ``consistency_coef`` (20);
    - reward: two-hot soft cross-entropy of the predicted reward, weight ``reward_coef``
      (0.1);
    - value: two-hot soft cross-entropy of every online Q head against
      ``r_t + gamma_task * min(two random target heads)`` at an action sampled from the
      policy at the encoded next observation, averaged over heads, weight
      ``value_coef`` (0.1).

    Policy loss (online mode), on the detached latents ``z_0..z_H`` of the same rollout,
    with gradients only to the policy:

    - ``loss_pi`` = sum over ``t <= H`` of ``rho_t * mean_B(-entropy_coef * H_t - Q_t / S)``,
      where ``Q_t`` averages two random online heads at the policy's action (Q
      parameters receive no gradient), ``H_t`` is the policy entropy scaled by the
      task's true action dim, and ``S`` is the :class:`~newt.objectives.RunningScale` of
      Q (updated in training mode from the ``t = 0`` values, after being used);
    - ``loss_bc`` = ``bc_coef`` times the sum over ``t < H`` of ``rho_t * mean_B(BC_t)``,
      ``BC_t`` the squared error between the sampled policy action and the dataset
      action, averaged over the task's real action dims.

    Pretraining mode (``pretraining=True``): no policy loss; instead ``loss_prior`` =
    ``prior_coef`` times the mean over ``t < H`` and the batch of
    ``rho_t * (BC_t - entropy_coef * H_t)`` on the *non-detached* latents, so that
    action supervision also shapes the encoder and the dynamics.

    About the action-supervision weights: the official configuration has
    ``prior_coef = 10``, but that value never takes effect. The official trainer forces
    the model-loss prior weight to 1 during pretraining, and online the action
    supervision sits in the policy loss with a fixed weight of 1 (the model-loss prior
    term is off). The defaults here (``bc_coef = 1``, ``prior_coef = 1``) reproduce what
    the official code effectively runs.

    Padded steps (``("collector", "mask")`` from ``SliceSampler(pad_output=True)``, or the
    entry named by :attr:`loss_mask_key`) are left out: a transition counts when both of
    its steps are valid, and batch means run over the valid entries of each step.

    The target Q ensemble is exposed as ``target_qvalue_network_params`` (and the online
    one as ``qvalue_network_params``), so ``torchrl.objectives.SoftUpdate(loss, tau=0.01)``
    performs the Polyak update of the target Q heads.

    To reproduce the official update order (model step, target update, then policy step
    on the detached latents of the same rollout), call :meth:`model_loss` and
    :meth:`policy_loss` separately, or use :class:`~newt.objectives.NewtUpdater`.
    :meth:`forward` computes both from the same rollout, before any step, for use with a
    single optimiser or TorchRL's trainer.

    Args:
        world_model (NewtWorldModel): the model to train.

    Keyword Args:
        discount (float, sequence or tensor, optional): discount, or one per task
            (indexed by the ``task`` entry). Exclusive with ``episode_length``.
        episode_length (int, sequence or tensor, optional): episode length, or one per
            task; the discount is then :func:`~newt.objectives.discount_heuristic` of it.
        rho (float): temporal decay of the loss weights. Defaults to ``0.5``.
        consistency_coef (float): defaults to ``20.0``.
        reward_coef (float): defaults to ``0.1``.
        value_coef (float): defaults to ``0.1``.
        entropy_coef (float): policy entropy bonus. Defaults to ``1e-4``.
        bc_coef (float): weight of the action supervision in the online policy loss.
            Defaults to ``1.0``.
        prior_coef (float): weight of the pretraining prior term in the model loss.
            Defaults to ``1.0``.
        scale_tau (float): EMA rate of the running Q scale. Defaults to ``0.01``.
        pretraining (bool): start in pretraining mode. Defaults to ``False``; the
            attribute ``loss.pretraining`` can be flipped at any time.

    Example:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> from torchrl.objectives import SoftUpdate
        >>> from newt.modules.world_model import NewtWorldModel
        >>> from newt.objectives import NewtLoss
        >>> model = NewtWorldModel(obs_dim=5, action_dim=2, model_size="S", latent_dim=16, mlp_dim=32, enc_dim=32)
        >>> loss = NewtLoss(model, discount=0.99)
        >>> target_update = SoftUpdate(loss, tau=0.01)
        >>> B, T = 4, 4
        >>> batch = TensorDict({
        ...     "observation": torch.randn(B, T, 5),
        ...     "action": torch.rand(B, T, 2) * 2 - 1,
        ...     ("next", "reward"): torch.randn(B, T, 1),
        ... }, batch_size=[B, T])
        >>> out = loss(batch)
        >>> sorted(k for k in out.keys() if k.startswith("loss_"))
        ['loss_bc', 'loss_consistency', 'loss_pi', 'loss_reward', 'loss_value']
        >>> sum(v for k, v in out.items() if k.startswith("loss_")).backward()
        >>> target_update.step()
    """

    @dataclass
    class _AcceptedKeys:
        """Tensordict keys read by :class:`NewtLoss` (configurable with ``set_keys``).

        Attributes:
            observation: observation, ``[B, H+1, obs_dim]``. Defaults to ``"observation"``.
            action: action, ``[B, H+1, action_dim]``. Defaults to ``"action"``.
            reward: reward of each transition. Defaults to ``("next", "reward")``.
            task: integer task index (absent for single-task data). Defaults to ``"task"``.
        """

        observation: NestedKey = "observation"
        action: NestedKey = "action"
        reward: NestedKey = ("next", "reward")
        task: NestedKey = "task"

    default_keys = _AcceptedKeys
    tensor_keys: _AcceptedKeys

    qvalue_network_params: TensorDictParams
    target_qvalue_network_params: TensorDictParams

    def __init__(
        self,
        world_model,
        *,
        discount: float | Sequence[float] | torch.Tensor | None = None,
        episode_length: int | Sequence[int] | torch.Tensor | None = None,
        rho: float = 0.5,
        consistency_coef: float = 20.0,
        reward_coef: float = 0.1,
        value_coef: float = 0.1,
        entropy_coef: float = 1e-4,
        bc_coef: float = 1.0,
        prior_coef: float = 1.0,
        scale_tau: float = 0.01,
        pretraining: bool = False,
    ) -> None:
        super().__init__()
        if (discount is None) == (episode_length is None):
            raise ValueError(
                "Give exactly one of discount or episode_length, got "
                f"discount={discount!r} and episode_length={episode_length!r}."
            )
        if discount is None:
            discount = discount_heuristic(episode_length)
        discount = task_discounts(discount)
        if not 0.0 < rho <= 1.0:
            raise ValueError(f"rho must be in (0, 1], got {rho}.")
        self.world_model = world_model
        self.register_buffer("discount", discount)
        self.rho = rho
        self.consistency_coef = consistency_coef
        self.reward_coef = reward_coef
        self.value_coef = value_coef
        self.entropy_coef = entropy_coef
        self.bc_coef = bc_coef
        self.prior_coef = prior_coef
        self.pretraining = pretraining
        self.running_scale = RunningScale(tau=scale_tau)
        # The world model owns its Q ensembles; exposing them under the LossModule naming
        # scheme lets TorchRL's target updaters (SoftUpdate, HardUpdate) find them.
        self.qvalue_network_params = world_model.q_params
        self.target_qvalue_network_params = world_model.target_q_params
        self._has_update_associated = {"qvalue_network": False}

    def _forward_value_estimator_keys(self, **kwargs) -> None:
        # Targets are computed in closed form; there is no TorchRL value estimator.
        pass

    # ------------------------------------------------------------------ parameters
    def model_parameters(self) -> list[torch.nn.Parameter]:
        """Trainable parameters of the model optimiser: encoder, dynamics, reward,
        online Q heads and policy (the policy learns there only in pretraining)."""
        return [p for p in self.world_model.parameters() if p.requires_grad]

    def encoder_parameters(self) -> list[torch.nn.Parameter]:
        """Trainable encoder parameters (the official learning rate is ``0.3 x lr``)."""
        return [p for p in self.world_model.encoder_module.parameters() if p.requires_grad]

    def policy_parameters(self) -> list[torch.nn.Parameter]:
        """Trainable parameters of the policy prior (the policy optimiser's)."""
        return [p for p in self.world_model.policy_module.parameters() if p.requires_grad]

    def model_param_groups(self, lr: float, enc_lr_scale: float = 0.3) -> list[dict]:
        """Optimiser parameter groups of the model step: the encoder at
        ``lr * enc_lr_scale``, everything else in :meth:`model_parameters` at ``lr``."""
        encoder = self.encoder_parameters()
        encoder_ids = {id(p) for p in encoder}
        rest = [p for p in self.model_parameters() if id(p) not in encoder_ids]
        return [{"params": encoder, "lr": lr * enc_lr_scale}, {"params": rest, "lr": lr}]

    # ------------------------------------------------------------------ inputs
    def _unpack(self, tensordict: TensorDictBase):
        if tensordict.ndim != 2 or tensordict.shape[1] < 2:
            raise ValueError(
                "NewtLoss expects a tensordict shaped [B, H+1] with H >= 1, got batch size "
                f"{tuple(tensordict.shape)}. Reshape SliceSampler samples with "
                "td.reshape(num_slices, horizon + 1)."
            )
        batch, steps = tensordict.shape
        horizon = steps - 1
        keys = self.tensor_keys
        obs = tensordict.get(keys.observation)
        action = tensordict.get(keys.action)[:, :horizon]
        reward = tensordict.get(keys.reward)[:, :horizon].reshape(batch, horizon)
        # A single-task model takes no task index; data from task-annotated envs still has one.
        task = tensordict.get(keys.task, None) if self.world_model.is_multitask else None
        if task is not None:
            task = task.reshape(batch, steps)[:, 0].long()
        elif self.discount.numel() > 1:
            raise KeyError(
                f"NewtLoss has {self.discount.numel()} per-task discounts but the batch has no "
                f"{keys.task!r} entry."
            )
        valid = None
        for mask_key in self._loss_mask_keys():
            mask = tensordict.get(mask_key, None)
            if mask is not None:
                mask = mask.reshape(batch, steps).bool()
                valid = mask if valid is None else valid & mask
        return obs, action, reward, task, valid, horizon

    def _task_discount(self, task: torch.Tensor | None) -> torch.Tensor:
        if task is None or self.discount.numel() == 1:
            return self.discount[0]
        return self.discount[task]

    @staticmethod
    def _step_mean(value: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
        """Per-step batch mean of ``value`` ``[B, S]`` over the valid entries -> ``[S]``."""
        if valid is None:
            return value.mean(0)
        value = torch.where(valid, value, torch.zeros_like(value))
        return value.sum(0) / valid.sum(0).clamp_min(1)

    def _bc(self, pi_action: torch.Tensor, action: torch.Tensor, task: torch.Tensor | None):
        """Squared error averaged over the task's real action dims, ``[B, S]``."""
        mask = self.world_model.action_mask(task).to(action.dtype)
        if mask.ndim < action.ndim:
            mask = mask.unsqueeze(-2)
        error = (pi_action - action).pow(2) * mask
        return error.sum(-1) / mask.sum(-1).clamp_min(1)

    # ------------------------------------------------------------------ losses
    def model_loss(self, tensordict: TensorDictBase) -> tuple[TensorDict, TensorDict]:
        """World-model loss terms and the rollout that the policy loss consumes.

        Returns:
            ``(losses, rollout)``: ``losses`` holds ``loss_consistency``,
            ``loss_reward``, ``loss_value`` (and ``loss_prior`` in pretraining) plus
            unweighted diagnostics; ``rollout`` is a ``[B]`` tensordict with the detached
            latents ``latent`` ``[B, H+1, latent_dim]``, ``action`` ``[B, H, action_dim]``
            and, when present, ``task`` and the step validity ``valid`` ``[B, H+1]``,
            ready for :meth:`policy_loss`.
        """
        obs, action, reward, task, valid, horizon = self._unpack(tensordict)
        model = self.world_model
        weights = temporal_weights(horizon, self.rho).to(obs.device)
        with torch.no_grad():
            next_z = model.encode(obs[:, 1:], task)
            next_action, _ = model.pi(next_z, task)
            next_q = model.Q(next_z, next_action, task, return_type="min", target=True)
            discount = self._task_discount(task)
            if discount.ndim:
                discount = discount.unsqueeze(-1)
            td_target = reward + discount * next_q.reshape(reward.shape)

        z = model.encode(obs[:, 0], task)
        latents = [z]
        for t in range(horizon):
            z = model.next(z, action[:, t], task)
            latents.append(z)
        zs = torch.stack(latents, 1)

        valid_transition = None if valid is None else valid[:, :-1] & valid[:, 1:]
        consistency = (zs[:, 1:] - next_z).pow(2).mean(-1)
        two_hot = model.two_hot
        reward_ce = two_hot.cross_entropy(model.reward(zs[:, :-1], action, task), reward.unsqueeze(-1))
        reward_ce = reward_ce.squeeze(-1)
        q_logits = model.Q(zs[:, :-1], action, task, return_type="all")
        value_ce = two_hot.cross_entropy(q_logits, td_target.unsqueeze(-1)).squeeze(-1).mean(0)

        step_weights = weights[:horizon]
        consistency_loss = (self._step_mean(consistency, valid_transition) * step_weights).sum()
        reward_loss = (self._step_mean(reward_ce, valid_transition) * step_weights).sum()
        value_loss = (self._step_mean(value_ce, valid_transition) * step_weights).sum()
        losses = TensorDict(
            {
                "loss_consistency": self.consistency_coef * consistency_loss,
                "loss_reward": self.reward_coef * reward_loss,
                "loss_value": self.value_coef * value_loss,
                "consistency": consistency_loss.detach(),
                "reward_ce": reward_loss.detach(),
                "value_ce": value_loss.detach(),
                "td_target": td_target.mean(),
            },
            batch_size=[],
        )
        if self.pretraining:
            losses.update(self._prior_loss(zs[:, :-1], action, task, valid, step_weights))

        rollout = TensorDict(
            {"latent": zs.detach(), "action": action}, batch_size=[obs.shape[0]]
        )
        if task is not None:
            rollout["task"] = task
        if valid is not None:
            rollout["valid"] = valid
        return losses, rollout

    def _prior_loss(self, zs, action, task, valid, step_weights) -> dict:
        pi_action, info = self.world_model.pi(zs, task)
        bc = self._bc(pi_action, action, task)
        entropy = info["scaled_entropy"].reshape(bc.shape)
        prior = step_weights * (bc - self.entropy_coef * entropy)
        if valid is None:
            prior = prior.mean()
            bc_mean = bc.mean()
        else:
            valid_state = valid[:, :-1]
            count = valid_state.sum().clamp_min(1)
            prior = torch.where(valid_state, prior, torch.zeros_like(prior)).sum() / count
            bc_mean = torch.where(valid_state, bc, torch.zeros_like(bc)).sum() / count
        return {
            "loss_prior": self.prior_coef * prior,
            "bc": bc_mean.detach(),
            "entropy": info["entropy"].mean().detach(),
            "pi_std": info["log_std"].exp().mean().detach(),
        }

    def policy_loss(self, rollout: TensorDictBase) -> TensorDict:
        """Policy loss on the detached latents of :meth:`model_loss`.

        Returns ``loss_pi`` (scaled max-Q with entropy bonus) and ``loss_bc`` (action
        supervision) plus diagnostics. In training mode the running Q scale is updated
        from the ``t = 0`` Q values after it has been used.
        """
        zs = rollout["latent"]
        action = rollout["action"]
        task = rollout.get("task", None)
        valid = rollout.get("valid", None)
        steps = zs.shape[1]
        horizon = steps - 1
        weights = temporal_weights(horizon, self.rho).to(zs.device)
        model = self.world_model
        pi_action, info = model.pi(zs, task)
        q = model.Q(zs, pi_action, task, return_type="avg", detach=True).reshape(zs.shape[:2])
        # A copy: the in-place scale update below must not touch a tensor saved for backward.
        scale = self.running_scale.value.clone()
        entropy = info["scaled_entropy"].reshape(q.shape)
        maxq = -self.entropy_coef * entropy - q / scale
        bc = self._bc(pi_action[:, :horizon], action, task)
        valid_state = None if valid is None else valid[:, :horizon]
        loss_pi = (self._step_mean(maxq, valid) * weights).sum()
        bc_loss = (self._step_mean(bc, valid_state) * weights[:horizon]).sum()
        if self.training:
            self.running_scale.update(q[:, 0])
        return TensorDict(
            {
                "loss_pi": loss_pi,
                "loss_bc": self.bc_coef * bc_loss,
                "bc": bc_loss.detach(),
                "q": q.detach().mean(),
                "entropy": info["entropy"].mean().detach(),
                "pi_std": info["log_std"].exp().mean().detach(),
                "q_scale": scale,
            },
            batch_size=[],
        )

    def forward(self, tensordict: TensorDictBase) -> TensorDict:
        """All loss terms from one rollout: the model terms, then either the policy
        terms (online) or ``loss_prior`` (pretraining). Every ``loss_*`` entry can be
        summed; with a single optimiser this updates the policy against the Q heads of
        before the model step (the official order is in :class:`NewtUpdater`)."""
        losses, rollout = self.model_loss(tensordict)
        if not self.pretraining:
            losses.update(self.policy_loss(rollout))
        return losses
