"""newt.modules: the Newt world model and its building blocks.

* :class:`NewtWorldModel`: encoder, latent dynamics, reward, policy prior and Q ensemble, with
  frozen task embeddings and per-task action masks (see ``docs/world_model.md``).
* :class:`TwoHot`: two-hot regression in symlog space.
* :class:`SimNorm`, :func:`mlp`, :class:`QEnsemble`: the layers the model is built from.
* :func:`save_checkpoint`, :func:`load_checkpoint`, :func:`convert_official_state_dict`:
  checkpoint I/O.
* :class:`MPPIPlanner`: MPPI planning with a world model, as a TorchRL policy module.
"""

from newt.modules.checkpoint import convert_official_state_dict, load_checkpoint, save_checkpoint
from newt.modules.layers import QEnsemble, SimNorm, init_weights, mlp, zero_last_layer
from newt.modules.planner import MPPIPlanner
from newt.modules.two_hot import TwoHot
from newt.modules.world_model import MODEL_SIZES, NewtWorldModel

__all__ = [
    "MODEL_SIZES",
    "MPPIPlanner",
    "NewtWorldModel",
    "QEnsemble",
    "SimNorm",
    "TwoHot",
    "convert_official_state_dict",
    "init_weights",
    "load_checkpoint",
    "mlp",
    "save_checkpoint",
    "zero_last_layer",
]
