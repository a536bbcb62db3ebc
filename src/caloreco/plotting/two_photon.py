"""Figures of ECAL stage 4 (two photons in one window, merged pi0 -> gamma gamma).

Every function draws from the metrics of
:func:`caloreco.regression.two_photon.two_photon_metrics` (``two_photon.json`` or the dict
itself): resolution versus true separation of network, fit and the thesis, the gamma gamma
mass peaks, photon-count accuracy versus separation, and an event display of a merged pi0 with
both reconstructions, and the mass linearity (pairs of other parent masses through the
pi0-trained networks). Positions in mm, energies as (E_reco - E_true) / E_true, separations in
cells, masses in MeV.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from caloreco.constants import PI0_MASS_MEV
from caloreco.plotting._common import binomial_ci, load_json
from caloreco.plotting.names import color as _color
from caloreco.plotting.names import dataset_label
from caloreco.plotting.names import label as _label
from caloreco.plotting.style import figure, save, use_style

__all__ = [
    "LABELS",
    "COLORS",
    "resolution_vs_separation",
    "mass_peaks",
    "counting_vs_separation",
    "event_display",
    "mass_linearity",
]

#: names of the stage-4 estimators (the others come from :data:`caloreco.plotting.LABELS`)
LABELS: dict[str, str] = {
    "nn": "NN on the fit (this work)",
    "nn_dense": "dense NN on the fit",
    "nn_pure": "CNN, window only",
    "nn_pure_dense": "dense NN, window only",
    "fit": "coral two-shower fit",
    "fit_forced": "two-shower fit, always two",
    "local_maxima": "local maxima",
}
COLORS: dict[str, str] = {
    "nn": "#e42536",
    "nn_dense": "#964a8b",
    "nn_pure": "#7a21dd",
    "nn_pure_dense": "#9c9ca1",
    "fit": "#f89c20",
    "fit_forced": "#5790fc",
    "local_maxima": "#5790fc",
}
QUANTITIES = {
    "x": (r"$\sigma_x$ [mm]", 1.0),
    "y": (r"$\sigma_y$ [mm]", 1.0),
    "energy": (r"$\sigma_E / E$ [%]", 100.0),
}


def label(name: str) -> str:
    """Legend name of an estimator (``name@subset`` marks the thesis's subset)."""
    base, _, subset = name.partition("@")
    text = LABELS.get(base) or _label(base)
    return f"{text} ({subset.replace('_two', '')} found two)" if subset else text


def color(name: str) -> str:
    """Colour of an estimator."""
    base = name.partition("@")[0]
    return COLORS.get(base) or _color(base)


def _metrics(metrics: Mapping[str, Any] | str | os.PathLike) -> Mapping[str, Any]:
    if isinstance(metrics, Mapping):
        return metrics
    return load_json(metrics, "metrics")


def _sigma(block: Mapping[str, Any] | None, q: str, who: str = "both") -> tuple[float, float]:
    try:
        f = block[who][q]
        return float(f["sigma"]), float(f.get("sigma_err", 0.0))
    except (KeyError, TypeError):
        return float("nan"), float("nan")


def resolution_vs_separation(
    metrics: Mapping[str, Any] | str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    estimators: Sequence[str] = ("nn", "fit", "nn_pure"),
    who: str = "both",
    dataset: str | None = None,
):
    """sigma_x, sigma_y and sigma_E/E (core Gaussians, both photons pooled by default) versus the
    true separation, with the thesis's network (its overall numbers, drawn at its >= 4 cm cut)
    and its target.

    Args:
        metrics: two_photon.json or its dict (``vs_separation``, ``thesis``).
        style, outputs: style file and output files.
        estimators: estimators to show (absent ones are skipped).
        who: ``"both"``, ``"photon1"`` or ``"photon2"``.
        dataset: dataset key, shown on the figure.

    Returns:
        the figure: three panels, one error-bar series per estimator, the thesis's points and
        target lines.
    """
    m = _metrics(metrics)
    rows = [r for r in m["vs_separation"] if r.get("estimators")]
    names = [e for e in estimators if any(e in r["estimators"] for r in rows)]
    if not names:
        raise ValueError(f"metrics: no separation bin holds any of {list(estimators)}")
    thesis = m.get("thesis", {})
    pitch = float(m.get("settings", {}).get("pitch_mm", 38.3))
    with use_style(style):
        fig, axes = figure(1, 3, panel_aspect=1.0)
        for ax, q in zip(axes[0], ("x", "y", "energy"), strict=True):
            ylabel, sc = QUANTITIES[q]
            for j, name in enumerate(names):
                pts = [
                    (r["mean"], *_sigma(r["estimators"].get(name), q, who), r["lo"], r["hi"])
                    for r in rows
                    if name in r["estimators"]
                ]
                d, s, err, lo, hi = (np.array(v, dtype=float) for v in zip(*pts, strict=True))
                shift = 0.02 * (j - (len(names) - 1) / 2)
                ax.errorbar(
                    d + shift,
                    s * sc,
                    yerr=err * sc,
                    xerr=[d - lo, hi - d],
                    fmt="o",
                    ms=3.5,
                    lw=0.8,
                    color=color(name),
                    label=label(name),
                )
            nn_t = thesis.get("nn", {})
            key = {"x": "sigma_x_mm", "y": "sigma_y_mm", "energy": "sigma_e_rel"}[q]
            if key in nn_t:
                # the thesis quotes one number for photons >= 4 cm apart (difference of radii)
                ax.plot(
                    [40.0 / pitch],
                    [nn_t[key] * sc],
                    "s",
                    mfc="white",
                    color="0.3",
                    ms=5,
                    label="thesis NN (overall, cut at 4 cm)",
                )
            target = thesis.get("target", {}).get(key if q != "y" else "sigma_x_mm")
            if target is not None:
                ax.axhline(target * sc, color="0.5", ls="--", lw=0.8, label="thesis target")
            ax.set_xlabel("true separation [cells]")
            ax.set_ylabel(ylabel)
            ax.set_ylim(0, ax.get_ylim()[1] * 1.1)
        handles, texts = axes[0, 0].get_legend_handles_labels()
        fig.legend(
            handles,
            texts,
            loc="outside upper center",
            ncol=2,
            fontsize="small",
            title=dataset_label(dataset) if dataset else None,
        )
    return save(fig, outputs)


def mass_peaks(
    metrics: Mapping[str, Any] | str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    estimators: Sequence[str] = ("nn", "fit", "nn_pure"),
    dataset: str | None = None,
):
    """gamma gamma invariant-mass distributions with their core-Gaussian fits and the fraction
    within 3 sigma of the pi0 mass; the fit's one-shower windows sit at m = 0.

    Args:
        metrics: two_photon.json or its dict (``mass_histogram``, ``mass``).
        style, outputs: style file and output files.
        estimators: estimators to show.
        dataset: dataset key, shown on the figure.

    Returns:
        the figure: one panel, a step histogram and a Gaussian line per estimator.
    """
    from scipy.stats import norm

    m = _metrics(metrics)
    hist = m.get("mass_histogram", {})
    edges = np.asarray(hist.get("edges_mev", []), dtype=float)
    names = [e for e in estimators if e in hist.get("counts", {})]
    if edges.size < 2 or not names:
        raise ValueError(f"metrics: no mass histogram for any of {list(estimators)}")
    width = float(np.mean(np.diff(edges)))
    with use_style(style):
        fig, axes = figure(1, 1, panel_aspect=0.7)
        ax = axes[0, 0]
        for j, name in enumerate(names):
            counts = np.asarray(hist["counts"][name], dtype=float)
            ax.stairs(counts, edges, color=color(name), label=label(name))
            fit = m.get("mass", {}).get(name, {}).get("fit", {})
            if "sigma" in fit:
                x = np.linspace(fit["mu"] - 4 * fit["sigma"], fit["mu"] + 4 * fit["sigma"], 200)
                frac = norm.cdf(2) - norm.cdf(-2)
                y = fit["n_fit"] / frac * width * norm.pdf(x, fit["mu"], fit["sigma"])
                ax.plot(x, y, color=color(name), lw=0.8, ls=":")
                within = m["mass"][name].get("within_3sigma", {}).get("value")
                text = rf"$\mu$ = {fit['mu']:.1f}, $\sigma$ = {fit['sigma']:.2f} MeV"
                if within is not None:
                    text += f", {100 * within:.1f} % in 3$\\sigma$"
                ax.text(
                    0.03,
                    0.95 - 0.07 * j,
                    text,
                    color=color(name),
                    transform=ax.transAxes,
                    ha="left",
                    va="top",
                    fontsize="small",
                )
        ax.axvline(PI0_MASS_MEV, color="0.5", ls="--", lw=0.8)
        # the peak region; what lies below it (one-shower windows at m = 0) is counted
        lo_m, hi_m = PI0_MASS_MEV - 35.0, PI0_MASS_MEV + 35.0
        below = {
            name: int(np.sum(np.asarray(hist["counts"][name])[edges[1:] <= lo_m])) for name in names
        }
        ax.text(
            0.03,
            0.95 - 0.07 * len(names),
            f"below {lo_m:.0f} MeV: " + ", ".join(f"{v} ({label(k)})" for k, v in below.items()),
            transform=ax.transAxes,
            ha="left",
            va="top",
            fontsize="x-small",
        )
        ax.set_xlabel(r"$m_{\gamma\gamma}$ [MeV]")
        ax.set_ylabel(f"pairs / {width:.3g} MeV")
        ax.set_xlim(lo_m, hi_m)
        ax.set_ylim(0, ax.get_ylim()[1] * 1.3)
        ax.legend(
            loc="upper right", fontsize="small", title=dataset_label(dataset) if dataset else None
        )
    return save(fig, outputs)


def counting_vs_separation(
    metrics: Mapping[str, Any] | str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    estimators: Sequence[str] = ("nn", "fit", "local_maxima"),
    dataset: str | None = None,
):
    """Fraction of two-photon windows counted as two versus the true separation (Wilson 68 %
    intervals), with each counter's one-photon accuracy in the legend and the thesis's numbers.

    Args:
        metrics: two_photon.json or its dict (``vs_separation[*].counting``, ``counting``).
        style, outputs: style file and output files.
        estimators: counters to show.
        dataset: dataset key, shown on the figure.

    Returns:
        the figure: one panel, one error-bar series per counter.
    """
    m = _metrics(metrics)
    rows = m["vs_separation"]
    names = [e for e in estimators if any(e in r.get("counting", {}) for r in rows)]
    if not names:
        raise ValueError(f"metrics: no counting for any of {list(estimators)}")
    with use_style(style):
        fig, axes = figure(1, 1, panel_aspect=0.7)
        ax = axes[0, 0]
        for j, name in enumerate(names):
            pts = [
                (r["mean"], r["lo"], r["hi"], r["counting"][name]["accuracy_two"])
                for r in rows
                if name in r.get("counting", {}) and r["counting"][name]["accuracy_two"]["n"]
            ]
            d = np.array([p[0] for p in pts], dtype=float)
            k = np.array([p[3]["k"] for p in pts], dtype=float)
            n = np.array([p[3]["n"] for p in pts], dtype=float)
            acc, lo, hi = binomial_ci(k, n)
            one = m.get("counting", {}).get(name, {}).get("accuracy_one", {}).get("value")
            text = label(name) + (f" (1 photon: {100 * one:.1f} %)" if one is not None else "")
            ax.errorbar(
                d + 0.02 * (j - (len(names) - 1) / 2),
                acc,
                yerr=[lo, hi],
                fmt="o-",
                ms=3.5,
                lw=0.8,
                color=color(name),
                label=text,
            )
        c = m.get("thesis", {}).get("counting", {})
        for key, mk, txt in (
            ("cnn_accuracy", "s", "thesis CNN"),
            ("lednev_accuracy", "D", "thesis Lednev"),
        ):
            if key in c:
                ax.plot(
                    [0.3],
                    [c[key]["2"]],
                    mk,
                    mfc="white",
                    color="0.3",
                    ms=5,
                    label=f"{txt} (2 photons, all separations)",
                )
        ax.set_xlabel("true separation [cells]")
        ax.set_ylabel("counted as two photons")
        ax.set_ylim(min(0.5, ax.get_ylim()[0]), 1.05)
        ax.legend(
            loc="lower right",
            fontsize="x-small",
            title=dataset_label(dataset) if dataset else None,
        )
    return save(fig, outputs)


def event_display(
    metrics: Mapping[str, Any] | str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    estimators: Sequence[str] = ("nn", "fit"),
    dataset: str | None = None,
):
    """One merged pi0: the window's cell energies (log scale) with the true photons and each
    estimator's two photons (marker area ~ energy).

    Args:
        metrics: two_photon.json or its dict (``event_display``).
        style, outputs: style file and output files.
        estimators: estimators whose photons are drawn.
        dataset: dataset key, shown on the figure.

    Returns:
        the figure: one image panel.
    """
    from matplotlib.colors import LogNorm

    m = _metrics(metrics)
    ev = m.get("event_display")
    if not ev:
        raise ValueError("metrics: no event_display entry")
    img = np.asarray(ev["window_gev"], dtype=float)
    pitch = float(ev["pitch_mm"])
    size = img.shape[0]
    lo, hi = -pitch / 2, (size - 0.5) * pitch
    e_scale = 250.0 / max(1e-9, max(v for v in ev["truth"][2::3] if v is not None))
    with use_style(style):
        fig, axes = figure(1, 1, panel_aspect=1.0)
        ax = axes[0, 0]
        vmax = float(np.max(img))
        im = ax.imshow(
            np.where(img > 0, img, np.nan),
            origin="lower",
            extent=(lo, hi, lo, hi),
            norm=LogNorm(vmin=max(vmax * 1e-4, 1e-3), vmax=vmax),
            cmap="viridis",
        )
        t = ev["truth"]
        ax.scatter(
            [t[0], t[3]],
            [t[1], t[4]],
            s=[t[2] * e_scale, t[5] * e_scale],
            marker="o",
            facecolor="none",
            edgecolor="black",
            lw=1.5,
            label="true photons",
        )
        markers = ("x", "+", "1", "2")
        for j, name in enumerate([e for e in estimators if e in ev["estimates"]]):
            p = ev["estimates"][name].get("photons")
            if p is None:
                continue
            ax.scatter(
                [p[0], p[3]],
                [p[1], p[4]],
                s=[max(p[2], 0) * e_scale, max(p[5], 0) * e_scale],
                marker=markers[j % len(markers)],
                color=color(name),
                lw=1.2,
                label=label(name),
            )
        ax.set_xlabel("x [mm]")
        ax.set_ylabel("y [mm]")
        ax.set_title(
            f"$E_{{\\gamma\\gamma}}$ = {ev['energy_gev']:.0f} GeV, "
            f"d = {ev['separation_cells']:.2f} cells",
            fontsize="medium",
        )
        ax.tick_params(which="minor", left=False, right=False, top=False, bottom=False)
        fig.colorbar(im, ax=ax, label="cell energy [GeV]", shrink=0.8)
        ax.legend(
            loc="lower left",
            fontsize="x-small",
            facecolor="0.85",
            title=dataset_label(dataset) if dataset else None,
        )
    return save(fig, outputs)


def mass_linearity(
    metrics: Mapping[str, Any] | str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    estimators: Sequence[str] = ("nn", "fit"),
    dataset: str | None = None,
):
    """Reconstructed over true mass (peak position, the bars its core sigma) versus the true
    parent mass: a network that learned the pi0 mass pulls every pair towards it.

    Args:
        metrics: two_photon.json or its dict (``mass_linearity``: {mass: {name: mass_peak}}).
        style, outputs: style file and output files.
        estimators: estimators to show.
        dataset: dataset key, shown on the figure.

    Returns:
        the figure: one panel, one error-bar series per estimator and the pi0-mass pull line.
    """
    m = _metrics(metrics)
    scan = m.get("mass_linearity")
    if not scan:
        raise ValueError("metrics: no mass_linearity entry (run the study with --mass-scan)")
    masses = sorted(scan, key=float)
    names = [e for e in estimators if any(e in scan[k] for k in masses)]
    with use_style(style):
        fig, axes = figure(1, 1, panel_aspect=0.7)
        ax = axes[0, 0]
        grid = np.array([float(k) for k in masses])
        for j, name in enumerate(names):
            pts = [
                (float(k), scan[k][name]["mu_rel"], scan[k][name]["sigma_rel"])
                for k in masses
                if name in scan[k] and "mu_rel" in scan[k][name]
            ]
            x, mu, sig = (np.array(v) for v in zip(*pts, strict=True))
            ax.errorbar(
                x + 1.0 * (j - (len(names) - 1) / 2),
                mu,
                yerr=sig,
                fmt="o-",
                ms=4,
                lw=0.8,
                capsize=2,
                color=color(name),
                label=label(name),
            )
        ax.axhline(1.0, color="0.5", lw=0.8)
        ax.plot(
            grid, PI0_MASS_MEV / grid, color="0.5", ls="--", lw=0.8, label=r"$m_{\pi^0}$ imposed"
        )
        ax.set_xlabel("true parent mass [MeV]")
        ax.set_ylabel(r"$m_{\gamma\gamma} / m_\mathrm{true}$ (peak, $\pm\sigma$)")
        ax.legend(
            loc="upper right",
            fontsize="small",
            title=dataset_label(dataset) if dataset else None,
        )
    return save(fig, outputs)
