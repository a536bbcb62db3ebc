"""Torch networks, the generic training loop and the pair-classifier baselines.

The classical position/energy estimators live in :mod:`caloreco.models.classical` (imported on
its own; this package does not import it).
"""

from caloreco.models.nets import MODELS, PairMLP, Regressor, TinyModel, build_model, model_name
from caloreco.models.training import (
    FitResult,
    Standardizer,
    fit_network,
    load_checkpoint,
    predict,
    save_checkpoint,
    select_device,
    set_determinism,
    train,
)

__all__ = [
    "FitResult",
    "MODELS",
    "PairMLP",
    "Regressor",
    "Standardizer",
    "TinyModel",
    "build_model",
    "fit_network",
    "load_checkpoint",
    "model_name",
    "predict",
    "save_checkpoint",
    "select_device",
    "set_determinism",
    "train",
]
