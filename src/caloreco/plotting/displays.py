"""Event displays with the true particles and the reconstructed clusters.

* planar detectors (ECAL): the cell grid around the showers, cell energy in colour (log), the
  true impact points, each reconstructed cluster outlined along its cell borders with its
  reconstructed position marked;
* barrel detectors (CALIFA): the theta-phi map of the crystals, each hit coloured by the gamma
  that deposited most of its energy, each reconstructed cluster drawn as lines from its hits to
  its energy-weighted direction, the true gamma directions marked; one column per method.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from caloreco.plotting._common import as_paths
from caloreco.plotting.names import dataset_label, label
from caloreco.plotting.style import figure, is_slide, save, use_style

__all__ = ["event_display", "pick_events"]

TRUE_COLORS = ["#5790fc", "#f89c20", "#e42536", "#964a8b", "#7a21dd", "#9c9ca1"]


def _labels(events, cells: pd.DataFrame) -> np.ndarray:
    from caloreco.clustering.matching import labels_from_cells

    cells = cells[cells["event"].isin(set(events.event.tolist()))]
    return labels_from_cells(events, cells)


def pick_events(events, labels_by_method: Sequence[np.ndarray], n: int) -> np.ndarray:
    """Event indices worth showing: where the methods' event categories differ (the first method
    wrong, the last right, first), then the busiest events; at least 2 hits each.

    Args:
        events: RawEvents with truth (or without: then the busiest events).
        labels_by_method: per method, the per-hit reconstructed labels.
        n: number of events.
    """
    hits = np.diff(events.hit_offsets)
    score = hits.astype(np.float64) / max(hits.max(initial=1), 1)
    if events.has_truth and labels_by_method:
        from caloreco.clustering.metrics import event_metrics
        from caloreco.clustering.table import true_labels

        truth = true_labels(events)
        cats = [
            event_metrics(events.hit_offsets, lab, truth)["category"] for lab in labels_by_method
        ]
        differ = np.zeros(events.n_events, dtype=bool)
        for c in cats[1:]:
            differ |= c != cats[0]
        fixed = (cats[0] != 0) & (cats[-1] == 0)
        score = score + 2 * differ + 2 * fixed
    score[hits < 2] = -np.inf
    order = np.argsort(-score, kind="stable")
    return np.sort(order[: max(n, 1)])


def _ecal_outline(ax, geom, cells: np.ndarray, **kw) -> None:
    """Draw the outer border of a set of grid cells."""
    from matplotlib.collections import LineCollection

    pitch = geom.pitch
    mask = np.zeros((geom.n_rows + 2, geom.n_cols + 2), dtype=bool)
    mask[geom.row[cells] + 1, geom.col[cells] + 1] = True
    x0 = float(geom.x[0]) - pitch / 2  # left edge of column 0
    y0 = float(geom.y[0]) - pitch / 2
    segs = []
    # vertical borders between (r, c-1) and (r, c)
    rr, cc = np.nonzero(mask[:, 1:] != mask[:, :-1])
    for r, c in zip(rr, cc, strict=True):
        x = x0 + c * pitch
        y = y0 + (r - 1) * pitch
        segs.append([(x, y), (x, y + pitch)])
    rr, cc = np.nonzero(mask[1:, :] != mask[:-1, :])
    for r, c in zip(rr, cc, strict=True):
        y = y0 + r * pitch
        x = x0 + (c - 1) * pitch
        segs.append([(x, y), (x + pitch, y)])
    ax.add_collection(LineCollection(segs, **kw))


def _display_ecal(events, geom, labels, clusters, picks, dataset, style, outputs):
    from matplotlib.colors import LogNorm

    scale, unit = 1e-3, "GeV"
    with use_style(style):
        fig, axes = figure(1, len(picks), panel_aspect=1.0)
        e_all = events.cell_energy.astype(np.float64) * scale
        vmax = float(e_all.max(initial=1.0))
        norm = LogNorm(vmin=max(vmax * 1e-4, 1e-3), vmax=vmax)
        pitch = geom.pitch
        im = None
        for ax, i in zip(axes[0], picks, strict=True):
            lo, hi = events.hit_offsets[i], events.hit_offsets[i + 1]
            cid = events.cell_id[lo:hi].astype(np.int64)
            e = events.cell_energy[lo:hi].astype(np.float64) * scale
            img = np.full((geom.n_rows, geom.n_cols), np.nan)
            img[geom.row[cid], geom.col[cid]] = e
            extent = (
                geom.x[0] - pitch / 2,
                geom.x[0] + (geom.n_cols - 0.5) * pitch,
                geom.y[0] - pitch / 2,
                geom.y[0] + (geom.n_rows - 0.5) * pitch,
            )
            im = ax.imshow(
                img,
                origin="lower",
                extent=extent,
                norm=norm,
                cmap="viridis",
                interpolation="nearest",
            )
            lab = labels[lo:hi]
            for k in np.unique(lab[lab >= 0]):
                _ecal_outline(ax, geom, cid[lab == k], colors="#e42536", linewidths=1.0)
            p0, p1 = events.primary_offsets[i], events.primary_offsets[i + 1]
            ax.plot(
                events.primary_x[p0:p1],
                events.primary_y[p0:p1],
                "+",
                color="white",
                ms=10,
                mew=1.8,
                label="true impact",
            )
            ax.plot(
                events.primary_x[p0:p1], events.primary_y[p0:p1], "+", color="black", ms=8, mew=0.8
            )
            if clusters is not None:
                c = clusters[clusters["event"] == events.event[i]]
                ax.plot(
                    c["x"],
                    c["y"],
                    "o",
                    mfc="none",
                    color="#e42536",
                    ms=7,
                    mew=1.2,
                    label="reconstructed cluster",
                )
            cx, cy = np.average(geom.x[cid], weights=e), np.average(geom.y[cid], weights=e)
            px, py = events.primary_x[p0:p1], events.primary_y[p0:p1]
            half = 5.5 * pitch
            if np.isfinite(px).any():
                half = max(half, 0.6 * np.nanmax(np.abs(np.r_[px - cx, py - cy])) + 3 * pitch)
            ax.set_xlim(cx - half, cx + half)
            ax.set_ylim(cy - half, cy + half)
            etot = float(np.nansum(events.primary_energy[p0:p1])) * scale
            ax.set_title(f"event {int(events.event[i])}, {etot:.3g} {unit}", fontsize="medium")
            ax.set_xlabel("x [mm]")
            ax.tick_params(which="minor", left=False, right=False, top=False, bottom=False)
        axes[0, 0].set_ylabel("y [mm]")
        from matplotlib.lines import Line2D

        handles = [
            Line2D([], [], ls="none", marker="+", color="black", ms=8, label="true impact"),
            Line2D([], [], color="#e42536", label="reconstructed cluster (outline, position)"),
        ]
        fig.legend(
            handles=handles,
            loc="outside upper center",
            ncol=2,
            title=dataset_label(dataset) if dataset else None,
        )
        fig.colorbar(im, ax=list(axes[0]), label=f"cell energy [{unit}]", shrink=0.9)
    return save(fig, outputs)


def _display_barrel(events, geom, labels_by_method, methods, picks, dataset, style, outputs):
    from caloreco.clustering.table import true_labels

    truth = true_labels(events) if events.has_truth else np.full(events.cell_id.size, -1)
    n_rows, n_cols = len(picks), len(methods)
    theta_lo = np.degrees(geom.theta.min()) - 5
    theta_hi = np.degrees(geom.theta.max()) + 5
    with use_style(style):
        fig, axes = figure(n_rows, n_cols, panel_aspect=0.55, sharex=True, sharey=True)
        for r, i in enumerate(picks):
            lo, hi = events.hit_offsets[i], events.hit_offsets[i + 1]
            cid = events.cell_id[lo:hi].astype(np.int64)
            e = events.cell_energy[lo:hi].astype(np.float64)
            th, ph = geom.theta[cid], geom.phi[cid]
            phd, thd = np.degrees(ph), np.degrees(th)
            t = truth[lo:hi]
            p0, p1 = events.primary_offsets[i], events.primary_offsets[i + 1]
            size = 12 + 60 * np.sqrt(e / max(e.max(), 1e-9))
            hit_colors = [TRUE_COLORS[k % len(TRUE_COLORS)] if k >= 0 else "0.5" for k in t]
            for c, (ax, m) in enumerate(zip(axes[r], methods, strict=True)):
                ax.scatter(
                    np.degrees(geom.phi),
                    np.degrees(geom.theta),
                    s=0.3,
                    color="0.88",
                    lw=0,
                    rasterized=True,
                )
                lab = labels_by_method[c][lo:hi]
                u = np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], 1)
                for k in np.unique(lab[lab >= 0]):
                    sel = lab == k
                    v = (u[sel] * e[sel, None]).sum(axis=0)
                    cth = np.degrees(np.arccos(v[2] / np.linalg.norm(v)))
                    cph = np.degrees(np.mod(np.arctan2(v[1], v[0]), 2 * np.pi))
                    for x, y in zip(phd[sel], thd[sel], strict=True):
                        xx = x + 360 * np.round((cph - x) / 360)  # shortest way round in phi
                        ax.plot([xx, cph], [y, cth], color="0.2", lw=0.7, zorder=2)
                    ax.plot(cph, cth, "o", mfc="none", color="0.1", ms=9, mew=1.0, zorder=3)
                ax.scatter(
                    phd, thd, s=size, c=hit_colors, edgecolors="0.1", linewidths=0.4, zorder=4
                )
                ax.plot(
                    np.degrees(np.mod(events.primary_phi[p0:p1], 2 * np.pi)),
                    np.degrees(events.primary_theta[p0:p1]),
                    "x",
                    color="0.1",
                    ms=7,
                    mew=1.2,
                    zorder=5,
                )
                for k in range(p1 - p0):
                    ax.plot(
                        np.degrees(np.mod(events.primary_phi[p0 + k], 2 * np.pi)),
                        np.degrees(events.primary_theta[p0 + k]),
                        "x",
                        color=TRUE_COLORS[k % len(TRUE_COLORS)],
                        ms=5,
                        mew=1.0,
                        zorder=6,
                    )
                if r == 0:
                    ax.set_title(label(m), fontsize="medium")
                ax.set_xlim(0, 360)
                ax.set_ylim(theta_hi, theta_lo)
                ax.set_xticks([0, 90, 180, 270, 360])
                if r == n_rows - 1:
                    ax.set_xlabel(r"$\phi$ [deg]")
            axes[r, 0].set_ylabel(r"$\theta$ [deg]")
            axes[r, -1].text(
                1.02,
                0.5,
                f"event {int(events.event[i])}",
                rotation=-90,
                transform=axes[r, -1].transAxes,
                va="center",
                ha="left",
                fontsize="small",
            )
        from matplotlib.lines import Line2D

        handles = [
            Line2D(
                [],
                [],
                ls="none",
                marker="o",
                color=TRUE_COLORS[0],
                mec="0.1",
                mew=0.4,
                label=r"hit (colour: true $\gamma$, size: energy)",
            ),
            Line2D([], [], ls="none", marker="x", color="0.1", label=r"true $\gamma$ direction"),
            Line2D(
                [], [], color="0.2", marker="o", mfc="none", lw=0.7, label="reconstructed cluster"
            ),
        ]
        fig.legend(
            handles=handles,
            loc="outside upper center",
            ncol=3 if is_slide() else 2,
            title=dataset_label(dataset) if dataset else None,
        )
    return save(fig, outputs)


def event_display(
    raw: str | os.PathLike,
    cells: str | os.PathLike | Sequence[str | os.PathLike],
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    clusters: str | os.PathLike | None = None,
    events: Sequence[int] | None = None,
    n_events: int | None = None,
    dataset: str | None = None,
):
    """Event displays of one raw chunk with the true particles and the reconstructed clusters.

    Args:
        raw: one raw chunk (``raw/chunk-000.root``); its geometry is rebuilt from the file.
        cells: ``clusters/{method}/cells-000.parquet`` of the same chunk, one per method (a
            barrel display gets one column per method; a planar one uses the first).
        style, outputs: style file and output files.
        clusters: ``clusters/{method}/chunk-000.parquet`` (planar: marks the reconstructed
            cluster positions).
        events: event numbers to show (default: chosen by :func:`pick_events`).
        n_events: number of events (default 3 planar, 2 barrel).
        dataset: dataset key, shown on the figure.

    Returns:
        the figure.
    """
    from caloreco.io.raw import geometry_from_file, read_raw

    (raw_path,) = as_paths(raw, "raw")
    ev = read_raw(raw_path)
    geom = geometry_from_file(raw_path)
    cell_paths = as_paths(cells, "cells")
    methods = [p.parent.name for p in cell_paths]
    labels = [_labels(ev, pd.read_parquet(p)) for p in cell_paths]
    planar = geom.kind == "planar"
    n = n_events or (3 if planar else 2)
    if events is not None:
        pos = pd.Series(np.arange(ev.n_events), index=ev.event)
        missing = [e for e in events if e not in pos.index]
        if missing:
            raise ValueError(f"events: {missing} not in {raw_path}")
        picks = pos.loc[list(events)].to_numpy()
    elif planar:
        picks = _pick_planar(ev, n)
    else:
        picks = pick_events(ev, labels, n)
    if planar:
        table = None
        if clusters is not None:
            (cpath,) = as_paths(clusters, "clusters")
            table = pd.read_parquet(cpath)
        return _display_ecal(ev, geom, labels[0], table, picks, dataset, style, outputs)
    return _display_barrel(ev, geom, labels, methods, picks, dataset, style, outputs)


def _pick_planar(events, n: int) -> np.ndarray:
    """Events with the most primaries, at the 10 %, 50 %, 90 % quantiles of their energy."""
    n_prim = np.diff(events.primary_offsets)
    hits = np.diff(events.hit_offsets)
    cand = np.nonzero((n_prim == n_prim.max(initial=0)) & (hits > 0))[0]
    if cand.size == 0:
        cand = np.nonzero(hits > 0)[0]
    from caloreco.events import event_index

    e_event = np.bincount(
        event_index(events.primary_offsets),
        weights=np.nan_to_num(events.primary_energy.astype(np.float64)),
        minlength=events.n_events,
    )
    e = e_event[cand]
    order = cand[np.argsort(e, kind="stable")]
    q = (np.linspace(0.1, 0.9, n) * (order.size - 1)).astype(int)
    picks = order[q]
    _, first = np.unique(picks, return_index=True)
    return picks[np.sort(first)]  # in order of energy, without repeats
