"""newt.objectives: the Newt loss, its update helper and small utilities."""
from newt.objectives.newt_loss import NewtLoss
from newt.objectives.updater import NewtUpdater
from newt.objectives.utils import RunningScale, compile_options, discount_heuristic, task_discounts, temporal_weights

__all__ = [
    "NewtLoss",
    "NewtUpdater",
    "RunningScale",
    "compile_options",
    "discount_heuristic",
    "task_discounts",
    "temporal_weights",
]
