"""coral's shower-profile fit: a chi-square fit of E * Lednev fractions to each window.

The cell error model is coral's, sigma^2 = 0.15^2 E + (0.015 E)^2 + 0.05^2 (E in GeV); free x,
y, E; a Levenberg-Marquardt with the analytic Jacobian run on all clusters of a block at once.
Windows hold cell energies in MeV indexed ``[i, row (y), col (x)]``; positions are in mm relative
to the window's lower-left cell centre.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from caloreco.regression.checks import check_pitch, check_windows
from caloreco.regression.energy import energy_estimate, longitudinal_containment
from caloreco.regression.lednev import (
    LEDNEV_A,
    LEDNEV_B,
    lednev_window_fractions,
    lednev_window_fractions_and_jacobian,
)
from caloreco.regression.log_cog import log_cog

__all__ = ["coral_cell_sigma", "ProfileFitResult", "profile_fit"]


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
    w = check_windows(windows)
    pitch = check_pitch(pitch_mm)
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
