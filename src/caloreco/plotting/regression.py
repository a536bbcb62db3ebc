"""Figures of the ECAL regression: example windows and the mean shower profile, residuals with
their core Gaussian fits, resolution versus energy with the resolution functions, and the
stage-3 comparison with and without the absolute window position.

Inputs follow :func:`caloreco.regression.evaluation.evaluate_estimators`: ``resolution.json`` (fits
``{"mu", "mu_err", "sigma", "sigma_err", "sigma68", "n", "n_fit", "lo", "hi"}``; x, y in mm,
energy as (E_reco - E_true) / E_true; resolution function sigma/E = a/sqrt(E) (+) b (+) c/E with
E in GeV) and ``residuals.parquet`` (x, y, energy, estimator, true_energy_mev, ...).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from caloreco.plotting._common import as_paths, energy_log_axis, gaussian_curve, load_json
from caloreco.plotting.names import color, dataset_label, label
from caloreco.plotting.style import figure, save, use_style

__all__ = [
    "ESTIMATOR_ORDER",
    "windows",
    "residuals",
    "resolution",
    "absolute_position",
    "lateral_profile",
]

#: the order estimators appear in legends
ESTIMATOR_ORDER = ("nn", "nn_abspos", "log_cog", "profile_fit")

#: residual quantities: (column, axis label, scale to the plotted unit)
QUANTITIES = {
    "x": (r"$x_\mathrm{reco} - x_\mathrm{true}$ [mm]", 1.0),
    "y": (r"$y_\mathrm{reco} - y_\mathrm{true}$ [mm]", 1.0),
    "energy": (r"$(E_\mathrm{reco} - E_\mathrm{true}) / E_\mathrm{true}$ [%]", 100.0),
}
SIGMA_LABELS = {
    "x": (r"$\sigma_x$ [mm]", 1.0),
    "y": (r"$\sigma_y$ [mm]", 1.0),
    "energy": (r"$\sigma_E / E$ [%]", 100.0),
}


def _ordered(names) -> list[str]:
    names = list(names)
    return [m for m in ESTIMATOR_ORDER if m in names] + [
        m for m in names if m not in ESTIMATOR_ORDER
    ]


def _fitted(fit: Mapping[str, Any] | None) -> bool:
    return bool(fit) and "sigma" in fit and np.isfinite(fit.get("sigma", np.nan))


def lateral_profile(
    win: np.ndarray, targets: np.ndarray, pitch_mm: float, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean energy fraction of a cell versus its x distance to the impact point, for the cells
    of the row that contains the impact point.

    Args:
        win: (n, size, size) cell energies (MeV), ``[i, row, col]`` with rows along y.
        targets: (n, >= 2) impact x, y relative to the lower-left cell centre (mm).
        pitch_mm: cell pitch (mm).
        edges: bin edges of x_cell - x_impact (mm).

    Returns:
        bin centres, the mean fraction per bin and its standard error.
    """
    n, size, _ = win.shape
    total = win.reshape(n, -1).sum(axis=1)
    good = total > 0
    win, targets, total = win[good], targets[good], total[good]
    frac = win / total[:, None, None]
    centres = np.arange(size) * pitch_mm
    row = np.clip(np.rint(targets[:, 1] / pitch_mm).astype(int), 0, size - 1)
    f_row = frac[np.arange(frac.shape[0]), row, :]  # (n, size)
    dx = centres[None, :] - targets[:, :1]
    idx = np.digitize(dx.ravel(), edges) - 1
    ok = (idx >= 0) & (idx < edges.size - 1)
    cnt = np.bincount(idx[ok], minlength=edges.size - 1)
    s1 = np.bincount(idx[ok], weights=f_row.ravel()[ok], minlength=edges.size - 1)
    s2 = np.bincount(idx[ok], weights=f_row.ravel()[ok] ** 2, minlength=edges.size - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / cnt
        err = np.sqrt(np.maximum(s2 / cnt - mean**2, 0) / np.maximum(cnt - 1, 1))
    return 0.5 * (edges[1:] + edges[:-1]), mean, err


def windows(
    windows: str | os.PathLike | Sequence[str | os.PathLike],
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    dataset: str | None = None,
    n_examples: int = 3,
):
    """Example windows at low, middle and high energy (cell energies, true impact point), and
    the mean lateral shower profile compared with the Lednev parametrisation.

    Args:
        windows: ``windows/chunk-*.npz`` (``windows`` (n, N, N) MeV, ``targets`` (n, 3): x, y in
            mm relative to the lower-left cell centre and E in MeV; ``pitch_mm``).
        style, outputs: style file and output files.
        dataset: dataset key, shown on the figure.
        n_examples: number of example windows.

    Returns:
        the figure: ``n_examples`` image panels and one profile panel (simulation points, Lednev
        line).
    """
    from matplotlib.colors import LogNorm

    from caloreco.io.tables import read_windows
    from caloreco.regression.lednev import lednev_window_fractions

    data = read_windows(as_paths(windows, "windows"))
    win = data["windows"].astype(np.float64)
    tgt = data["targets"].astype(np.float64)
    pitch = float(data["pitch_mm"])
    finite = np.all(np.isfinite(tgt), axis=1) & (win.reshape(len(win), -1).sum(axis=1) > 0)
    win, tgt = win[finite], tgt[finite]
    if len(win) == 0:
        raise ValueError(f"windows: {windows} hold no window with finite targets")
    size = win.shape[1]
    order = np.argsort(tgt[:, 2], kind="stable")
    picks = order[(np.linspace(0.1, 0.9, n_examples) * (len(order) - 1)).astype(int)]
    lo_edge, hi_edge = -pitch / 2, (size - 0.5) * pitch
    with use_style(style):
        fig, axes = figure(
            1,
            n_examples + 1,
            panel_aspect=1.7,
            gridspec_kw={"width_ratios": [1] * n_examples + [n_examples * 0.6]},
        )
        axes = axes[0]
        unit = "GeV" if np.nanmax(tgt[:, 2]) > 2000 else "MeV"
        scale = 1e-3 if unit == "GeV" else 1.0
        vmax = float(np.max(win[picks])) * scale
        norm = LogNorm(vmin=vmax * 1e-4, vmax=vmax)
        for ax, i in zip(axes[:n_examples], picks, strict=True):
            img = np.where(win[i] > 0, win[i] * scale, np.nan)
            im = ax.imshow(
                img,
                origin="lower",
                extent=(lo_edge, hi_edge, lo_edge, hi_edge),
                norm=norm,
                cmap="viridis",
            )
            ax.plot(tgt[i, 0], tgt[i, 1], "+", color="#e42536", ms=10, mew=1.5)
            ax.set_title(f"$E$ = {tgt[i, 2] * scale:.3g} {unit}", fontsize="medium")
            ax.set_xlabel("x [mm]")
            ax.tick_params(which="minor", left=False, right=False, top=False, bottom=False)
        axes[0].set_ylabel("y [mm]")
        for ax in axes[1:n_examples]:
            ax.set_yticklabels([])
        fig.colorbar(
            im,
            ax=list(axes[:n_examples]),
            label=f"cell energy [{unit}]",
            location="bottom",
            shrink=0.6,
            aspect=30,
        )
        ax = axes[-1]
        edges = np.linspace(-2.5 * pitch, 2.5 * pitch, 26)
        c, m, e = lateral_profile(win, tgt, pitch, edges)
        ax.errorbar(c / pitch, m, yerr=e, fmt="o", ms=3, color="0.1", label="simulation")
        ref = lednev_window_fractions(tgt[:, 0], tgt[:, 1], size, pitch)
        ref_windows = ref / ref.reshape(len(ref), -1).sum(axis=1)[:, None, None]
        c2, m2, _ = lateral_profile(ref_windows, tgt, pitch, edges)
        ax.plot(c2 / pitch, m2, color="#e42536", label="Lednev profile")
        ax.set_yscale("log")
        ax.set_xlabel(r"$(x_\mathrm{cell} - x_\mathrm{true})$ / pitch")
        ax.set_ylabel("mean energy fraction")
        ax.set_ylim(max(np.nanmin(m[m > 0]) / 3, 1e-5), 1.5)
        ax.legend(loc="lower center", fontsize="small", handlelength=1.0)
        if dataset:
            fig.suptitle(dataset_label(dataset), fontsize="medium")
    return save(fig, outputs)


def residuals(
    residuals: str | os.PathLike,
    metrics: str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    estimators: Sequence[str] = ("nn", "log_cog", "profile_fit"),
    dataset: str | None = None,
):
    """Residual distributions of x, y and E per estimator with the fitted core Gaussians
    (solid in the fit window, dotted outside) from resolution.json.

    Args:
        residuals: ``tables/residuals.parquet``.
        metrics: ``resolution.json``.
        style, outputs: style file and output files.
        estimators: estimators to show (those absent from the table are skipped).
        dataset: dataset key, shown on the figure.

    Returns:
        the figure: three panels; per estimator one histogram (a patch) and the Gaussian lines.
    """
    (path,) = as_paths(residuals, "residuals")
    table = pd.read_parquet(path)
    missing = [c for c in ("x", "y", "energy", "estimator") if c not in table.columns]
    if missing:
        raise ValueError(f"residuals: {path} lacks columns {missing}")
    result = load_json(metrics, "metrics")
    fits = result.get("estimators", {})
    names = [e for e in estimators if e in set(table["estimator"])]
    if not names:
        raise ValueError(f"estimators: none of {list(estimators)} in {path}")
    # one beam energy: a network trained on it outputs that energy, its energy residual is
    # no resolution; the energy panel then shows the estimators that were not trained on it
    untrained_energy = [n for n in names if not n.startswith("nn")]
    mono = bool(result.get("mono_energetic")) and bool(untrained_energy)
    with use_style(style):
        fig, axes = figure(1, 3, panel_aspect=1.0, sharey=False)
        for ax, q in zip(axes[0], ("x", "y", "energy"), strict=True):
            xlabel, scale = QUANTITIES[q]
            shown = untrained_energy if (mono and q == "energy") else names
            widths = [
                abs(fits[n][q]["mu"]) + 3.5 * fits[n][q]["sigma"]
                for n in shown
                if _fitted(fits.get(n, {}).get(q))
            ]
            if widths:
                half = max(widths) * scale
            else:
                vals = table[q].to_numpy(np.float64) * scale
                half = float(np.nanquantile(np.abs(vals), 0.95))
            edges = np.linspace(-half, half, 61)
            if mono and q == "energy":
                ax.text(
                    0.03,
                    0.04,
                    "one beam energy:\nNN energy not shown",
                    transform=ax.transAxes,
                    ha="left",
                    va="bottom",
                    fontsize="x-small",
                )
            for j, n in enumerate(names):
                if n not in shown:
                    continue
                v = table.loc[table["estimator"] == n, q].to_numpy(np.float64) * scale
                ax.hist(v, bins=edges, histtype="step", color=color(n), label=label(n))
                fit = fits.get(n, {}).get(q)
                if not _fitted(fit):
                    continue
                scaled = {
                    **fit,
                    **{k: fit[k] * scale for k in ("mu", "sigma", "lo", "hi") if k in fit},
                }
                gx, gy, inside = gaussian_curve(scaled, edges)
                ax.plot(gx, np.where(inside, gy, np.nan), color=color(n), lw=0.9)
                ax.plot(gx, np.where(inside, np.nan, gy), color=color(n), lw=0.7, ls=":")
                ax.text(
                    0.97,
                    0.96 - 0.085 * j,
                    rf"$\sigma$ = {scaled['sigma']:.3g}",
                    color=color(n),
                    transform=ax.transAxes,
                    ha="right",
                    va="top",
                    fontsize="small",
                )
            ax.set_xlabel(xlabel)
            ax.set_xlim(edges[0], edges[-1])
            ax.set_ylim(0, ax.get_ylim()[1] * 1.1)
            unit = {"x": "mm", "y": "mm", "energy": "%"}[q]
            ax.set_ylabel(f"clusters / {edges[1] - edges[0]:.2g} {unit}")
        handles, texts = axes[0, 0].get_legend_handles_labels()
        fig.legend(
            handles,
            texts,
            loc="outside upper center",
            ncol=len(texts),
            title=dataset_label(dataset) if dataset else None,
        )
    return save(fig, outputs)


def _curve(rows, q):
    pts = [(r["e_mean_mev"] / 1000, r[q]) for r in rows if _fitted(r.get(q))]
    if not pts:
        return None
    e = np.array([p[0] for p in pts])
    s = np.array([p[1]["sigma"] for p in pts])
    err = np.array([p[1].get("sigma_err", 0.0) for p in pts])
    lo = np.array([r["e_lo_mev"] / 1000 for r in rows if _fitted(r.get(q))])
    hi = np.array([r["e_hi_mev"] / 1000 for r in rows if _fitted(r.get(q))])
    return e, s, err, lo, hi


def resolution(
    metrics: str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    estimators: Sequence[str] = ("nn", "log_cog", "profile_fit"),
    dataset: str | None = None,
):
    """Position and energy resolution versus photon energy per estimator, with the fitted
    resolution functions sigma/E = a/sqrt(E) (+) b (+) c/E (E in GeV) and their parameters.

    Args:
        metrics: ``resolution.json`` (``vs_energy``, ``resolution_function``).
        style, outputs: style file and output files.
        estimators: estimators to show (absent ones are skipped).
        dataset: dataset key, shown on the figure.

    Returns:
        the figure: panels sigma_x, sigma_y, sigma_E/E; per estimator one error bar per panel
        and, where fitted, a resolution-function line in the last panel.
    """
    from caloreco.fitting import resolution_function

    info = load_json(metrics, "metrics")
    vs = info.get("vs_energy", {})
    funcs = info.get("resolution_function", {})
    names = [e for e in _ordered(estimators) if vs.get(e)]
    if not names:
        raise ValueError(f"metrics: {metrics} has no vs_energy for {list(estimators)}")
    with use_style(style):
        fig, axes = figure(1, 3, panel_aspect=1.0)
        n = len(names)
        for j, name in enumerate(names):
            for ax, q in zip(axes[0], ("x", "y", "energy"), strict=True):
                cur = _curve(vs[name], q)
                if cur is None:
                    continue
                e, s, err, lo, hi = cur
                sc = SIGMA_LABELS[q][1]
                shift = 1 + 0.025 * (j - (n - 1) / 2)
                ax.errorbar(
                    e * shift,
                    s * sc,
                    yerr=err * sc,
                    fmt="o",
                    ms=3.5,
                    color=color(name),
                    label=label(name),
                )
            f = funcs.get(name, {})
            if all(k in f for k in ("a", "b")) and "error" not in f:
                ax = axes[0, 2]
                grid = np.geomspace(
                    min(r["e_lo_mev"] for r in vs[name]) / 1000,
                    max(r["e_hi_mev"] for r in vs[name]) / 1000,
                    200,
                )
                y = resolution_function(grid, f["a"], f["b"], f.get("c", 0.0)) * 100
                ax.plot(
                    grid,
                    y,
                    color=color(name),
                    lw=0.9,
                    label=rf"$a$ = {100 * f['a']:.1f}%, $b$ = {100 * f['b']:.2f}%",
                )
        for ax, q in zip(axes[0], ("x", "y", "energy"), strict=True):
            ax.set_xscale("log")
            ax.set_xlabel(r"$E_\gamma$ [GeV]")
            ax.set_ylabel(SIGMA_LABELS[q][0])
            # headroom for the resolution-function legend of the energy panel
            ax.set_ylim(0, ax.get_ylim()[1] * (1.45 if q == "energy" else 1.05))
            energy_log_axis(ax)
        handles, texts = axes[0, 0].get_legend_handles_labels()
        fig.legend(
            handles,
            texts,
            loc="outside upper center",
            ncol=len(texts),
            title=dataset_label(dataset) if dataset else None,
        )
        h2, t2 = axes[0, 2].get_legend_handles_labels()
        lines = [(h, t) for h, t in zip(h2, t2, strict=True) if "$a$" in t]
        if lines:
            axes[0, 2].legend(
                *zip(*lines, strict=True), loc="upper right", fontsize="x-small", handlelength=1.2
            )
    return save(fig, outputs)


def absolute_position(
    metrics: str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    reference: str | os.PathLike | None = None,
    dataset: str | None = None,
    reference_dataset: str | None = None,
):
    """Stage 3 (photons from the target, inclined): position resolution versus energy of the
    network with and without the absolute window position as input, beside the log-weighted
    CoG, and (with ``reference``) the network on perpendicular photons.

    Args:
        metrics: ``resolution.json`` of the inclined dataset (with ``nn`` and ``nn_abspos``).
        style, outputs: style file and output files.
        reference: ``resolution.json`` of a perpendicular dataset (optional).
        dataset, reference_dataset: dataset keys for the labels.

    Returns:
        the figure: panels sigma_x and sigma_y versus energy.
    """
    info = load_json(metrics, "metrics")
    vs = info.get("vs_energy", {})
    if "nn_abspos" not in vs or "nn" not in vs:
        raise ValueError(f"metrics: {metrics} needs vs_energy for 'nn' and 'nn_abspos'")
    ref = load_json(reference, "reference").get("vs_energy", {}) if reference else {}
    names = [n for n in ("nn", "nn_abspos", "log_cog") if vs.get(n)]
    with use_style(style):
        fig, axes = figure(1, 2, panel_aspect=0.95)
        for ax, q in zip(axes[0], ("x", "y"), strict=True):
            for j, name in enumerate(names):
                cur = _curve(vs[name], q)
                if cur is None:
                    continue
                e, s, err, _, _ = cur
                ax.errorbar(
                    e * (1 + 0.025 * (j - 1)),
                    s,
                    yerr=err,
                    fmt="o-",
                    ms=3.5,
                    lw=0.8,
                    color=color(name),
                    label=label(name),
                )
            if ref.get("nn"):
                cur = _curve(ref["nn"], q)
                if cur is not None:
                    e, s, err, _, _ = cur
                    text = f"{label('nn')}, perpendicular"
                    if reference_dataset:
                        text += f" ({reference_dataset})"
                    ax.errorbar(
                        e,
                        s,
                        yerr=err,
                        fmt="s--",
                        ms=3,
                        lw=0.8,
                        color="0.5",
                        mfc="white",
                        label=text,
                    )
            ax.set_xscale("log")
            energy_log_axis(ax)
            ax.set_xlabel(r"$E_\gamma$ [GeV]")
            ax.set_ylabel(SIGMA_LABELS[q][0])
            ax.set_ylim(0, ax.get_ylim()[1] * 1.05)
        handles, texts = axes[0, 0].get_legend_handles_labels()
        fig.legend(
            handles,
            texts,
            loc="outside upper center",
            ncol=2,
            title=dataset_label(dataset) if dataset else None,
        )
    return save(fig, outputs)
