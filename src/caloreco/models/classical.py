"""Classical ECAL estimators on NxN windows: log-weighted centre of gravity and profile fit.

Windows hold cell energies in MeV indexed ``[i, row (y), col (x)]``; every position is in mm
relative to the window's lower-left cell centre (the regression targets of
:func:`caloreco.windows.window_targets`), so the network and the baselines are compared on the
same footing (physics.md section 1, "Classical estimators").

* :func:`log_cog`: Awes et al. weights w_i = max(0, w0 + ln(E_i / E_sum)).
* :func:`fit_s_curve` / :func:`apply_s_curve`: the S-curve correction, a monotone map of the
  position inside the reference cell (the cell nearest to the centre of gravity, i.e. the seed
  cell of a single shower), per energy bin, fitted on training windows. It never sees the absolute
  window coordinate, so it does not depend on where the seed was placed in the window.
* :func:`energy_estimate`: window sum / Lednev containment of the window at the estimated position
  / longitudinal containment of the mean GFlash Gamma profile over the module depth
  (:func:`longitudinal_containment`), optionally with a linear calibration fitted on training
  windows (:func:`fit_energy_calibration`).
* :class:`LogCogEstimator`: the three bundled with ``fit``/``predict`` and JSON-serialisable
  parameters.
* :func:`profile_fit`: coral's method, a chi-square fit of E * Lednev fractions to the window with
  the cell error model sigma^2 = 0.15^2 E + (0.015 E)^2 + 0.05^2 (E in GeV), free x, y, E; a
  Levenberg-Marquardt with the analytic Jacobian run on all clusters at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from scipy.special import gammainc

from caloreco.lednev import (
    LEDNEV_A,
    LEDNEV_B,
    lednev_window_fractions,
    lednev_window_fractions_and_jacobian,
)

__all__ = [
    "log_cog",
    "fit_s_curve",
    "apply_s_curve",
    "gflash_mean_profile",
    "longitudinal_containment",
    "window_containment",
    "energy_estimate",
    "fit_energy_calibration",
    "apply_energy_calibration",
    "LogCogEstimator",
    "coral_cell_sigma",
    "ProfileFitResult",
    "profile_fit",
]

#: Effective shashlik material of the COMPASS ECAL (physics.md section 1).
SHASHLIK = {"z_eff": 70.0, "critical_energy_mev": 9.6, "fs": 6.8, "e_hat": 0.645, "depth_x0": 22.5}


def _windows(windows: np.ndarray) -> np.ndarray:
    w = np.asarray(windows, dtype=np.float64)
    if w.ndim != 3 or w.shape[1] != w.shape[2] or w.shape[1] < 1:
        raise ValueError(f"windows: expected shape (n, N, N), got {w.shape}")
    return w


def _pitch(pitch_mm: float) -> float:
    if not np.isfinite(pitch_mm) or pitch_mm <= 0:
        raise ValueError(f"pitch_mm: expected a positive cell pitch in mm, got {pitch_mm!r}")
    return float(pitch_mm)


# --------------------------------------------------------------------------------------------
# log-weighted centre of gravity


def log_cog(windows: np.ndarray, pitch_mm: float, w0: float = 4.0) -> np.ndarray:
    """Log-weighted centre of gravity (Awes et al., NIM A311 (1992) 130).

    w_i = max(0, w0 + ln(E_i / E_sum)), x = sum w_i x_i / sum w_i, with E_sum the window sum.
    Cells with E_i <= 0 get no weight. A window whose log weights all vanish falls back to the
    linear centre of gravity; an empty window gives NaN.

    Args:
        windows: (n, N, N) cell energies (MeV).
        pitch_mm: cell pitch (mm).
        w0: weight cut-off (a cell enters if E_i / E_sum > exp(-w0)).

    Returns:
        (n, 2) x, y in mm relative to the lower-left cell centre.
    """
    w = _windows(windows)
    pitch = _pitch(pitch_mm)
    if not w0 > 0:
        raise ValueError(f"w0: expected a positive log-weight cut-off, got {w0!r}")
    size = w.shape[1]
    pos = np.arange(size) * pitch
    total = w.sum(axis=(1, 2))
    safe = np.where(total > 0, total, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lw = np.where(w > 0, np.maximum(0.0, w0 + np.log(w / safe[:, None, None])), 0.0)
    norm = lw.sum(axis=(1, 2))
    lin = np.clip(w, 0.0, None)
    use = np.where(norm[:, None, None] > 0, lw, lin)
    norm = use.sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        x = (use.sum(axis=1) * pos).sum(axis=1) / norm
        y = (use.sum(axis=2) * pos).sum(axis=1) / norm
    bad = ~(norm > 0)
    x[bad] = np.nan
    y[bad] = np.nan
    return np.column_stack([x, y])


# --------------------------------------------------------------------------------------------
# S-curve correction


def _as_2d(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name}: expected shape (n,) or (n, k), got {a.shape}")
    return a


def _energy_bin(log_e: np.ndarray, edges: np.ndarray) -> np.ndarray:
    b = np.searchsorted(edges, log_e, side="right") - 1
    return np.clip(b, 0, edges.size - 2)


def _isotonic(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted pool-adjacent-violators: the non-decreasing fit to y (a few dozen bins)."""
    vals, wts, cnt = [], [], []
    for yi, wi in zip(y, w, strict=True):
        vals.append(yi)
        wts.append(wi)
        cnt.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            wsum = wts[-2] + wts[-1]
            vals[-2] = (vals[-2] * wts[-2] + vals[-1] * wts[-1]) / wsum
            wts[-2] = wsum
            cnt[-2] += cnt[-1]
            vals.pop()
            wts.pop()
            cnt.pop()
    return np.repeat(vals, cnt)


def fit_s_curve(
    x_cog: np.ndarray,
    x_true: np.ndarray,
    pitch_mm: float,
    energy_mev: np.ndarray | None = None,
    n_energy_bins: int = 6,
    n_u_bins: int = 32,
    min_entries: int = 5,
) -> dict[str, Any]:
    """Fit the S-curve map of a centre-of-gravity position to the true position.

    For every axis and energy bin, the position inside the reference cell, u = x_cog / pitch -
    round(x_cog / pitch) in [-0.5, 0.5], is binned, the mean true position v = x_true / pitch -
    round(x_cog / pitch) is taken per bin and made non-decreasing (isotonic regression); the
    map is the piecewise-linear interpolation of these nodes. Working relative to the reference
    cell makes the map independent of where the seed sits in the window.

    Args:
        x_cog: (n,) or (n, k) centre-of-gravity positions (mm, any common origin on the cell
            grid, e.g. the lower-left cell centre); k axes are fitted independently.
        x_true: true positions, same shape and origin (mm).
        pitch_mm: cell pitch (mm).
        energy_mev: (n,) energy proxy used for binning (e.g. the window sum); ``None`` = one bin.
        n_energy_bins: energy bins (quantiles of ln E of the training sample).
        n_u_bins: bins of the in-cell position.
        min_entries: bins with fewer entries are interpolated from their neighbours.

    Returns:
        JSON-ready dict ``{"pitch_mm", "log_e_edges", "u_nodes", "v_nodes"}`` with ``v_nodes`` of
        shape (n_energy_bins, k, n_u_bins + 2) (nodes include u = -0.5 and +0.5).
    """
    pitch = _pitch(pitch_mm)
    xc = _as_2d(x_cog, "x_cog")
    xt = _as_2d(x_true, "x_true")
    if xc.shape != xt.shape:
        raise ValueError(f"x_true: expected the shape of x_cog {xc.shape}, got {xt.shape}")
    ok = np.all(np.isfinite(xc) & np.isfinite(xt), axis=1)
    if energy_mev is not None:
        e = np.asarray(energy_mev, dtype=np.float64)
        if e.shape != (xc.shape[0],):
            raise ValueError(f"energy_mev: expected shape ({xc.shape[0]},), got {e.shape}")
        ok &= np.isfinite(e) & (e > 0)
    if ok.sum() < max(20, n_u_bins):
        raise ValueError(
            f"fit_s_curve: needs at least {max(20, n_u_bins)} finite training points, "
            f"got {int(ok.sum())}"
        )
    xc, xt = xc[ok] / pitch, xt[ok] / pitch
    if energy_mev is None or n_energy_bins <= 1:
        edges = np.array([-np.inf, np.inf])
        log_e = np.zeros(xc.shape[0])
    else:
        log_e = np.log(e[ok])
        edges = np.unique(np.quantile(log_e, np.linspace(0, 1, n_energy_bins + 1)))
        if edges.size < 2:
            edges = np.array([-np.inf, np.inf])
        edges[0], edges[-1] = -np.inf, np.inf
    ebin = _energy_bin(log_e, edges)
    cell = np.round(xc)
    u = xc - cell
    v = xt - cell
    u_edges = np.linspace(-0.5, 0.5, n_u_bins + 1)
    u_mid = 0.5 * (u_edges[1:] + u_edges[:-1])
    ub = np.clip(np.searchsorted(u_edges, u, side="right") - 1, 0, n_u_bins - 1)
    k = xc.shape[1]
    nodes = np.zeros((edges.size - 1, k, n_u_bins + 2))
    for b in range(edges.size - 1):
        for axis in range(k):
            sel = ebin == b
            c = np.bincount(ub[sel, axis], minlength=n_u_bins).astype(np.float64)
            s = np.bincount(ub[sel, axis], weights=v[sel, axis], minlength=n_u_bins)
            good = c >= min_entries
            if good.sum() >= 2:
                # mean true position per bin, relative to the bin centre (a smooth correction)
                d = np.interp(u_mid, u_mid[good], (s[good] / c[good]) - u_mid[good])
                m = _isotonic(u_mid + d, np.maximum(c, 1.0))
            else:
                m = u_mid.copy()
            # end nodes by linear extrapolation to the cell edges
            lo = m[0] - (m[1] - m[0]) * (u_mid[0] + 0.5) / (u_mid[1] - u_mid[0])
            hi = m[-1] + (m[-1] - m[-2]) * (0.5 - u_mid[-1]) / (u_mid[-1] - u_mid[-2])
            nodes[b, axis] = np.concatenate([[lo], m, [hi]])
    return {
        "pitch_mm": pitch,
        "log_e_edges": edges.tolist(),
        "u_nodes": np.concatenate([[-0.5], u_mid, [0.5]]).tolist(),
        "v_nodes": nodes.tolist(),
    }


def apply_s_curve(
    x_cog: np.ndarray, params: dict[str, Any], energy_mev: np.ndarray | None = None
) -> np.ndarray:
    """Apply a map from :func:`fit_s_curve`; returns corrected positions of the shape of x_cog."""
    xc_in = np.asarray(x_cog, dtype=np.float64)
    xc = _as_2d(xc_in, "x_cog")
    pitch = float(params["pitch_mm"])
    edges = np.asarray(params["log_e_edges"], dtype=np.float64)
    u_nodes = np.asarray(params["u_nodes"], dtype=np.float64)
    v_nodes = np.asarray(params["v_nodes"], dtype=np.float64)
    if v_nodes.shape[1] != xc.shape[1]:
        raise ValueError(f"x_cog: the map has {v_nodes.shape[1]} axes, got {xc.shape[1]}")
    if edges.size > 2:
        if energy_mev is None:
            raise ValueError("energy_mev: this S-curve map is binned in energy; pass the energies")
        with np.errstate(divide="ignore", invalid="ignore"):
            log_e = np.log(np.asarray(energy_mev, dtype=np.float64))
        ebin = _energy_bin(np.nan_to_num(log_e, nan=-np.inf), edges)
    else:
        ebin = np.zeros(xc.shape[0], dtype=np.int64)
    cell = np.round(xc / pitch)
    u = xc / pitch - cell
    out = np.full_like(xc, np.nan)
    for b in range(v_nodes.shape[0]):
        sel = ebin == b
        for axis in range(xc.shape[1]):
            out[sel, axis] = np.interp(u[sel, axis], u_nodes, v_nodes[b, axis])
    out = (out + cell) * pitch
    return out.reshape(xc_in.shape)


# --------------------------------------------------------------------------------------------
# energy


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
    w = _windows(windows)
    total = w.sum(axis=(1, 2))
    cont = np.clip(window_containment(x_mm, y_mm, w.shape[1], _pitch(pitch_mm)), 0.05, 1.0)
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


# --------------------------------------------------------------------------------------------
# inclined incidence


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


# --------------------------------------------------------------------------------------------
# bundled estimator


@dataclass
class LogCogEstimator:
    """Log-weighted CoG + S-curve correction + containment energy (+ linear calibration).

    Attributes:
        pitch_mm: cell pitch (mm).
        w0: log-weight cut-off.
        n_energy_bins: energy bins (by window sum) of the S-curve map.
        n_u_bins: in-cell position bins of the S-curve map.
        longitudinal: correct the energy for longitudinal leakage (mean GFlash over 22.5 X0).
        calibrate_energy: fit a linear energy calibration on the training windows.
        params: fitted parameters (plain lists and floats, JSON-serialisable).
    """

    pitch_mm: float
    w0: float = 4.0
    n_energy_bins: int = 6
    n_u_bins: int = 32
    longitudinal: bool = True
    calibrate_energy: bool = True
    params: dict[str, Any] = field(default_factory=dict)

    def fit(self, windows: np.ndarray, targets: np.ndarray) -> LogCogEstimator:
        """Fit the S-curve map and the energy calibration on training windows.

        Args:
            windows: (n, N, N) cell energies (MeV).
            targets: (n, 3) true x, y (mm from the lower-left cell centre) and energy (MeV).
        """
        w = _windows(windows)
        t = np.asarray(targets, dtype=np.float64)
        if t.shape != (w.shape[0], 3):
            raise ValueError(f"targets: expected shape ({w.shape[0]}, 3), got {t.shape}")
        if w.shape[0] < 50:
            raise ValueError(f"LogCogEstimator.fit needs >= 50 training windows, got {w.shape[0]}")
        cog = log_cog(w, self.pitch_mm, self.w0)
        total = w.sum(axis=(1, 2))
        s_curve = fit_s_curve(
            cog, t[:, :2], self.pitch_mm, total, self.n_energy_bins, self.n_u_bins
        )
        self.params = {"s_curve": s_curve, "energy_calibration": None}
        if self.calibrate_energy:
            xy = apply_s_curve(cog, s_curve, total)
            raw = energy_estimate(w, xy[:, 0], xy[:, 1], self.pitch_mm, self.longitudinal)
            self.params["energy_calibration"] = fit_energy_calibration(raw, t[:, 2])
        return self

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """(n, 3): x, y (mm from the lower-left cell centre) and energy (MeV)."""
        if not self.params:
            raise RuntimeError("LogCogEstimator: call fit() on training windows first")
        w = _windows(windows)
        total = w.sum(axis=(1, 2))
        xy = apply_s_curve(log_cog(w, self.pitch_mm, self.w0), self.params["s_curve"], total)
        e = energy_estimate(w, xy[:, 0], xy[:, 1], self.pitch_mm, self.longitudinal)
        cal = self.params.get("energy_calibration")
        if cal is not None:
            e = apply_energy_calibration(e, cal)
        return np.column_stack([xy, e])

    def to_dict(self) -> dict[str, Any]:
        """Settings and fitted parameters as plain JSON types."""
        return {
            "pitch_mm": float(self.pitch_mm),
            "w0": float(self.w0),
            "n_energy_bins": int(self.n_energy_bins),
            "n_u_bins": int(self.n_u_bins),
            "longitudinal": bool(self.longitudinal),
            "calibrate_energy": bool(self.calibrate_energy),
            "params": self.params,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LogCogEstimator:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)


# --------------------------------------------------------------------------------------------
# shower-profile fit


def coral_cell_sigma(energy_mev: np.ndarray) -> np.ndarray:
    """coral's cell error (MeV): sigma^2 = 0.15^2 E + (0.015 E)^2 + 0.05^2 with E in GeV."""
    e = np.clip(np.asarray(energy_mev, dtype=np.float64), 0, None) / 1000.0
    return 1000.0 * np.sqrt(0.15**2 * e + (0.015 * e) ** 2 + 0.05**2)


class ProfileFitResult(NamedTuple):
    """Result of :func:`profile_fit` (a tuple: ``params, chi2, converged, iterations``).

    Attributes:
        params: (n, 3) fitted x, y (mm from the lower-left cell centre) and E (MeV); NaN for
            empty windows.
        chi2: (n,) chi-square at the minimum (N*N cells, 3 free parameters).
        converged: (n,) the fit met its tolerance within ``n_iter`` iterations.
        iterations: (n,) iterations used.
    """

    params: np.ndarray
    chi2: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray


def _profile_fit_block(
    meas: np.ndarray,
    p: np.ndarray,
    size: int,
    pitch: float,
    n_iter: int,
    xtol_mm: float,
    ftol: float,
    errors: str,
    a: np.ndarray,
    b: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = p.shape[0]
    lo, hi = -pitch, size * pitch  # keep the photon within one cell of the window
    inv_var_meas = 1.0 / coral_cell_sigma(meas) ** 2

    def model(par: np.ndarray) -> np.ndarray:
        f = lednev_window_fractions(par[:, 0], par[:, 1], size, pitch, a, b)
        return par[:, 2:3] * f.reshape(len(par), -1)

    def weights(idx: np.ndarray, mu: np.ndarray) -> np.ndarray:
        if errors == "measured":
            return inv_var_meas[idx]
        return 1.0 / coral_cell_sigma(mu) ** 2

    lam = np.full(n, 1e-3)
    converged = np.zeros(n, dtype=bool)
    iterations = np.zeros(n, dtype=np.int64)
    active = np.flatnonzero(np.isfinite(p).all(axis=1))
    eye = np.eye(3)
    for _ in range(n_iter):
        if active.size == 0:
            break
        pa, m = p[active], meas[active]
        f, fx, fy = lednev_window_fractions_and_jacobian(pa[:, 0], pa[:, 1], size, pitch, a, b)
        k = len(active)
        f, fx, fy = f.reshape(k, -1), fx.reshape(k, -1), fy.reshape(k, -1)
        e = pa[:, 2:3]
        # weights fixed within an iteration (from the current model for errors="model": an
        # iteratively reweighted fit, which avoids the downward bias of measured-value errors)
        iv = weights(active, e * f)
        J = np.stack([e * fx, e * fy, f], axis=2)  # d(model)/d(x, y, E), (k, cells, 3)
        r = m - e * f
        old = (r * r * iv).sum(axis=1)
        Jw = J * iv[:, :, None]
        A = np.einsum("kci,kcj->kij", Jw, J)
        g = np.einsum("kci,kc->ki", Jw, r)
        diag = np.einsum("kii->ki", A)
        A_lm = A + lam[active, None, None] * diag[:, :, None] * eye
        try:
            delta = np.linalg.solve(A_lm, g[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # a singular cluster somewhere in the block
            delta = np.einsum("kij,kj->ki", np.linalg.pinv(A_lm), g)
        trial = pa + delta
        trial[:, 0] = np.clip(trial[:, 0], lo, hi)
        trial[:, 1] = np.clip(trial[:, 1], lo, hi)
        trial[:, 2] = np.maximum(trial[:, 2], 1e-3)
        new = (((m - model(trial)) ** 2) * iv).sum(axis=1)
        better = np.isfinite(new) & (new <= old)
        step = trial - pa
        small = (np.abs(step[:, :2]).max(axis=1) < xtol_mm) & (
            np.abs(step[:, 2]) <= 1e-7 * np.abs(pa[:, 2])
        )
        settled = better & ((old - new <= ftol * np.maximum(new, 1e-300)) | small)
        stalled = ~better & (lam[active] > 1e8)
        iterations[active] += 1
        p[active[better]] = trial[better]
        lam[active] = np.where(better, lam[active] * 0.3, lam[active] * 10.0)
        done = settled | stalled
        converged[active[done]] = True
        active = active[~done]
    mu = model(p)
    chi2 = (((meas - mu) ** 2) * weights(np.arange(n), mu)).sum(axis=1)
    return p, chi2, converged, iterations


def profile_fit(
    windows: np.ndarray,
    pitch_mm: float,
    start: np.ndarray | None = None,
    n_iter: int = 30,
    xtol_mm: float = 1e-3,
    ftol: float = 1e-7,
    longitudinal: bool = True,
    errors: str = "model",
    a: np.ndarray = LEDNEV_A,
    b: np.ndarray = LEDNEV_B,
    block: int = 8192,
) -> ProfileFitResult:
    """Batched chi-square fit of E * Lednev fractions to every window (coral's method).

    chi2 = sum_cells (E_cell - E * f_cell(x, y))^2 / sigma_cell^2 with coral's cell error
    sigma_cell^2 = 0.15^2 E_cell + (0.015 E_cell)^2 + 0.05^2 (GeV), evaluated at the fitted cell
    energy (default) or the measured one; cells below threshold enter as measured zeros. Levenberg-Marquardt with the analytic Jacobian
    of the Lednev profile, run on all clusters of a block at once; a cluster leaves the active
    set when its step falls below ``xtol_mm`` (and 1e-7 relative in E) or its chi2 improves by
    less than ``ftol`` relative. Positions are kept within one cell of the window.

    Args:
        windows: (n, N, N) cell energies (MeV).
        pitch_mm: cell pitch (mm).
        start: (n, 3) starting x, y (mm) and E (MeV); default the log-weighted CoG (w0 = 4) and
            the window sum over the Lednev containment there.
        n_iter: largest number of iterations.
        xtol_mm, ftol: convergence tolerances.
        longitudinal: divide the fitted E by the longitudinal containment of the mean GFlash
            profile over 22.5 X0, so that E is the photon energy; ``False`` returns the fitted
            profile amplitude (the energy deposited in the module).
        errors: ``"model"`` evaluates the cell error model at the fitted cell energies
            E * f_cell (iteratively reweighted, unbiased); ``"measured"`` at the measured ones
            (fixed weights; biased low by a few permille at 10-100 GeV because upward
            fluctuations get larger errors).
        a, b: Lednev parameters.
        block: clusters fitted together (bounds the memory).

    Returns:
        :class:`ProfileFitResult` (params, chi2, converged, iterations).
    """
    w = _windows(windows)
    pitch = _pitch(pitch_mm)
    n, size, _ = w.shape
    if errors not in ("model", "measured"):
        raise ValueError(f"errors: expected 'model' or 'measured', got {errors!r}")
    meas = w.reshape(n, -1)
    total = meas.sum(axis=1)
    if start is None:
        xy = log_cog(w, pitch, 4.0)
        start = np.column_stack([xy, energy_estimate(w, xy[:, 0], xy[:, 1], pitch, False)])
    p = np.array(start, dtype=np.float64)
    if p.shape != (n, 3):
        raise ValueError(f"start: expected shape ({n}, 3), got {p.shape}")
    p[~(total > 0)] = np.nan
    chi2 = np.full(n, np.nan)
    converged = np.zeros(n, dtype=bool)
    iterations = np.zeros(n, dtype=np.int64)
    for s in range(0, n, block):
        sl = slice(s, min(s + block, n))
        p[sl], chi2[sl], converged[sl], iterations[sl] = _profile_fit_block(
            meas[sl], p[sl], size, pitch, n_iter, xtol_mm, ftol, errors, a, b
        )
    if longitudinal:
        amplitude = p[:, 2].copy()
        for _ in range(3):  # the containment depends on the photon energy itself
            p[:, 2] = amplitude / longitudinal_containment(np.maximum(p[:, 2], 1.0))
    return ProfileFitResult(p, chi2, converged, iterations)
