"""Resolution fits (physics.md section 3): iterative core Gaussians and resolution functions.

A residual distribution is fitted with a Gaussian in mu +- n_sigma sigma (an unbinned likelihood
of the normal distribution truncated to that window, with iminuit), re-centred and refitted until
mu and sigma settle. Robust widths (sigma68: half the width of the central 68.3 %) come with
bootstrap errors. The energy dependence sigma/E = a/sqrt(E) (+) b (+) c/E is fitted by least
squares with iminuit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import ndtr

__all__ = [
    "sigma68",
    "core_gaussian_fit",
    "resolution_function",
    "resolution_function_fit",
    "binned_resolution",
]

MIN_ENTRIES = 10


def sigma68(values: np.ndarray) -> float:
    """Half the width of the central 68.3 % of ``values`` (a robust Gaussian sigma)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 2:
        raise ValueError(f"sigma68 needs at least 2 finite values, got {v.size}")
    lo, hi = np.quantile(v, [0.5 - 0.6827 / 2, 0.5 + 0.6827 / 2])
    return float(0.5 * (hi - lo))


def _truncated_fit(v: np.ndarray, lo: float, hi: float, mu0: float, s0: float):
    from iminuit import Minuit

    def nll(mu: float, sigma: float) -> float:
        z = (v - mu) / sigma
        norm = ndtr((hi - mu) / sigma) - ndtr((lo - mu) / sigma)
        return float(
            0.5 * np.sum(z * z) + v.size * np.log(sigma) + v.size * np.log(max(norm, 1e-300))
        )

    m = Minuit(nll, mu=mu0, sigma=s0)
    m.errordef = Minuit.LIKELIHOOD
    m.limits["sigma"] = (s0 * 1e-3, s0 * 1e3)
    m.migrad()
    m.hesse()
    return m


def core_gaussian_fit(
    values: np.ndarray,
    n_sigma: float = 2.0,
    max_iter: int = 10,
    tol: float = 1e-3,
    rng: np.random.Generator | None = None,
    n_boot: int = 200,
) -> dict[str, Any]:
    """Iterative core Gaussian fit of a residual distribution.

    Args:
        values: residuals (any unit; the result is in the same unit).
        n_sigma: half-width of the fit window in units of the current sigma.
        max_iter: largest number of re-centring rounds.
        tol: stop when mu and sigma move by less than ``tol`` sigma.
        rng: generator for the bootstrap error of sigma68 (without it the error is the
            asymptotic sigma68 / sqrt(2 n) scaled for the quantile estimator).
        n_boot: bootstrap replicates.

    Returns:
        ``{"mu", "mu_err", "sigma", "sigma_err", "sigma68", "sigma68_err", "n", "n_fit", "lo",
        "hi", "iterations", "converged"}``.

    Raises:
        ValueError: fewer than 10 finite values, or no spread.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < MIN_ENTRIES:
        raise ValueError(f"core_gaussian_fit needs at least {MIN_ENTRIES} values, got {v.size}")
    s68 = sigma68(v)
    if not s68 > 0:
        raise ValueError("core_gaussian_fit: the values have no spread (sigma68 = 0)")
    mu, sigma = float(np.median(v)), s68
    converged = False
    m = None
    iterations = 0
    for _ in range(max_iter):
        iterations += 1
        lo, hi = mu - n_sigma * sigma, mu + n_sigma * sigma
        sel = v[(v >= lo) & (v <= hi)]
        if sel.size < MIN_ENTRIES:
            break
        m = _truncated_fit(sel, lo, hi, mu, sigma)
        new_mu, new_sigma = float(m.values["mu"]), float(abs(m.values["sigma"]))
        moved = max(abs(new_mu - mu), abs(new_sigma - sigma)) / sigma
        # events entering or leaving the window make the fit jitter at the level of its
        # statistical error: settle when the move is small against that too
        settle = max(tol, 0.2 * float(m.errors["sigma"]) / new_sigma)
        mu, sigma = new_mu, new_sigma
        if moved < settle:
            converged = True
            break
    if m is None:
        raise ValueError("core_gaussian_fit: too few values in the core window")
    if rng is not None and n_boot > 0:
        idx = rng.integers(0, v.size, size=(n_boot, v.size)) if v.size * n_boot <= 5e7 else None
        if idx is not None:
            q = np.quantile(v[idx], [0.5 - 0.6827 / 2, 0.5 + 0.6827 / 2], axis=1)
            s68_err = float(np.std(0.5 * (q[1] - q[0]), ddof=1))
        else:
            s68_err = 1.1 * s68 / np.sqrt(2 * v.size)
    else:
        # the quantile estimator of a Gaussian width is ~1.1x less efficient than the std
        s68_err = 1.1 * s68 / np.sqrt(2 * v.size)
    lo, hi = mu - n_sigma * sigma, mu + n_sigma * sigma
    return {
        "mu": mu,
        "mu_err": float(m.errors["mu"]),
        "sigma": sigma,
        "sigma_err": float(m.errors["sigma"]),
        "sigma68": s68,
        "sigma68_err": s68_err,
        "n": int(v.size),
        "n_fit": int(((v >= lo) & (v <= hi)).sum()),
        "lo": lo,
        "hi": hi,
        "iterations": iterations,
        "converged": converged,
    }


def resolution_function(energy_gev: np.ndarray, a: float, b: float, c: float = 0.0) -> np.ndarray:
    """sigma_E / E = a / sqrt(E) (+) b (+) c / E (quadrature sum), E in GeV."""
    e = np.asarray(energy_gev, dtype=np.float64)
    return np.sqrt((a / np.sqrt(e)) ** 2 + b**2 + (c / e) ** 2)


def resolution_function_fit(
    energy_gev: np.ndarray,
    sigma_rel: np.ndarray,
    sigma_rel_err: np.ndarray,
    terms: Sequence[str] = ("a", "b", "c"),
) -> dict[str, Any]:
    """Least-squares fit of sigma_E/E = a/sqrt(E) (+) b (+) c/E (parameters >= 0).

    Terms not in ``terms`` are fixed to 0. Returns values, errors, chi2 and ndof.
    """
    from iminuit import Minuit
    from iminuit.cost import LeastSquares

    e = np.asarray(energy_gev, dtype=np.float64)
    s = np.asarray(sigma_rel, dtype=np.float64)
    err = np.asarray(sigma_rel_err, dtype=np.float64)
    ok = np.isfinite(e) & np.isfinite(s) & np.isfinite(err) & (err > 0) & (e > 0)
    if ok.sum() < len(terms):
        raise ValueError(
            f"resolution_function_fit: {int(ok.sum())} usable points for {len(terms)} parameters"
        )
    cost = LeastSquares(e[ok], s[ok], err[ok], resolution_function)
    start = {"a": 0.05, "b": 0.01, "c": 0.01}
    m = Minuit(cost, **start)
    for p in ("a", "b", "c"):
        m.limits[p] = (0, None)
        if p not in terms:
            m.values[p] = 0.0
            m.fixed[p] = True
    m.migrad()
    m.hesse()
    out: dict[str, Any] = {}
    for p in ("a", "b", "c"):
        out[p] = float(m.values[p])
        out[f"{p}_err"] = float(m.errors[p]) if p in terms else 0.0
    out["chi2"] = float(m.fval)
    out["ndof"] = int(ok.sum() - len(terms))
    out["valid"] = bool(m.valid)
    return out


def binned_resolution(
    true_energy: np.ndarray,
    residual: np.ndarray,
    edges: Sequence[float],
    min_entries: int = 20,
    rng: np.random.Generator | None = None,
) -> list[dict[str, Any]]:
    """Core Gaussian fits of ``residual`` in bins of ``true_energy`` (same unit as edges)."""
    e = np.asarray(true_energy, dtype=np.float64)
    r = np.asarray(residual, dtype=np.float64)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (e >= lo) & (e < hi) & np.isfinite(r)
        if sel.sum() < min_entries:
            continue
        fit = core_gaussian_fit(r[sel], rng=rng)
        fit.update({"e_lo": float(lo), "e_hi": float(hi), "e_mean": float(e[sel].mean())})
        out.append(fit)
    return out
