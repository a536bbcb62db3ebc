"""Settings of the attribution analysis: the defaults of the ``attribution`` config block.

The block holds the focal network (``model``, ``training``, ``peeling``), the evaluation
(``bootstrap``, ``energy_bins_mev``) and the set segmenter (``segmenter``: ``enabled``,
``model``, ``training``). Every key, its unit and default is described in config/README.md;
the workflow's schema checks types and ranges, these functions fill in the defaults
(:func:`caloreco.config.with_defaults`) and reject unknown keys for callers outside the
workflow (benchmarks, notebooks).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from caloreco.config import with_defaults

__all__ = [
    "ENERGY_WEIGHTS",
    "DEFAULTS",
    "EVALUATION_DEFAULTS",
    "SEGMENTER_DEFAULTS",
    "attribution_settings",
    "segmenter_settings",
]

#: per-hit loss weights: 1, E, or E^2 (JetPointNet's choice)
ENERGY_WEIGHTS = ("none", "energy", "energy2")

#: the focal point-cloud network, its training and the peeling threshold
DEFAULTS: dict[str, Any] = {
    "model": {"variant": "attention", "hidden": 32, "n_blocks": 2, "heads": 4, "dropout": 0.0},
    "training": {
        "lr": 2e-3,
        "weight_decay": 1e-4,
        "batch_size": 256,
        "max_epochs": 3,
        "patience": 4,
        "seed": 0,
        "energy_weight": "none",
        "max_train_events": None,
    },
    "peeling": {"threshold": "auto", "thresholds": [0.3, 0.4, 0.5, 0.6]},
}

#: the evaluation: bootstrap replicates of the intervals, focal-gamma energy bins (MeV; None:
#: one bin for a mono-energetic sample, else the default edges of
#: :data:`caloreco.attribution.evaluation.DEFAULT_ENERGY_EDGES_MEV`)
EVALUATION_DEFAULTS: dict[str, Any] = {"bootstrap": 500, "energy_bins_mev": None}

#: the slot-attention set segmenter (method ``slots``), off by default
SEGMENTER_DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "model": {
        "hidden": 64,
        "n_blocks": 2,
        "heads": 4,
        "n_slots": 4,
        "iters": 3,
        "temperature_factor": 0.5,
        "update": "gru",
        "init": "learned",
    },
    "training": {
        "lr": 1e-3,
        "weight_decay": 1e-4,
        "batch_size": 128,
        "max_epochs": 15,
        "patience": 4,
        "seed": 0,
        "intermediate_weight": 0.5,
        "energy_weight": "none",
        "grad_clip": 1.0,
    },
}


def _check_keys(defaults: Mapping[str, Any], cfg: Mapping[str, Any], where: str) -> None:
    """Unknown keys of ``cfg`` (one level of nesting), named with their path."""
    unknown = sorted(set(cfg) - set(defaults))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known {sorted(defaults)}")
    for key, value in cfg.items():
        if isinstance(defaults[key], dict):
            if not isinstance(value, Mapping):
                raise ValueError(f"{where}.{key}: expected a mapping, got {value!r}")
            sub = sorted(set(value) - set(defaults[key]))
            if sub:
                raise ValueError(
                    f"{where}.{key}: unknown keys {sub}; known {sorted(defaults[key])}"
                )


def _check_energy_weight(value: Any, where: str) -> None:
    if value not in ENERGY_WEIGHTS:
        raise ValueError(f"{where}: expected one of {ENERGY_WEIGHTS}, got {value!r}")


def segmenter_settings(cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``attribution.segmenter`` block with :data:`SEGMENTER_DEFAULTS` filled in.

    Raises:
        ValueError: an unknown key or energy weight, naming it.
    """
    cfg = dict(cfg or {})
    _check_keys(SEGMENTER_DEFAULTS, cfg, "attribution.segmenter")
    out = with_defaults(copy.deepcopy(SEGMENTER_DEFAULTS), cfg)
    out["enabled"] = bool(out["enabled"])
    _check_energy_weight(
        out["training"]["energy_weight"], "attribution.segmenter.training.energy_weight"
    )
    return out


def attribution_settings(cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """The dataset's ``attribution`` block with every default filled in (the segmenter's by
    :func:`segmenter_settings`).

    Raises:
        ValueError: an unknown key or energy weight, naming it.
    """
    cfg = dict(cfg or {})
    segmenter = cfg.pop("segmenter", None)
    defaults = {**copy.deepcopy(DEFAULTS), **EVALUATION_DEFAULTS}
    _check_keys({**defaults, "segmenter": {}}, cfg, "attribution")
    out = with_defaults(defaults, cfg)
    _check_energy_weight(out["training"]["energy_weight"], "attribution.training.energy_weight")
    out["segmenter"] = segmenter_settings(segmenter)
    return out
