"""Photon energy from a window: containment corrections and a linear calibration.

:func:`energy_estimate` is the window sum over the Lednev containment of the window at the
estimated impact point over the longitudinal containment of the mean GFlash Gamma profile across
the module depth (:func:`longitudinal_containment`); :func:`fit_energy_calibration` fits a linear
calibration on training windows. Units: MeV, mm, radiation lengths.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammainc

from caloreco.constants import SHASHLIK
from caloreco.regression.checks import check_pitch, check_windows
from caloreco.regression.lednev import LEDNEV_A, LEDNEV_B, lednev_window_fractions

__all__ = [
    "gflash_mean_profile",
    "longitudinal_containment",
    "window_containment",
    "energy_estimate",
    "fit_energy_calibration",
    "apply_energy_calibration",
]


def gflash_mean_profile(
    energy_mev: np.ndarray,
    z_eff: float = SHASHLIK["z_eff"],
    critical_energy_mev: float = SHASHLIK["critical_energy_mev"],
    fs: float = SHASHLIK["fs"],
    e_hat: float = SHASHLIK["e_hat"],
) -> tuple[np.ndarray, np.ndarray]:
    """Mean GFlash longitudinal Gamma profile (alpha, beta in 1/X0) of a sampling calorimeter.

    Homogeneous means <ln T> = ln(ln y - 0.812), <ln alpha> = ln(0.81 + (0.458 + 2.26/Z) ln y)
    with y = E / E_c, then the sampling corrections T_s = T - 0.55/Fs - 0.69 (1 - e-hat),
    alpha_s = alpha - 0.476/Fs; beta = (alpha_s - 1) / T_s (Grindhammer and Peters,
    hep-ex/0001020; physics.md section 1). Geant4's clamps T >= 1, alpha >= 1.1 apply.
    """
    e = np.asarray(energy_mev, dtype=np.float64)
    ln_y = np.log(np.maximum(e / critical_energy_mev, 3.0))  # keep ln y - 0.812 > 0
    t_max = (ln_y - 0.812) - 0.55 / fs - 0.69 * (1.0 - e_hat)
    alpha = 0.81 + (0.458 + 2.26 / z_eff) * ln_y - 0.476 / fs
    t_max = np.maximum(t_max, 1.0)
    alpha = np.maximum(alpha, 1.1)
    return alpha, (alpha - 1.0) / t_max


def longitudinal_containment(
    energy_mev: np.ndarray, depth_x0: float = SHASHLIK["depth_x0"], **material: float
) -> np.ndarray:
    """Fraction of the mean GFlash Gamma profile inside ``depth_x0`` radiation lengths.

    ``material`` overrides the shashlik defaults of :func:`gflash_mean_profile`.
    """
    if not depth_x0 > 0:
        raise ValueError(f"depth_x0: expected a positive depth in X0, got {depth_x0!r}")
    alpha, beta = gflash_mean_profile(energy_mev, **material)
    return gammainc(alpha, beta * depth_x0)


def window_containment(
    x_mm: np.ndarray,
    y_mm: np.ndarray,
    size: int,
    pitch_mm: float,
    a: np.ndarray = LEDNEV_A,
    b: np.ndarray = LEDNEV_B,
) -> np.ndarray:
    """Lednev fraction of a photon at (x, y) (mm from the lower-left cell centre) in the window."""
    return lednev_window_fractions(x_mm, y_mm, size, pitch_mm, a, b).sum(axis=(1, 2))


def energy_estimate(
    windows: np.ndarray,
    x_mm: np.ndarray,
    y_mm: np.ndarray,
    pitch_mm: float,
    longitudinal: bool = True,
    depth_x0: float = SHASHLIK["depth_x0"],
    n_iter: int = 3,
) -> np.ndarray:
    """Photon energy (MeV): window sum / transverse containment / longitudinal containment.

    The transverse containment is the Lednev fraction of the window at the estimated impact
    point (it also accounts for a shower cut by the window border), the longitudinal one the mean
    GFlash Gamma profile over ``depth_x0``; the latter depends on the energy itself and is
    iterated ``n_iter`` times from the transverse-corrected sum.
    """
    w = check_windows(windows)
    total = w.sum(axis=(1, 2))
    cont = np.clip(window_containment(x_mm, y_mm, w.shape[1], check_pitch(pitch_mm)), 0.05, 1.0)
    e = total / cont
    if longitudinal:
        base = e
        for _ in range(int(n_iter)):
            e = base / longitudinal_containment(np.maximum(e, 1.0), depth_x0)
    return e


def fit_energy_calibration(
    e_raw: np.ndarray,
    e_true: np.ndarray,
    n_clip: float = 4.0,
    max_iter: int = 5,
    min_spread: float = 0.02,
) -> dict[str, float]:
    """Linear calibration E_true ~ slope * E_raw + offset (MeV) fitted on training windows.

    Minimises the squared *relative* residuals (every energy counts alike), refitted after
    removing outliers beyond ``n_clip`` robust sigmas (MAD), which a mis-clustered window would
    otherwise pull. Where the true energies spread by less than ``min_spread`` (relative standard
    deviation: a mono-energetic sample), only the slope is fitted and the offset is 0.
    Returns ``{"slope", "offset_mev", "n"}``.
    """
    r = np.asarray(e_raw, dtype=np.float64)
    t = np.asarray(e_true, dtype=np.float64)
    if r.shape != t.shape or r.ndim != 1:
        raise ValueError(
            f"e_raw, e_true: expected 1-d arrays of one length, got {r.shape}, {t.shape}"
        )
    keep = np.isfinite(r) & np.isfinite(t) & (t > 0) & (r > 0)
    if keep.sum() < 10:
        raise ValueError(f"fit_energy_calibration: needs >= 10 positive pairs, got {keep.sum()}")
    # Mono-energetic training data (e.g. a 140 GeV beam) has no lever arm for an offset: a free
    # offset would learn the beam energy itself and predict it for every cluster (a zero
    # "resolution"). There only the scale is calibrated.
    scale_only = np.std(t[keep]) < min_spread * np.mean(t[keep])
    slope, offset = 1.0, 0.0
    for _ in range(max_iter):
        if scale_only:
            u = r[keep] / t[keep]
            slope, offset = float(u.sum() / (u * u).sum()), 0.0
        else:
            A = np.column_stack([r[keep] / t[keep], 1.0 / t[keep]])
            (slope, offset), *_ = np.linalg.lstsq(A, np.ones(keep.sum()), rcond=None)
        res = (slope * r + offset) / t - 1.0
        good = np.isfinite(res) & (t > 0) & (r > 0) & np.isfinite(r)
        med = np.median(res[keep])
        mad = 1.4826 * np.median(np.abs(res[keep] - med))
        new = good & (np.abs(res - med) <= n_clip * max(mad, 1e-12))
        if np.array_equal(new, keep) or new.sum() < 10:
            break
        keep = new
    return {"slope": float(slope), "offset_mev": float(offset), "n": int(keep.sum())}


def apply_energy_calibration(e_raw: np.ndarray, calibration: dict[str, float]) -> np.ndarray:
    """slope * E_raw + offset (MeV)."""
    return calibration["slope"] * np.asarray(e_raw, dtype=np.float64) + calibration["offset_mev"]
