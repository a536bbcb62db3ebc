"""Settings of the ECAL stage-4 analysis (``two_photon``): defaults of its config section."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from caloreco.config import with_defaults
from caloreco.regression.two_photon import DEFAULTS as ANALYSIS_DEFAULTS

__all__ = [
    "DEFAULTS",
    "two_photon_settings",
    "window_settings",
    "network_settings",
    "training_simulation",
]

#: the ``two_photon`` block: windows, sample cuts, bins and the fit criteria of
#: :data:`caloreco.regression.two_photon.DEFAULTS`, plus the training sample and the networks
DEFAULTS: dict[str, Any] = {
    **ANALYSIS_DEFAULTS,
    # pairs from parents of uniform mass (MeV) train the networks, so that they cannot learn
    # m_pi0 and pull every pair towards it (phase-1 mass-linearity check); null: the pi0 events
    "training_mass_mev": [70.0, 200.0],
    # the networks read the window and the two-shower fit's results (False: the window only)
    "fit_inputs": True,
    "counter": {
        "architecture": "dense",
        "lr": 1e-3,
        "batch_size": 256,
        "max_epochs": 15,
        "patience": 4,
    },
    "regressor": {
        "architecture": "cnn",
        "residual": True,
        "lr": 1e-3,
        "batch_size": 256,
        "max_epochs": 60,
        "patience": 8,
    },
    "seed": 0,
}

_TRAIN_KEYS = ("lr", "batch_size", "max_epochs", "patience")


def two_photon_settings(cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """The dataset's ``two_photon`` block with defaults filled in (nested dicts merged)."""
    return with_defaults(DEFAULTS, cfg)


def window_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`caloreco.regression.two_photon.pair_windows` keyword arguments."""
    s = two_photon_settings(settings)
    return {
        "size": int(s["size"]),
        "seed_threshold_mev": float(s["seed_threshold_mev"]),
        "min_photon_mev": float(s["min_photon_mev"]),
        "edge_margin_cells": float(s["edge_margin_cells"]),
    }


def network_settings(settings: Mapping[str, Any], which: str) -> dict[str, Any]:
    """Architecture and training keywords of ``which`` ("counter" or "regressor")."""
    if which not in ("counter", "regressor"):
        raise ValueError(f"which: expected 'counter' or 'regressor', got {which!r}")
    s = two_photon_settings(settings)[which]
    out = {"architecture": str(s["architecture"])}
    out |= {k: (float(s[k]) if k == "lr" else int(s[k])) for k in _TRAIN_KEYS}
    if which == "regressor":
        out["residual"] = bool(s["residual"])
    return out


def training_simulation(
    simulation: Mapping[str, Any], mass_mev: tuple[float, float] | list[float]
) -> dict[str, Any]:
    """The dataset's simulation block for the training sample: the same pi0 kinematics and
    spectrum, but each pair from a parent of mass uniform in ``mass_mev`` (MeV)."""
    if simulation.get("process") != "pi0":
        raise ValueError(
            "simulation.process: the two-photon training sample needs the pi0 source, "
            f"got {simulation.get('process', 'photons')!r}"
        )
    lo, hi = (float(v) for v in mass_mev)
    if not 0 < lo < hi:
        raise ValueError(f"training_mass_mev: expected 0 < lo < hi (MeV), got {mass_mev!r}")
    return {
        **dict(simulation),
        "parent_mass_mev": {"distribution": "uniform", "min_mev": lo, "max_mev": hi},
    }
