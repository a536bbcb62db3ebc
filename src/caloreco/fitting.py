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
#: asymptotic standard deviation of sigma68 of a Gaussian sample, in units of sigma / sqrt(n)
SIGMA68_SD = 0.9618


def sigma68(values: np.ndarray) -> float:
    """Half the width of the central 68.3 % of ``values`` (a robust Gaussian sigma)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 2:
        raise ValueError(f"sigma68 needs at least 2 finite values, got {v.size}")
    lo, hi = np.quantile(v, [0.5 - 0.6827 / 2, 0.5 + 0.6827 / 2])
    return float(0.5 * (hi - lo))


def _truncated_fit(v: np.ndarray, lo: float, hi: float, mu0: float, s0: float, bins: int | None):
    """Gaussian truncated to [lo, hi] fitted to the values inside it (iminuit, likelihood)."""
    from iminuit import Minuit

    if bins is None:

        def nll(mu: float, sigma: float) -> float:
            z = (v - mu) / sigma
            norm = ndtr((hi - mu) / sigma) - ndtr((lo - mu) / sigma)
            return float(
                0.5 * np.sum(z * z) + v.size * np.log(sigma) + v.size * np.log(max(norm, 1e-300))
            )

        m = Minuit(nll, mu=mu0, sigma=s0)
        m.errordef = Minuit.LIKELIHOOD
    else:
        from iminuit.cost import BinnedNLL

        counts, edges = np.histogram(v, bins=int(bins), range=(lo, hi))

        def cdf(x: np.ndarray, mu: float, sigma: float) -> np.ndarray:
            a = ndtr((lo - mu) / sigma)
            norm = max(ndtr((hi - mu) / sigma) - a, 1e-300)
            return (ndtr((x - mu) / sigma) - a) / norm

        m = Minuit(BinnedNLL(counts, edges, cdf), mu=mu0, sigma=s0)
    m.limits["sigma"] = (s0 * 1e-3, s0 * 1e3)
    m.migrad()
    m.hesse()
    return m


def _check_values(values: np.ndarray, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"{name}: expected a 1-d array of values, got shape {v.shape}")
    v = v[np.isfinite(v)]
    if v.size < MIN_ENTRIES:
        raise ValueError(
            f"{name}: core_gaussian_fit needs at least {MIN_ENTRIES} finite values, got {v.size}"
        )
    return v


def core_gaussian_fit(
    values: np.ndarray,
    n_sigma: float = 2.0,
    max_iter: int = 5,
    bins: int | None = None,
    tol: float = 1e-3,
    rng: np.random.Generator | None = None,
    n_boot: int = 200,
) -> dict[str, Any]:
    """Iterative core Gaussian fit of a residual distribution (physics.md section 3).

    Starting from the median and sigma68, a Gaussian truncated to mu +- n_sigma sigma is fitted
    to the values inside that window (unbinned likelihood, or a binned likelihood with ``bins``
    bins across the window), the window is re-centred on the result and the fit repeated until
    mu and sigma move by less than ``tol`` sigma (or a fifth of their statistical error), at most
    ``max_iter`` rounds.

    Args:
        values: residuals (any unit; mu, sigma, sigma68 come in the same unit). NaN and inf are
            dropped.
        n_sigma: half-width of the fit window in units of the current sigma.
        max_iter: largest number of fit rounds.
        bins: ``None`` for the unbinned likelihood, else the number of bins in the window.
        tol: convergence tolerance in units of sigma.
        rng: generator for the bootstrap error of sigma68; without it the error is the
            asymptotic 0.962 sigma68 / sqrt(n) of the quantile estimator of a Gaussian width.
        n_boot: bootstrap replicates.

    Returns:
        ``{"mu", "mu_err", "sigma", "sigma_err", "sigma68", "sigma68_err", "n", "n_fit", "lo",
        "hi", "iterations", "converged", "valid"}``: ``n`` all finite values, ``n_fit`` those in
        the final window ``[lo, hi]``; ``converged`` the window settled within ``max_iter``,
        ``valid`` Minuit's verdict on the last fit.

    Raises:
        ValueError: fewer than 10 finite values, no spread (sigma68 = 0, e.g. all equal), or
            too few values in the core window.
    """
    v = _check_values(values, "values")
    if not n_sigma > 0 or max_iter < 1:
        raise ValueError(f"n_sigma, max_iter: expected > 0 and >= 1, got {n_sigma}, {max_iter}")
    if bins is not None and int(bins) < 3:
        raise ValueError(f"bins: expected None (unbinned) or >= 3, got {bins!r}")
    s68 = sigma68(v)
    if not s68 > 0:
        raise ValueError("values: core_gaussian_fit found no spread (sigma68 = 0)")
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
        m = _truncated_fit(sel, lo, hi, mu, sigma, bins)
        new_mu, new_sigma = float(m.values["mu"]), float(abs(m.values["sigma"]))
        moved = max(abs(new_mu - mu), abs(new_sigma - sigma)) / sigma
        # values entering or leaving the window make the fit jitter at the level of its
        # statistical error: settle when the move is small against that too
        settle = max(tol, 0.2 * float(m.errors["sigma"]) / new_sigma)
        mu, sigma = new_mu, new_sigma
        if moved < settle:
            converged = True
            break
    if m is None:
        raise ValueError("values: too few values in the core window for core_gaussian_fit")
    # half-difference of the p and 1-p quantiles (p = 0.1587) of a Gaussian: variance
    # p (1 - 2p) / (2 n phi(1)^2) sigma^2, i.e. 0.962 sigma / sqrt(n)
    s68_err = SIGMA68_SD * s68 / np.sqrt(v.size)
    if rng is not None and n_boot > 1:
        # bootstrap in chunks so memory stays bounded for large samples
        reps = []
        chunk = max(1, int(2e7 // v.size))
        for start in range(0, n_boot, chunk):
            k = min(chunk, n_boot - start)
            idx = rng.integers(0, v.size, size=(k, v.size))
            q = np.quantile(v[idx], [0.5 - 0.6827 / 2, 0.5 + 0.6827 / 2], axis=1)
            reps.append(0.5 * (q[1] - q[0]))
        s68_err = float(np.std(np.concatenate(reps), ddof=1))
    lo, hi = mu - n_sigma * sigma, mu + n_sigma * sigma
    return {
        "mu": mu,
        "mu_err": float(m.errors["mu"]),
        "sigma": sigma,
        "sigma_err": float(m.errors["sigma"]),
        "sigma68": s68,
        "sigma68_err": float(s68_err),
        "n": int(v.size),
        "n_fit": int(((v >= lo) & (v <= hi)).sum()),
        "lo": lo,
        "hi": hi,
        "iterations": iterations,
        "converged": converged,
        "valid": bool(m.valid),
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
    """Least-squares fit of sigma_E/E = a/sqrt(E) (+) b (+) c/E (iminuit, parameters >= 0).

    Args:
        energy_gev: (m,) bin energies in GeV (a is then in sqrt(GeV), c in GeV).
        sigma_rel: (m,) relative resolutions sigma_E / E.
        sigma_rel_err: (m,) their errors (points with non-positive or non-finite errors are
            dropped).
        terms: the free terms; the others are fixed to 0.

    Returns:
        ``{"a", "b", "c", "a_err", "b_err", "c_err", "chi2", "ndof", "valid"}`` (a fixed term
        has error 0).

    Raises:
        ValueError: unknown terms, mismatched shapes, or fewer usable points than free terms.
    """
    from iminuit import Minuit
    from iminuit.cost import LeastSquares

    unknown = set(terms) - {"a", "b", "c"}
    if unknown or not terms:
        raise ValueError(f"terms: expected a non-empty subset of ('a', 'b', 'c'), got {terms!r}")
    e = np.asarray(energy_gev, dtype=np.float64)
    s = np.asarray(sigma_rel, dtype=np.float64)
    err = np.asarray(sigma_rel_err, dtype=np.float64)
    if not (e.shape == s.shape == err.shape) or e.ndim != 1:
        raise ValueError(
            f"energy_gev, sigma_rel, sigma_rel_err: expected 1-d arrays of one length, got "
            f"{e.shape}, {s.shape}, {err.shape}"
        )
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
    **fit_kwargs: Any,
) -> list[dict[str, Any]]:
    """Core Gaussian fits of ``residual`` in bins ``[lo, hi)`` of ``true_energy``.

    Args:
        true_energy: (n,) binning variable (same unit as ``edges``, e.g. MeV or GeV).
        residual: (n,) residuals (e.g. (E_reco - E_true) / E_true, or mm).
        edges: increasing bin edges.
        min_entries: bins with fewer finite residuals are skipped.
        rng: generator for the bootstrap of sigma68.
        fit_kwargs: passed to :func:`core_gaussian_fit` (``n_sigma``, ``bins``, ...).

    Returns:
        One :func:`core_gaussian_fit` dict per filled bin, with ``e_lo``, ``e_hi``, ``e_mean``.
    """
    e = np.asarray(true_energy, dtype=np.float64)
    r = np.asarray(residual, dtype=np.float64)
    if e.shape != r.shape or e.ndim != 1:
        raise ValueError(
            f"true_energy, residual: expected 1-d arrays of one length, got {e.shape}, {r.shape}"
        )
    ed = np.asarray(edges, dtype=np.float64)
    if ed.ndim != 1 or ed.size < 2 or np.any(np.diff(ed) <= 0):
        raise ValueError(f"edges: expected at least two increasing bin edges, got {list(edges)}")
    out = []
    for lo, hi in zip(ed[:-1], ed[1:], strict=True):
        sel = (e >= lo) & (e < hi) & np.isfinite(r)
        if sel.sum() < max(min_entries, MIN_ENTRIES):
            continue
        try:
            fit = core_gaussian_fit(r[sel], rng=rng, **fit_kwargs)
        except ValueError as exc:
            fit = {"error": str(exc), "n": int(sel.sum())}
        fit.update({"e_lo": float(lo), "e_hi": float(hi), "e_mean": float(e[sel].mean())})
        out.append(fit)
    return out
