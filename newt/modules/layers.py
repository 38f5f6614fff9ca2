"""Building blocks of the Newt world model.

* :class:`SimNorm`: simplicial normalisation, a softmax over consecutive groups of features.
* :func:`mlp`: ``torchrl.modules.MLP`` with Linear -> LayerNorm -> Mish hidden layers; the last
  layer is a plain Linear, or Linear -> LayerNorm -> ``last_activation`` (e.g. a SimNorm head).
* :func:`init_weights` / :func:`zero_last_layer`: the TD-MPC2 initialisation.
* :class:`QEnsemble`: K independent Q heads whose parameters are stacked in one
  :class:`~tensordict.nn.TensorDictParams` and evaluated with :func:`torch.vmap`, with a target
  copy kept as buffers (the layout TorchRL's target updaters expect).
"""

from __future__ import annotations

from collections.abc import Sequence
from copy import deepcopy

import torch
from tensordict import TensorDictBase, from_modules
from tensordict.nn import TensorDictParams
from torch import nn
from torchrl.modules import MLP

__all__ = ["SimNorm", "mlp", "init_weights", "zero_last_layer", "QEnsemble"]


class SimNorm(nn.Module):
    """Simplicial normalisation: softmax over consecutive groups of ``group_size`` features.

    The last dimension must be a multiple of ``group_size``; every group of the output sums to 1.

    Examples:
        >>> import torch
        >>> out = SimNorm(4)(torch.randn(2, 8))
        >>> torch.allclose(out.unflatten(-1, (2, 4)).sum(-1), torch.ones(2, 2))
        True
    """

    def __init__(self, group_size: int = 8):
        super().__init__()
        if group_size < 1:
            raise ValueError(f"group_size must be a positive integer, got {group_size}.")
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (-1, self.group_size)).softmax(-1).flatten(-2)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"


def mlp(
    in_features: int,
    num_cells: Sequence[int],
    out_features: int,
    last_activation: nn.Module | None = None,
) -> nn.Module:
    """An MLP whose hidden layers are Linear -> LayerNorm -> Mish (no dropout).

    Args:
        in_features: input width.
        num_cells: widths of the hidden layers.
        out_features: output width.
        last_activation: if given, the last layer is Linear -> LayerNorm -> ``last_activation``
            (``SimNorm`` for the encoder and the dynamics); otherwise a plain Linear.

    Returns:
        a ``torchrl.modules.MLP``, or ``nn.Sequential(MLP, LayerNorm, last_activation)``.

    Examples:
        >>> import torch
        >>> net = mlp(10, [32, 32], 16, last_activation=SimNorm(8))
        >>> net(torch.randn(3, 10)).shape
        torch.Size([3, 16])
    """
    num_cells = list(num_cells)
    body = MLP(
        in_features=in_features,
        out_features=out_features,
        num_cells=num_cells,
        activation_class=nn.Mish,
        norm_class=nn.LayerNorm,
        norm_kwargs=[{"normalized_shape": width} for width in num_cells],
    )
    if last_activation is None:
        return body
    return nn.Sequential(body, nn.LayerNorm(out_features), last_activation)


def init_weights(module: nn.Module) -> None:
    """TD-MPC2 init, to use with ``module.apply``: Linear weights ~ trunc-normal(std=0.02), biases 0.

    LayerNorms keep their default (weight 1, bias 0).
    """
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def zero_last_layer(net: nn.Module) -> None:
    """Zero the weight and bias of the last Linear of ``net``, so its first outputs are all 0."""
    last = [m for m in net.modules() if isinstance(m, nn.Linear)][-1]
    nn.init.zeros_(last.weight)
    if last.bias is not None:
        nn.init.zeros_(last.bias)


class QEnsemble(nn.Module):
    """``num_q`` independent Q heads (plain :func:`mlp`) evaluated as one vectorised call.

    The heads' parameters are stacked along a leading dim of size ``num_q`` in :attr:`params`
    (a :class:`~tensordict.nn.TensorDictParams` of learnable parameters); :attr:`target_params`
    holds the target copy as buffers (no gradient), the layout that
    ``torchrl.objectives.SoftUpdate`` updates in place. Both are evaluated with
    ``torch.vmap`` over a parameter-free template module, so one call runs every head.

    Each head is initialised with :func:`init_weights` and its last layer is zeroed, so every
    head's first prediction is uniform over the bins.

    Args:
        in_features: input width.
        num_cells: hidden widths of each head.
        out_features: output width (number of two-hot bins).
        num_q: number of heads.

    Examples:
        >>> import torch
        >>> q = QEnsemble(12, [32, 32], 101, num_q=5)
        >>> q(torch.randn(4, 12)).shape
        torch.Size([5, 4, 101])
        >>> q(torch.randn(4, 12), q.target_params[:2]).shape
        torch.Size([2, 4, 101])
    """

    def __init__(self, in_features: int, num_cells: Sequence[int], out_features: int, num_q: int):
        super().__init__()
        if num_q < 2:
            raise ValueError(
                f"num_q must be at least 2 (two heads are drawn per value), got {num_q}."
            )
        heads = [mlp(in_features, num_cells, out_features) for _ in range(num_q)]
        for head in heads:
            head.apply(init_weights)
            zero_last_layer(head)
        self.num_q = num_q
        self.params = from_modules(*heads, as_module=True)
        self.target_params = TensorDictParams(self.params.data.clone(), no_convert=True)
        # A template whose parameters live on the meta device: it only supplies the forward code,
        # the real (stacked) parameters are swapped in at call time. It is kept out of the module
        # tree so it adds nothing to state_dict() or parameters().
        with self.params[0].data.to("meta").to_module(heads[0]):
            self.__dict__["_template"] = deepcopy(heads[0])

    def _call_one(self, params: TensorDictBase, x: torch.Tensor) -> torch.Tensor:
        with params.to_module(self._template):
            return self._template(x)

    def forward(self, x: torch.Tensor, params: TensorDictBase | None = None) -> torch.Tensor:
        """Logits of every head in ``params`` (default: the online heads), shape ``[k, *x.shape[:-1], out]``."""
        if params is None:
            params = self.params
        return torch.vmap(self._call_one, (0, None))(params, x)

    def __repr__(self) -> str:
        head = repr(self._template).replace("\n", "\n  ")
        return f"{type(self).__name__}(num_q={self.num_q}, head={head})"

    @torch.no_grad()
    def soft_update_target(self, tau: float) -> None:
        """Polyak update ``target <- target + tau * (online - target)``."""
        if not 0.0 <= tau <= 1.0:
            raise ValueError(f"tau must be in [0, 1], got {tau}.")
        self.target_params.data.lerp_(self.params.data, tau)
