"""The simulation QA figure: energy sums, cells per primary, deposited fraction, event displays."""

from __future__ import annotations

import numpy as np

from caloreco.events import RawEvents, event_index, offsets_from_counts
from caloreco.geometry import Geometry
from caloreco.io.files import atomic_path
from caloreco.qa import SimulationStats, busiest_order, n_display_candidates, simulation_stats

__all__ = ["plot_simulation_qa"]


def plot_simulation_qa(
    events: RawEvents,
    geom: Geometry,
    dataset: str,
    png: str,
    pdf: str,
    n_displays: int = 3,
    stats: SimulationStats | None = None,
) -> None:
    """QA figure: energy sums per event (MeV or GeV), cells per primary, deposited over primary
    energy, and ``n_displays`` event displays of busy events.

    Args:
        events: the events to display from; without ``stats`` also the events histogrammed.
            Streaming a dataset, pass the :func:`display_candidates` of its chunks (same
            ``n_displays``): the displays are then those of the whole dataset at once.
        stats: the dataset's :class:`SimulationStats` for the histograms and the event count;
            by default those of ``events``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    fig = plt.figure(figsize=(12, 8.5), layout="constrained")
    gs = fig.add_gridspec(2, 3)
    ax_e = fig.add_subplot(gs[0, 0])
    ax_c = fig.add_subplot(gs[0, 1])
    ax_r = fig.add_subplot(gs[0, 2])
    if stats is None:
        stats = simulation_stats(events)
    dep, cells = stats.deposit, stats.cells
    e_prim = stats.primary_energy
    unit, scale = ("GeV", 1e-3) if np.nanmax(e_prim, initial=0) > 1000 else ("MeV", 1.0)
    meas = stats.measured_sum
    true_sum = np.bincount(
        event_index(offsets_from_counts(stats.primaries_per_event)),
        weights=np.nan_to_num(e_prim),
        minlength=stats.n_events,
    )
    ax_e.hist(true_sum * scale, bins=60, histtype="step", label="primaries (true)")
    ax_e.hist(meas * scale, bins=60, histtype="step", label="cells (measured)")
    ax_e.set_xlabel(f"energy per event [{unit}]")
    ax_e.set_ylabel("events / bin")
    ax_e.legend(fontsize=8)
    if np.all(np.isnan(cells)):
        cells = stats.hits_per_event.astype(float)
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
    busy = busiest_order(events, n_display_candidates(n_displays))
    busy = busy[np.diff(events.hit_offsets)[busy] > 0]  # an event without hits shows nothing
    picks = np.sort(busy[:: max(len(busy) // n_displays, 1)][:n_displays])
    if picks.size == 0:
        ax = fig.add_subplot(gs[1, :])
        ax.text(0.5, 0.5, "no event has a hit above threshold", ha="center", va="center")
        ax.set_axis_off()
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
    fig.suptitle(f"{dataset}: simulation QA ({stats.n_events} events)")
    for path in (png, pdf):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, format=str(path).rsplit(".", 1)[-1])
    plt.close(fig)
