"""Settings of the pair analysis: defaults of the ``pairs`` config section and feature sets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from caloreco.config import with_defaults
from caloreco.pairs.features import FEATURES_DEFAULT, FEATURES_PUBLISHED

__all__ = ["DEFAULTS", "TINY", "pair_settings", "feature_list"]

DEFAULTS: dict[str, Any] = {
    "method": "agglomerative",
    "features": "default",
    "model": {"name": "pair_mlp", "hidden": 128, "n_layers": 3, "dropout": 0.1},
    "training": {"lr": 1e-3, "batch_size": 256, "max_epochs": 60, "patience": 8, "seed": 0},
    "seeds": 3,
    "merge_methods": ["agglomerative", "cone"],
    "bootstrap": 500,
}

#: the reference: the seed talk's TinyModel, done right, on the published 11 features
TINY = {"name": "tiny", "hidden": 64}


def pair_settings(cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """The dataset's ``pairs`` block with defaults filled in (nested dicts merged)."""
    return with_defaults(DEFAULTS, cfg)


def feature_list(name: str) -> list[str]:
    """Feature names of a feature-set name (``default`` or ``published``)."""
    sets = {"default": FEATURES_DEFAULT, "published": FEATURES_PUBLISHED}
    if name not in sets:
        raise ValueError(f"pairs.features: expected one of {sorted(sets)}, got {name!r}")
    return list(sets[name])
