"""Small helpers of the Newt objective: temporal weights, task discounts, running Q scale.

Example:
    >>> import torch
    >>> from newt.objectives import RunningScale, discount_heuristic, temporal_weights
    >>> temporal_weights(3, rho=0.5)
    tensor([0.5333, 0.2667, 0.1333, 0.0667])
    >>> discount_heuristic(torch.tensor([25, 200, 1000]))
    tensor([0.9500, 0.9750, 0.9950])
    >>> scale = RunningScale(tau=0.01)
    >>> scale.update(torch.linspace(0.0, 100.0, 101))
    >>> scale.value
    tensor(1.8900)
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["RunningScale", "compile_options", "discount_heuristic", "task_discounts", "temporal_weights"]


def compile_options(compile: bool | Mapping[str, Any] | None) -> dict | None:
    """Keyword arguments for :func:`torch.compile` from a ``compile`` argument.

    ``False``/``None`` means no compilation (``None`` is returned), ``True`` compiles with
    torch's defaults (``{}``), a mapping is passed through.

    Example:
        >>> compile_options(False) is None, compile_options(True), compile_options({"mode": "max-autotune"})
        (True, {}, {'mode': 'max-autotune'})
    """
    if compile is None or compile is False:
        return None
    if compile is True:
        return {}
    if isinstance(compile, Mapping):
        return dict(compile)
    raise TypeError(f"compile must be a bool or a dict of torch.compile arguments, got {compile!r}.")


def temporal_weights(horizon: int, rho: float = 0.5) -> torch.Tensor:
    """Per-step loss weights ``rho**t`` for ``t = 0..horizon``, normalised to sum to 1.

    The normalisation runs over ``horizon + 1`` entries, as in Newt: a loss summed over
    the ``horizon`` transitions therefore uses weights that add up to less than 1.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}.")
    if not 0.0 < rho <= 1.0:
        raise ValueError(f"rho must be in (0, 1], got {rho}.")
    weights = torch.pow(torch.as_tensor(rho, dtype=torch.float64), torch.arange(horizon + 1))
    return (weights / weights.sum()).to(torch.float32)


def discount_heuristic(
    episode_length: int | Sequence[int] | torch.Tensor,
    denominator: float = 5.0,
    low: float = 0.95,
    high: float = 0.995,
) -> torch.Tensor:
    """TD-MPC2's discount from an episode length: ``clip((L/d - 1) / (L/d), low, high)``.

    With the defaults: L = 25, 50, 100 give 0.95; 200 gives 0.975; 500 gives 0.99 and
    1000 gives 0.995. Returns a float32 tensor shaped like ``episode_length``.
    """
    length = torch.as_tensor(episode_length, dtype=torch.float64)
    if (length <= 0).any():
        raise ValueError(f"episode lengths must be positive, got {episode_length}.")
    frac = length / denominator
    return ((frac - 1) / frac).clamp(low, high).to(torch.float32)


def task_discounts(discount: float | Sequence[float] | torch.Tensor) -> torch.Tensor:
    """Validated discounts as a float tensor ``[num_tasks]`` (``[1]`` for a single value)."""
    tensor = torch.as_tensor(discount, dtype=torch.float32).reshape(-1)
    if tensor.numel() == 0 or ((tensor <= 0) | (tensor > 1)).any():
        raise ValueError(f"discounts must be in (0, 1], got {tensor.tolist()}.")
    return tensor


class RunningScale(nn.Module):
    """Exponential moving average of the 5th-95th percentile span of Q values.

    After each update ``value <- value + tau * (max(P95 - P5, 1) - value)``, where the
    percentiles of the batch are linearly interpolated at ``p * (n - 1) / 100``. The
    policy loss divides Q by ``value``, which starts at 1. ``value`` is a buffer, so
    it is saved and restored with the ``state_dict``.

    Args:
        tau (float): EMA rate. Defaults to ``0.01``.
        percentiles (tuple of float): lower and upper percentiles in [0, 100].
            Defaults to ``(5, 95)``.
        min_span (float): lower clip of the measured span. Defaults to ``1.0``.
    """

    def __init__(
        self,
        tau: float = 0.01,
        percentiles: tuple[float, float] = (5.0, 95.0),
        min_span: float = 1.0,
    ) -> None:
        super().__init__()
        if not 0.0 < tau <= 1.0:
            raise ValueError(f"tau must be in (0, 1], got {tau}.")
        low, high = percentiles
        if not 0.0 <= low < high <= 100.0:
            raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles}.")
        self.tau = tau
        self.min_span = min_span
        self.register_buffer("value", torch.ones(()))
        self.register_buffer("_quantiles", torch.tensor([low, high]) / 100.0, persistent=False)

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Moves the scale toward the percentile span of the values ``x`` (any shape)."""
        low, high = torch.quantile(x.detach().reshape(-1).float(), self._quantiles)
        self.value.lerp_((high - low).clamp_min(self.min_span), self.tau)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Returns ``x`` divided by the current scale (the scale is not updated)."""
        return x / self.value

    def extra_repr(self) -> str:
        return f"tau={self.tau}, value={self.value.item():.4f}"
