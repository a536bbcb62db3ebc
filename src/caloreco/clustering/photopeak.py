"""Photopeak efficiency: the fraction of primaries whose best cluster has the full energy.

A primary's best cluster is the most energetic cluster it dominates; it is in the photopeak when
its energy is within ``n_sigma`` of the detector's expected resolution around the true energy.
Units: MeV.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from caloreco.constants import FWHM_OVER_SIGMA

__all__ = ["resolution_sigma", "photopeak_efficiency"]


def resolution_sigma(energy_mev: np.ndarray, response: Mapping[str, Any]) -> np.ndarray:
    """Expected energy resolution sigma (MeV) of a detector response block at ``energy_mev``.

    califa: FWHM/2.355 at 1 MeV scaling as 1/sqrt(E) (+) non-uniformity; ecal: a/sqrt(E/GeV)
    (+) b. Used to define the photopeak window (3 sigma).
    """
    e = np.asarray(energy_mev, dtype=np.float64)
    if "resolution_fwhm_at_1mev" in response or "non_uniformity" in response:
        rel = np.hypot(
            float(response.get("resolution_fwhm_at_1mev", 0.055)) / FWHM_OVER_SIGMA / np.sqrt(e),
            float(response.get("non_uniformity", 0.01)),
        )
    else:
        rel = np.hypot(
            float(response.get("stochastic", 0.07)) / np.sqrt(e / 1000.0),
            float(response.get("constant", 0.015)),
        )
    return rel * e


def photopeak_efficiency(
    best_energy: np.ndarray,
    true_energy: np.ndarray,
    response: Mapping[str, Any],
    n_sigma: float = 3.0,
) -> dict[str, Any]:
    """Photopeak efficiency from per-primary arrays (MeV, same shape): the fraction of
    primaries of known energy whose best cluster (:func:`caloreco.clustering.matching.best_cluster_energy`) is within
    ``n_sigma`` resolution sigmas of the true energy, overall and in 8 quantile bins of energy.

    The arrays of several chunks may be concatenated beforehand: the result is that of the
    concatenated events.
    """
    best = np.asarray(best_energy, dtype=np.float64)
    e_true = np.asarray(true_energy, dtype=np.float64)
    known = np.isfinite(e_true) & (e_true > 0)
    if not known.any():
        return {"efficiency": None, "note": "primary energies unknown"}
    ok = np.abs(best - e_true) <= n_sigma * resolution_sigma(np.where(known, e_true, 1.0), response)
    ok, e = ok[known], e_true[known]
    eff = float(ok.mean())
    edges = np.quantile(e, np.linspace(0, 1, 9)) if np.ptp(e) > 0 else np.array([e[0], e[0]])
    curve = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (e >= lo) & (e <= hi)
        if sel.sum() and hi > lo:
            p = float(ok[sel].mean())
            curve.append(
                {
                    "e_lo": float(lo),
                    "e_hi": float(hi),
                    "efficiency": p,
                    "err": float(np.sqrt(p * (1 - p) / sel.sum())),
                    "n": int(sel.sum()),
                }
            )
    return {
        "efficiency": eff,
        "efficiency_err": float(np.sqrt(eff * (1 - eff) / ok.size)),
        "n_sigma": n_sigma,
        "primaries": int(ok.size),
        "vs_energy": curve,
    }
