"""coral's Lednev shower-profile fit with one and with two showers, batched over windows.

The experiment's reconstruction (coral, ECAL2: ``fortran_reco`` ecal2reco.F / separa.F; physics.md
sections 1 and 4) fits E * Lednev fractions to the cells of a cluster with the cell error model
sigma_cell^2 = 0.15^2 E + (0.015 E)^2 + 0.05^2 (E in GeV) and adds showers while the fit is bad:

1. one shower, started at the highest cell (its 3x3 centre of gravity, the window sum);
2. if chi2_1 > ``chi2_ndf_cut`` x (non-zero cells - 3), a two-shower fit, started at the two
   highest local maxima of the window (cells above all 8 neighbours and ``seed_threshold_mev``),
   energies shared by their 3x3 sums; with a single local maximum the second shower starts at the
   cell with the largest residual of the one-shower fit (where coral adds its next shower), and,
   where the one-shower chi2 asks for a second shower, also along the principal axis of the
   energy distribution (two showers sharing one maximum), keeping the lower chi2;
3. the second shower is kept when (delta chi2 > ``dchi2_min`` and d12 > ``discut_mm``) or
   delta chi2 > ``dchi2_strong``, with d12 = 2 sqrt(E1 E2) d / (E1 + E2), and both showers above
   ``egcut_mev``; with ``merge_below_discut`` (coral) a pair with d12 <= discut is merged back
   into one shower whatever its delta chi2 (so every pi0 above about 356 GeV is one shower).

Both fits are a Levenberg-Marquardt with the analytic Jacobian of the Lednev profile
(:func:`caloreco.regression.lednev.lednev_window_fractions_and_jacobian`) on all windows of a block at once,
the cell errors evaluated at the fitted cell energies (iteratively reweighted, as
:func:`caloreco.regression.profile_fit.profile_fit`). Windows and positions follow
:mod:`caloreco.regression.windows` (``[i, row (y), col (x)]``, mm from the lower-left cell centre).

Units: MeV, mm.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
from numba import njit

from caloreco.regression.depth import apply_depth_correction, fit_depth_correction
from caloreco.regression.energy import longitudinal_containment
from caloreco.regression.lednev import (
    LEDNEV_A,
    LEDNEV_B,
    lednev_window_fractions,
    lednev_window_fractions_and_jacobian,
)
from caloreco.regression.profile_fit import coral_cell_sigma
from caloreco.regression.two_photon import (
    DEFAULTS,
    degenerate_pair,
    energy_weighted_distance,
    order_like_truth,
)

__all__ = [
    "TwoShowerResult",
    "local_maxima",
    "fit_showers",
    "two_shower_fit",
    "fit_photons",
    "fit_calibration",
    "apply_fit_calibration",
    "fit_estimates",
    "fit_settings",
    "select_result",
    "result_arrays",
    "result_from_arrays",
]


class TwoShowerResult(NamedTuple):
    """Result of :func:`two_shower_fit` (energies corrected for longitudinal leakage).

    Attributes:
        one: (n, 3) one-shower fit x, y (mm), E (MeV).
        two: (n, 6) two-shower fit x1, y1, E1, x2, y2, E2 (on every window, also where the
            second shower is not kept or not tried; the more energetic shower first).
        chi2_one, chi2_two: (n,) chi-squares of the two fits.
        ndf_one: (n,) non-zero cells - 3.
        tried: (n,) the one-shower chi2 asked for a second shower (chi2_1 > cut x ndf).
        d12_mm: (n,) energy-weighted distance of the two-shower fit.
        n_showers: (n,) 1 or 2: coral's decision.
        n_local_maxima: (n,) local maxima (8 neighbours, above the seed threshold).
        converged: (n, 2) the one- and two-shower fits met their tolerance.
    """

    one: np.ndarray
    two: np.ndarray
    chi2_one: np.ndarray
    chi2_two: np.ndarray
    ndf_one: np.ndarray
    tried: np.ndarray
    d12_mm: np.ndarray
    n_showers: np.ndarray
    n_local_maxima: np.ndarray
    converged: np.ndarray


def _windows(windows: np.ndarray) -> np.ndarray:
    w = np.asarray(windows, dtype=np.float64)
    if w.ndim != 3 or w.shape[1] != w.shape[2] or w.shape[1] < 3:
        raise ValueError(f"windows: expected shape (n, N, N) with N >= 3, got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("windows: expected finite cell energies (MeV)")
    return w


def local_maxima(
    windows: np.ndarray, threshold_mev: float = 300.0, k: int = 2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` highest local maxima of each window: cells above all 8 neighbours.

    Cells outside the window count as 0; a maximum needs E >= ``threshold_mev``; ties between
    neighbours (equal energies) count for the cell with the lower flat index.

    Returns:
        ``(row, col, count)``: (n, k) int64 row and column of the maxima by decreasing energy
        (-1 where there are fewer), and the (n,) number of maxima in the window.
    """
    w = _windows(windows)
    n, size, _ = w.shape
    pad = np.pad(w, ((0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    is_max = w >= threshold_mev
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr == 0 and dc == 0:
                continue
            nb = pad[:, 1 + dr : 1 + dr + size, 1 + dc : 1 + dc + size]
            # the earlier cell (lower flat index) wins a tie
            earlier = (dr < 0) or (dr == 0 and dc < 0)
            is_max &= (w > nb) if earlier else (w >= nb)
    count = is_max.reshape(n, -1).sum(axis=1)
    score = np.where(is_max, w, -np.inf).reshape(n, -1)
    order = np.argsort(-score, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(score, order, axis=1)
    row = np.where(np.isfinite(top), order // size, -1)
    col = np.where(np.isfinite(top), order % size, -1)
    return row.astype(np.int64), col.astype(np.int64), count.astype(np.int64)


def _neighbourhood(w: np.ndarray, row: np.ndarray, col: np.ndarray, pitch: float):
    """3x3 energy sum and linear centre of gravity (mm) around (row, col) per window."""
    n, size, _ = w.shape
    pad = np.pad(w, ((0, 0), (1, 1), (1, 1)))
    d = np.arange(-1, 2)
    rr = row[:, None, None] + 1 + d[None, :, None]
    cc = col[:, None, None] + 1 + d[None, None, :]
    block = pad[np.arange(n)[:, None, None], rr, cc]
    s = block.sum(axis=(1, 2))
    safe = np.where(s > 0, s, 1.0)
    x = (col + (block.sum(axis=1) * d).sum(axis=1) / safe) * pitch
    y = (row + (block.sum(axis=2) * d).sum(axis=1) / safe) * pitch
    return s, x, y


def _moment_start(w: np.ndarray, pitch: float) -> np.ndarray:
    """Two showers at the centroid +- d/2 along the principal axis of the window's energy.

    For two showers of energy fractions f, 1 - f a distance d apart, the energy-weighted
    covariance exceeds a single shower's by f (1 - f) d^2 along their axis; with the transverse
    eigenvalue standing for the single shower's own width, d = 2 sqrt(lambda_1 - lambda_2)
    (f = 1/2), energies shared equally.
    """
    n, size, _ = w.shape
    k = np.arange(size) * pitch
    tot = w.sum(axis=(1, 2))
    safe = np.where(tot > 0, tot, 1.0)
    cx = (w.sum(axis=1) * k).sum(axis=1) / safe
    cy = (w.sum(axis=2) * k).sum(axis=1) / safe
    dx = k[None, None, :] - cx[:, None, None]
    dy = k[None, :, None] - cy[:, None, None]
    sxx = (w * dx * dx).sum(axis=(1, 2)) / safe
    syy = (w * dy * dy).sum(axis=(1, 2)) / safe
    sxy = (w * dx * dy).sum(axis=(1, 2)) / safe
    half = np.sqrt(np.maximum(0.25 * (sxx - syy) ** 2 + sxy**2, 0.0))
    excess = 2.0 * half  # lambda_1 - lambda_2
    angle = 0.5 * np.arctan2(2.0 * sxy, sxx - syy)
    d = np.clip(2.0 * np.sqrt(excess), 0.3 * pitch, 4.0 * pitch)
    ux, uy = np.cos(angle), np.sin(angle)
    start = np.empty((n, 2, 3))
    start[:, 0] = np.column_stack([cx + 0.5 * d * ux, cy + 0.5 * d * uy, 0.5 * tot])
    start[:, 1] = np.column_stack([cx - 0.5 * d * ux, cy - 0.5 * d * uy, 0.5 * tot])
    return start


def _fit_block(
    meas: np.ndarray,
    p: np.ndarray,
    size: int,
    pitch: float,
    n_iter: int,
    xtol_mm: float,
    ftol: float,
    a: np.ndarray,
    b: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Levenberg-Marquardt of sum_j E_j f(x_j, y_j) on a block; p is (m, k, 3), updated."""
    m, k, _ = p.shape
    lo, hi = -pitch, size * pitch

    def model(par: np.ndarray) -> np.ndarray:
        q = par.reshape(-1, 3)
        f = lednev_window_fractions(q[:, 0], q[:, 1], size, pitch, a, b)
        return (par[:, :, 2:3] * f.reshape(par.shape[0], k, -1)).sum(axis=1)

    lam = np.full(m, 1e-3)
    converged = np.zeros(m, dtype=bool)
    active = np.flatnonzero(np.isfinite(p).all(axis=(1, 2)))
    eye = np.eye(3 * k)
    for _ in range(n_iter):
        if active.size == 0:
            break
        pa, y = p[active], meas[active]
        na = active.size
        q = pa.reshape(-1, 3)
        f, fx, fy = lednev_window_fractions_and_jacobian(q[:, 0], q[:, 1], size, pitch, a, b)
        f, fx, fy = (v.reshape(na, k, -1) for v in (f, fx, fy))
        e = pa[:, :, 2:3]
        mu = (e * f).sum(axis=1)
        iv = 1.0 / coral_cell_sigma(mu) ** 2
        # d(model)/d(x_j, y_j, E_j): (na, cells, 3k)
        J = np.stack([e * fx, e * fy, f], axis=2).transpose(0, 3, 1, 2).reshape(na, -1, 3 * k)
        r = y - mu
        old = (r * r * iv).sum(axis=1)
        Jw = J * iv[:, :, None]
        A = np.einsum("nci,ncj->nij", Jw, J)
        g = np.einsum("nci,nc->ni", Jw, r)
        diag = np.einsum("nii->ni", A)
        A_lm = A + lam[active, None, None] * diag[:, :, None] * eye
        try:
            delta = np.linalg.solve(A_lm, g[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # a singular window somewhere in the block
            delta = np.einsum("nij,nj->ni", np.linalg.pinv(A_lm), g)
        trial = pa + delta.reshape(na, k, 3)
        trial[:, :, 0] = np.clip(trial[:, :, 0], lo, hi)
        trial[:, :, 1] = np.clip(trial[:, :, 1], lo, hi)
        trial[:, :, 2] = np.maximum(trial[:, :, 2], 1e-3)
        new = (((y - model(trial)) ** 2) * iv).sum(axis=1)
        better = np.isfinite(new) & (new <= old)
        step = trial - pa
        small = (np.abs(step[:, :, :2]).max(axis=(1, 2)) < xtol_mm) & np.all(
            np.abs(step[:, :, 2]) <= 1e-7 * np.abs(pa[:, :, 2]), axis=1
        )
        settled = better & ((old - new <= ftol * np.maximum(new, 1e-300)) | small)
        stalled = ~better & (lam[active] > 1e8)
        p[active[better]] = trial[better]
        lam[active] = np.where(better, lam[active] * 0.3, lam[active] * 10.0)
        done = settled | stalled
        converged[active[done]] = True
        active = active[~done]
    mu = model(p)
    chi2 = (((meas - mu) ** 2) / coral_cell_sigma(mu) ** 2).sum(axis=1)
    return p, chi2, converged


# --------------------------------------------------------------------------------------------
# the same Levenberg-Marquardt, one window at a time in numba (no temporaries, early exit)


@njit(cache=True, fastmath=True)
def _cell_model(
    p, k, size, pitch, a, b, grad, frac, dfx, dfy, F, Fx, Fy, ax, ay
):  # pragma: no cover
    """Fractions (and with ``grad`` their x, y derivatives) of k showers p[j] = (x, y, E)."""
    inv_two_pi = 0.5 / np.pi
    nc = a.size
    for j in range(k):
        # the separable terms atan(x/b), atan(y/b) once per grid line
        for i in range(size + 1):
            gx = (i - 0.5) * pitch - p[j, 0]
            gy = (i - 0.5) * pitch - p[j, 1]
            for m in range(nc):
                ax[m, i] = np.arctan(gx / b[m])
                ay[m, i] = np.arctan(gy / b[m])
        for r in range(size + 1):
            y = (r - 0.5) * pitch - p[j, 1]
            for c in range(size + 1):
                x = (c - 0.5) * pitch - p[j, 0]
                f = 0.25
                fx = 0.0
                fy = 0.0
                for m in range(nc):
                    bm = b[m]
                    rr = np.sqrt(bm * bm + x * x + y * y)
                    f += a[m] * inv_two_pi * (ax[m, c] + ay[m, r] + np.arctan(x * y / (bm * rr)))
                    if grad:
                        cm = a[m] * bm * inv_two_pi
                        fx += cm / (bm * bm + x * x) * (1.0 + y / rr)
                        fy += cm / (bm * bm + y * y) * (1.0 + x / rr)
                F[r, c] = f
                Fx[r, c] = fx
                Fy[r, c] = fy
        for r in range(size):
            for c in range(size):
                q = r * size + c
                frac[j, q] = F[r + 1, c + 1] - F[r, c + 1] - F[r + 1, c] + F[r, c]
                if grad:
                    dfx[j, q] = -(Fx[r + 1, c + 1] - Fx[r, c + 1] - Fx[r + 1, c] + Fx[r, c])
                    dfy[j, q] = -(Fy[r + 1, c + 1] - Fy[r, c + 1] - Fy[r + 1, c] + Fy[r, c])


@njit(cache=True)
def _cell_sigma2(mu):  # pragma: no cover
    e = max(mu, 0.0) / 1000.0
    s = 0.15 * 0.15 * e + (0.015 * e) ** 2 + 0.05 * 0.05
    return 1e6 * s


@njit(cache=True)
def _solve(A, g, out):  # pragma: no cover
    """out = A^-1 g by Gaussian elimination with partial pivoting (A, g overwritten)."""
    n = g.size
    for col in range(n):
        piv = col
        for r in range(col + 1, n):
            if abs(A[r, col]) > abs(A[piv, col]):
                piv = r
        if A[piv, col] == 0.0:
            return False
        if piv != col:
            for c in range(n):
                A[col, c], A[piv, c] = A[piv, c], A[col, c]
            g[col], g[piv] = g[piv], g[col]
        for r in range(col + 1, n):
            f = A[r, col] / A[col, col]
            for c in range(col, n):
                A[r, c] -= f * A[col, c]
            g[r] -= f * g[col]
    for r in range(n - 1, -1, -1):
        acc = g[r]
        for c in range(r + 1, n):
            acc -= A[r, c] * out[c]
        out[r] = acc / A[r, r]
    return True


@njit(cache=True, fastmath=True)
def _lm_kernel(meas, start, size, pitch, n_iter, xtol, ftol, a, b):  # pragma: no cover
    n, k = start.shape[0], start.shape[1]
    cells = size * size
    npar = 3 * k
    params = start.copy()
    chi2 = np.full(n, np.nan)
    conv = np.zeros(n, dtype=np.bool_)
    frac = np.empty((k, cells))
    dfx = np.empty((k, cells))
    dfy = np.empty((k, cells))
    F = np.empty((size + 1, size + 1))
    Fx = np.empty((size + 1, size + 1))
    Fy = np.empty((size + 1, size + 1))
    ax = np.empty((a.size, size + 1))
    ay = np.empty((a.size, size + 1))
    J = np.empty((cells, npar))
    mu = np.empty(cells)
    iv = np.empty(cells)
    A = np.empty((npar, npar))
    A_lm = np.empty((npar, npar))
    g = np.empty(npar)
    g_lm = np.empty(npar)
    delta = np.empty(npar)
    p = np.empty((k, 3))
    trial = np.empty((k, 3))
    lo, hi = -pitch, size * pitch
    for w in range(n):
        ok = True
        for j in range(k):
            for q in range(3):
                p[j, q] = start[w, j, q]
                if not np.isfinite(p[j, q]):
                    ok = False
        if not ok:
            for j in range(k):
                for q in range(3):
                    params[w, j, q] = np.nan
            continue
        lam = 1e-3
        need_jac = True
        old = 0.0
        done = False
        for _ in range(n_iter):
            if need_jac:
                _cell_model(p, k, size, pitch, a, b, True, frac, dfx, dfy, F, Fx, Fy, ax, ay)
                for q in range(cells):
                    m = 0.0
                    for j in range(k):
                        m += p[j, 2] * frac[j, q]
                        J[q, 3 * j] = p[j, 2] * dfx[j, q]
                        J[q, 3 * j + 1] = p[j, 2] * dfy[j, q]
                        J[q, 3 * j + 2] = frac[j, q]
                    mu[q] = m
                    # weights fixed within an iteration, from the current model
                    iv[q] = 1.0 / _cell_sigma2(m)
                old = 0.0
                for u in range(npar):
                    g[u] = 0.0
                    for v in range(npar):
                        A[u, v] = 0.0
                for q in range(cells):
                    r = meas[w, q] - mu[q]
                    old += r * r * iv[q]
                    for u in range(npar):
                        ju = J[q, u] * iv[q]
                        g[u] += ju * r
                        for v in range(u, npar):
                            A[u, v] += ju * J[q, v]
                for u in range(npar):
                    for v in range(u):
                        A[u, v] = A[v, u]
                need_jac = False
            for u in range(npar):
                g_lm[u] = g[u]
                for v in range(npar):
                    A_lm[u, v] = A[u, v]
                A_lm[u, u] += lam * A[u, u]
            if not _solve(A_lm, g_lm, delta):
                lam *= 10.0
                if lam > 1e8:
                    done = True
                    break
                continue
            for j in range(k):
                trial[j, 0] = min(max(p[j, 0] + delta[3 * j], lo), hi)
                trial[j, 1] = min(max(p[j, 1] + delta[3 * j + 1], lo), hi)
                trial[j, 2] = max(p[j, 2] + delta[3 * j + 2], 1e-3)
            _cell_model(trial, k, size, pitch, a, b, False, frac, dfx, dfy, F, Fx, Fy, ax, ay)
            new = 0.0
            for q in range(cells):
                m = 0.0
                for j in range(k):
                    m += trial[j, 2] * frac[j, q]
                r = meas[w, q] - m
                new += r * r * iv[q]
            if np.isfinite(new) and new <= old:
                small = True
                for j in range(k):
                    if abs(trial[j, 0] - p[j, 0]) >= xtol or abs(trial[j, 1] - p[j, 1]) >= xtol:
                        small = False
                    if abs(trial[j, 2] - p[j, 2]) > 1e-7 * abs(p[j, 2]):
                        small = False
                for j in range(k):
                    for q in range(3):
                        p[j, q] = trial[j, q]
                lam *= 0.3
                need_jac = True
                if old - new <= ftol * max(new, 1e-300) or small:
                    done = True
                    break
            else:
                lam *= 10.0
                if lam > 1e8:
                    done = True
                    break
        conv[w] = done
        _cell_model(p, k, size, pitch, a, b, False, frac, dfx, dfy, F, Fx, Fy, ax, ay)
        c2 = 0.0
        for q in range(cells):
            m = 0.0
            for j in range(k):
                m += p[j, 2] * frac[j, q]
            r = meas[w, q] - m
            c2 += r * r / _cell_sigma2(m)
        chi2[w] = c2
        for j in range(k):
            for q in range(3):
                params[w, j, q] = p[j, q]
    return params, chi2, conv


def fit_showers(
    windows: np.ndarray,
    pitch_mm: float,
    start: np.ndarray,
    n_iter: int = 40,
    xtol_mm: float = 1e-3,
    ftol: float = 1e-7,
    a: np.ndarray = LEDNEV_A,
    b: np.ndarray = LEDNEV_B,
    block: int = 4096,
    engine: str = "numba",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chi-square fit of k Lednev showers to every window (coral's cell errors), batched.

    chi2 = sum_cells (E_cell - sum_j E_j f_cell(x_j, y_j))^2 / sigma_cell^2 over all N*N cells
    (cells below threshold are measured zeros), sigma_cell from coral's model at the fitted cell
    energy. Positions are kept within one cell of the window, energies positive.

    Args:
        windows: (n, N, N) cell energies (MeV).
        pitch_mm: cell pitch (mm).
        start: (n, k, 3) start x, y (mm) and profile amplitude E (MeV) of each shower.
        n_iter, xtol_mm, ftol: iteration limit and tolerances.
        a, b: Lednev parameters.
        block: windows fitted together (bounds the memory; numpy engine).
        engine: ``"numba"`` (one window at a time, compiled) or ``"numpy"`` (all windows of a
            block at once); the same algorithm, results equal to rounding.

    Returns:
        ``(params, chi2, converged)``: (n, k, 3) fitted amplitudes (the energy in the module,
        no leakage correction), (n,) chi2, (n,) bool.
    """
    w = _windows(windows)
    if not np.isfinite(pitch_mm) or pitch_mm <= 0:
        raise ValueError(f"pitch_mm: expected a positive cell pitch in mm, got {pitch_mm!r}")
    n, size, _ = w.shape
    p = np.array(start, dtype=np.float64)
    if p.ndim != 3 or p.shape[0] != n or p.shape[2] != 3 or p.shape[1] < 1:
        raise ValueError(f"start: expected shape ({n}, k, 3), got {p.shape}")
    meas = w.reshape(n, -1)
    if engine == "numba":
        a_, b_ = (np.ascontiguousarray(v, dtype=np.float64) for v in (a, b))
        return _lm_kernel(
            np.ascontiguousarray(meas),
            p,
            size,
            float(pitch_mm),
            int(n_iter),
            float(xtol_mm),
            float(ftol),
            a_,
            b_,
        )
    if engine != "numpy":
        raise ValueError(f"engine: expected 'numba' or 'numpy', got {engine!r}")
    chi2 = np.full(n, np.nan)
    conv = np.zeros(n, dtype=bool)
    for s in range(0, n, block):
        sl = slice(s, min(s + block, n))
        p[sl], chi2[sl], conv[sl] = _fit_block(
            meas[sl], p[sl], size, float(pitch_mm), n_iter, xtol_mm, ftol, a, b
        )
    return p, chi2, conv


def _leakage(amplitude: np.ndarray) -> np.ndarray:
    """Photon energy from the fitted amplitude: divide by the longitudinal containment."""
    e = amplitude.copy()
    for _ in range(3):  # the containment depends on the photon energy itself
        e = amplitude / longitudinal_containment(np.maximum(e, 1.0))
    return e


def two_shower_fit(
    windows: np.ndarray,
    pitch_mm: float,
    seed_threshold_mev: float = 300.0,
    discut_mm: float = 25.0,
    dchi2_min: float = 4.0,
    dchi2_strong: float = 10.0,
    chi2_ndf_cut: float = 2.5,
    egcut_mev: float = 300.0,
    merge_below_discut: bool = True,
    longitudinal: bool = True,
    n_iter: int = 40,
) -> TwoShowerResult:
    """coral's one- and two-shower Lednev fit with its shower-splitting decision (module doc).

    Args:
        windows: (n, N, N) cell energies (MeV).
        pitch_mm: cell pitch (mm).
        seed_threshold_mev: a local maximum must reach this energy (MeV).
        discut_mm: coral's cut on d12 (mm).
        dchi2_min, dchi2_strong: the chi-square gains of the two acceptance rules.
        chi2_ndf_cut: a second shower is tried when chi2_1 > cut x (non-zero cells - 3).
        egcut_mev: both showers must carry at least this energy (MeV).
        merge_below_discut: merge a kept pair with d12 <= discut_mm (coral).
        longitudinal: divide every fitted energy by the longitudinal containment of the mean
            GFlash profile (the photon energy, as :func:`~caloreco.regression.profile_fit.profile_fit`).
        n_iter: iteration limit of each fit.

    Returns:
        :class:`TwoShowerResult`.
    """
    w = _windows(windows)
    pitch = float(pitch_mm)
    if not np.isfinite(pitch) or pitch <= 0:
        raise ValueError(f"pitch_mm: expected a positive cell pitch in mm, got {pitch_mm!r}")
    n, size, _ = w.shape
    meas = w.reshape(n, -1)
    total = meas.sum(axis=1)
    empty = ~(total > 0)

    # one shower from the highest cell
    top = np.argmax(meas, axis=1)
    s1, x1, y1 = _neighbourhood(w, top // size, top % size, pitch)
    p1, chi1, conv1 = fit_showers(
        w, pitch, np.column_stack([x1, y1, total])[:, None, :], n_iter=n_iter
    )
    p1 = p1[:, 0]

    # two showers from the two highest local maxima, or the one shower + its largest residual
    row, col, n_lm = local_maxima(w, seed_threshold_mev, 2)
    has2 = n_lm >= 2
    r0 = np.where(row[:, 0] >= 0, row[:, 0], top // size)
    c0 = np.where(col[:, 0] >= 0, col[:, 0], top % size)
    sa, xa, ya = _neighbourhood(w, r0, c0, pitch)
    sb, xb, yb = _neighbourhood(w, np.maximum(row[:, 1], 0), np.maximum(col[:, 1], 0), pitch)
    frac = lednev_window_fractions(p1[:, 0], p1[:, 1], size, pitch).reshape(n, -1)
    resid = meas - p1[:, 2:3] * frac
    worst = np.argmax(resid / coral_cell_sigma(p1[:, 2:3] * frac), axis=1)
    rr, rc = worst // size, worst % size
    e_res = np.clip(resid[np.arange(n), worst], 0.02 * total, None) / 0.8
    share = sa / np.where(sa + sb > 0, sa + sb, 1.0)
    start = np.empty((n, 2, 3))
    start[:, 0] = np.where(
        has2[:, None],
        np.column_stack([xa, ya, total * share]),
        np.column_stack([p1[:, 0], p1[:, 1], np.maximum(p1[:, 2] - e_res, 0.5 * p1[:, 2])]),
    )
    start[:, 1] = np.where(
        has2[:, None],
        np.column_stack([xb, yb, total * (1 - share)]),
        np.column_stack([rc * pitch, rr * pitch, np.minimum(e_res, 0.5 * p1[:, 2])]),
    )
    p2, chi2, conv2 = fit_showers(w, pitch, start, n_iter=n_iter)
    # a second start along the principal axis of the energy distribution (two showers that
    # share one maximum), where the first start leaves a poor chi2 or had one maximum only;
    # kept where it ends lower
    nonzero = (meas > 0).sum(axis=1)
    ndf = nonzero - 3
    tried = chi1 > chi2_ndf_cut * np.maximum(ndf, 1)
    redo = np.flatnonzero(~empty & ~has2 & tried)
    if redo.size:
        alt, alt_chi2, alt_conv = fit_showers(
            w[redo], pitch, _moment_start(w[redo], pitch), n_iter=n_iter
        )
        better = alt_chi2 < chi2[redo]
        idx = redo[better]
        p2[idx], chi2[idx], conv2[idx] = alt[better], alt_chi2[better], alt_conv[better]
    # the more energetic shower first
    swap = p2[:, 1, 2] > p2[:, 0, 2]
    p2[swap] = p2[swap][:, ::-1]

    dchi2 = chi1 - chi2
    d = np.hypot(p2[:, 0, 0] - p2[:, 1, 0], p2[:, 0, 1] - p2[:, 1, 1])
    d12 = energy_weighted_distance(p2[:, 0, 2], p2[:, 1, 2], d)
    keep = tried & (((dchi2 > dchi2_min) & (d12 > discut_mm)) | (dchi2 > dchi2_strong))
    keep &= np.minimum(p2[:, 0, 2], p2[:, 1, 2]) >= egcut_mev
    if merge_below_discut:
        keep &= d12 > discut_mm
    keep &= ~empty

    one = p1.copy()
    two = p2.reshape(n, 6).copy()
    if longitudinal:
        one[:, 2] = _leakage(one[:, 2])
        two[:, 2] = _leakage(two[:, 2])
        two[:, 5] = _leakage(two[:, 5])
    one[empty] = np.nan
    two[empty] = np.nan
    return TwoShowerResult(
        one=one,
        two=two,
        chi2_one=chi1,
        chi2_two=chi2,
        ndf_one=ndf.astype(np.int64),
        tried=tried,
        d12_mm=d12,
        n_showers=np.where(keep, 2, 1).astype(np.int64),
        n_local_maxima=n_lm,
        converged=np.column_stack([conv1, conv2]),
    )


def fit_photons(result: TwoShowerResult, forced: bool = False) -> np.ndarray:
    """The fit's two-photon answer (n, 6): the two showers where coral keeps two (or everywhere
    with ``forced``), else the one shower read as a pair (both at it, E/2 each)."""
    if forced:
        return result.two.copy()
    return np.where((result.n_showers == 2)[:, None], result.two, degenerate_pair(result.one))


def fit_calibration(
    photons: np.ndarray,
    truth: np.ndarray,
    origin_xy_mm: np.ndarray,
) -> dict[str, Any]:
    """Depth correction and energy scale of the fit's photons, fitted on training windows.

    Photons from the target enter inclined, so the fitted shower centroid lies tan(theta) x depth
    away from the impact point (coral corrects it): the shift ``(c0 + c1 ln(E/GeV)) X / 1 m`` of
    :func:`caloreco.regression.depth.fit_depth_correction` is fitted on both photons of
    two-photon training windows, and the energy scale (the median of E_true / E_fit) likewise.

    Args:
        photons: (n, 6) fitted x1, y1, E1, x2, y2, E2 (window frame, mm / MeV).
        truth: (n, 6) true photons (window frame).
        origin_xy_mm: (n, 2) window origins in the detector frame (mm).

    Returns:
        ``{"depth": {...}, "energy_scale": s, "n": ...}``.
    """
    p, _ = order_like_truth(photons, truth)
    t = np.asarray(truth, dtype=np.float64)
    o = np.asarray(origin_xy_mm, dtype=np.float64)
    est = np.concatenate([p[:, 0:2], p[:, 3:5]])
    tru = np.concatenate([t[:, 0:2], t[:, 3:5]])
    absxy = est + np.concatenate([o, o])
    e = np.concatenate([p[:, 2], p[:, 5]])
    et = np.concatenate([t[:, 2], t[:, 5]])
    ok = np.all(np.isfinite(est), axis=1) & np.isfinite(e) & (e > 0) & np.isfinite(et)
    depth = fit_depth_correction(est[ok], tru[ok], absxy[ok], e[ok])
    ratio = et[ok] / e[ok]
    good = np.abs(ratio - np.median(ratio)) < 0.1  # the core: mismatched photons are far off
    return {"depth": depth, "energy_scale": float(np.median(ratio[good])), "n": int(ok.sum())}


def apply_fit_calibration(
    photons: np.ndarray, origin_xy_mm: np.ndarray, calibration: Mapping[str, Any]
) -> np.ndarray:
    """(n, 6) photons with the depth shift removed and the energy scale applied."""
    p = np.array(photons, dtype=np.float64, copy=True)
    o = np.asarray(origin_xy_mm, dtype=np.float64)
    for j in (0, 3):
        xy = p[:, j : j + 2]
        # the depth shift was fitted against the uncalibrated energy
        p[:, j : j + 2] = apply_depth_correction(xy, xy + o, p[:, j + 2], calibration["depth"])
        p[:, j + 2] *= calibration["energy_scale"]
    return p


def fit_settings(settings: Mapping[str, Any] | None = None) -> dict[str, float]:
    """:func:`two_shower_fit` keyword arguments from the analysis settings (the ``fit`` block
    of :data:`caloreco.regression.two_photon.DEFAULTS` and ``seed_threshold_mev``)."""
    s = {**DEFAULTS["fit"], "seed_threshold_mev": DEFAULTS["seed_threshold_mev"]}
    s.update(dict(settings or {}))
    keys = ("discut_mm", "dchi2_min", "dchi2_strong", "chi2_ndf_cut", "egcut_mev")
    return {k: float(s[k]) for k in (*keys, "seed_threshold_mev")}


def fit_estimates(
    test: Mapping[str, np.ndarray],
    result: TwoShowerResult | None = None,
    calibration: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """The fit's estimates on test windows, as :func:`two_photon_metrics` takes them.

    Args:
        test: window arrays (``windows``, ``origin_x_mm``, ``origin_y_mm``, ``pitch_mm``).
        result: :func:`two_shower_fit` of these windows (fitted here if None).
        calibration: :func:`fit_calibration` from training windows (depth correction and
            energy scale), or None.
        settings: fit settings (:func:`fit_settings`), used when fitting here.

    Returns:
        ``{"fit": {"photons", "n_photons"}, "fit_forced": {"photons"}, "local_maxima":
        {"n_photons"}}``: coral's decision (a one-shower window read as a degenerate pair), the
        two-shower fit on every window, and the count of local maxima capped at 2.
    """
    if result is None:
        result = two_shower_fit(test["windows"], float(test["pitch_mm"]), **fit_settings(settings))
    origin = np.column_stack([test["origin_x_mm"], test["origin_y_mm"]])
    coral = fit_photons(result)
    forced = fit_photons(result, forced=True)
    if calibration is not None:
        coral = apply_fit_calibration(coral, origin, calibration)
        forced = apply_fit_calibration(forced, origin, calibration)
    return {
        "fit": {"photons": coral, "n_photons": result.n_showers},
        "fit_forced": {"photons": forced},
        "local_maxima": {"n_photons": np.clip(result.n_local_maxima, 1, 2)},
    }


def select_result(result: TwoShowerResult, mask: np.ndarray) -> TwoShowerResult:
    """The windows of a :class:`TwoShowerResult` where ``mask`` is true."""
    m = np.asarray(mask)
    return TwoShowerResult(*(np.asarray(v)[m] for v in result))


def result_arrays(result: TwoShowerResult) -> dict[str, np.ndarray]:
    """A :class:`TwoShowerResult` as named arrays (for an npz file)."""
    return {f"fit_{k}": np.asarray(v) for k, v in result._asdict().items()}


def result_from_arrays(arrays: Mapping[str, np.ndarray]) -> TwoShowerResult:
    """Inverse of :func:`result_arrays`.

    Raises:
        ValueError: a field of :class:`TwoShowerResult` is missing.
    """
    missing = [f"fit_{k}" for k in TwoShowerResult._fields if f"fit_{k}" not in arrays]
    if missing:
        raise ValueError(f"arrays: two-shower fit arrays {missing} missing")
    return TwoShowerResult(*(np.asarray(arrays[f"fit_{k}"]) for k in TwoShowerResult._fields))
