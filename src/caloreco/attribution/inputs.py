"""Network inputs of the hit-level attribution: padded events, per-hit and hit-pair features.

An event of ``n`` hits becomes one row of a padded ``(n_events, n_max)`` array, the hits in their
order within the event followed by padding; a boolean mask marks the real hits. Every quantity
below is a pure function of the hits (energy MeV, crystal direction, crystal position mm, time
ns) and is vectorised over all events of a batch at once.

Per-hit features (:data:`HIT_FEATURES`): ``log_energy`` (ln E/MeV), ``energy`` (MeV), the unit
vector ``ux, uy, uz`` of the crystal seen from the target, and ``time`` (us, the hit time minus
the event's energy-weighted mean time, so the +-4 us emission window drops out).

Pair features of hit j seen from hit i (:data:`PAIR_FEATURES`, shape (n_events, n_max, n_max,
P)): ``cos_angle`` and ``angle`` (rad) between the two crystal directions, ``dt`` = t_j - t_i
and ``abs_dt`` (us), ``log_energy_ratio`` = ln(E_j / E_i), ``log_energy_sum`` = ln((E_i + E_j) /
MeV), and ``compton`` (rad): :func:`caloreco.pairs.compton_consistency` of the two hits, how well
they fit one photon that Compton-scattered in one crystal and was absorbed in the other.

The focal input of the point-cloud network for focal hit f (:func:`focal_inputs`) is, per hit j,
the hit's own features, the pair features of j seen from f, the focal's ``log_energy`` and a
flag ``is_focal``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caloreco.clustering.labels import check_hit_array, check_offsets, unit_vectors
from caloreco.geometry import Geometry
from caloreco.pairs.features import compton_consistency

__all__ = [
    "HIT_FEATURES",
    "PAIR_FEATURES",
    "FOCAL_FEATURES",
    "PaddedHits",
    "pad_hits",
    "EventHits",
    "event_hits",
    "hit_features",
    "pair_features",
    "focal_inputs",
]

HIT_FEATURES: tuple[str, ...] = ("log_energy", "energy", "ux", "uy", "uz", "time")
PAIR_FEATURES: tuple[str, ...] = (
    "cos_angle",
    "angle",
    "dt",
    "abs_dt",
    "log_energy_ratio",
    "log_energy_sum",
    "compton",
)
FOCAL_FEATURES: tuple[str, ...] = (
    *HIT_FEATURES,
    *(f"focal_{name}" for name in PAIR_FEATURES),
    "focal_log_energy",
    "is_focal",
)

_NS_PER_US = 1000.0


@dataclass(frozen=True)
class PaddedHits:
    """Where each event's hits sit in a padded array.

    Attributes:
        index: int64 (n_events, n_max): flat hit index (into the CSR hit arrays) of hit k of
            event e, ``-1`` for padding.
        mask: bool (n_events, n_max): True for real hits.
    """

    index: np.ndarray
    mask: np.ndarray

    @property
    def n_events(self) -> int:
        """Number of events (rows)."""
        return int(self.index.shape[0])

    @property
    def n_max(self) -> int:
        """Padded width (hits of the largest event, or the width asked for)."""
        return int(self.index.shape[1])

    def scatter(self, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Per-hit ``values`` (shape (n_hits, ...)) as a padded (n_events, n_max, ...) array."""
        values = np.asarray(values)
        out = np.full((*self.index.shape, *values.shape[1:]), fill, dtype=values.dtype)
        out[self.mask] = values[self.index[self.mask]]
        return out

    def gather(self, padded: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`scatter`: the real entries of ``padded`` in flat hit order."""
        padded = np.asarray(padded)
        if padded.shape[:2] != self.index.shape:
            raise ValueError(
                f"padded: expected leading shape {self.index.shape}, got {padded.shape[:2]}"
            )
        out = np.empty((int(self.mask.sum()), *padded.shape[2:]), dtype=padded.dtype)
        out[self.index[self.mask]] = padded[self.mask]
        return out


def pad_hits(hit_offsets: np.ndarray, n_max: int | None = None) -> PaddedHits:
    """The padded layout of CSR events (vectorised, no event loop).

    Args:
        hit_offsets: int64 CSR offsets, shape (n_events + 1,).
        n_max: padded width; default the largest event. Must hold every event.

    Raises:
        ValueError: bad offsets, or an event with more than ``n_max`` hits.
    """
    off = check_offsets(hit_offsets)
    counts = np.diff(off)
    biggest = int(counts.max(initial=0))
    width = biggest if n_max is None else int(n_max)
    if width < biggest:
        raise ValueError(f"n_max: {width} is smaller than the largest event ({biggest} hits)")
    width = max(width, 1)
    k = np.arange(width)
    mask = k[None, :] < counts[:, None]
    index = np.where(mask, off[:-1, None] + k[None, :], -1).astype(np.int64)
    return PaddedHits(index=index, mask=mask)


@dataclass(frozen=True)
class EventHits:
    """The per-hit physics quantities the features are made of, flat (n_hits,) arrays.

    Attributes:
        hit_offsets: int64 CSR offsets, shape (n_events + 1,).
        energy: MeV; time: ns; unit: (n_hits, 3) crystal direction; position: (n_hits, 3) mm
            crystal centre (inner face).
    """

    hit_offsets: np.ndarray
    energy: np.ndarray
    time: np.ndarray
    unit: np.ndarray
    position: np.ndarray

    @property
    def n_events(self) -> int:
        """Number of events."""
        return int(self.hit_offsets.size - 1)


def event_hits(
    hit_offsets: np.ndarray,
    cell_id: np.ndarray,
    energy_mev: np.ndarray,
    time_ns: np.ndarray,
    geom: Geometry,
) -> EventHits:
    """Collect and check the per-hit arrays of a chunk (crystal directions from ``geom``).

    Raises:
        ValueError: wrong shapes, non-finite values, cells outside ``geom``, or a hit energy
            that is not positive (log features need E > 0).
    """
    off = check_offsets(hit_offsets)
    n = int(off[-1])
    cell = check_hit_array(cell_id, n, "cell_id", np.int64)
    energy = check_hit_array(energy_mev, n, "energy_mev")
    time = check_hit_array(time_ns, n, "time_ns")
    if cell.size and (cell.min() < 0 or cell.max() >= geom.n_cells):
        raise ValueError(f"cell_id: expected ids in [0, {geom.n_cells}) of detector {geom.name!r}")
    if np.any(energy <= 0):
        raise ValueError("energy_mev: expected positive hit energies (MeV)")
    unit = unit_vectors(np.asarray(geom.theta)[cell], np.asarray(geom.phi)[cell])
    pos = np.stack(
        [np.asarray(geom.x)[cell], np.asarray(geom.y)[cell], np.asarray(geom.z)[cell]], 1
    )
    return EventHits(off, energy, time, unit, pos.astype(np.float64))


def hit_features(hits: EventHits, padded: PaddedHits) -> np.ndarray:
    """Per-hit features :data:`HIT_FEATURES`, padded: float32 (n_events, n_max, 6), 0 on padding.

    Times are taken relative to the event's energy-weighted mean hit time (us).
    """
    m = padded.mask
    e = padded.scatter(hits.energy)
    t = padded.scatter(hits.time)
    esum = e.sum(axis=1)
    t_ref = np.where(esum > 0, (e * t).sum(axis=1) / np.where(esum > 0, esum, 1.0), 0.0)
    u = padded.scatter(hits.unit)
    with np.errstate(divide="ignore"):
        log_e = np.where(m, np.log(np.where(m, e, 1.0)), 0.0)
    dt = np.where(m, (t - t_ref[:, None]) / _NS_PER_US, 0.0)
    out = np.concatenate([log_e[..., None], e[..., None], u, dt[..., None]], axis=-1)
    return out.astype(np.float32)


def pair_features(
    hits: EventHits, padded: PaddedHits, rows: np.ndarray | None = None
) -> np.ndarray:
    """Pair features :data:`PAIR_FEATURES` of every hit j seen from hit i, padded.

    Args:
        hits: the chunk's hits.
        padded: layout of (a subset of) its events.
        rows: optional int (n_events,) hit position i per event: then only that row is computed
            (shape (n_events, n_max, P)), e.g. the focal hit's view of its event.

    Returns:
        float32 (n_events, n_max, n_max, P), or (n_events, n_max, P) with ``rows``; 0 wherever
        hit i or hit j is padding.
    """
    m = padded.mask
    e = padded.scatter(hits.energy)
    t = padded.scatter(hits.time)
    u = padded.scatter(hits.unit)
    p = padded.scatter(hits.position)
    if rows is None:
        ei, ti, ui, pi, mi = (v[:, :, None] for v in (e, t, u, p, m))
        ej, tj, uj, pj, mj = (v[:, None, :] for v in (e, t, u, p, m))
    else:
        r = np.asarray(rows, dtype=np.int64)
        if r.shape != (padded.n_events,):
            raise ValueError(f"rows: expected shape ({padded.n_events},), got {r.shape}")
        ar = np.arange(padded.n_events)
        if np.any(~m[ar, np.clip(r, 0, padded.n_max - 1)]) or np.any(r < 0):
            raise ValueError("rows: every row must name a real hit of its event")
        ei, ti, ui, pi, mi = (v[ar, r][:, None] for v in (e, t, u, p, m))
        ej, tj, uj, pj, mj = e, t, u, p, m
    both = mi & mj
    cos = np.clip(np.sum(ui * uj, axis=-1), -1.0, 1.0)
    cross = np.linalg.norm(np.cross(ui, uj), axis=-1)
    angle = np.arctan2(cross, np.sum(ui * uj, axis=-1))
    dt = (tj - ti) / _NS_PER_US
    safe_ei = np.where(both, ei, 1.0)
    safe_ej = np.where(both, ej, 1.0)
    ratio = np.log(safe_ej / safe_ei)
    esum = np.log(safe_ei + safe_ej)
    shape = both.shape
    ei_b, ej_b = np.broadcast_to(safe_ei, shape), np.broadcast_to(safe_ej, shape)
    pi_b, pj_b = np.broadcast_to(pi, (*shape, 3)), np.broadcast_to(pj, (*shape, 3))
    comp = compton_consistency(
        ei_b.reshape(-1), ej_b.reshape(-1), pi_b.reshape(-1, 3), pj_b.reshape(-1, 3)
    ).reshape(shape)
    feats = np.stack([cos, angle, dt, np.abs(dt), ratio, esum, comp], axis=-1)
    return np.where(both[..., None], feats, 0.0).astype(np.float32)


def focal_inputs(
    hit_feats: np.ndarray, focal_pairs: np.ndarray, mask: np.ndarray, focal: np.ndarray
) -> np.ndarray:
    """The point-cloud input :data:`FOCAL_FEATURES` for one focal hit per row.

    Args:
        hit_feats: (B, n_max, len(HIT_FEATURES)) from :func:`hit_features` (rows of the events).
        focal_pairs: (B, n_max, len(PAIR_FEATURES)): :func:`pair_features` with ``rows=focal``.
        mask: (B, n_max) real hits.
        focal: int (B,) position of the focal hit in its row.

    Returns:
        float32 (B, n_max, len(FOCAL_FEATURES)), 0 on padding.
    """
    b, n = mask.shape
    if hit_feats.shape[:2] != (b, n) or focal_pairs.shape[:2] != (b, n):
        raise ValueError(
            f"hit_feats, focal_pairs: expected leading shape {(b, n)}, got "
            f"{hit_feats.shape[:2]} and {focal_pairs.shape[:2]}"
        )
    f = np.asarray(focal, dtype=np.int64)
    if f.shape != (b,) or np.any(f < 0) or np.any(f >= n) or np.any(~mask[np.arange(b), f]):
        raise ValueError("focal: expected one real hit position per row")
    ar = np.arange(b)
    is_focal = np.zeros((b, n), dtype=np.float32)
    is_focal[ar, f] = 1.0
    focal_log_e = np.broadcast_to(hit_feats[ar, f, 0][:, None], (b, n))
    out = np.concatenate(
        [hit_feats, focal_pairs, focal_log_e[..., None], is_focal[..., None]], axis=-1
    )
    return np.where(mask[..., None], out, 0.0).astype(np.float32)
