"""Simulation quality assurance: summary figures and the numbers of simulation.json."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from caloreco.events import RawEvents, event_index
from caloreco.geometry import Geometry

__all__ = ["simulation_summary", "plot_simulation_qa"]


def _stat(values: np.ndarray) -> dict[str, float]:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {"mean": float("nan"), "mean_err": float("nan"), "std": float("nan"), "n": 0}
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return {
        "mean": float(values.mean()),
        "mean_err": std / np.sqrt(values.size),
        "std": std,
        "n": int(values.size),
    }


def per_primary_truth(events: RawEvents) -> tuple[np.ndarray, np.ndarray]:
    """Per primary (flat index): true deposited energy (MeV) and number of hit cells."""
    n_prim = int(events.primary_offsets[-1])
    if not events.has_truth:
        return np.full(n_prim, np.nan), np.full(n_prim, np.nan)
    ev = event_index(events.truth_offsets)
    flat_prim = events.primary_offsets[ev] + events.truth_primary
    dep = np.bincount(flat_prim, weights=events.truth_energy, minlength=n_prim)
    cells = np.bincount(flat_prim, minlength=n_prim).astype(np.float64)
    return dep, cells


def simulation_summary(events: RawEvents, run_infos: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The numbers of ``simulation.json``: sizes, cells per event and per primary, closure.

    Closure figures: the fraction of each primary's energy that is seen in the detector as true
    deposits above threshold (``truth_over_primary``), and measured over true summed per event
    (``measured_over_truth``, the calibration of the smearing chain; should be 1 within the
    resolution).
    """
    n_hits = np.diff(events.hit_offsets)
    n_prim = np.diff(events.primary_offsets)
    dep, cells = per_primary_truth(events)
    sec = [float(r.get("simulation_seconds", np.nan)) for r in run_infos]
    total_sec = float(np.nansum(sec)) if np.any(np.isfinite(sec)) else float("nan")
    out: dict[str, Any] = {
        "events": events.n_events,
        "primaries": int(n_prim.sum()),
        "hits": int(n_hits.sum()),
        "chunks": len(run_infos),
        "cells_per_event": _stat(n_hits),
        "cells_per_primary": _stat(cells),
        "empty_events": int((n_hits == 0).sum()),
        "simulation_seconds": total_sec,
        "primaries_per_second": float(n_prim.sum() / total_sec) if total_sec > 0 else None,
    }
    if events.has_truth:
        e_true = events.primary_energy.astype(np.float64)
        ok = np.isfinite(e_true) & (e_true > 0)
        ratio = np.full(e_true.size, np.nan)
        ratio[ok] = dep[ok] / e_true[ok]
        out["truth_over_primary"] = _stat(ratio)
        # gammas that leave all their energy in the detector (photopeak) within 2 % (CALIFA)
        out["full_energy_fraction"] = _stat((ratio > 0.98).astype(float)[ok])
        ev = event_index(events.truth_offsets)
        truth_sum = np.bincount(ev, weights=events.truth_energy, minlength=events.n_events)
        meas_sum = np.bincount(
            events.hit_event(), weights=events.cell_energy, minlength=events.n_events
        )
        good = truth_sum > 0
        out["measured_over_truth"] = _stat(meas_sum[good] / truth_sum[good])
    return out


def plot_simulation_qa(
    events: RawEvents, geom: Geometry, dataset: str, png: str, pdf: str, n_displays: int = 3
) -> None:
    """Four-panel QA figure: energy sums, cells per primary and three event displays."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    from caloreco.io import atomic_path

    fig = plt.figure(figsize=(12, 8.5), layout="constrained")
    gs = fig.add_gridspec(2, 3)
    ax_e = fig.add_subplot(gs[0, 0])
    ax_c = fig.add_subplot(gs[0, 1])
    ax_r = fig.add_subplot(gs[0, 2])
    dep, cells = per_primary_truth(events)
    e_prim = events.primary_energy.astype(np.float64)
    unit, scale = ("GeV", 1e-3) if np.nanmax(e_prim, initial=0) > 1000 else ("MeV", 1.0)
    meas = np.bincount(events.hit_event(), weights=events.cell_energy, minlength=events.n_events)
    true_sum = np.bincount(
        event_index(events.primary_offsets),
        weights=np.nan_to_num(e_prim),
        minlength=events.n_events,
    )
    ax_e.hist(true_sum * scale, bins=60, histtype="step", label="primaries (true)")
    ax_e.hist(meas * scale, bins=60, histtype="step", label="cells (measured)")
    ax_e.set_xlabel(f"energy per event [{unit}]")
    ax_e.set_ylabel("events / bin")
    ax_e.legend(fontsize=8)
    if np.all(np.isnan(cells)):
        cells = np.diff(events.hit_offsets).astype(float)
        ax_c.set_xlabel("cells per event")
    else:
        ax_c.set_xlabel("cells per primary (true deposit above threshold)")
    hi = int(np.nanmax(cells, initial=1)) + 1
    ax_c.hist(cells[np.isfinite(cells)], bins=np.arange(-0.5, min(hi, 80) + 0.5), histtype="step")
    ax_c.set_ylabel("primaries / bin")
    ok = np.isfinite(e_prim) & (e_prim > 0) & np.isfinite(dep)
    if ok.any():
        ax_r.hist(dep[ok] / e_prim[ok], bins=np.linspace(0, 1.05, 64), histtype="step")
        ax_r.set_xlabel(r"$E_\mathrm{deposited} / E_\mathrm{primary}$ (true, above threshold)")
        ax_r.set_ylabel("primaries / bin")
        ax_r.set_yscale("log")
    busy = np.argsort(-np.diff(events.hit_offsets), kind="stable")[: max(n_displays * 5, 1)]
    picks = np.sort(busy[:: max(len(busy) // n_displays, 1)][:n_displays])
    for k, i in enumerate(picks):
        ax = fig.add_subplot(gs[1, k])
        lo, hi_ = events.hit_offsets[i], events.hit_offsets[i + 1]
        cid = events.cell_id[lo:hi_]
        e = events.cell_energy[lo:hi_].astype(np.float64)
        p0, p1 = events.primary_offsets[i], events.primary_offsets[i + 1]
        if geom.kind == "planar":
            sc = ax.scatter(
                geom.x[cid],
                geom.y[cid],
                c=e * scale,
                s=40,
                marker="s",
                norm=LogNorm(),
                cmap="viridis",
            )
            ax.plot(events.primary_x[p0:p1], events.primary_y[p0:p1], "r+", ms=12, label="impact")
            ax.set_xlabel("x [mm]")
            ax.set_ylabel("y [mm]")
            ax.set_aspect("equal")
            cx, cy = np.average(geom.x[cid], weights=e), np.average(geom.y[cid], weights=e)
            half = 6 * geom.params.get("pitch_mm", 40.0)
            ax.set_xlim(cx - half, cx + half)
            ax.set_ylim(cy - half, cy + half)
        else:
            sc = ax.scatter(
                np.degrees(geom.phi[cid]),
                np.degrees(geom.theta[cid]),
                c=e,
                s=30,
                norm=LogNorm(),
                cmap="viridis",
            )
            ax.plot(
                np.degrees(np.mod(events.primary_phi[p0:p1], 2 * np.pi)),
                np.degrees(events.primary_theta[p0:p1]),
                "r+",
                ms=12,
                label="gamma direction",
            )
            ax.set_xlabel(r"$\phi$ [deg]")
            ax.set_ylabel(r"$\theta$ [deg]")
            ax.set_xlim(0, 360)
        ax.set_title(f"event {int(events.event[i])}", fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
        fig.colorbar(sc, ax=ax, label=f"cell energy [{unit}]")
    fig.suptitle(f"{dataset}: simulation QA ({events.n_events} events)")
    for path in (png, pdf):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, format=str(path).rsplit(".", 1)[-1])
    plt.close(fig)
