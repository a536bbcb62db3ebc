"""Classical ECAL estimators: log-weighted centre of gravity and the Lednev profile fit.

Both work on NxN windows (MeV, ``[i, row (y), col (x)]``) with coordinates relative to the
window's lower-left cell centre (mm), like the network, so all three are compared on the same
footing.

* ``log_cog``: Awes et al. weights w_i = max(0, w0 + ln(E_i / E)), an S-curve correction fitted on
  training windows (a monotone map of the in-cell position per energy bin), and an energy from the
  window sum divided by the Lednev containment at the estimated position, calibrated on training
  windows (longitudinal leakage and threshold losses).
* ``profile_fit``: coral's method, a chi-square fit of E * Lednev fractions to the window with the
  cell error model sigma^2 = 0.15^2 E + (0.015 E)^2 + 0.05^2 (GeV), free x, y, E; a batched
  Levenberg-Marquardt over all clusters at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from caloreco.lednev import window_fractions

__all__ = ["log_cog", "LogCogEstimator", "profile_fit", "coral_cell_sigma"]


def _grid(size: int, pitch_mm: float) -> tuple[np.ndarray, np.ndarray]:
    c = np.arange(size) * pitch_mm
    return np.broadcast_to(c[None, :], (size, size)), np.broadcast_to(c[:, None], (size, size))


def log_cog(windows: np.ndarray, pitch_mm: float, w0: float = 4.0) -> np.ndarray:
    """Log-weighted centre of gravity (x, y) in mm, shape (n, 2).

    Cells with E_i <= 0 get no weight; a window whose weights all vanish falls back to the
    linear centre of gravity.
    """
    w = np.asarray(windows, dtype=np.float64)
    n, size, _ = w.shape
    gx, gy = _grid(size, pitch_mm)
    total = w.sum(axis=(1, 2))
    safe = np.where(total > 0, total, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lw = np.where(w > 0, np.maximum(0.0, w0 + np.log(w / safe[:, None, None])), 0.0)
    lin = np.clip(w, 0, None)
    norm = lw.sum(axis=(1, 2))
    use = np.where(norm[:, None, None] > 0, lw, lin)
    norm = np.where(norm > 0, norm, np.maximum(lin.sum(axis=(1, 2)), 1e-300))
    x = (use * gx).sum(axis=(1, 2)) / norm
    y = (use * gy).sum(axis=(1, 2)) / norm
    return np.column_stack([x, y])


def _quantile_edges(values: np.ndarray, n_bins: int) -> np.ndarray:
    edges = np.unique(np.quantile(values, np.linspace(0, 1, n_bins + 1)))
    if edges.size < 2:
        edges = np.array([values.min() - 1, values.max() + 1])
    edges[0], edges[-1] = -np.inf, np.inf
    return edges


@dataclass
class LogCogEstimator:
    """Log-weighted CoG with S-curve and energy calibrations fitted on training windows.

    Attributes:
        pitch_mm: cell pitch.
        w0: the log-weight cut-off.
        n_energy_bins: energy bins (by window sum) of the S-curve and energy maps.
        n_u_bins: bins of the in-cell position u in [-0.5, 0.5] (cell units).
    """

    pitch_mm: float
    w0: float = 4.0
    n_energy_bins: int = 6
    n_u_bins: int = 24
    params: dict[str, Any] = field(default_factory=dict)

    def _features(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cog = log_cog(windows, self.pitch_mm, self.w0) / self.pitch_mm
        cell = np.round(cog)
        u = cog - cell
        log_e = np.log(np.maximum(np.asarray(windows, dtype=np.float64).sum(axis=(1, 2)), 1e-3))
        return u, cell, log_e

    def fit(self, windows: np.ndarray, targets: np.ndarray) -> LogCogEstimator:
        """Fit the S-curve (per axis and energy bin) and the energy calibration."""
        if len(windows) < 50:
            raise ValueError(
                f"LogCogEstimator.fit needs >= 50 training windows, got {len(windows)}"
            )
        u, cell, log_e = self._features(windows)
        v = np.asarray(targets[:, :2], dtype=np.float64) / self.pitch_mm - cell
        e_edges = _quantile_edges(log_e, self.n_energy_bins)
        ebin = np.clip(np.searchsorted(e_edges, log_e, side="right") - 1, 0, e_edges.size - 2)
        u_edges = np.linspace(-0.5, 0.5, self.n_u_bins + 1)
        u_mid = 0.5 * (u_edges[1:] + u_edges[:-1])
        maps = np.zeros((e_edges.size - 1, 2, self.n_u_bins))
        for b in range(e_edges.size - 1):
            for axis in range(2):
                sel = ebin == b
                ub = np.clip(np.digitize(u[sel, axis], u_edges) - 1, 0, self.n_u_bins - 1)
                s = np.bincount(ub, weights=v[sel, axis], minlength=self.n_u_bins)
                c = np.bincount(ub, minlength=self.n_u_bins)
                m = np.where(c > 0, s / np.maximum(c, 1), np.nan)
                good = np.isfinite(m)
                # empty bins: identity (no correction) interpolation
                m = np.interp(u_mid, u_mid[good], m[good]) if good.sum() >= 2 else u_mid
                # a physical S-curve is monotone: enforce it against statistical wiggles
                maps[b, axis] = np.maximum.accumulate(m)
        self.params = {
            "e_edges": e_edges,
            "u_mid": u_mid,
            "maps": maps,
        }
        pos = self._positions(u, cell, ebin)
        raw_e = self._raw_energy(windows, pos)
        ratio = np.asarray(targets[:, 2], dtype=np.float64) / np.maximum(raw_e, 1e-9)
        cal = np.array(
            [
                np.median(ratio[ebin == b]) if np.any(ebin == b) else 1.0
                for b in range(maps.shape[0])
            ]
        )
        centres = np.array(
            [
                np.median(log_e[ebin == b]) if np.any(ebin == b) else 0.0
                for b in range(maps.shape[0])
            ]
        )
        self.params.update({"energy_log_centres": centres, "energy_calibration": cal})
        return self

    def _positions(self, u: np.ndarray, cell: np.ndarray, ebin: np.ndarray) -> np.ndarray:
        p = self.params
        out = np.empty_like(u)
        for b in range(p["maps"].shape[0]):
            sel = ebin == b
            for axis in range(2):
                out[sel, axis] = np.interp(u[sel, axis], p["u_mid"], p["maps"][b, axis])
        return (out + cell) * self.pitch_mm

    def _raw_energy(self, windows: np.ndarray, pos: np.ndarray) -> np.ndarray:
        size = windows.shape[1]
        contained = window_fractions(pos[:, 0], pos[:, 1], size, self.pitch_mm).sum(axis=(1, 2))
        return np.asarray(windows, dtype=np.float64).sum(axis=(1, 2)) / np.clip(contained, 0.5, 1)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """(n, 3): x, y (mm, relative to the lower-left cell centre) and energy (MeV)."""
        if not self.params:
            raise RuntimeError("LogCogEstimator: call fit() on training windows first")
        u, cell, log_e = self._features(windows)
        p = self.params
        ebin = np.clip(
            np.searchsorted(p["e_edges"], log_e, side="right") - 1, 0, p["e_edges"].size - 2
        )
        pos = self._positions(u, cell, ebin)
        cal = np.interp(log_e, p["energy_log_centres"], p["energy_calibration"])
        return np.column_stack([pos, self._raw_energy(windows, pos) * cal])


def coral_cell_sigma(energy_mev: np.ndarray) -> np.ndarray:
    """coral's cell error (MeV): sigma^2 = 0.15^2 E + (0.015 E)^2 + 0.05^2 with E in GeV."""
    e = np.clip(np.asarray(energy_mev, dtype=np.float64), 0, None) / 1000.0
    return 1000.0 * np.sqrt(0.15**2 * e + (0.015 * e) ** 2 + 0.05**2)


def profile_fit(
    windows: np.ndarray,
    pitch_mm: float,
    start: np.ndarray | None = None,
    n_iter: int = 20,
    step_mm: float = 0.05,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched chi-square fit of E * Lednev fractions to every window (coral's method).

    Args:
        windows: (n, N, N) cell energies in MeV.
        pitch_mm: cell pitch.
        start: (n, 3) starting x, y (mm) and E (MeV); default the log-weighted CoG and the
            window sum over the Lednev containment.
        n_iter: Levenberg-Marquardt iterations (all clusters advance together).
        step_mm: finite-difference step of the position derivatives.

    Returns:
        ``(params, chi2, converged)``: (n, 3) fitted x, y (mm) and E (MeV), the chi-square per
        window, and whether the last step changed chi2 by less than 1e-4 relative.
    """
    w = np.asarray(windows, dtype=np.float64)
    n, size, _ = w.shape
    meas = w.reshape(n, -1)
    sig2 = coral_cell_sigma(meas) ** 2
    if start is None:
        xy = log_cog(w, pitch_mm)
        frac = window_fractions(xy[:, 0], xy[:, 1], size, pitch_mm).sum(axis=(1, 2))
        start = np.column_stack([xy, meas.sum(axis=1) / np.clip(frac, 0.5, 1)])
    p = np.array(start, dtype=np.float64)
    lo, hi = -pitch_mm, size * pitch_mm  # keep the photon within a cell of the window

    def model(par: np.ndarray) -> np.ndarray:
        f = window_fractions(par[:, 0], par[:, 1], size, pitch_mm).reshape(len(par), -1)
        return f

    def chi2_of(par: np.ndarray) -> np.ndarray:
        return (((meas - par[:, 2:3] * model(par)) ** 2) / sig2).sum(axis=1)

    lam = np.full(n, 1e-3)
    chi2 = chi2_of(p)
    converged = np.zeros(n, dtype=bool)
    for _ in range(n_iter):
        f = model(p)
        fx = (model(p + [step_mm, 0, 0]) - model(p - [step_mm, 0, 0])) / (2 * step_mm)
        fy = (model(p + [0, step_mm, 0]) - model(p - [0, step_mm, 0])) / (2 * step_mm)
        e = p[:, 2:3]
        J = np.stack([e * fx, e * fy, f], axis=2)  # (n, cells, 3)
        r = meas - e * f
        Jw = J / sig2[:, :, None]
        A = np.einsum("nci,ncj->nij", Jw, J)
        g = np.einsum("nci,nc->ni", Jw, r)
        diag = np.einsum("nii->ni", A)
        A_lm = A + lam[:, None, None] * np.einsum("ni,ij->nij", diag, np.eye(3))
        try:
            delta = np.linalg.solve(A_lm, g[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            delta = np.zeros_like(p)
        trial = p + delta
        trial[:, 0] = np.clip(trial[:, 0], lo, hi)
        trial[:, 1] = np.clip(trial[:, 1], lo, hi)
        trial[:, 2] = np.maximum(trial[:, 2], 1e-3)
        new = chi2_of(trial)
        better = new < chi2
        converged = better & (np.abs(chi2 - new) <= 1e-4 * np.maximum(chi2, 1e-12)) | (
            ~better & (lam > 1e3)
        )
        p[better] = trial[better]
        chi2 = np.where(better, new, chi2)
        lam = np.where(better, lam * 0.3, lam * 10.0)
    return p, chi2, converged
