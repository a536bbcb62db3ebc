"""Shower-depth correction of classical positions for photons from the target (coral's).

A photon at polar angle theta enters the ECAL at X and develops along its direction, so a position
estimator that assumes perpendicular incidence measures X + d tan(theta), d the depth of the
shower centroid. :func:`fit_depth_correction` fits that shift on training windows,
:func:`apply_depth_correction` removes it. Units: mm, MeV.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fit_depth_correction", "apply_depth_correction"]


def _depth_design(abs_xy_mm: np.ndarray, energy_mev: np.ndarray) -> np.ndarray:
    """(n, 2, 2): per axis, the regressors X_abs and X_abs * ln(E / GeV) of the depth shift."""
    a = np.asarray(abs_xy_mm, dtype=np.float64) / 1000.0
    le = np.log(np.clip(np.asarray(energy_mev, dtype=np.float64), 1.0, None) / 1000.0)
    return np.stack([a, a * le[:, None]], axis=-1)


def fit_depth_correction(
    est_xy_mm: np.ndarray,
    true_xy_mm: np.ndarray,
    abs_xy_mm: np.ndarray,
    energy_mev: np.ndarray,
    n_clip: float = 4.0,
) -> dict[str, float]:
    """Shower-depth correction for photons from the target (coral's correction for inclination).

    A photon at polar angle theta enters the ECAL at X and develops along its direction, so a
    position estimator that assumes perpendicular incidence measures X + d tan(theta) with d the
    depth of the shower's centroid, d = X0 (ln(E/Ec) + C). From the target, tan(theta) = X / Z, so
    the shift is linear in the absolute position X (mm) with a slope that grows with ln E:
    ``est - true = (c0 + c1 ln(E/GeV)) X / 1000 mm``. Both coefficients (mm per m of X) are fitted
    on training windows by least squares (x and y pooled, outliers beyond ``n_clip`` robust sigmas
    dropped); Z and X0 need not be known.

    Args:
        est_xy_mm: (n, 2) estimated positions (mm, any frame).
        true_xy_mm: (n, 2) true impact points on the front face (mm, same frame).
        abs_xy_mm: (n, 2) estimated positions in the detector frame (mm from the beam axis).
        energy_mev: (n,) estimated energies (MeV).

    Returns:
        ``{"c0_mm_per_m", "c1_mm_per_m", "n"}``.
    """
    est = np.asarray(est_xy_mm, dtype=np.float64)
    d = (est - np.asarray(true_xy_mm, dtype=np.float64)).ravel()
    A = _depth_design(abs_xy_mm, energy_mev).reshape(-1, 2)
    keep = np.isfinite(d) & np.all(np.isfinite(A), axis=1)
    if keep.sum() < 20:
        raise ValueError(f"fit_depth_correction: needs >= 20 finite positions, got {keep.sum()}")
    coef = np.zeros(2)
    for _ in range(5):
        coef, *_ = np.linalg.lstsq(A[keep], d[keep], rcond=None)
        r = d - A @ coef
        med = np.median(r[keep])
        mad = 1.4826 * np.median(np.abs(r[keep] - med))
        new = keep & (np.abs(r - med) <= n_clip * max(mad, 1e-9))
        if np.array_equal(new, keep):
            break
        keep = new
    return {"c0_mm_per_m": float(coef[0]), "c1_mm_per_m": float(coef[1]), "n": int(keep.sum())}


def apply_depth_correction(
    est_xy_mm: np.ndarray,
    abs_xy_mm: np.ndarray,
    energy_mev: np.ndarray,
    correction: dict[str, float],
) -> np.ndarray:
    """(n, 2) positions (mm) with the depth shift of :func:`fit_depth_correction` removed."""
    coef = np.array([correction["c0_mm_per_m"], correction["c1_mm_per_m"]])
    return np.asarray(est_xy_mm, dtype=np.float64) - _depth_design(abs_xy_mm, energy_mev) @ coef
