"""The Newt world model: a TD-MPC2 world model conditioned on frozen task (language) embeddings.

Public API (``from newt.modules import NewtWorldModel``)::

    model = NewtWorldModel(obs_dim, action_dim, model_size="B", task_embeddings=None,
                           action_dims=None, feature_dim=0, **overrides)

Plain-tensor methods (TD-MPC2 signatures; ``task`` is an int64 tensor of task indices, or None
for a single-task model):

* ``encode(obs, task, feature=None) -> z``             latent ``[..., latent_dim]`` (SimNorm)
* ``next(z, a, task) -> z'``                           next latent ``[..., latent_dim]`` (SimNorm)
* ``reward(z, a, task) -> logits``                     ``[..., num_bins]`` two-hot logits
* ``pi(z, task) -> (action, info)``                    tanh-Gaussian policy prior; ``info`` is a
  dict with ``"mean"`` (tanh of the mean), ``"log_std"``, ``"entropy"`` and ``"scaled_entropy"``
  (``[..., 1]``), all masked to the task's true action dims
* ``Q(z, a, task, return_type="min", target=False, detach=False)``: ``"all"`` gives the logits of
  every head ``[num_q, ..., num_bins]``; ``"min"`` / ``"avg"`` give the decoded value ``[..., 1]``
  of two heads drawn at random (only those two are evaluated)
* ``action_mask(task) -> [..., action_dim]`` float mask of the task's true action dims
* ``soft_update_target(tau)``: Polyak update of the target Q heads

``task`` broadcasting follows TD-MPC2: the task tensor's dims line up with the *leading* batch
dims of the input (``task [E]`` with ``z [E, N, latent]``, ``task [1, B]`` or ``[T, B]`` with
``z [T, B, latent]``); a trailing dim of size 1 (``task [B, 1]``, as TorchRL envs store it) is
accepted too.

Inputs are laid out as in the official code: encoder ``[obs ; e (; feature)]``, dynamics /
reward / Q ``[z ; e ; a]``, policy ``[z ; e]``, where ``e`` is the task's frozen embedding. The
first layers keep that layout's parameters, but ``e`` is not concatenated to every row: its
product with the first layer's weights is computed once per task and added
(:func:`newt.modules.layers.mlp_forward`).

TensorDict modules (each built once and cached; they share the model's parameters):

* ``encoder_module``: ``observation``, ``task`` (+ ``observation_feature`` if feature_dim)
  -> ``latent``
* ``dynamics_module``: ``latent``, ``action``, ``task`` -> ``("next", "latent")``
* ``reward_module``: ``latent``, ``action``, ``task`` -> ``reward_logits``
* ``policy_module``: ``latent``, ``task`` -> ``action``, ``action_mean``, ``action_log_std``,
  ``entropy``, ``scaled_entropy``
* ``q_module``: ``latent``, ``action``, ``task`` -> ``state_action_value_logits``
  ``[..., num_q, num_bins]`` and ``state_action_value`` ``[..., 1]`` (mean of 2 random heads)

A single-task model (``task_embeddings=None``) drops ``task`` from every ``in_keys``.

Q parameters for a TorchRL ``LossModule`` and ``SoftUpdate``: ``model.q_params`` (learnable,
stacked ``[num_q]``) and ``model.target_q_params`` (buffers). Register them on the loss as
``qvalue_network_params`` / ``target_qvalue_network_params`` (see ``docs/world_model.md``).

Official checkpoints: ``NewtWorldModel.from_official_checkpoint(path, obs_dim, action_dim,
model_size, ...)``; see also :mod:`newt.modules.checkpoint`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

import torch
from tensordict.nn import TensorDictModule, TensorDictParams
from torch import nn

from newt.modules.checkpoint import (
    convert_official_state_dict_with_origin,
    load_checkpoint,
    official_log_std_bounds,
    shape_mismatches,
)
from newt.modules.layers import (
    QEnsemble,
    SharedInput,
    SimNorm,
    init_weights,
    mlp,
    mlp_forward,
    zero_last_layer,
)
from newt.modules.two_hot import TwoHot

__all__ = ["NewtWorldModel", "MODEL_SIZES"]

#: Widths of the official model sizes (TD-MPC2 ``MODEL_SIZE``); ``num_enc_layers`` counts the
#: encoder's hidden layers plus its output layer.
MODEL_SIZES: dict[str, dict[str, int]] = {
    "S": {"enc_dim": 128, "mlp_dim": 256, "latent_dim": 384, "num_enc_layers": 2, "num_q": 3},
    "B": {"enc_dim": 256, "mlp_dim": 512, "latent_dim": 512, "num_enc_layers": 2, "num_q": 5},
    "L": {"enc_dim": 1024, "mlp_dim": 1024, "latent_dim": 512, "num_enc_layers": 3, "num_q": 5},
    "XL": {"enc_dim": 2048, "mlp_dim": 2048, "latent_dim": 704, "num_enc_layers": 4, "num_q": 7},
}

_DEFAULTS: dict[str, float] = {
    "num_bins": 101,
    "vmin": -10.0,
    "vmax": 10.0,
    "log_std_min": -10.0,
    "log_std_max": 2.0,
    "simnorm_dim": 8,
}

_RETURN_TYPES = ("all", "min", "avg")
_MAX_MISMATCHES_SHOWN = 20


class _MethodModule(nn.Module):
    """Exposes one world-model method as a module whose parameters are the networks it uses.

    The model is held by a bound method outside the module tree, so the wrapper adds no
    duplicate entries to anyone's ``state_dict``.
    """

    def __init__(self, method, networks: dict[str, nn.Module]):
        super().__init__()
        for name, network in networks.items():
            self.add_module(name, network)
        self.__dict__["_method"] = method

    def forward(self, *args: torch.Tensor):
        return self._method(*args)

    def extra_repr(self) -> str:
        return f"method={self._method.__name__}"


class NewtWorldModel(nn.Module):
    """Newt / TD-MPC2 world model: encoder, latent dynamics, reward, policy prior, Q ensemble.

    Args:
        obs_dim: observation width (128 for padded MMBench observations).
        action_dim: action width (16 for padded MMBench actions).
        model_size: one of ``"S"``, ``"B"``, ``"L"``, ``"XL"`` (official widths, see
            :data:`MODEL_SIZES`).
        task_embeddings: ``(num_tasks, task_dim)`` frozen task embeddings (any width: 512 for the
            official CLIP ones, 384 for newt's). ``None`` builds a single-task model with no task
            conditioning.
        action_dims: true action dim of each task (``<= action_dim``), one per task (one entry for
            a single-task model). ``None`` means every task uses all ``action_dim`` dims. The
            policy outputs exactly 0 on the other dims and its entropy is scaled by the true dim.
        feature_dim: width of an extra observation feature appended to the encoder input (768
            for the official DINOv2 RGB features); 0 for none.
        **overrides: any of ``latent_dim``, ``mlp_dim``, ``enc_dim``, ``num_enc_layers``,
            ``num_q`` (replacing the size's value), ``num_bins`` (101), ``vmin`` (-10),
            ``vmax`` (10), ``log_std_min`` (-10), ``log_std_max`` (2), ``simnorm_dim`` (8).

    Examples:
        >>> import torch
        >>> from newt.modules import NewtWorldModel
        >>> emb = torch.randn(3, 384)                      # 3 tasks
        >>> model = NewtWorldModel(128, 16, "S", task_embeddings=emb, action_dims=[6, 16, 2])
        >>> task = torch.tensor([0, 2])
        >>> z = model.encode(torch.randn(2, 128), task)
        >>> action, info = model.pi(z, task)
        >>> action[1, 2:].abs().sum()                      # task 2 has 2 action dims
        tensor(0., grad_fn=<SumBackward0>)
        >>> model.Q(z, action, task, return_type="avg").shape
        torch.Size([2, 1])
    """

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        model_size: str = "B",
        task_embeddings: torch.Tensor | None = None,
        action_dims: Sequence[int] | torch.Tensor | None = None,
        *,
        feature_dim: int = 0,
        **overrides: Any,
    ):
        super().__init__()
        if model_size not in MODEL_SIZES:
            raise ValueError(f"Unknown model_size {model_size!r}; allowed: {list(MODEL_SIZES)}.")
        config: dict[str, Any] = {**MODEL_SIZES[model_size], **_DEFAULTS}
        unknown = sorted(set(overrides) - set(config))
        if unknown:
            raise TypeError(f"Unknown override(s) {unknown}; allowed: {sorted(config)}.")
        config.update(overrides)
        for name, value in (("obs_dim", obs_dim), ("action_dim", action_dim)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if feature_dim < 0:
            raise ValueError(f"feature_dim must be >= 0, got {feature_dim}.")
        if config["latent_dim"] % config["simnorm_dim"]:
            raise ValueError(
                f"latent_dim ({config['latent_dim']}) must be a multiple of simnorm_dim "
                f"({config['simnorm_dim']})."
            )
        if config["log_std_min"] >= config["log_std_max"]:
            raise ValueError(
                f"log_std_min ({config['log_std_min']}) must be lower than log_std_max "
                f"({config['log_std_max']})."
            )

        self.obs_dim = int(obs_dim)
        self.action_dim = int(action_dim)
        self.feature_dim = int(feature_dim)
        self.model_size = model_size
        self.latent_dim = int(config["latent_dim"])
        self.mlp_dim = int(config["mlp_dim"])
        self.enc_dim = int(config["enc_dim"])
        self.num_enc_layers = int(config["num_enc_layers"])
        self.num_q = int(config["num_q"])
        self.simnorm_dim = int(config["simnorm_dim"])
        self.log_std_min = float(config["log_std_min"])
        self.log_std_max = float(config["log_std_max"])

        # Task conditioning: a frozen embedding table and one action mask per task.
        if task_embeddings is None:
            self.register_buffer("task_embeddings", None)
            num_tasks, task_dim = 1, 0
        else:
            task_embeddings = torch.as_tensor(task_embeddings, dtype=torch.float32)
            if task_embeddings.ndim != 2 or task_embeddings.shape[0] < 1:
                raise ValueError(
                    "task_embeddings must be a (num_tasks, task_dim) tensor, got shape "
                    f"{tuple(task_embeddings.shape)}."
                )
            self.register_buffer("task_embeddings", task_embeddings.clone())
            num_tasks, task_dim = task_embeddings.shape
        self.num_tasks = int(num_tasks)
        self.task_dim = int(task_dim)
        self.register_buffer("action_masks", self._build_action_masks(action_dims))

        self.two_hot = TwoHot(int(config["num_bins"]), config["vmin"], config["vmax"])
        num_bins = self.two_hot.num_bins

        # Networks (input layouts as in the official code, for checkpoint compatibility).
        z_dim, e_dim, a_dim = self.latent_dim, self.task_dim, self.action_dim
        enc_hidden = max(self.num_enc_layers - 1, 1) * [self.enc_dim]
        self._encoder = mlp(
            self.obs_dim + e_dim + self.feature_dim, enc_hidden, z_dim, SimNorm(self.simnorm_dim)
        )
        self._dynamics = mlp(
            z_dim + e_dim + a_dim, 2 * [self.mlp_dim], z_dim, SimNorm(self.simnorm_dim)
        )
        self._reward = mlp(z_dim + e_dim + a_dim, 2 * [self.mlp_dim], num_bins)
        self._pi = mlp(z_dim + e_dim, 2 * [self.mlp_dim], 2 * a_dim)
        for network in (self._encoder, self._dynamics, self._reward, self._pi):
            network.apply(init_weights)
        zero_last_layer(self._reward)
        self._Qs = QEnsemble(z_dim + e_dim + a_dim, 2 * [self.mlp_dim], num_bins, self.num_q)

    def _build_action_masks(self, action_dims) -> torch.Tensor:
        masks = torch.ones(self.num_tasks, self.action_dim)
        if action_dims is None:
            return masks
        dims = torch.as_tensor(action_dims).flatten().tolist()
        if len(dims) != self.num_tasks:
            raise ValueError(
                f"action_dims has {len(dims)} entries but the model has {self.num_tasks} task(s)."
            )
        for task, dim in enumerate(dims):
            if int(dim) != dim or not 1 <= dim <= self.action_dim:
                raise ValueError(
                    f"action_dims[{task}] = {dim} is not an integer in [1, action_dim={self.action_dim}]."
                )
            masks[task, int(dim) :] = 0.0
        return masks

    # ------------------------------------------------------------------ introspection
    @property
    def is_multitask(self) -> bool:
        """Whether the model is conditioned on a task (``task_embeddings`` was given)."""
        return self.task_embeddings is not None

    @property
    def num_bins(self) -> int:
        return self.two_hot.num_bins

    @property
    def q_params(self) -> TensorDictParams:
        """Learnable parameters of the online Q heads, stacked along a leading ``[num_q]`` dim."""
        return self._Qs.params

    @property
    def target_q_params(self) -> TensorDictParams:
        """Target Q heads (buffers, no gradient), same layout as :attr:`q_params`."""
        return self._Qs.target_params

    def extra_repr(self) -> str:
        learnable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return (
            f"model_size={self.model_size!r}, obs_dim={self.obs_dim}, action_dim={self.action_dim}, "
            f"num_tasks={self.num_tasks}, task_dim={self.task_dim}, feature_dim={self.feature_dim}, "
            f"latent_dim={self.latent_dim}, num_q={self.num_q}, learnable_params={learnable:,}"
        )

    # ------------------------------------------------------------------ task conditioning
    def _task_index(self, task, batch_ndim: int) -> torch.Tensor | None:
        """Validate ``task`` for an input with ``batch_ndim`` batch dims; None for a single-task model."""
        if not self.is_multitask:
            if task is not None:
                raise ValueError(
                    "This is a single-task model (built with task_embeddings=None): pass task=None."
                )
            return None
        if task is None:
            raise ValueError(
                f"This multitask model ({self.num_tasks} tasks) needs a task index tensor, got None."
            )
        if not isinstance(task, torch.Tensor):
            task = torch.as_tensor(task, device=self.action_masks.device)
        if task.dtype.is_floating_point or task.dtype == torch.bool:
            raise TypeError(
                f"task must be an integer tensor of task indices, got dtype {task.dtype}."
            )
        if task.ndim > batch_ndim and task.shape[-1] == 1:
            task = task.squeeze(-1)
        if task.ndim > batch_ndim:
            raise ValueError(
                f"task of shape {tuple(task.shape)} has more dims than the input's batch "
                f"({batch_ndim} dims)."
            )
        # Range check only where it costs no device synchronisation, and not on values that
        # torch.vmap or torch.compile trace (a data-dependent branch breaks both).
        if (
            task.device.type == "cpu"
            and task.numel()
            and not torch._C._functorch.is_batchedtensor(task)
            and not torch.compiler.is_compiling()
        ):
            low, high = torch.aminmax(task)
            if low < 0 or high >= self.num_tasks:
                bad = task[(task < 0) | (task >= self.num_tasks)].unique().tolist()
                raise IndexError(
                    f"task index {bad} out of range; this model has tasks 0..{self.num_tasks - 1}."
                )
        return task

    @staticmethod
    def _check_lines_up(task: torch.Tensor, batch_shape: torch.Size) -> None:
        for dim, size in enumerate(task.shape):
            if size != 1 and size != batch_shape[dim]:
                raise ValueError(
                    f"task of shape {tuple(task.shape)} does not line up with the leading dims of "
                    f"the input batch shape {tuple(batch_shape)}."
                )

    @classmethod
    def _align(cls, rows: torch.Tensor, task: torch.Tensor, batch_shape: torch.Size) -> torch.Tensor:
        """View per-task rows ``[*task.shape, W]`` so they broadcast against ``[*batch_shape, W]``."""
        cls._check_lines_up(task, batch_shape)
        return rows.view(*task.shape, *([1] * (len(batch_shape) - task.ndim)), rows.shape[-1])

    def _task_input(
        self, task: torch.Tensor | None, x: torch.Tensor, offset: int
    ) -> SharedInput | None:
        """The embedding of a validated ``task`` as input columns ``offset:`` of a network fed
        ``x`` (None for a single-task model)."""
        if task is None:
            return None
        self._check_lines_up(task, x.shape[:-1])
        return SharedInput(self.task_embeddings, task, offset)

    def _mask_for(self, task: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
        """Action mask of a validated ``task``, broadcastable against ``x [..., action_dim]``."""
        if task is None:
            return self.action_masks[0]
        return self._align(self.action_masks[task], task, x.shape[:-1])

    def action_mask(self, task) -> torch.Tensor:
        """Float mask ``[..., action_dim]``: 1 on the task's true action dims, 0 on padding.

        ``task`` of shape ``[...]`` gives ``[..., action_dim]``; a single-task model takes
        ``task=None`` and returns ``[action_dim]``.
        """
        if not self.is_multitask:
            self._task_index(task, 0)
            return self.action_masks[0]
        task = self._task_index(task, torch.as_tensor(task).ndim)
        return self.action_masks[task]

    # ------------------------------------------------------------------ components
    def encode(self, obs: torch.Tensor, task, feature: torch.Tensor | None = None) -> torch.Tensor:
        """Latent state ``[..., latent_dim]`` of an observation ``[..., obs_dim]``.

        ``feature`` (``[..., feature_dim]``) is required iff the model has ``feature_dim > 0``.
        """
        if obs.shape[-1:] != (self.obs_dim,):
            raise ValueError(
                f"observation must have a trailing dim of {self.obs_dim}, got shape {tuple(obs.shape)}."
            )
        task = self._task_index(task, obs.ndim - 1)
        x = obs
        if self.feature_dim:
            if feature is None or feature.shape[-1:] != (self.feature_dim,):
                got = None if feature is None else tuple(feature.shape)
                raise ValueError(
                    f"this model needs an observation feature with a trailing dim of "
                    f"{self.feature_dim}, got {got}."
                )
            x = torch.cat([x, feature], dim=-1)
        elif feature is not None:
            raise ValueError("this model was built with feature_dim=0: pass feature=None.")
        return mlp_forward(self._encoder, x, self._task_input(task, x, self.obs_dim))

    def next(self, z: torch.Tensor, a: torch.Tensor, task) -> torch.Tensor:
        """Next latent state ``[..., latent_dim]`` after action ``a``."""
        task = self._task_index(task, z.ndim - 1)
        x = torch.cat([z, a], dim=-1)
        return mlp_forward(self._dynamics, x, self._task_input(task, x, self.latent_dim))

    def reward(self, z: torch.Tensor, a: torch.Tensor, task) -> torch.Tensor:
        """Reward logits ``[..., num_bins]`` (decode with ``model.two_hot.decode``)."""
        task = self._task_index(task, z.ndim - 1)
        x = torch.cat([z, a], dim=-1)
        return mlp_forward(self._reward, x, self._task_input(task, x, self.latent_dim))

    def pi(self, z: torch.Tensor, task) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Sample an action ``[..., action_dim]`` from the tanh-Gaussian policy prior.

        ``log_std = log_std_min + (log_std_max - log_std_min) * (tanh(raw) + 1) / 2``. The mean,
        log-std and noise are multiplied by the task's action mask, so padded dims are exactly 0.

        Returns:
            ``(action, info)``; ``info`` holds ``mean`` (``tanh`` of the Gaussian mean, the
            deterministic action), ``log_std``, ``entropy`` (``-log p(action)``, ``[..., 1]``) and
            ``scaled_entropy`` (``[..., 1]``), the TD-MPC2 entropy scaled by the task's true
            action dim (≈ ``-n_valid * log p_gaussian``).
        """
        task = self._task_index(task, z.ndim - 1)
        out = mlp_forward(self._pi, z, self._task_input(task, z, self.latent_dim))
        mean, raw_log_std = out.chunk(2, dim=-1)
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (
            torch.tanh(raw_log_std) + 1
        )
        mask = self._mask_for(task, mean)
        mean = mean * mask
        log_std = log_std * mask
        eps = torch.randn_like(mean) * mask
        # Gaussian log-prob over all dims (masked dims contribute the constant -log(sqrt(2 pi))).
        log_prob = (-0.5 * eps.pow(2) - log_std - 0.9189385175704956).sum(-1, keepdim=True)
        scaled_log_prob = log_prob * mask.sum(-1, keepdim=True)
        action = torch.tanh(mean + eps * log_std.exp())
        log_prob = log_prob - torch.log(torch.relu(1 - action.pow(2)) + 1e-6).sum(-1, keepdim=True)
        entropy_scale = scaled_log_prob / (log_prob + 1e-8)
        info = {
            "mean": torch.tanh(mean),
            "log_std": log_std,
            "entropy": -log_prob,
            "scaled_entropy": -log_prob * entropy_scale,
        }
        return action, info

    def Q(
        self,
        z: torch.Tensor,
        a: torch.Tensor,
        task,
        return_type: str = "min",
        target: bool = False,
        detach: bool = False,
    ) -> torch.Tensor:
        """State-action value of the Q ensemble.

        Args:
            z, a, task: latent ``[..., latent_dim]``, action ``[..., action_dim]``, task index.
            return_type: ``"all"``: logits of every head, ``[num_q, ..., num_bins]``;
                ``"min"`` / ``"avg"``: min / mean of the decoded values ``[..., 1]`` of two heads
                drawn at random without replacement (only those two heads are evaluated).
            target: use the target heads (never receive gradients).
            detach: use detached online parameters, so no gradient reaches the Q heads while
                gradients still flow into ``z`` and ``a`` (the policy loss needs this).
        """
        if return_type not in _RETURN_TYPES:
            raise ValueError(
                f"Unknown return_type {return_type!r}; allowed: {list(_RETURN_TYPES)}."
            )
        task = self._task_index(task, z.ndim - 1)
        x = torch.cat([z, a], dim=-1)
        shared = self._task_input(task, x, self.latent_dim)
        params = self._Qs.target_params if target else self._Qs.params
        if detach:
            params = params.detach()
        if return_type == "all":
            return self._Qs(x, params, shared)
        values = self.two_hot.decode(self._Qs(x, params[self._two_random_heads(x.device)], shared))
        if return_type == "min":
            return values.min(0).values
        return values.mean(0)

    def _two_random_heads(self, device: torch.device):
        """Indices of two distinct Q heads drawn at random (the official ``randperm[:2]``)."""
        if self.num_q == 2:
            # Both heads, no draw: their min and mean do not depend on the order, and
            # inductor's randperm pattern crashes on a slice that keeps every element.
            return slice(None)
        return torch.randperm(self.num_q, device=device)[:2]

    @torch.no_grad()
    def soft_update_target(self, tau: float) -> None:
        """Polyak-update the target Q heads: ``target <- target + tau * (online - target)``."""
        self._Qs.soft_update_target(tau)

    # ------------------------------------------------------------------ TensorDict modules
    def _in_keys(self, *keys: str) -> list[str]:
        return [*keys, "task"] if self.is_multitask else list(keys)

    def _encode_td(self, obs, *rest):
        if self.feature_dim:
            task, feature = (rest[0], rest[1]) if self.is_multitask else (None, rest[0])
            return self.encode(obs, task, feature)
        return self.encode(obs, rest[0] if rest else None)

    def _pi_td(self, z, task=None):
        action, info = self.pi(z, task)
        return action, info["mean"], info["log_std"], info["entropy"], info["scaled_entropy"]

    def _q_td(self, z, a, task=None):
        logits = self.Q(z, a, task, return_type="all")
        value = self.two_hot.decode(logits[self._two_random_heads(logits.device)]).mean(0)
        return logits.movedim(0, -2), value

    def _method_module(self, method, in_keys, out_keys, **networks) -> TensorDictModule:
        return TensorDictModule(_MethodModule(method, networks), in_keys=in_keys, out_keys=out_keys)

    @cached_property
    def encoder_module(self) -> TensorDictModule:
        """``observation`` (, ``task``) (, ``observation_feature``) -> ``latent``."""
        in_keys = self._in_keys("observation")
        if self.feature_dim:
            in_keys.append("observation_feature")
        return self._method_module(self._encode_td, in_keys, ["latent"], encoder=self._encoder)

    @cached_property
    def dynamics_module(self) -> TensorDictModule:
        """``latent``, ``action`` (, ``task``) -> ``("next", "latent")``."""
        return self._method_module(
            self.next,
            self._in_keys("latent", "action"),
            [("next", "latent")],
            dynamics=self._dynamics,
        )

    @cached_property
    def reward_module(self) -> TensorDictModule:
        """``latent``, ``action`` (, ``task``) -> ``reward_logits``."""
        return self._method_module(
            self.reward, self._in_keys("latent", "action"), ["reward_logits"], reward=self._reward
        )

    @cached_property
    def policy_module(self) -> TensorDictModule:
        """``latent`` (, ``task``) -> ``action``, ``action_mean``, ``action_log_std``, ``entropy``,
        ``scaled_entropy``."""
        out_keys = ["action", "action_mean", "action_log_std", "entropy", "scaled_entropy"]
        return self._method_module(self._pi_td, self._in_keys("latent"), out_keys, pi=self._pi)

    @cached_property
    def q_module(self) -> TensorDictModule:
        """``latent``, ``action`` (, ``task``) -> ``state_action_value_logits``
        ``[..., num_q, num_bins]`` and ``state_action_value`` ``[..., 1]`` (mean of 2 random heads).
        """
        return self._method_module(
            self._q_td,
            self._in_keys("latent", "action"),
            ["state_action_value_logits", "state_action_value"],
            q_ensemble=self._Qs,
        )

    # ------------------------------------------------------------------ official checkpoints
    @classmethod
    def from_official_checkpoint(
        cls,
        path,
        obs_dim: int,
        action_dim: int,
        model_size: str,
        task_embeddings: torch.Tensor | None = None,
        action_dims: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> NewtWorldModel:
        """Build a model from a ``.pt`` file written by the official ``agent.save()``.

        Args:
            path: the checkpoint (a dict whose ``"model"`` entry is the world model's state dict,
                or that state dict itself; a DDP ``module.`` prefix is removed).
            obs_dim, action_dim, model_size: as in the constructor; they must match the
                checkpoint (a mismatch raises a ``ValueError`` naming each tensor's expected and
                found shape).
            task_embeddings: ``None`` uses the checkpoint's ``_task_emb.weight`` (none: a
                single-task model); a tensor replaces it (same width).
            action_dims: ``None`` reads the checkpoint's action masks (when their number of rows
                matches the number of tasks); otherwise as in the constructor.
            **kwargs: ``feature_dim`` and the constructor overrides.
        """
        raw = load_checkpoint(path)
        state_dict = raw["model"] if isinstance(raw, Mapping) and "model" in raw else raw
        if not isinstance(state_dict, Mapping):
            raise ValueError(
                f"{str(path)!r} holds a {type(state_dict).__name__}, not a state dict."
            )
        converted, origin = convert_official_state_dict_with_origin(state_dict)
        ckpt_embeddings = converted.pop("task_embeddings", None)
        ckpt_masks = converted.pop("action_masks", None)
        if task_embeddings is None:
            task_embeddings = ckpt_embeddings
        num_tasks = 1 if task_embeddings is None else len(task_embeddings)
        if action_dims is None and ckpt_masks is not None:
            if ckpt_masks.shape[0] != num_tasks:
                raise ValueError(
                    f"the checkpoint has action masks for {ckpt_masks.shape[0]} tasks but the model "
                    f"has {num_tasks}: pass action_dims."
                )
            action_dims = ckpt_masks.sum(-1).round().long()
        bounds = official_log_std_bounds(state_dict)
        if bounds is not None:
            kwargs.setdefault("log_std_min", bounds[0])
            kwargs.setdefault("log_std_max", bounds[1])
        model = cls(obs_dim, action_dim, model_size, task_embeddings, action_dims, **kwargs)
        expected = {
            key: value
            for key, value in model.state_dict().items()
            if key not in ("task_embeddings", "action_masks")
        }
        mismatches = shape_mismatches(expected, converted, origin)
        if mismatches:
            hint = _guess_model_size(converted, origin, obs_dim, action_dim, model.task_dim, kwargs)
            shown = mismatches[:_MAX_MISMATCHES_SHOWN]
            if len(mismatches) > len(shown):
                shown.append(f"... and {len(mismatches) - len(shown)} more")
            raise ValueError(
                f"{str(path)!r} does not fit NewtWorldModel(obs_dim={obs_dim}, "
                f"action_dim={action_dim}, model_size={model_size!r}, task_dim={model.task_dim}):\n  "
                + "\n  ".join(shown)
                + hint
            )
        model.load_state_dict(
            {**converted, **{k: v for k, v in model.state_dict().items() if k not in expected}}
        )
        return model


def _guess_model_size(converted, origin, obs_dim, action_dim, task_dim, kwargs) -> str:
    """A hint naming the official size whose shapes match a checkpoint, or an empty string."""
    for size in MODEL_SIZES:
        with torch.device("meta"):
            candidate = NewtWorldModel(
                obs_dim, action_dim, size, torch.zeros(1, task_dim) if task_dim else None, **kwargs
            )
        expected = {
            key: value
            for key, value in candidate.state_dict().items()
            if key not in ("task_embeddings", "action_masks")
        }
        if not shape_mismatches(expected, converted, origin):
            return f"\nThe checkpoint's shapes match model_size={size!r}."
    return ""
