"""Figures of the CALIFA cluster reconstruction: event categories against the published study,
well-reconstructed fraction and photopeak efficiency versus energy and opening angle, and
reconstructed versus true energy spectra.

Definitions (TP/FP/FN/FM, WR) are those of :mod:`caloreco.clustering.metrics`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from caloreco.plotting._common import as_paths, binomial_ci, load_json
from caloreco.plotting.names import color, dataset_label, label
from caloreco.plotting.style import figure, is_slide, save, use_style

__all__ = [
    "PUBLISHED",
    "PUBLISHED_FOR_DATASET",
    "METHOD_ORDER",
    "event_categories",
    "efficiency",
    "energy_spectra",
]

#: the order clustering methods appear in figures
METHOD_ORDER = (
    "connected",
    "cone",
    "cone+nn",
    "agglomerative",
    "agglomerative+nn",
    "pointnet",
    "slots",
)

#: Published event categories and WR (percent) of the CALIFA clustering study, keyed by our
#: method names ("edge" is their edge model on all hit pairs, which has no counterpart here).
#: Source: T. Jenegger et al., "Machine Learning for the Cluster Reconstruction in the CALIFA
#: Calorimeter at R3B" (2025), as summarised in docs/califa-reference.md. The 2.1 MeV set
#: quotes TP and WR only.
PUBLISHED: dict[str, Any] = {
    "source": (
        "T. Jenegger et al., Machine Learning for the Cluster Reconstruction in the CALIFA "
        "Calorimeter at R3B (2025)"
    ),
    "uniform": {
        "cone": {"TP": 60.6, "FP": 5.3, "FN": 25.2, "FM": 8.9, "WR": 80.4},
        "agglomerative": {"TP": 62.8, "FP": 3.3, "FN": 32.0, "FM": 1.9, "WR": 84.1},
        "edge": {"TP": 74.7, "FP": 3.4, "FN": 20.5, "FM": 1.4, "WR": 89.2},
        "agglomerative+nn": {"TP": 81.3, "FP": 5.1, "FN": 12.2, "FM": 1.5, "WR": 91.0},
    },
    "2p1": {
        "cone": {"TP": 71.8, "WR": 85.8},
        "agglomerative": {"TP": 76.0, "WR": 89.1},
        "edge": {"TP": 83.0, "WR": 93.3},
        "agglomerative+nn": {"TP": 91.0, "WR": 94.2},
    },
}

#: which published table belongs beside which default dataset
PUBLISHED_FOR_DATASET = {"califa_uniform": "uniform", "califa_2p1": "2p1"}

CATEGORIES = ("TP", "FP", "FN", "FM")
CATEGORY_COLORS = {"TP": "#5790fc", "FP": "#f89c20", "FN": "#e42536", "FM": "#964a8b"}
CATEGORY_TEXT = {
    "TP": "TP: identical",
    "FP": "FP: over-merged",
    "FN": "FN: split",
    "FM": "FM: both",
}


def _ordered(names) -> list[str]:
    names = list(names)
    return [m for m in METHOD_ORDER if m in names] + [m for m in names if m not in METHOD_ORDER]


def event_categories(
    metrics: str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    dataset: str | None = None,
    reference: str | None = None,
    methods: Sequence[str] | None = None,
):
    """TP/FP/FN/FM fractions per clustering method as stacked bars (the published study's
    figure), with the published numbers drawn beside ours as hatched bars.

    Args:
        metrics: ``clustering.json``.
        style, outputs: style file and output files.
        dataset: dataset key (shown; picks the published table by :data:`PUBLISHED_FOR_DATASET`
            unless ``reference`` is given).
        reference: key of :data:`PUBLISHED` (``"uniform"``, ``"2p1"``) or ``"none"``.
        methods: methods to show (default: all of the file, in :data:`METHOD_ORDER`).

    Returns:
        the figure; ``fig.axes[0].patches`` holds 4 bars per method (ours) plus the published
        segments.
    """
    info = load_json(metrics, "metrics").get("methods", {})
    if not info:
        raise ValueError(f"metrics: {metrics} has no 'methods'")
    names = _ordered(methods if methods is not None else info)
    missing = [m for m in names if m not in info]
    if missing:
        raise ValueError(f"methods: {missing} not in {metrics} (has {sorted(info)})")
    ref_key = reference if reference is not None else PUBLISHED_FOR_DATASET.get(dataset or "")
    published = PUBLISHED.get(ref_key, {}) if ref_key not in (None, "none") else {}
    x = np.arange(len(names), dtype=float)
    has_ref = any(m in published for m in names)
    width = 0.38 if has_ref else 0.6
    with use_style(style):
        fig, axes = figure(1, 1, panel_aspect=0.55)
        ax = axes[0, 0]
        for i, m in enumerate(names):
            xo = x[i] - (width / 2 + 0.01 if has_ref else 0.0)
            bottom = 0.0
            for cat in CATEGORIES:
                v = 100 * float(info[m].get(cat, 0.0))
                ax.bar(xo, v, width, bottom=bottom, color=CATEGORY_COLORS[cat], lw=0)
                bottom += v
            tp = 100 * float(info[m].get("TP", 0.0))
            ax.text(
                xo, tp / 2, f"{tp:.1f}", ha="center", va="center", color="white", fontsize="small"
            )
            pub = published.get(m)
            if pub:
                xp = x[i] + width / 2 + 0.01
                bottom = 0.0
                for cat in CATEGORIES:
                    if cat not in pub:
                        continue
                    ax.bar(
                        xp,
                        pub[cat],
                        width,
                        bottom=bottom,
                        facecolor="white",
                        edgecolor=CATEGORY_COLORS[cat],
                        hatch="////",
                    )
                    bottom += pub[cat]
                ax.text(
                    xp,
                    pub["TP"] / 2,
                    f"{pub['TP']:.1f}",
                    ha="center",
                    va="center",
                    fontsize="small",
                    bbox={"fc": "white", "ec": "none", "pad": 1},
                )
        ax.set_xticks(x, [label(m).replace(" + ", "\n+ ") for m in names], fontsize="small")
        ax.tick_params(axis="x", which="minor", bottom=False, top=False)
        ax.set_xlim(-0.6, len(names) - 0.4)
        ax.set_ylim(0, 100)
        ax.set_ylabel("fraction of events [%]")
        from matplotlib.patches import Patch

        handles = [Patch(color=CATEGORY_COLORS[c], label=CATEGORY_TEXT[c]) for c in CATEGORIES]
        if has_ref:
            text = "published (TP only)" if ref_key == "2p1" else "published"
            handles.append(Patch(facecolor="white", edgecolor="0.3", hatch="////", label=text))
        fig.legend(
            handles=handles,
            loc="outside right upper",
            title=dataset_label(dataset) if dataset else None,
            fontsize="small",
            title_fontsize="small",
            alignment="left",
        )
    return save(fig, outputs)


# ---------------------------------------------------------------------------------------------
# per-primary quantities (tables/primaries.parquet of the clustering_metrics rule)


def _read_primaries(path, methods: Sequence[str] | None) -> dict[str, pd.DataFrame]:
    """The per-primary table by method, in the figure's method order."""
    table = pd.read_parquet(as_paths(path, "primaries")[0])
    by_method = {m: t.reset_index(drop=True) for m, t in table.groupby("method", sort=False)}
    names = _ordered(methods if methods is not None else by_method)
    missing = [m for m in names if m not in by_method]
    if missing:
        raise ValueError(f"methods: {path} has no rows for {missing} (has {sorted(by_method)})")
    return {m: by_method[m] for m in names}


def _binned(x: np.ndarray, ok: np.ndarray, edges: np.ndarray):
    idx = np.digitize(x, edges) - 1
    inside = (idx >= 0) & (idx < edges.size - 1)
    n = np.bincount(idx[inside], minlength=edges.size - 1)
    k = np.bincount(idx[inside], weights=ok[inside].astype(float), minlength=edges.size - 1)
    p, lo, hi = binomial_ci(k, n)
    return 0.5 * (edges[1:] + edges[:-1]), p, lo, hi, n


def efficiency(
    primaries: str | os.PathLike,
    metrics: str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    dataset: str | None = None,
    methods: Sequence[str] | None = None,
):
    """Well-reconstructed fraction (WR) per method versus the gamma energy and versus the
    opening angle to the nearest other gamma, and the photopeak efficiency versus energy.

    Args:
        primaries: ``tables/primaries.parquet`` (one row per method and scored primary: true
            energy, nearest angle, whether its true cluster exists and is exactly matched).
        metrics: ``clustering.json`` (photopeak efficiency per energy bin).
        style, outputs: style file and output files.
        dataset: dataset key, shown on the figure.
        methods: methods to show (default: those of the table).

    Returns:
        the figure. For a mono-energetic dataset the energy panels are left out.
    """
    per_method = _read_primaries(primaries, methods)
    names = list(per_method)
    photo = load_json(metrics, "metrics").get("photopeak", {})
    first = next(iter(per_method.values()))
    e = first["energy"].to_numpy()
    spread = np.ptp(e[np.isfinite(e)]) > 0.01 * np.nanmean(e) if e.size else False
    panels = ["wr_energy", "wr_angle", "photopeak"] if spread else ["wr_angle"]
    with use_style(style):
        fig, axes = figure(
            1, len(panels), panel_aspect=1.45 if len(panels) > 1 else 0.55, sharey=True
        )
        axes = dict(zip(panels, axes[0], strict=True))
        e_edges = np.linspace(np.nanmin(e), np.nanmax(e), 11) if spread else None
        a_edges = np.radians([0, 10, 20, 30, 40, 50, 60, 75, 90, 120, 180])
        n_methods = len(names)
        for j, m in enumerate(names):
            t = per_method[m]
            t = t[t["has_cluster"]]
            ok = t["matched"].to_numpy()
            shift = (j - (n_methods - 1) / 2) * 0.012
            kw = {"fmt": "o", "color": color(m, j), "label": label(m), "ms": 3.5}
            if "wr_energy" in axes:
                c, p, lo, hi, _ = _binned(t["energy"].to_numpy(), ok, e_edges)
                dx = shift * (e_edges[-1] - e_edges[0])
                axes["wr_energy"].errorbar(c + dx, p, yerr=[lo, hi], **kw)
            c, p, lo, hi, _ = _binned(t["nearest_angle"].to_numpy(), ok, a_edges)
            axes["wr_angle"].errorbar(np.degrees(c) + shift * 180, p, yerr=[lo, hi], **kw)
            pp = photo.get(m, {}).get("vs_energy", [])
            if "photopeak" in axes and pp:
                lo_e = np.array([r["e_lo"] for r in pp])
                hi_e = np.array([r["e_hi"] for r in pp])
                dx = shift * (e_edges[-1] - e_edges[0])
                axes["photopeak"].errorbar(
                    0.5 * (lo_e + hi_e) + dx,
                    [r["efficiency"] for r in pp],
                    yerr=[r["err"] for r in pp],
                    xerr=0.5 * (hi_e - lo_e),
                    **{**kw, "label": None},
                )
        if "wr_energy" in axes:
            axes["wr_energy"].set_xlabel(r"$E_\gamma$ [MeV]")
        axes["wr_angle"].set_xlabel(r"angle to nearest $\gamma$ [deg]")
        axes["wr_angle"].set_xlim(0, 180)
        first_ax = axes[panels[0]]
        first_ax.set_ylabel("efficiency")
        if "photopeak" in axes:
            axes["photopeak"].set_xlabel(r"$E_\gamma$ [MeV]")
            axes["photopeak"].set_title("photopeak efficiency", fontsize="medium")
            axes["wr_energy"].set_title("well reconstructed (WR)", fontsize="medium")
            axes["wr_angle"].set_title("well reconstructed (WR)", fontsize="medium")
        else:
            axes["wr_angle"].set_title("well reconstructed (WR)", fontsize="medium")
        first_ax.set_ylim(0, 1.05)
        handles, texts = first_ax.get_legend_handles_labels()
        fig.legend(
            handles,
            texts,
            loc="outside upper center",
            ncol=min(len(texts), 4 if is_slide() else 2),
            title=dataset_label(dataset) if dataset else None,
        )
    return save(fig, outputs)


def energy_spectra(
    primaries: str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    dataset: str | None = None,
    methods: Sequence[str] | None = None,
):
    """Reconstructed against true energy: per method the spectrum of the most energetic
    cluster of each gamma beside the true spectrum, and the ratio E_reco / E_true.

    Args:
        primaries: ``tables/primaries.parquet`` (true energy and best cluster energy of every
            scored primary, per method).
        style, outputs: style file and output files.
        dataset: dataset key, shown on the figure.
        methods: methods to show (default: those of the table).

    Returns:
        the figure: left the spectra (one step histogram per method plus the true one), right
        the ratios (one per method).
    """
    per_method = _read_primaries(primaries, methods)
    names = list(per_method)
    e_true = next(iter(per_method.values()))["energy"].to_numpy(np.float64)
    ok = np.isfinite(e_true) & (e_true > 0)
    if not ok.any():
        raise ValueError(f"primaries: {primaries} has no known primary energies")
    hi = 1.15 * float(np.max(e_true[ok]))
    e_edges = np.linspace(0, hi, 81)
    r_edges = np.linspace(0, 1.2, 97)
    with use_style(style):
        fig, axes = figure(1, 2, panel_aspect=0.85)
        ax_e, ax_r = axes[0]
        ax_e.hist(e_true[ok], bins=e_edges, color="0.85", label=r"true $E_\gamma$")
        for j, m in enumerate(names):
            best = per_method[m]["best_energy"].to_numpy(np.float64)[ok]
            kw = {"histtype": "step", "color": color(m, j), "label": label(m)}
            ax_e.hist(best[best > 0], bins=e_edges, **kw)
            ax_r.hist(np.clip(best / e_true[ok], 0, 1.2 - 1e-9), bins=r_edges, **kw)
        ax_e.set_xlabel("energy [MeV]")
        ax_e.set_ylabel(f"gammas / {e_edges[1]:.2g} MeV")
        ax_e.set_yscale("log")
        ax_e.set_xlim(0, hi)
        ax_r.set_xlabel(r"$E_\mathrm{cluster} / E_\gamma$ (most energetic cluster)")
        ax_r.set_ylabel(f"gammas / {r_edges[1]:.2g}")
        ax_r.set_yscale("log")
        ax_r.set_xlim(0, 1.2)
        handles, texts = ax_e.get_legend_handles_labels()
        fig.legend(
            handles,
            texts,
            loc="outside upper center",
            ncol=3,
            title=dataset_label(dataset) if dataset else None,
        )
    return save(fig, outputs)
