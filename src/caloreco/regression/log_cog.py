"""The log-weighted centre of gravity with its S-curve correction (the classical position).

* :func:`log_cog`: Awes et al. weights w_i = max(0, w0 + ln(E_i / E_sum)) (NIM A311 (1992) 130).
* :func:`fit_s_curve` / :func:`apply_s_curve`: the S-curve correction, a monotone map of the
  position inside the reference cell (the cell nearest to the centre of gravity, i.e. the seed
  cell of a single shower), per energy bin, fitted on training windows. It never sees the absolute
  window coordinate, so it does not depend on where the seed was placed in the window.
* :class:`LogCogEstimator`: CoG + S-curve + containment energy (:mod:`.energy`) bundled with
  ``fit``/``predict`` and JSON-serialisable parameters.

Windows hold cell energies in MeV indexed ``[i, row (y), col (x)]``; positions are in mm relative
to the window's lower-left cell centre (the regression targets of
:func:`caloreco.regression.windows.window_targets`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from caloreco.regression.checks import check_pitch, check_windows
from caloreco.regression.energy import (
    apply_energy_calibration,
    energy_estimate,
    fit_energy_calibration,
)

__all__ = ["log_cog", "fit_s_curve", "apply_s_curve", "LogCogEstimator"]


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
    w = check_windows(windows)
    pitch = check_pitch(pitch_mm)
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
    pitch = check_pitch(pitch_mm)
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
        w = check_windows(windows)
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
        w = check_windows(windows)
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
