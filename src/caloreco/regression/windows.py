"""NxN cell windows around cluster seeds (planar detectors), vectorised over clusters.

A window is the ``size x size`` block of cell energies (MeV) of the cluster's *event* around its
seed cell, read row by row (row = y, column = x): ``windows[i, r, c]`` is the cell at grid
position ``(origin_row[i] + r, origin_col[i] + c)``. Coordinates of the regression targets are
relative to the centre of the window's lower-left cell ``(origin_row, origin_col)``, so position
estimators (network, log-weighted centre of gravity, profile fit) all work on the same footing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from caloreco.events import RawEvents, event_index
from caloreco.geometry import Geometry
from caloreco.split import assign_split

__all__ = ["extract_windows", "window_targets", "cluster_windows", "PLACEMENTS"]

PLACEMENTS = ("centred", "random")


def _int_array(name: str, value: np.ndarray) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-d array, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name}: expected integers, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def extract_windows(
    geom: Geometry,
    hit_offsets: np.ndarray,
    cell_id: np.ndarray,
    energy_mev: np.ndarray,
    event_index_of_cluster: np.ndarray,
    seed_row: np.ndarray,
    seed_col: np.ndarray,
    size: int = 5,
    placement: str = "centred",
    rng: np.random.Generator | None = None,
    margin: int = 0,
) -> dict[str, np.ndarray]:
    """The size x size cell energies (MeV) of each cluster's event around its seed cell.

    All hits of the event enter (not only the cluster's), as a real readout would see them; a
    cell outside the detector reads 0 and sets the cluster's ``outside`` flag. Vectorised: every
    window cell is looked up among the chunk's hits by the sorted key ``event * n_cells + cell``.

    Placement of the seed inside the window:

    * ``"centred"``: the seed is the middle cell (``size`` must be odd).
    * ``"random"``: the window's origin is shifted so that the seed lands uniformly at any
      position ``margin .. size-1-margin`` of each axis, drawn independently for rows and columns
      (thesis stage 2: the network cannot learn the seed position from the layout). With the
      default ``margin=0`` the seed may sit on the window border and part of the shower is cut
      off; ``margin=1`` keeps the seed's side neighbours inside.

    Args:
        geom: planar geometry (``geom.kind == "planar"``).
        hit_offsets: (n_events + 1,) CSR offsets of the chunk's hits.
        cell_id: (n_hits,) cell id of every hit.
        energy_mev: (n_hits,) measured hit energies (MeV).
        event_index_of_cluster: (n,) event position (0 .. n_events-1) of each cluster.
        seed_row, seed_col: (n,) grid position of each cluster's seed cell.
        size: window size in cells (>= 1; odd for ``"centred"``).
        placement: ``"centred"`` or ``"random"``.
        rng: numpy Generator, required for ``"random"``.
        margin: for ``"random"``, the smallest distance (cells) of the seed from the border.

    Returns:
        dict with ``windows`` float32 (n, size, size) in MeV indexed ``[row (y), col (x)]``;
        ``origin_row``, ``origin_col`` int64 (lower-left cell of the window, may be outside the
        detector); ``origin_x_mm``, ``origin_y_mm`` float64 (centre of the lower-left cell, mm);
        ``seed_row_in_window``, ``seed_col_in_window`` int64; ``outside`` bool (the window reaches
        beyond the detector).

    Raises:
        ValueError: non-planar geometry, bad size/placement/margin, missing rng, inconsistent
            array lengths, or event indices / seeds outside their range.
    """
    if geom.kind != "planar":
        raise ValueError(f"geom: extract_windows needs a planar detector, got {geom.name!r}")
    if int(size) != size or size < 1:
        raise ValueError(f"size: expected a positive integer window size, got {size!r}")
    size = int(size)
    if placement not in PLACEMENTS:
        raise ValueError(f"placement: expected one of {PLACEMENTS}, got {placement!r}")
    if placement == "centred" and size % 2 == 0:
        raise ValueError(f"size: placement='centred' needs an odd window size, got {size}")
    if int(margin) != margin or margin < 0 or 2 * margin >= size:
        raise ValueError(f"margin: expected an integer in [0, {(size - 1) // 2}], got {margin!r}")
    offsets = _int_array("hit_offsets", hit_offsets)
    cells = _int_array("cell_id", cell_id)
    energy = np.asarray(energy_mev, dtype=np.float64)
    if (
        offsets.size < 1
        or offsets[0] != 0
        or offsets[-1] != cells.size
        or np.any(np.diff(offsets) < 0)
    ):
        raise ValueError(
            f"hit_offsets: expected non-decreasing CSR offsets from 0 to len(cell_id)={cells.size}"
        )
    if energy.shape != cells.shape:
        raise ValueError(
            f"energy_mev: expected one energy per hit ({cells.size}), got shape {energy.shape}"
        )
    ev = _int_array("event_index_of_cluster", event_index_of_cluster)
    seed_row = _int_array("seed_row", seed_row)
    seed_col = _int_array("seed_col", seed_col)
    n = ev.size
    if seed_row.size != n or seed_col.size != n:
        raise ValueError(
            f"seed_row, seed_col: expected {n} entries (one per cluster), got "
            f"{seed_row.size}, {seed_col.size}"
        )
    n_events = offsets.size - 1
    if n and (ev.min() < 0 or ev.max() >= n_events):
        raise ValueError(f"event_index_of_cluster: expected values in [0, {n_events - 1}]")
    if n and (
        seed_row.min() < 0
        or seed_row.max() >= geom.n_rows
        or seed_col.min() < 0
        or seed_col.max() >= geom.n_cols
    ):
        raise ValueError("seed_row, seed_col: seed cells must lie inside the detector grid")

    if placement == "centred":
        off_r = np.full(n, size // 2, dtype=np.int64)
        off_c = off_r.copy()
    else:
        if not isinstance(rng, np.random.Generator):
            raise ValueError("rng: placement='random' needs a numpy Generator")
        off_r = rng.integers(margin, size - margin, n)
        off_c = rng.integers(margin, size - margin, n)
    origin_row = seed_row - off_r
    origin_col = seed_col - off_c

    k = np.arange(size)
    rr = origin_row[:, None, None] + k[None, :, None]
    cc = origin_col[:, None, None] + k[None, None, :]
    inside = (rr >= 0) & (rr < geom.n_rows) & (cc >= 0) & (cc < geom.n_cols)
    cell = np.where(inside, rr * geom.n_cols + cc, 0)

    windows = np.zeros((n, size, size), dtype=np.float32)
    if cells.size and n:
        n_cells = geom.n_cells
        keys = event_index(offsets) * n_cells + cells
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        q = ev[:, None, None] * n_cells + cell
        pos = np.minimum(np.searchsorted(sorted_keys, q), sorted_keys.size - 1)
        found = inside & (sorted_keys[pos] == q)
        windows[found] = energy[order][pos[found]]

    pitch = geom.pitch
    return {
        "windows": windows,
        "origin_row": origin_row,
        "origin_col": origin_col,
        "origin_x_mm": (origin_col - (geom.n_cols - 1) / 2.0) * pitch,
        "origin_y_mm": (origin_row - (geom.n_rows - 1) / 2.0) * pitch,
        "seed_row_in_window": off_r,
        "seed_col_in_window": off_c,
        "outside": ~inside.all(axis=(1, 2)),
    }


def window_targets(
    origin_x_mm: np.ndarray,
    origin_y_mm: np.ndarray,
    true_x_mm: np.ndarray,
    true_y_mm: np.ndarray,
    true_energy_mev: np.ndarray,
) -> np.ndarray:
    """(n, 3) regression targets: x, y relative to the lower-left cell centre (mm), energy (MeV).

    NaN truth (clusters without a matched primary) stays NaN.
    """
    cols = [
        np.asarray(v, dtype=np.float64) for v in (origin_x_mm, origin_y_mm, true_x_mm, true_y_mm)
    ]
    e = np.asarray(true_energy_mev, dtype=np.float64)
    shapes = {c.shape for c in cols} | {e.shape}
    if len(shapes) != 1 or e.ndim != 1:
        raise ValueError(f"window_targets: expected 1-d arrays of one length, got shapes {shapes}")
    ox, oy, tx, ty = cols
    return np.column_stack([tx - ox, ty - oy, e])


def cluster_windows(
    events: RawEvents,
    clusters: pd.DataFrame,
    geom: Geometry,
    size: int,
    placement: str,
    purity_cut: float,
    rng: np.random.Generator,
    split_fractions: Sequence[float],
    dataset_seed: int,
) -> dict[str, np.ndarray]:
    """NxN windows around every cluster seed of one chunk, with targets and metadata.

    Targets are the true impact point of the cluster's dominant primary relative to the window's
    lower-left cell centre (mm) and its true energy (MeV). ``train_mask`` marks clusters fit to
    train the regressor: matched to one primary with purity >= ``purity_cut`` and the window
    inside the detector. ``split`` is each cluster's event split (train/val/test).

    Args:
        events: the chunk's events (with truth).
        clusters: the chunk's cluster table (``event``, ``seed_row``, ``seed_col``, ``primary``,
            ``purity``, ``energy``, ``cluster``).
        geom: the planar geometry.
        size, placement: window size (cells) and seed placement (:data:`PLACEMENTS`).
        purity_cut: smallest purity of a cluster used for training.
        rng: the chunk's ``windows`` generator (random placement of the seed in the window).
        split_fractions, dataset_seed: the event split.
    """
    if geom.kind != "planar":
        raise ValueError(f"windows need a planar detector, got {geom.name!r}")
    ev_pos = pd.Series(np.arange(events.n_events), index=events.event)
    pos = ev_pos.loc[clusters["event"].to_numpy()].to_numpy()
    w = extract_windows(
        geom,
        events.hit_offsets,
        events.cell_id,
        events.cell_energy,
        pos,
        clusters["seed_row"].to_numpy(),
        clusters["seed_col"].to_numpy(),
        size=int(size),
        placement=placement,
        rng=rng,
        margin=1,  # seed inside the central (N-2)x(N-2) block: its neighbours stay in the window
    )
    prim = clusters["primary"].to_numpy()
    has = prim >= 0
    flat = events.primary_offsets[pos] + np.where(has, prim, 0)
    true_x = np.where(has, events.primary_x[flat], np.nan)
    true_y = np.where(has, events.primary_y[flat], np.nan)
    true_e = np.where(has, events.primary_energy[flat], np.nan)
    targets = window_targets(w["origin_x_mm"], w["origin_y_mm"], true_x, true_y, true_e)
    purity = clusters["purity"].to_numpy(np.float64)
    train_mask = has & (purity >= float(purity_cut)) & ~w["outside"]
    out = {
        "windows": w["windows"].astype(np.float32),
        "targets": np.asarray(targets, dtype=np.float64),
        "origin_x_mm": w["origin_x_mm"],
        "origin_y_mm": w["origin_y_mm"],
        "origin_row": w["origin_row"],
        "origin_col": w["origin_col"],
        "outside": w["outside"],
        "event": clusters["event"].to_numpy(np.int64),
        "cluster": clusters["cluster"].to_numpy(np.int32),
        "primary": prim,
        "purity": purity,
        "cluster_energy": clusters["energy"].to_numpy(np.float64),
        "primary_theta": np.where(has, events.primary_theta[flat], np.nan),
        "train_mask": train_mask,
        "split": assign_split(clusters["event"].to_numpy(), tuple(split_fractions), dataset_seed),
        "pitch_mm": np.float64(geom.pitch),
    }
    return out
