"""One Newt gradient update in the official order, with its two optimisers."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.objectives import SoftUpdate, TargetNetUpdater

from newt.objectives.newt_loss import NewtLoss
from newt.objectives.utils import compile_options

__all__ = ["NewtUpdater"]


def _sum_losses(losses: TensorDictBase) -> torch.Tensor:
    return sum(value for key, value in losses.items() if key.startswith("loss_"))


class NewtUpdater:
    """Runs Newt updates: model step, target update, then policy step.

    One call performs, on one ``[B, H+1]`` batch:

    1. :meth:`NewtLoss.model_loss`, backward, gradient clipping to ``grad_clip_norm``
       over :meth:`NewtLoss.model_parameters`, a step of the model optimiser;
    2. the Polyak update of the target Q heads (``SoftUpdate(loss, tau=tau)``);
    3. online mode only: :meth:`NewtLoss.policy_loss` on the detached latents of step 1,
       backward, clipping over the policy parameters, a step of the policy optimiser
       (the running Q scale is updated inside the policy loss).

    The optimisers are those of the official code: Adam over the model parameters with
    the encoder at ``lr * enc_lr_scale`` (the policy is included: it learns there in
    pretraining), and Adam over the policy with ``eps=1e-5``; both use torch's fused Adam
    kernel on CPU and CUDA. With ``warmup_steps > 0``
    every learning rate is multiplied by ``min(1, (k + 1) / warmup_steps)`` on the
    ``k``-th update (counting from 0), the official warm-up (which, stepping its
    scheduler before the first update, starts at ``2 / warmup_steps``; here the first
    update uses ``1 / warmup_steps``).

    Build the updater right after the loss and before loading any checkpoint:
    ``SoftUpdate`` copies the online Q heads into the target heads when it is created.

    Args:
        loss (NewtLoss): the loss; switch ``loss.pretraining`` to change phase.

    Keyword Args:
        lr (float): base learning rate. Defaults to ``3e-4``.
        enc_lr_scale (float): encoder learning-rate factor. Defaults to ``0.3``.
        grad_clip_norm (float): max gradient norm of each step. Defaults to ``20.0``.
        tau (float): Polyak rate of the target Q heads. Defaults to ``0.01``.
        warmup_steps (int): linear learning-rate warm-up length, ``0`` for none.
            Defaults to ``0``.
        target_updater (TargetNetUpdater, optional): use this updater instead of building
            ``SoftUpdate(loss, tau=tau)``.
        grad_sync (callable, optional): called with the list of parameters of each step
            after ``backward`` and before clipping, e.g. to average gradients over
            data-parallel ranks.
        compile (bool or dict): wrap :meth:`NewtLoss.model_loss` and
            :meth:`NewtLoss.policy_loss` (forward and backward) in :func:`torch.compile`;
            a dict gives its keyword arguments, e.g. ``{"mode": "reduce-overhead"}`` for
            CUDA graphs on CUDA (the official setting). Switching ``loss.pretraining``
            compiles the model loss once more. Defaults to ``False``.

    Example:
        >>> import torch
        >>> from tensordict import TensorDict
        >>> from newt.modules.world_model import NewtWorldModel
        >>> from newt.objectives import NewtLoss, NewtUpdater
        >>> model = NewtWorldModel(obs_dim=5, action_dim=2, model_size="S", latent_dim=16, mlp_dim=32, enc_dim=32)
        >>> loss = NewtLoss(model, discount=0.99)
        >>> updater = NewtUpdater(loss)
        >>> batch = TensorDict({
        ...     "observation": torch.randn(8, 4, 5),
        ...     "action": torch.rand(8, 4, 2) * 2 - 1,
        ...     ("next", "reward"): torch.randn(8, 4, 1),
        ... }, batch_size=[8, 4])
        >>> metrics = updater(batch)
        >>> "grad_norm" in metrics.keys() and "pi_grad_norm" in metrics.keys()
        True
    """

    def __init__(
        self,
        loss: NewtLoss,
        *,
        lr: float = 3e-4,
        enc_lr_scale: float = 0.3,
        grad_clip_norm: float = 20.0,
        tau: float = 0.01,
        warmup_steps: int = 0,
        target_updater: TargetNetUpdater | None = None,
        grad_sync: Callable[[list[torch.nn.Parameter]], None] | None = None,
        compile: bool | dict = False,
    ) -> None:
        if not isinstance(loss, NewtLoss):
            raise TypeError(f"loss must be a NewtLoss, got {type(loss).__name__}.")
        if lr <= 0 or enc_lr_scale <= 0 or grad_clip_norm <= 0:
            raise ValueError(
                "lr, enc_lr_scale and grad_clip_norm must be positive, got "
                f"{lr}, {enc_lr_scale} and {grad_clip_norm}."
            )
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}.")
        self.loss = loss
        self.grad_clip_norm = grad_clip_norm
        self.grad_sync = grad_sync
        self.target_updater = target_updater if target_updater is not None else SoftUpdate(loss, tau=tau)
        # torch's fused Adam kernel (CPU and CUDA), as the official code; on CPU it is several
        # times faster than the default per-tensor loop.
        fused = all(p.device.type in ("cpu", "cuda") for p in loss.model_parameters())
        self.model_optimizer = torch.optim.Adam(
            loss.model_param_groups(lr, enc_lr_scale), lr=lr, fused=fused
        )
        self.policy_optimizer = torch.optim.Adam(
            loss.policy_parameters(), lr=lr, eps=1e-5, fused=fused
        )
        self._model_params = loss.model_parameters()
        self._policy_params = loss.policy_parameters()
        self.warmup_steps = warmup_steps
        self._base_lrs = [
            [group["lr"] for group in optimizer.param_groups]
            for optimizer in (self.model_optimizer, self.policy_optimizer)
        ]
        self.num_updates = 0
        self._set_learning_rates()
        self.compile_options = compile_options(compile)
        self._model_loss, self._policy_loss = loss.model_loss, loss.policy_loss
        if self.compile_options is not None:
            self._model_loss = torch.compile(loss.model_loss, **self.compile_options)
            self._policy_loss = torch.compile(loss.policy_loss, **self.compile_options)

    def _set_learning_rates(self) -> None:
        factor = 1.0
        if self.warmup_steps:
            factor = min(1.0, (self.num_updates + 1) / self.warmup_steps)
        for optimizer, base_lrs in zip((self.model_optimizer, self.policy_optimizer), self._base_lrs):
            for group, base_lr in zip(optimizer.param_groups, base_lrs):
                group["lr"] = base_lr * factor

    def __call__(self, batch: TensorDictBase) -> TensorDict:
        """One update on ``batch`` (``[B, H+1]``); returns detached metrics."""
        loss = self.loss
        loss.train()
        self._set_learning_rates()
        if self.compile_options is not None:
            # With CUDA graphs, each update is a new step of the graph trees.
            torch.compiler.cudagraph_mark_step_begin()
        losses, rollout = self._model_loss(batch)
        _sum_losses(losses).backward()
        if self.grad_sync is not None:
            self.grad_sync(self._model_params)
        grad_norm = torch.nn.utils.clip_grad_norm_(self._model_params, self.grad_clip_norm)
        self.model_optimizer.step()
        self.model_optimizer.zero_grad(set_to_none=True)
        self.target_updater.step()
        # Cloned: under CUDA graphs the next update would overwrite the returned values.
        metrics = losses.detach().clone()
        metrics["grad_norm"] = grad_norm
        if not loss.pretraining:
            policy_losses = self._policy_loss(rollout)
            _sum_losses(policy_losses).backward()
            if self.grad_sync is not None:
                self.grad_sync(self._policy_params)
            pi_grad_norm = torch.nn.utils.clip_grad_norm_(self._policy_params, self.grad_clip_norm)
            self.policy_optimizer.step()
            self.policy_optimizer.zero_grad(set_to_none=True)
            metrics.update(policy_losses.detach().clone())
            metrics["pi_grad_norm"] = pi_grad_norm
        metrics["lr"] = torch.tensor(self.model_optimizer.param_groups[-1]["lr"])
        self.num_updates += 1
        return metrics

    def state_dict(self) -> dict[str, Any]:
        """Optimiser and target-updater states and the update count (the networks, the
        target heads and the running scale are in ``loss.state_dict()``)."""
        return {
            "model_optimizer": self.model_optimizer.state_dict(),
            "policy_optimizer": self.policy_optimizer.state_dict(),
            "target_updater": self.target_updater.state_dict(),
            "num_updates": self.num_updates,
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restores what :meth:`state_dict` saved."""
        self.model_optimizer.load_state_dict(state_dict["model_optimizer"])
        self.policy_optimizer.load_state_dict(state_dict["policy_optimizer"])
        self.target_updater.load_state_dict(state_dict["target_updater"])
        self.num_updates = state_dict["num_updates"]
