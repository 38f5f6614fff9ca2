"""Two-hot regression in symlog space (TD-MPC2 / Newt rewards and values).

A scalar ``x`` is represented by a distribution over ``num_bins`` points evenly spaced on
``[vmin, vmax]`` in *symlog* space (``symlog(x) = sign(x) * log(1 + |x|)``): ``symlog(x)`` is
clipped to the support and split between its two neighbouring bins in proportion to its distance
to each. Logits decode to ``symexp`` of the softmax-weighted mean bin. Regression targets use the
soft cross-entropy of the logits against the two-hot target.

This is TorchRL's ``two_hot_encode`` / ``two_hot_decode`` (which interpolate in the raw space of
the support they are given) applied to ``symlog`` values on a linear support, then ``symexp``.
Do not use TorchRL's ``SymExpTwoHot``: it has DreamerV3 semantics (symexp-spaced bins, raw-space
expectation).

Scalars carry a trailing dim of size 1, as rewards and values do everywhere in the model:
``encode([..., 1]) -> [..., num_bins]``, ``decode([..., num_bins]) -> [..., 1]``,
``cross_entropy([..., num_bins], [..., 1]) -> [..., 1]``.
"""

from __future__ import annotations

import torch
from torch import nn
from torchrl.objectives import symexp, symlog, two_hot_decode, two_hot_encode

__all__ = ["TwoHot"]


class TwoHot(nn.Module):
    """Encode, decode and regress scalars with two-hot distributions in symlog space.

    Args:
        num_bins: number of bins (at least 2). Default 101.
        vmin: lowest bin, in symlog space. Default -10.
        vmax: highest bin, in symlog space. Default 10.

    Examples:
        >>> import torch
        >>> two_hot = TwoHot()                      # 101 bins on [-10, 10], bin size 0.2
        >>> target = two_hot.encode(torch.tensor([[0.0], [3.5]]))
        >>> target.shape
        torch.Size([2, 101])
        >>> decoded = two_hot.decode(target.log())  # log-probabilities decode back
        >>> torch.allclose(decoded, torch.tensor([[0.0], [3.5]]), atol=1e-5)
        True
        >>> two_hot.cross_entropy(torch.zeros(2, 101), torch.tensor([[0.0], [3.5]])).shape
        torch.Size([2, 1])
    """

    def __init__(self, num_bins: int = 101, vmin: float = -10.0, vmax: float = 10.0):
        super().__init__()
        if num_bins < 2:
            raise ValueError(f"num_bins must be at least 2, got {num_bins}.")
        if not vmin < vmax:
            raise ValueError(f"vmin must be lower than vmax, got vmin={vmin}, vmax={vmax}.")
        self.num_bins = num_bins
        self.vmin = float(vmin)
        self.vmax = float(vmax)
        # Derived from the constructor arguments, so not part of the state dict.
        self.register_buffer("support", torch.linspace(vmin, vmax, num_bins), persistent=False)

    @property
    def bin_size(self) -> float:
        """Distance between two bins, in symlog space."""
        return (self.vmax - self.vmin) / (self.num_bins - 1)

    def _check_scalar(self, value: torch.Tensor, name: str) -> None:
        if value.ndim == 0 or value.shape[-1] != 1:
            raise ValueError(
                f"{name} must have a trailing dim of size 1, got shape {tuple(value.shape)}."
            )

    def _check_logits(self, logits: torch.Tensor) -> None:
        if logits.ndim == 0 or logits.shape[-1] != self.num_bins:
            raise ValueError(
                f"logits must have a trailing dim of size num_bins={self.num_bins}, "
                f"got shape {tuple(logits.shape)}."
            )

    def encode(self, value: torch.Tensor) -> torch.Tensor:
        """Two-hot target of ``value`` (``[..., 1]``), shape ``[..., num_bins]``."""
        self._check_scalar(value, "value")
        return two_hot_encode(symlog(value.squeeze(-1)), self.support)

    def decode(self, logits: torch.Tensor) -> torch.Tensor:
        """Scalar ``symexp(E[bin])`` under ``softmax(logits)``, shape ``[..., 1]``."""
        self._check_logits(logits)
        return symexp(two_hot_decode(logits, self.support)).unsqueeze(-1)

    def cross_entropy(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Soft cross-entropy of ``logits`` (``[..., num_bins]``) against the two-hot ``target``
        (``[..., 1]``), shape ``[..., 1]``."""
        self._check_logits(logits)
        return -(self.encode(target) * logits.log_softmax(-1)).sum(-1, keepdim=True)

    def extra_repr(self) -> str:
        return f"num_bins={self.num_bins}, vmin={self.vmin}, vmax={self.vmax}"
