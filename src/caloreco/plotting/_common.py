"""Helpers shared by the figure modules (not public)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def as_paths(value: str | os.PathLike | Sequence[str | os.PathLike], name: str) -> list[Path]:
    """One path or a list of paths as a non-empty list of existing paths."""
    items = [value] if isinstance(value, str | os.PathLike) else list(value)
    if not items:
        raise ValueError(f"{name}: expected at least one path")
    paths = [Path(p) for p in items]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ValueError(f"{name}: no such file {missing[0]!r}")
    return paths


def load_json(path: str | os.PathLike, name: str) -> dict[str, Any]:
    """A metrics JSON file, with an error that names the argument."""
    (path,) = as_paths(path, name)
    with open(path) as f:
        return json.load(f)


def annotate(ax, text: str | None, loc: str = "upper left") -> None:
    """A small text (e.g. the dataset) in a corner of the axes, outside the data if possible."""
    if not text:
        return
    x, ha = (0.03, "left") if "left" in loc else (0.97, "right")
    y, va = (0.96, "top") if "upper" in loc else (0.04, "bottom")
    ax.text(x, y, text, transform=ax.transAxes, ha=ha, va=va, fontsize="small")


def gaussian_curve(fit: dict[str, Any], edges: np.ndarray, n_points: int = 200):
    """The fitted core Gaussian as expected counts per bin of ``edges``.

    The fit (``mu``, ``sigma``, ``n_fit`` values inside ``[lo, hi]``) is normalised so that its
    integral over the fit window is ``n_fit``. Returns ``(x, y, inside)``: x values across the
    histogram range, expected entries per bin width, and whether x lies inside the fit window.
    """
    from scipy.stats import norm

    mu, sigma = float(fit["mu"]), float(fit["sigma"])
    lo, hi = float(fit.get("lo", mu - 2 * sigma)), float(fit.get("hi", mu + 2 * sigma))
    n_fit = float(fit.get("n_fit", fit.get("n", 0)))
    frac = norm.cdf(hi, mu, sigma) - norm.cdf(lo, mu, sigma)
    amplitude = n_fit / frac if frac > 0 else 0.0
    width = float(np.mean(np.diff(edges)))
    x = np.linspace(edges[0], edges[-1], n_points)
    y = amplitude * width * norm.pdf(x, mu, sigma)
    return x, y, (x >= lo) & (x <= hi)


def binomial_ci(k: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Efficiency k/n with its 68.3 % Wilson score interval (lower, upper errors)."""
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(n > 0, k / n, np.nan)
        z = 1.0
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return p, np.maximum(p - (centre - half), 0.0), np.maximum((centre + half) - p, 0.0)


def plain_log_ticks(ax, axis: str = "y") -> None:
    """Label a log axis with plain numbers (0.2, 0.3, ...) instead of 2 x 10^-1."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    fmt = FuncFormatter(lambda v, _: f"{v:g}")
    target = ax.yaxis if axis == "y" else ax.xaxis
    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    target.set_major_formatter(fmt)
    if hi / max(lo, 1e-300) < 20:
        target.set_minor_locator(LogLocator(subs=(2, 3, 5)))
        target.set_minor_formatter(fmt)
    else:
        target.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def energy_log_axis(ax, axis: str = "x") -> None:
    """A log energy axis labelled 1, 2, 5, 10, 20, 50, ... (no crowded minor labels)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(NullFormatter())
