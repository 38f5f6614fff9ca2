"""Building blocks of the Newt world model.

* :class:`SimNorm`: simplicial normalisation, a softmax over consecutive groups of features.
* :class:`Mish`: ``x * tanh(softplus(x))`` with a cheaper closed form than ``torch.nn.Mish``.
* :func:`mlp`: ``torchrl.modules.MLP`` with Linear -> LayerNorm -> Mish hidden layers; the last
  layer is a plain Linear, or Linear -> LayerNorm -> ``last_activation`` (e.g. a SimNorm head).
* :class:`SharedInput` / :func:`mlp_forward`: evaluate an MLP whose input has columns shared by
  many rows (a task embedding) without concatenating and multiplying them row by row.
* :func:`init_weights` / :func:`zero_last_layer`: the TD-MPC2 initialisation.
* :class:`QEnsemble`: K independent Q heads whose parameters are stacked in one
  :class:`~tensordict.nn.TensorDictParams` and evaluated with :func:`torch.vmap`, with a target
  copy kept as buffers (the layout TorchRL's target updaters expect).
"""

from __future__ import annotations

from collections.abc import Sequence
from copy import deepcopy
from typing import NamedTuple

import torch
import torch.nn.functional as F
from tensordict import TensorDictBase, from_modules
from tensordict.nn import TensorDictParams
from torch import nn
from torchrl.modules import MLP

__all__ = [
    "SimNorm",
    "Mish",
    "mlp",
    "SharedInput",
    "mlp_forward",
    "init_weights",
    "zero_last_layer",
    "QEnsemble",
]


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


# tanh(softplus(x)) is 1 in float32 well before x = 20, and exp(20)^2 is far from overflow.
_MISH_EXP_CLAMP = 20.0
# Elements per block: the block's temporaries stay in cache, so the several elementwise passes
# below cost about one pass over memory on large activations.
_MISH_BLOCK = 1 << 18


def _blocks(*tensors: torch.Tensor):
    """Matching flat blocks of same-shaped tensors (made contiguous first)."""
    flat = [t.contiguous().view(-1).split(_MISH_BLOCK) for t in tensors]
    return zip(*flat)


def _mish_forward(x: torch.Tensor) -> torch.Tensor:
    # With e = exp(x) and n = e (e + 2): tanh(softplus(x)) = n / (n + 2).
    out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    for x_block, out_block in _blocks(x, out):
        e = x_block.clamp(max=_MISH_EXP_CLAMP).exp_()
        n = e.add(2).mul_(e)
        torch.mul(n.div_(n + 2), x_block, out=out_block)
    return out


def _mish_backward(x: torch.Tensor, grad_output: torch.Tensor) -> torch.Tensor:
    # mish'(x) = (n + 4 x e (e + 1) / (n + 2)) / (n + 2), with n + 2 = (e + 1)^2 + 1.
    grad = torch.empty(x.shape, dtype=grad_output.dtype, device=x.device)
    for x_block, grad_out_block, grad_block in _blocks(x, grad_output, grad):
        e = x_block.clamp(max=_MISH_EXP_CLAMP).exp_()
        e_plus_1 = e + 1
        denom = (e_plus_1 * e_plus_1).add_(1)
        slope = e.mul_(e_plus_1).mul_(x_block).mul_(4).div_(denom)
        torch.mul(slope.add_(denom).sub_(2).div_(denom), grad_out_block, out=grad_block)
    return grad


class _MishFunction(torch.autograd.Function):
    """Mish with a closed form (one ``exp``, in-place arithmetic on cache-sized blocks) and a
    hand-written backward of the same kind."""

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        return _mish_forward(x)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return _mish_backward(x, grad_output)

    @staticmethod
    def vmap(info, in_dims, x):
        # Elementwise: apply to the whole batched tensor, batch dim where it was.
        return _MishFunction.apply(x), in_dims[0]


class Mish(nn.Module):
    """Mish activation ``x * tanh(softplus(x))``, about twice as fast as ``torch.nn.Mish`` on CPU.

    Uses ``tanh(softplus(x)) = n / (n + 2)`` with ``n = e^x (e^x + 2)`` (``e^x`` clamped at
    ``e^20``, beyond which the ratio is 1 in float32) and a matching hand-written gradient.
    Agrees with ``torch.nn.functional.mish`` to float32 rounding (relative error below 1e-6).

    Examples:
        >>> import torch
        >>> x = torch.linspace(-30, 30, 7)
        >>> torch.allclose(Mish()(x), torch.nn.functional.mish(x))
        True
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_compiling():  # a compiler fuses the plain expression by itself
            return F.mish(x)
        return _MishFunction.apply(x)


def mlp(
    in_features: int,
    num_cells: Sequence[int],
    out_features: int,
    last_activation: nn.Module | None = None,
) -> nn.Module:
    """An MLP whose hidden layers are Linear -> LayerNorm -> :class:`Mish` (no dropout).

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
        activation_class=Mish,
        norm_class=nn.LayerNorm,
        norm_kwargs=[{"normalized_shape": width} for width in num_cells],
    )
    if last_activation is None:
        return body
    return nn.Sequential(body, nn.LayerNorm(out_features), last_activation)


class SharedInput(NamedTuple):
    """Input columns shared by many rows of a batch: ``table[index]``, inserted at ``offset``.

    With ``shared`` given, :func:`mlp_forward` evaluates a network on
    ``[x[..., :offset] ; table[index] ; x[..., offset:]]``. ``index`` lines up with the leading
    batch dims of ``x`` and broadcasts over the others: ``index [E]`` with ``x [E, N, F]`` gives
    every row of env ``e`` the columns ``table[index[e]]``.

    Attributes:
        table: ``[num_rows, width]`` rows to pick from (the task embeddings).
        index: integer tensor of rows of ``table``.
        offset: column of the full input where the shared columns start.
    """

    table: torch.Tensor
    index: torch.Tensor
    offset: int


def _shared_input_linear(linear: nn.Module, x: torch.Tensor, shared: SharedInput) -> torch.Tensor:
    """``linear`` on the full input described by ``x`` and ``shared``, as ``W_x x + (W_s s + b)``.

    The shared term is computed once per table row (or per index entry, if there are fewer of
    those) and broadcast, instead of being concatenated to and multiplied with every row.
    """
    if not isinstance(linear, nn.Linear):
        raise TypeError(f"the first layer must be an nn.Linear to split its input, got {linear}.")
    start, end = shared.offset, shared.offset + shared.table.shape[-1]
    weight = linear.weight
    shared_weight = weight[..., start:end]
    row_weight = weight[..., :start] if end == weight.shape[-1] else torch.cat(
        [weight[..., :start], weight[..., end:]], -1
    )
    index, table = shared.index, shared.table
    if index.numel() < table.shape[0]:
        term = F.linear(table[index], shared_weight, linear.bias)
    else:
        term = F.linear(table, shared_weight, linear.bias)[index]
    term = term.view(*index.shape, *([1] * (x.ndim - 1 - index.ndim)), term.shape[-1])
    return F.linear(x, row_weight) + term


def _flat_layers(net: nn.Module):
    for layer in net:
        if isinstance(layer, nn.Sequential):
            yield from _flat_layers(layer)
        else:
            yield layer


def mlp_forward(net: nn.Module, x: torch.Tensor, shared: SharedInput | None = None) -> torch.Tensor:
    """Evaluate an :func:`mlp` on ``x``, or on ``x`` with ``shared`` columns inserted.

    The same maths as ``net(torch.cat([x[..., :o], shared.table[shared.index] (broadcast),
    x[..., o:]], -1))`` with ``o = shared.offset``, using that the first layer is linear:
    ``W [x ; s] = W_x x + W_s s``, where ``W_s s`` is computed per shared row rather than per row
    of ``x``. The parameters (and so ``state_dict``) are those of the concatenated layout.

    Examples:
        >>> import torch
        >>> net = mlp(10, [32], 4)
        >>> table, index = torch.randn(3, 6), torch.tensor([2, 0])
        >>> x = torch.randn(2, 5, 4)
        >>> full = torch.cat([x[..., :1], table[index, None].expand(2, 5, 6), x[..., 1:]], -1)
        >>> torch.allclose(mlp_forward(net, x, SharedInput(table, index, 1)), net(full), atol=1e-6)
        True
    """
    if shared is None:
        return net(x)
    first, *rest = _flat_layers(net)
    x = _shared_input_linear(first, x, shared)
    for layer in rest:
        x = layer(x)
    return x


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
        # Its placeholders never need gradients; as plain (requires_grad=False) parameters they
        # are not rebuilt on each swap, which torch.compile could not guard on a first call.
        self._template.requires_grad_(False)

    def forward(
        self,
        x: torch.Tensor,
        params: TensorDictBase | None = None,
        shared: SharedInput | None = None,
    ) -> torch.Tensor:
        """Logits of every head in ``params`` (default: the online heads), ``[k, *x.shape[:-1], out]``.

        ``shared`` inserts columns shared by many rows into the input, as in :func:`mlp_forward`.
        """
        if params is None:
            params = self.params

        def call_one(head_params: TensorDictBase) -> torch.Tensor:
            with head_params.to_module(self._template):
                return mlp_forward(self._template, x, shared)

        return torch.vmap(call_one)(params)

    def __repr__(self) -> str:
        head = repr(self._template).replace("\n", "\n  ")
        return f"{type(self).__name__}(num_q={self.num_q}, head={head})"

    @torch.no_grad()
    def soft_update_target(self, tau: float) -> None:
        """Polyak update ``target <- target + tau * (online - target)``."""
        if not 0.0 <= tau <= 1.0:
            raise ValueError(f"tau must be in [0, 1], got {tau}.")
        self.target_params.data.lerp_(self.params.data, tau)
