"""Figures of the CALIFA cluster reconstruction: event categories against the published study,
well-reconstructed fraction and photopeak efficiency versus energy and opening angle, and
reconstructed versus true energy spectra.

Definitions (TP/FP/FN/FM, WR) are those of :mod:`caloreco.clustering.metrics`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from caloreco.events import RawEvents, concatenate, event_index
from caloreco.plotting import color, dataset_label, label
from caloreco.plotting._common import as_paths, binomial_ci, load_json
from caloreco.plotting.style import figure, is_slide, save, use_style

__all__ = [
    "PUBLISHED",
    "PUBLISHED_FOR_DATASET",
    "METHOD_ORDER",
    "event_categories",
    "primary_matches",
    "efficiency",
    "best_cluster_energy",
    "energy_spectra",
]

#: the order clustering methods appear in figures
METHOD_ORDER = ("connected", "cone", "cone+nn", "agglomerative", "agglomerative+nn")

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
# per-primary quantities from the raw events and the cluster/cell tables


def _read_events(raw, split: Mapping[str, Any] | None) -> RawEvents:
    from caloreco.io import read_raw

    events = concatenate([read_raw(p, require_truth=True) for p in as_paths(raw, "raw")])
    if split is not None:
        from caloreco.split import assign_split

        keep = assign_split(events.event, tuple(split["fractions"]), int(split["seed"])) == "test"
        events = events.select(keep)
    return events


def _by_method(paths, name: str) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for p in as_paths(paths, name):
        out.setdefault(p.parent.name, []).append(p)
    return {m: sorted(v) for m, v in out.items()}


def nearest_primary_angle(events: RawEvents) -> np.ndarray:
    """Per primary, the opening angle (rad) to the nearest other primary of its event
    (``inf`` for a primary alone in its event)."""
    off = events.primary_offsets
    n = int(off[-1])
    th = events.primary_theta.astype(np.float64)
    ph = events.primary_phi.astype(np.float64)
    u = np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], axis=1)
    pe = event_index(off)
    k = np.diff(off)[pe]
    src = np.repeat(np.arange(n), k)
    local = np.arange(src.size) - np.repeat(np.cumsum(k) - k, k)
    dst = off[pe[src]] + local
    keep = src != dst
    src, dst = src[keep], dst[keep]
    ang = np.arccos(np.clip(np.einsum("ij,ij->i", u[src], u[dst]), -1.0, 1.0))
    out = np.full(n, np.inf)
    np.minimum.at(out, src, ang)
    return out


def primary_matches(events: RawEvents, reco_labels: np.ndarray) -> pd.DataFrame:
    """Per primary: whether its true cluster exists and is exactly reconstructed.

    A primary's true cluster is the set of hits it dominates; it is exactly matched when all
    those hits carry one reconstructed label (not ``-1``) and that reconstructed cluster holds
    no other true hit (hits without truth are ignored, as in
    :func:`caloreco.clustering.event_metrics`). The sum of ``matched`` over the sum of
    ``has_cluster`` is the WR of clustering.json.

    Args:
        events: events with truth.
        reco_labels: per-hit reconstructed cluster within the event, ``-1`` unclustered.

    Returns:
        DataFrame, one row per primary: ``event``, ``primary`` (index in the event),
        ``energy`` (MeV), ``nearest_angle`` (rad), ``has_cluster``, ``matched``.
    """
    from caloreco.clustering import true_labels

    reco = np.asarray(reco_labels, dtype=np.int64)
    if reco.shape != events.cell_id.shape:
        raise ValueError(
            f"reco_labels: expected one label per hit ({events.cell_id.size}), got {reco.shape}"
        )
    true = true_labels(events)
    ev = events.hit_event()
    keep = true >= 0
    ev, true, reco = ev[keep], true[keep], reco[keep]
    flat_p = events.primary_offsets[ev] + true  # flat primary index of every true hit
    n_prim = int(events.primary_offsets[-1])
    n_true = np.bincount(flat_p, minlength=n_prim)
    rmin = np.full(n_prim, np.iinfo(np.int64).max)
    rmax = np.full(n_prim, -2, dtype=np.int64)
    np.minimum.at(rmin, flat_p, reco)
    np.maximum.at(rmax, flat_p, reco)
    one_label = (n_true > 0) & (rmin == rmax) & (rmax >= 0)
    # size (in true hits) of each reconstructed cluster, looked up for each primary's label
    rkey = ev * (int(reco.max(initial=0)) + 2) + (reco + 1)
    uk, inv = np.unique(rkey, return_inverse=True)
    r_size = np.bincount(inv.reshape(-1), minlength=uk.size)
    size_of_hit = r_size[inv.reshape(-1)]
    r_size_p = np.zeros(n_prim, dtype=np.int64)
    r_size_p[flat_p] = size_of_hit
    matched = one_label & (r_size_p == n_true)
    pe = event_index(events.primary_offsets)
    return pd.DataFrame(
        {
            "event": events.event[pe],
            "primary": np.arange(n_prim) - events.primary_offsets[pe],
            "energy": events.primary_energy.astype(np.float64),
            "nearest_angle": nearest_primary_angle(events),
            "has_cluster": n_true > 0,
            "matched": matched,
        }
    )


def _binned(x: np.ndarray, ok: np.ndarray, edges: np.ndarray):
    idx = np.digitize(x, edges) - 1
    inside = (idx >= 0) & (idx < edges.size - 1)
    n = np.bincount(idx[inside], minlength=edges.size - 1)
    k = np.bincount(idx[inside], weights=ok[inside].astype(float), minlength=edges.size - 1)
    p, lo, hi = binomial_ci(k, n)
    return 0.5 * (edges[1:] + edges[:-1]), p, lo, hi, n


def efficiency(
    raw: str | os.PathLike | Sequence[str | os.PathLike],
    cells: Sequence[str | os.PathLike],
    metrics: str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    split: Mapping[str, Any] | None = None,
    dataset: str | None = None,
    methods: Sequence[str] | None = None,
):
    """Well-reconstructed fraction (WR) per method versus the gamma energy and versus the
    opening angle to the nearest other gamma, and the photopeak efficiency versus energy.

    Args:
        raw: the dataset's raw chunks.
        cells: ``clusters/{method}/cells-{chunk}.parquet`` of every method to show (all chunks).
        metrics: ``clustering.json`` (photopeak efficiency per energy bin).
        style, outputs: style file and output files.
        split: ``{"fractions", "seed"}``: only the test events (as clustering.json with a pairs
            analysis), or None for all events.
        dataset: dataset key, shown on the figure.
        methods: methods to show (default: those of ``cells``).

    Returns:
        the figure. For a mono-energetic dataset the energy panels are left out.
    """
    from caloreco.stages import labels_from_cells

    events = _read_events(raw, split)
    files = _by_method(cells, "cells")
    names = _ordered(methods if methods is not None else files)
    per_method = {}
    wanted = set(events.event.tolist())
    for m in names:
        if m not in files:
            raise ValueError(f"methods: no cells tables for {m!r} (have {sorted(files)})")
        table = pd.concat([pd.read_parquet(p) for p in files[m]], ignore_index=True)
        table = table[table["event"].isin(wanted)]
        per_method[m] = primary_matches(events, labels_from_cells(events, table))
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


def best_cluster_energy(events: RawEvents, clusters: pd.DataFrame) -> np.ndarray:
    """Per primary, the energy (MeV) of the most energetic cluster it dominates (0 if none),
    as for the photopeak efficiency of clustering.json."""
    ev_pos = pd.Series(np.arange(events.n_events), index=events.event)
    matched = clusters[(clusters["primary"] >= 0) & clusters["event"].isin(ev_pos.index)]
    pos = ev_pos.loc[matched["event"].to_numpy()].to_numpy()
    flat = events.primary_offsets[pos] + matched["primary"].to_numpy()
    best = np.zeros(int(events.primary_offsets[-1]))
    np.maximum.at(best, flat, matched["energy"].to_numpy(np.float64))
    return best


def energy_spectra(
    raw: str | os.PathLike | Sequence[str | os.PathLike],
    clusters: Sequence[str | os.PathLike],
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    split: Mapping[str, Any] | None = None,
    dataset: str | None = None,
    methods: Sequence[str] | None = None,
):
    """Reconstructed against true energy: per method the spectrum of the most energetic
    cluster of each gamma beside the true spectrum, and the ratio E_reco / E_true.

    Args:
        raw: the dataset's raw chunks (true gamma energies).
        clusters: ``clusters/{method}/chunk-{chunk}.parquet`` of every method (all chunks).
        style, outputs: style file and output files.
        split: ``{"fractions", "seed"}`` for test events only, or None.
        dataset: dataset key, shown on the figure.
        methods: methods to show (default: those of ``clusters``).

    Returns:
        the figure: left the spectra (one step histogram per method plus the true one), right
        the ratios (one per method).
    """
    events = _read_events(raw, split)
    files = _by_method(clusters, "clusters")
    names = _ordered(methods if methods is not None else files)
    e_true = events.primary_energy.astype(np.float64)
    ok = np.isfinite(e_true) & (e_true > 0)
    if not ok.any():
        raise ValueError(f"raw: {raw} has no known primary energies")
    hi = 1.15 * float(np.max(e_true[ok]))
    e_edges = np.linspace(0, hi, 81)
    r_edges = np.linspace(0, 1.2, 97)
    with use_style(style):
        fig, axes = figure(1, 2, panel_aspect=0.85)
        ax_e, ax_r = axes[0]
        ax_e.hist(e_true[ok], bins=e_edges, color="0.85", label=r"true $E_\gamma$")
        for j, m in enumerate(names):
            table = pd.concat([pd.read_parquet(p) for p in files[m]], ignore_index=True)
            best = best_cluster_energy(events, table)[ok]
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
