"""Settings of the ECAL regression: defaults of the ``regression`` config section."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from caloreco.config import with_defaults

__all__ = ["DEFAULTS", "regression_settings"]

DEFAULTS: dict[str, Any] = {
    "size": 5,
    "placement": "random",
    "purity_cut": 0.95,
    "inputs": "normalised",
    "cog_reference": True,
    "loss": "mse",
    "model": {"name": "regressor", "hidden": [64, 128, 256, 128, 64, 32]},
    "training": {"lr": 1e-3, "batch_size": 256, "max_epochs": 200, "patience": 15, "seed": 0},
    "log_cog_w0": 4.0,
    "energy_bins_mev": [2000, 10000, 25000, 50000, 100000, 150000, 200000],
}


def regression_settings(cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """The dataset's ``regression`` block with defaults filled in (nested dicts merged)."""
    return with_defaults(DEFAULTS, cfg)
