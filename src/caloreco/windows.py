"""NxN cell windows around cluster seeds (planar detectors), vectorised over clusters."""

from __future__ import annotations

import numpy as np

from caloreco.events import event_index
from caloreco.geometry import Geometry

__all__ = ["extract_windows", "window_targets"]


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
) -> dict[str, np.ndarray]:
    """The size x size cell energies (MeV) of each cluster's event around its seed cell.

    All hits of the event enter (not only the cluster's), as a real readout would see them.
    ``placement="centred"`` puts the seed in the middle; ``"random"`` puts it at a uniformly
    drawn cell of the central (size-2) x (size-2) block, so the network cannot learn the seed
    position from the window layout (the thesis' stage-2 "not completely random" zero padding)
    while the shower core stays inside. Cells outside the detector read 0 and set ``outside``.

    Args:
        geom: planar geometry.
        hit_offsets, cell_id, energy_mev: the chunk's hits (CSR).
        event_index_of_cluster: event position (0..n_events-1) of each cluster.
        seed_row, seed_col: the seed cell of each cluster.
        size: window size (odd, >= 3).
        placement: ``"centred"`` or ``"random"``.
        rng: generator for random placement.

    Returns:
        ``windows`` float32 (n, size, size) indexed [row (y), col (x)]; ``origin_row``,
        ``origin_col`` (lower-left cell); ``origin_x_mm``, ``origin_y_mm`` (its centre);
        ``outside`` bool.
    """
    if geom.kind != "planar":
        raise ValueError(f"extract_windows: detector {geom.name!r} is not planar")
    if size < 3 or size % 2 == 0:
        raise ValueError(f"size: expected an odd window size >= 3, got {size}")
    seed_row = np.asarray(seed_row, dtype=np.int64)
    seed_col = np.asarray(seed_col, dtype=np.int64)
    ev = np.asarray(event_index_of_cluster, dtype=np.int64)
    n = seed_row.size
    half = size // 2
    if placement == "centred":
        off_r = np.full(n, half)
        off_c = np.full(n, half)
    elif placement == "random":
        if rng is None:
            raise ValueError("placement='random' needs a numpy Generator (rng)")
        off_r = rng.integers(1, size - 1, n)
        off_c = rng.integers(1, size - 1, n)
    else:
        raise ValueError(f"placement: expected 'centred' or 'random', got {placement!r}")
    origin_row = seed_row - off_r
    origin_col = seed_col - off_c
    k = np.arange(size)
    rr = origin_row[:, None, None] + k[None, :, None]
    cc = origin_col[:, None, None] + k[None, None, :]
    inside = (rr >= 0) & (rr < geom.n_rows) & (cc >= 0) & (cc < geom.n_cols)
    cell = np.where(inside, rr * geom.n_cols + cc, 0)
    # look every window cell up among the chunk's hits by the key (event, cell)
    n_cells = geom.n_cells
    keys = event_index(np.asarray(hit_offsets)) * n_cells + np.asarray(cell_id, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    q = ev[:, None, None] * n_cells + cell
    pos = np.clip(np.searchsorted(sorted_keys, q), 0, max(sorted_keys.size - 1, 0))
    if sorted_keys.size:
        found = inside & (sorted_keys[pos] == q)
        windows = np.where(found, np.asarray(energy_mev)[order][pos], 0.0)
    else:
        windows = np.zeros(q.shape)
    pitch = geom.pitch
    return {
        "windows": windows.astype(np.float32),
        "origin_row": origin_row,
        "origin_col": origin_col,
        "origin_x_mm": (origin_col - (geom.n_cols - 1) / 2.0) * pitch,
        "origin_y_mm": (origin_row - (geom.n_rows - 1) / 2.0) * pitch,
        "outside": ~inside.all(axis=(1, 2)),
    }


def window_targets(
    origin_x_mm: np.ndarray,
    origin_y_mm: np.ndarray,
    true_x_mm: np.ndarray,
    true_y_mm: np.ndarray,
    true_energy_mev: np.ndarray,
) -> np.ndarray:
    """(n, 3) regression targets: x, y relative to the lower-left cell centre (mm), energy (MeV)."""
    return np.column_stack(
        [
            np.asarray(true_x_mm, dtype=np.float64) - origin_x_mm,
            np.asarray(true_y_mm, dtype=np.float64) - origin_y_mm,
            np.asarray(true_energy_mev, dtype=np.float64),
        ]
    )
