"""Figures of the hit-level attribution: the network against its baselines, TP/WR of every
clustering method versus gamma energy and opening angle, and an event display coloured by the
network's attribution.

Inputs are the ``attribution.json`` dict of :func:`caloreco.attribution.attribution_metrics`
(or its path), and for the display the events, geometry and per-hit labels. Definitions: hit
level in :mod:`caloreco.attribution.metrics`, TP/FP/FN/FM/WR in
:mod:`caloreco.clustering.metrics`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from caloreco.plotting._common import as_paths, load_json, plain_log_ticks
from caloreco.plotting.names import color, dataset_label, label
from caloreco.plotting.style import figure, is_slide, save, use_style

__all__ = [
    "NAMES",
    "baselines",
    "reconstruction_vs",
    "event_display",
    "event_display_files",
    "pick_display_events",
    "training_curves",
    "training_curves_files",
]

#: legend names of the entries that only these figures draw (methods and baselines:
#: :mod:`caloreco.plotting.names`)
NAMES = {
    "network": "point-cloud NN",
    "smart_random_draw": "smart random (draw)",
}
_COLORS = {"network": "#7a21dd", "smart_random_draw": "#5790fc"}
METHOD_ORDER = ("cone", "cone+nn", "agglomerative", "agglomerative+nn", "pointnet", "slots")
CLUSTER_COLORS = ["#5790fc", "#f89c20", "#e42536", "#964a8b", "#7a21dd", "#9c9ca1"]


def _name(key: str) -> str:
    return NAMES.get(key, label(key))


def _color(key: str, i: int = 0) -> str:
    return _COLORS.get(key, color(key, i))


def _metrics(metrics: Mapping[str, Any] | str | os.PathLike) -> Mapping[str, Any]:
    if isinstance(metrics, Mapping):
        return metrics
    return load_json(metrics, "metrics")


def baselines(
    metrics: Mapping[str, Any] | str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    dataset: str | None = None,
):
    """F1 and accuracy of the network against smart_random and the majority baseline.

    Left: raw and energy-weighted F1 and accuracy as grouped bars (network with its 95 %
    bootstrap interval, smart_random expected with its seeded draw, majority); right: F1 per
    bin of the focal gamma's energy beside smart_random, and accuracy beside the majority.

    Args:
        metrics: ``attribution.json`` (dict or path).
        style, outputs: style file and output files.
        dataset: dataset key, shown.

    Returns:
        the figure; ``fig.axes[0].patches`` holds the bars (3 per metric group).
    """
    hl = _metrics(metrics).get("hit_level")
    if not hl:
        raise ValueError("metrics: no 'hit_level' block (expected attribution.json)")
    net, sr, maj = hl["network"], hl["smart_random"], hl["majority"]
    groups = [
        ("F1", "raw", "f1"),
        ("F1 (E-weighted)", "energy_weighted", "f1"),
        ("accuracy", "raw", "accuracy"),
        ("accuracy (E-weighted)", "energy_weighted", "accuracy"),
    ]
    bins = hl.get("per_energy_bin", [])
    with use_style(style):
        fig, axes = figure(1, 2 if len(bins) > 1 else 1, panel_aspect=0.8)
        ax = axes[0, 0]
        x = np.arange(len(groups), dtype=float)
        w = 0.26
        for j, (key, values, errs) in enumerate(
            [
                (
                    "network",
                    [net[b][k] for _, b, k in groups],
                    [net[b][f"{k}_ci"] for _, b, k in groups],
                ),
                (
                    "smart_random",
                    [sr["expected"][b][k] for _, b, k in groups],
                    [sr["draw"][b][f"{k}_ci"] for _, b, k in groups],
                ),
                ("majority", [maj[b][k] for _, b, k in groups], None),
            ]
        ):
            xs = x + (j - 1) * w
            ax.bar(xs, values, w, color=_color(key), label=_name(key))
            if errs is not None and key == "network":
                lo = [v - e[0] for v, e in zip(values, errs, strict=True)]
                hi = [e[1] - v for v, e in zip(values, errs, strict=True)]
                ax.errorbar(xs, values, yerr=[lo, hi], fmt="none", color="0.1", capsize=2)
            if key == "smart_random":
                draw = [sr["draw"][b][k] for _, b, k in groups]
                ax.plot(
                    xs, draw, "_", color="0.1", ms=10, mew=1.5, label=_name("smart_random_draw")
                )
        ax.set_xticks(x, [g[0].replace(" (", "\n(") for g in groups], fontsize="small")
        ax.tick_params(axis="x", which="minor", bottom=False, top=False)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("hit-level score")
        if len(bins) > 1:
            ax2 = axes[0, 1]
            c = np.array([0.5 * (b["e_lo"] + b["e_hi"]) for b in bins])
            xe = np.array([0.5 * (b["e_hi"] - b["e_lo"]) for b in bins])
            kw = {"fmt": "o", "ms": 3.5, "xerr": xe}
            ax2.errorbar(c, [b["raw"]["f1"] for b in bins], color=_color("network"), **kw,
                         label="F1, " + _name("network"))  # fmt: skip
            ax2.errorbar(c, [b["smart_random"]["raw"]["f1"] for b in bins],
                         color=_color("smart_random"), **kw, label="F1, " + _name("smart_random"))  # fmt: skip
            ax2.errorbar(c, [b["raw"]["accuracy"] for b in bins], color=_color("network"),
                         mfc="white", **kw, label="accuracy, " + _name("network"))  # fmt: skip
            ax2.errorbar(c, [b["majority"]["raw"]["accuracy"] for b in bins],
                         color=_color("majority"), mfc="white", **kw,
                         label="accuracy, " + _name("majority"))  # fmt: skip
            ax2.set_xlabel(r"focal $E_\gamma$ [MeV]")
            ax2.set_ylim(0, 1.05)
            ax2.legend(fontsize="x-small", loc="lower right")
        handles, texts = ax.get_legend_handles_labels()
        fig.legend(
            handles,
            texts,
            loc="outside upper center",
            ncol=4 if is_slide() else 2,
            title=dataset_label(dataset) if dataset else None,
            fontsize="small",
        )
    return save(fig, outputs)


def reconstruction_vs(
    metrics: Mapping[str, Any] | str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    dataset: str | None = None,
    methods: Sequence[str] | None = None,
):
    """TP and WR of every clustering method versus gamma energy and opening angle.

    Panels (from ``attribution.json["binned"]``): WR per gamma versus its energy and versus the
    angle to the nearest other gamma; TP per event versus its highest gamma energy and its
    smallest gamma-gamma angle. For a mono-energetic dataset the energy panels are left out.

    Returns:
        the figure.
    """
    binned = _metrics(metrics).get("binned")
    if not binned:
        raise ValueError("metrics: no 'binned' block (expected attribution.json)")
    names = [m for m in METHOD_ORDER if m in binned] + [m for m in binned if m not in METHOD_ORDER]
    if methods is not None:
        missing = [m for m in methods if m not in binned]
        if missing:
            raise ValueError(f"methods: {missing} not in metrics (has {sorted(binned)})")
        names = list(methods)
    first = binned[names[0]]
    with_energy = len(first["WR_vs_energy"]) > 1
    panels = (
        ["WR_vs_energy", "WR_vs_angle", "TP_vs_energy", "TP_vs_angle"]
        if with_energy
        else ["WR_vs_angle", "TP_vs_angle"]
    )
    rows, cols = (2, 2) if with_energy else (1, 2)
    with use_style(style):
        fig, axes = figure(rows, cols, panel_aspect=0.75, sharey=True)
        flat = dict(zip(panels, axes.ravel(), strict=True))
        for j, m in enumerate(names):
            shift = (j - (len(names) - 1) / 2) * 0.015
            for key, ax in flat.items():
                pts = binned[m][key]
                if not pts:
                    continue
                lo = np.array([p["lo"] for p in pts])
                hi = np.array([p["hi"] for p in pts])
                c = 0.5 * (lo + hi)
                span = float(hi.max() - lo.min())
                ax.errorbar(
                    c + shift * span,
                    [p["value"] for p in pts],
                    yerr=[p["err"] for p in pts],
                    fmt="o",
                    ms=3.5,
                    color=_color(m, j),
                    label=_name(m),
                )
        titles = {
            "WR_vs_energy": (r"$E_\gamma$ [MeV]", "WR per gamma"),
            "WR_vs_angle": (r"angle to nearest $\gamma$ [deg]", "WR per gamma"),
            "TP_vs_energy": (r"highest $E_\gamma$ of the event [MeV]", "TP per event"),
            "TP_vs_angle": (r"smallest $\gamma\gamma$ angle of the event [deg]", "TP per event"),
        }
        for key, ax in flat.items():
            ax.set_xlabel(titles[key][0])
            ax.set_title(titles[key][1], fontsize="medium")
            ax.set_ylim(0, 1.05)
        for r in range(rows):
            axes[r, 0].set_ylabel("fraction")
        handles, texts = axes[0, 0].get_legend_handles_labels()
        fig.legend(
            handles,
            texts,
            loc="outside upper center",
            ncol=3 if is_slide() else 2,
            title=dataset_label(dataset) if dataset else None,
            fontsize="small",
        )
    return save(fig, outputs)


def pick_display_events(events, labels: np.ndarray, n: int) -> np.ndarray:
    """Event indices to show: the busiest events that the network reconstructs exactly, and the
    busiest it gets wrong (half and half), at least 3 hits each, in event order."""
    from caloreco.clustering.metrics import event_metrics
    from caloreco.clustering.table import true_labels

    hits = np.diff(events.hit_offsets)
    cat = event_metrics(events.hit_offsets, labels, true_labels(events))["category"]
    score = hits.astype(np.float64)
    score[hits < 3] = -np.inf
    wrong = np.flatnonzero((cat > 0) & np.isfinite(score))
    right = np.flatnonzero((cat == 0) & np.isfinite(score))
    n_wrong = min(n // 2, wrong.size)
    pick = np.r_[
        wrong[np.argsort(-score[wrong], kind="stable")][:n_wrong],
        right[np.argsort(-score[right], kind="stable")][: n - n_wrong],
    ]
    return np.sort(pick.astype(np.int64))


def _match_colours(lab: np.ndarray, truth: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """Colour index per hit: a network cluster takes the index of the true gamma holding most
    of its energy, so right attributions look alike; a second cluster of the same gamma (a
    split) or a cluster without truth takes the next unused index."""
    out = np.empty(lab.size, dtype=np.int64)
    used: set[int] = set()
    spare = int(truth.max(initial=-1)) + 1
    for k in np.unique(lab):  # clusters in peeling order: the most energetic seed first
        sel = lab == k
        t = truth[sel]
        dom = -1
        if np.any(t >= 0):
            w = np.bincount(t[t >= 0], weights=energy[sel][t >= 0])
            dom = int(np.argmax(w))
        if dom < 0 or dom in used:
            dom, spare = spare, spare + 1
        used.add(dom)
        out[sel] = dom
    return out


def event_display(
    events,
    geom,
    labels: np.ndarray,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    picks: Sequence[int] | None = None,
    n_events: int = 4,
    dataset: str | None = None,
):
    """Theta-phi maps of CALIFA events, hits coloured by the network's attribution.

    Each hit is a disc coloured by its ``pointnet`` cluster (size: energy), its edge coloured by
    the true gamma that dominates it, so a wrong attribution shows as a disc whose fill and
    edge disagree with the others of its gamma; crosses mark the true gamma directions.

    Args:
        events: RawEvents with truth; geom: their geometry.
        labels: per-hit cluster labels of the network (peeling).
        style, outputs: style file and output files.
        picks: event indices to show (default :func:`pick_display_events`).
        n_events: number of events when picking.
        dataset: dataset key, shown.

    Returns:
        the figure.
    """
    from caloreco.clustering.metrics import event_metrics
    from caloreco.clustering.table import true_labels

    lab = np.asarray(labels, dtype=np.int64)
    if lab.shape != events.cell_id.shape:
        raise ValueError(f"labels: expected {events.cell_id.size} per-hit labels, got {lab.shape}")
    picks = pick_display_events(events, lab, n_events) if picks is None else np.asarray(picks)
    if len(picks) == 0:
        raise ValueError("picks: no event to show")
    truth = true_labels(events)
    category = event_metrics(events.hit_offsets, lab, truth)["category"]
    cat_name = {0: "TP", 1: "FP", 2: "FN", 3: "FM"}
    ncols = 2 if len(picks) > 1 else 1
    nrows = int(np.ceil(len(picks) / ncols))
    with use_style(style):
        fig, axes = figure(nrows, ncols, panel_aspect=0.6)
        for ax in axes.ravel()[len(picks) :]:
            ax.set_visible(False)
        for ax, i in zip(axes.ravel(), picks, strict=False):
            lo, hi = events.hit_offsets[i], events.hit_offsets[i + 1]
            cid = events.cell_id[lo:hi].astype(np.int64)
            e = events.cell_energy[lo:hi].astype(np.float64)
            phd, thd = np.degrees(geom.phi[cid]), np.degrees(geom.theta[cid])
            ax.scatter(np.degrees(geom.phi), np.degrees(geom.theta), s=0.3, color="0.88", lw=0,
                       rasterized=True)  # fmt: skip
            col = _match_colours(lab[lo:hi], truth[lo:hi], e)
            tru = truth[lo:hi]
            fill = [CLUSTER_COLORS[k % len(CLUSTER_COLORS)] for k in col]
            edge = [CLUSTER_COLORS[k % len(CLUSTER_COLORS)] if k >= 0 else "0.3" for k in tru]
            size = 12 + 45 * np.sqrt(e / max(e.max(), 1e-9))
            ax.scatter(phd, thd, s=size, c=fill, edgecolors=edge, linewidths=1.8, zorder=4)
            wrong = col != tru
            if wrong.any():  # rings around the hits the network gave to another gamma
                ax.scatter(phd[wrong], thd[wrong], s=size[wrong] * 4, facecolors="none",
                           edgecolors="0.1", linewidths=1.0, zorder=5)  # fmt: skip
            p0, p1 = events.primary_offsets[i], events.primary_offsets[i + 1]
            gph = np.degrees(np.mod(events.primary_phi[p0:p1], 2 * np.pi))
            gth = np.degrees(events.primary_theta[p0:p1])
            ax.plot(gph, gth, "x", color="white", ms=9, mew=3.2, zorder=6)
            for k in range(p1 - p0):
                ax.plot(gph[k], gth[k], "x", color=CLUSTER_COLORS[k % len(CLUSTER_COLORS)],
                        ms=8, mew=1.6, zorder=7)  # fmt: skip
            ax.set_xlim(0, 360)
            ax.set_ylim(np.degrees(geom.theta.max()) + 5, np.degrees(geom.theta.min()) - 5)
            ax.set_xticks([0, 90, 180, 270, 360])
            ax.set_xlabel(r"$\phi$ [deg]")
            ax.set_ylabel(r"$\theta$ [deg]")
            egs = ", ".join(f"{v:.2g}" for v in events.primary_energy[p0:p1])
            tag = cat_name.get(int(category[i]), "-")
            ax.set_title(f"event {int(events.event[i])} ({tag}): {egs} MeV", fontsize="small")
        from matplotlib.lines import Line2D

        handles = [
            Line2D(
                [],
                [],
                ls="none",
                marker="o",
                color=CLUSTER_COLORS[0],
                mec=CLUSTER_COLORS[1],
                mew=2,
                label="hit: fill = network cluster, edge = true gamma",
            ),  # fmt: skip
            Line2D(
                [],
                [],
                ls="none",
                marker="o",
                mfc="none",
                mec="0.1",
                ms=9,
                label="hit given to another gamma",
            ),  # fmt: skip
            Line2D([], [], ls="none", marker="x", color="0.1", label=r"true $\gamma$ direction"),
        ]
        fig.legend(
            handles=handles,
            loc="outside upper center",
            ncol=3 if is_slide() else 2,
            title=dataset_label(dataset) if dataset else None,
            fontsize="small",
        )
    return save(fig, outputs)


def training_curves(
    histories: Mapping[str, Any],
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    dataset: str | None = None,
    reference_tp: Mapping[str, float] | None = None,
):
    """Loss per epoch of the attribution networks, and the validation TP of the segmenter.

    Args:
        histories: per method (``pointnet``, ``slots``) a history table (DataFrame, dict of
            lists or CSV path) with ``epoch``, ``train_loss``, ``val_loss`` and, for the
            segmenter, ``val_TP``.
        style, outputs: style file and output files.
        dataset: dataset key, shown.
        reference_tp: TP fractions drawn as horizontal lines on the TP panel (e.g.
            ``{"agglomerative+nn": 0.875}``).

    Returns:
        the figure: left losses (solid validation, dashed training), right validation TP per
        epoch (only if a history has ``val_TP``).
    """
    import pandas as pd

    tables = {}
    for name, h in histories.items():
        tables[name] = h if isinstance(h, pd.DataFrame) else (
            pd.read_csv(h) if isinstance(h, str | os.PathLike) else pd.DataFrame(h)
        )  # fmt: skip
        missing = {"epoch", "train_loss", "val_loss"} - set(tables[name].columns)
        if missing:
            raise ValueError(f"histories[{name!r}]: missing columns {sorted(missing)}")
    with_tp = any("val_TP" in t.columns for t in tables.values())
    with use_style(style):
        fig, axes = figure(1, 2 if with_tp else 1, panel_aspect=0.8)
        ax = axes[0, 0]
        for j, (name, t) in enumerate(tables.items()):
            c = _color(name, j)
            ax.plot(t["epoch"], t["val_loss"], color=c, label=f"{_name(name)}, validation")
            ax.plot(t["epoch"], t["train_loss"], color=c, ls="--", label="training")
        ax.set_yscale("log")
        plain_log_ticks(ax)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss per hit")
        ax.legend(fontsize="x-small", loc="upper right")
        if with_tp:
            ax2 = axes[0, 1]
            for j, (name, t) in enumerate(tables.items()):
                if "val_TP" in t.columns:
                    ax2.plot(t["epoch"], t["val_TP"], "o-", ms=3, color=_color(name, j),
                             label=_name(name))  # fmt: skip
            for j, (name, v) in enumerate(dict(reference_tp or {}).items()):
                ax2.axhline(v, color=_color(name, j), ls=":", label=_name(name))
            ax2.set_xlabel("epoch")
            ax2.set_ylabel("TP fraction (validation events)")
            ax2.legend(fontsize="x-small", loc="lower right")
        if dataset:
            fig.suptitle(dataset_label(dataset), fontsize="medium")
    return save(fig, outputs)


def event_display_files(
    raw: str | os.PathLike,
    cells: str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    dataset: str | None = None,
    split: Mapping[str, Any] | None = None,
    n_events: int = 4,
):
    """:func:`event_display` of one raw chunk and the network's cells table of it (the
    workflow's figure): with ``split`` (``{"fractions", "seed"}``) only test events are shown,
    events the network was neither trained nor tuned on.

    Args:
        raw: ``raw/chunk-NNN.root`` (with truth).
        cells: ``clusters/pointnet/cells-NNN.parquet`` of the same chunk.
        style, outputs: style file and output files.
        dataset: dataset key, shown.
        split: the dataset's event split; None shows every event of the chunk.
        n_events: events shown.
    """
    import pandas as pd

    from caloreco.clustering.matching import labels_from_cells
    from caloreco.io.raw import geometry_from_file, read_raw
    from caloreco.split import assign_split

    (raw_path,) = as_paths(raw, "raw")
    (cells_path,) = as_paths(cells, "cells")
    events = read_raw(raw_path, require_truth=True)
    if split is not None:
        part = assign_split(events.event, tuple(split["fractions"]), int(split["seed"]))
        events = events.select(part == "test")
    if events.n_events == 0:
        raise ValueError(f"raw: {raw_path} has no test events to show")
    table = pd.read_parquet(cells_path)
    labels = labels_from_cells(events, table[table["event"].isin(set(events.event.tolist()))])
    if np.any(labels < 0):
        raise ValueError(f"cells: {cells_path} leaves hits of {raw_path} without a cluster")
    geom = geometry_from_file(raw_path)
    return event_display(events, geom, labels, style, outputs, n_events=n_events, dataset=dataset)


#: the clustering method each trained model file stands for
MODEL_METHOD = {"attribution": "pointnet", "slots": "slots"}


def training_curves_files(
    histories: str | os.PathLike | Sequence[str | os.PathLike],
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    dataset: str | None = None,
    metrics: str | os.PathLike | None = None,
):
    """:func:`training_curves` of ``models/{attribution,slots}.history.csv`` (the workflow's
    figure), with the test TP of agglomerative + NN from ``metrics`` (attribution.json) as the
    reference line on the segmenter's validation TP panel."""
    tables = {}
    for p in as_paths(histories, "histories"):
        model = p.name.removesuffix(".history.csv")
        tables[MODEL_METHOD.get(model, model)] = p
    reference = None
    if metrics is not None:
        clustering = _metrics(metrics).get("clustering", {})
        reference = {
            m: float(clustering[m]["TP"]) for m in ("agglomerative+nn",) if m in clustering
        }
    return training_curves(tables, style, outputs, dataset=dataset, reference_tp=reference)
