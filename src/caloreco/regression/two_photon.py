"""ECAL stage 4: two photons in one cluster window (merged pi0 -> gamma gamma).

Kinematics (physics.md section 4)
    A pi0 of energy E decays into photons whose impact points on a plane at distance L are at
    least d_min = 2 m_pi0 L / E apart; the energy asymmetry A = (E1 - E2) / (E1 + E2) is uniform
    and d = d_min / sqrt(1 - A^2). The separation here is always the true distance between the
    two impact points on the front face (not the difference of their radii). The invariant mass
    of two reconstructed photons seen from the vertex is m^2 = 2 E1 E2 (1 - cos theta12), computed
    as m = sqrt(E1 E2) |u1 - u2| with u the unit vectors from the vertex to the impact points
    (exact, and free of the cancellation in 1 - cos for milliradian opening angles).

Windows (:func:`pair_windows`)
    Per event the leading cluster of the connected clustering with local-maximum splitting seeds
    a ``size x size`` window; the window is then re-centred on the cell that holds the linear
    centre of gravity of its energy, so that it contains the pair, not only the brighter photon.
    Coordinates follow :mod:`caloreco.regression.windows` (mm from the centre of the lower-left cell).
    A window enters the analysis when every true photon of the event with E >= ``min_photon_mev``
    lies at least ``edge_margin_cells`` inside the window border and the window lies inside the
    detector: single-photon events give class 1, pi0 events class 2. pi0 events whose softer
    photon is below ``min_photon_mev`` or whose photons do not fit in one window are resolved
    (or lost) by the single-photon reconstruction and are counted, not analysed.

Photon order
    Truth photons are ordered by energy (photon 1 the more energetic). An estimate is matched to
    the truth by the better of the two orderings of the weighted squared error
    sum ((p - t) / w)^2 with w = (5 mm, 5 mm, 2.5 GeV) (the thesis's weights);
    :func:`permutation_invariant_loss` is the same quantity, the loss of the network.

Metrics (:func:`two_photon_metrics`)
    The layout of ``results/{dataset}/metrics/two_photon.json``: per estimator overall, per bin
    of true separation (cells) and of true total energy, core-Gaussian fits (mu, sigma with
    errors, sigma68) of x, y (mm) and (E_reco - E_true) / E_true for photon 1, photon 2 and both
    pooled; photon-count accuracy and the 1-vs-2 confusion; the gamma gamma mass peak and the
    fraction of pi0 within 3 sigma of the pi0 mass; the thesis numbers beside ours.

Units: MeV, mm, rad.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from caloreco.clustering.connected import connected_clusters
from caloreco.clustering.table import cluster_table_from_events
from caloreco.constants import PI0_MASS_MEV
from caloreco.events import RawEvents
from caloreco.fitting import core_gaussian_fit
from caloreco.geometry import Geometry
from caloreco.regression.windows import extract_windows

__all__ = [
    "PI0_MASS_MEV",
    "MATCH_SCALE",
    "THESIS",
    "DEFAULTS",
    "d_min_mm",
    "asymmetry",
    "separation_mm",
    "energy_weighted_distance",
    "invariant_mass",
    "pi0_truth",
    "pair_windows",
    "permutation_invariant_loss",
    "order_like_truth",
    "degenerate_pair",
    "two_photon_metrics",
    "goal_summary",
    "concat_windows",
    "select",
    "event_display",
    "pair_masses",
    "mass_peak",
    "evaluate_estimates",
]

#: weights (x mm, y mm, E MeV) of the ordering cost: the thesis's loss weights 0.5 cm, 2.5 GeV
MATCH_SCALE = (5.0, 5.0, 2500.0)

#: the thesis's stage-4 numbers (W. Aumiller 2023, saracreates/PhotonRecoML; physics.md sec. 4)
THESIS: dict[str, Any] = {
    "nn": {"sigma_x_mm": 4.2, "sigma_y_mm": 3.3, "sigma_e_rel": 0.035},
    "target": {"sigma_x_mm": 2.5, "sigma_e_rel": 0.025},
    "lednev_fit": {
        "sigma_e_rel": [0.023, 0.024],
        "energy_bias_rel": 0.022,
        "fraction_two_found": 0.72,
        "note": "scored only on the events where coral found exactly two showers",
    },
    "counting": {
        "cnn_accuracy": {"1": 1.00, "2": 0.88, "3": 0.75},
        "lednev_accuracy": {"1": 1.00, "2": 0.73, "3": 0.53},
        "note": "Lednev wins for two photons beyond about 3 cm",
    },
    "sample": "two photons >= 4 cm apart (difference of radii), 9x9 windows, E >= 1 GeV each",
}

#: the mass range (in units of m_pi0) the mass peak is fitted in
MASS_PEAK_WINDOW = (0.5, 1.5)

#: bins of the gamma gamma mass histogram in the metrics (MeV)
MASS_EDGES = np.linspace(0.0, 270.0, 271)

#: analysis settings (the later ``two_photon`` config block): window, sample, bins, fit criteria
DEFAULTS: dict[str, Any] = {
    "size": 9,
    "seed_threshold_mev": 300.0,
    "min_photon_mev": 1000.0,
    "edge_margin_cells": 1.0,
    "separation_bins_cells": [0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.0],
    "energy_bins_mev": [40000.0, 80000.0, 120000.0, 160000.0, 200000.0, 250000.0],
    "fit": {
        "discut_mm": 25.0,
        "dchi2_min": 4.0,
        "dchi2_strong": 10.0,
        "chi2_ndf_cut": 2.5,
        "egcut_mev": 300.0,
    },
}


def _same_shape(**arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Broadcast float64 arrays (NaN propagates: a missing photon gives NaN, not an error)."""
    arrs = {k: np.atleast_1d(np.asarray(v, dtype=np.float64)) for k, v in arrays.items()}
    try:
        out = np.broadcast_arrays(*arrs.values())
    except ValueError as exc:
        shapes = {k: v.shape for k, v in arrs.items()}
        raise ValueError(f"{', '.join(arrs)}: shapes {shapes} do not broadcast") from exc
    return tuple(out)


# --------------------------------------------------------------------------------------------
# kinematics


def d_min_mm(energy_mev: np.ndarray, distance_mm: float | np.ndarray) -> np.ndarray:
    """Smallest separation (mm) of the two photons of a pi0 of energy E at distance L: 2 m L / E.

    Raises:
        ValueError: an energy not above the pi0 mass, or a non-positive distance.
    """
    e, dist = _same_shape(energy_mev=energy_mev, distance_mm=distance_mm)
    if not np.all(e > PI0_MASS_MEV):
        raise ValueError(f"energy_mev: expected pi0 energies above {PI0_MASS_MEV} MeV")
    if not np.all(dist > 0):
        raise ValueError("distance_mm: expected a positive distance to the plane")
    return 2.0 * PI0_MASS_MEV * dist / e


def asymmetry(e1_mev: np.ndarray, e2_mev: np.ndarray) -> np.ndarray:
    """Energy asymmetry (E1 - E2) / (E1 + E2); NaN where E1 + E2 <= 0."""
    e1, e2 = _same_shape(e1_mev=e1_mev, e2_mev=e2_mev)
    s = e1 + e2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s > 0, (e1 - e2) / np.where(s > 0, s, 1.0), np.nan)


def separation_mm(
    x1_mm: np.ndarray, y1_mm: np.ndarray, x2_mm: np.ndarray, y2_mm: np.ndarray
) -> np.ndarray:
    """Distance between two impact points on the front face (mm)."""
    x1, y1, x2, y2 = _same_shape(x1_mm=x1_mm, y1_mm=y1_mm, x2_mm=x2_mm, y2_mm=y2_mm)
    return np.hypot(x1 - x2, y1 - y2)


def energy_weighted_distance(
    e1_mev: np.ndarray, e2_mev: np.ndarray, distance_mm: np.ndarray
) -> np.ndarray:
    """coral's d12 = 2 sqrt(E1 E2) d / (E1 + E2) (mm); for a pi0 d12 = d_min at any asymmetry."""
    e1, e2, d = _same_shape(e1_mev=e1_mev, e2_mev=e2_mev, distance_mm=distance_mm)
    s = e1 + e2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s > 0, 2.0 * np.sqrt(np.clip(e1 * e2, 0, None)) * d / s, np.nan)


def invariant_mass(
    e1_mev: np.ndarray,
    x1_mm: np.ndarray,
    y1_mm: np.ndarray,
    e2_mev: np.ndarray,
    x2_mm: np.ndarray,
    y2_mm: np.ndarray,
    z_mm: float | np.ndarray,
    vertex_mm: Sequence[float] = (0.0, 0.0, 0.0),
) -> np.ndarray:
    """gamma gamma invariant mass (MeV) from two photons' energies and impact points.

    m^2 = 2 E1 E2 (1 - cos theta12) = E1 E2 |u1 - u2|^2, with u_i the unit vector from the vertex
    to (x_i, y_i, z). NaN where an input is NaN; a negative energy gives NaN.

    Args:
        e1_mev, e2_mev: photon energies (MeV).
        x1_mm, y1_mm, x2_mm, y2_mm: impact points (mm) on the plane z = ``z_mm``.
        z_mm: z of the plane (mm; the front face, or the front face plus a shower depth).
        vertex_mm: the decay vertex (x, y, z) in mm (default the target at the origin).
    """
    e1, x1, y1, e2, x2, y2, z = _same_shape(
        e1_mev=e1_mev, x1_mm=x1_mm, y1_mm=y1_mm, e2_mev=e2_mev, x2_mm=x2_mm, y2_mm=y2_mm, z_mm=z_mm
    )
    v = np.asarray(vertex_mm, dtype=np.float64)
    if v.shape != (3,):
        raise ValueError(f"vertex_mm: expected (x, y, z) in mm, got shape {v.shape}")
    d1 = np.stack([x1 - v[0], y1 - v[1], z - v[2]], axis=-1)
    d2 = np.stack([x2 - v[0], y2 - v[1], z - v[2]], axis=-1)
    u1 = d1 / np.linalg.norm(d1, axis=-1, keepdims=True)
    u2 = d2 / np.linalg.norm(d2, axis=-1, keepdims=True)
    chord = np.linalg.norm(u1 - u2, axis=-1)
    with np.errstate(invalid="ignore"):
        return np.sqrt(e1 * e2) * chord


def pi0_truth(raw: RawEvents, z_front_mm: float) -> dict[str, np.ndarray]:
    """Per event: the true photons (the more energetic first) and the pi0 they come from.

    The photons of a pi0 determine it exactly (E = E1 + E2, p = p1 + p2), so the raw file's
    primaries are its record.

    Args:
        raw: events with one photon (single-photon events) or two (pi0 events) per event.
        z_front_mm: z of the front face (mm), the plane of the impact points.

    Returns:
        dict of (n_events,) arrays: ``n_photons``; ``e1, x1, y1, e2, x2, y2`` (MeV, mm; NaN for
        the missing second photon); ``energy_mev`` (E1 + E2), ``separation_mm`` (impact points on
        the front face), ``asymmetry`` (>= 0), ``d_min_mm`` (2 m L / E with L = z_front), ``mass``
        (MeV, from the true photons; NaN for single photons), ``theta`` (rad, direction of the
        momentum sum).

    Raises:
        ValueError: an event with no photon or with more than two.
    """
    if not z_front_mm > 0:
        raise ValueError(f"z_front_mm: expected a positive distance, got {z_front_mm!r}")
    off = raw.primary_offsets
    n_ph = np.diff(off)
    if np.any((n_ph < 1) | (n_ph > 2)):
        raise ValueError("raw: pi0_truth expects one or two primaries (photons) per event")
    first = off[:-1]
    e = raw.primary_energy.astype(np.float64)
    x = raw.primary_x.astype(np.float64)
    y = raw.primary_y.astype(np.float64)
    two = n_ph == 2
    second = np.where(two, first + 1, first)
    swap = two & (e[second] > e[first])
    i1 = np.where(swap, second, first)
    i2 = np.where(swap, first, second)
    nan = np.full(n_ph.size, np.nan)
    e1, x1, y1 = e[i1], x[i1], y[i1]
    e2 = np.where(two, e[i2], nan)
    x2 = np.where(two, x[i2], nan)
    y2 = np.where(two, y[i2], nan)
    total = e1 + np.where(two, e2, 0.0)
    # momentum sum: photons point from the target to their impact points
    p = np.zeros((n_ph.size, 3))
    for ee, xx, yy in ((e1, x1, y1), (e2, x2, y2)):
        vec = np.stack([xx, yy, np.full(xx.size, float(z_front_mm))], axis=-1)
        u = vec / np.linalg.norm(vec, axis=1, keepdims=True)
        p += np.where(np.isfinite(ee)[:, None], ee[:, None] * u, 0.0)
    theta = np.arctan2(np.hypot(p[:, 0], p[:, 1]), p[:, 2])
    return {
        "n_photons": n_ph.astype(np.int64),
        "e1": e1,
        "x1": x1,
        "y1": y1,
        "e2": e2,
        "x2": x2,
        "y2": y2,
        "energy_mev": total,
        "separation_mm": separation_mm(x1, y1, x2, y2),
        "asymmetry": asymmetry(e1, e2),
        "d_min_mm": np.where(total > PI0_MASS_MEV, 2 * PI0_MASS_MEV * z_front_mm / total, nan),
        "mass": invariant_mass(e1, x1, y1, e2, x2, y2, float(z_front_mm)),
        "theta": theta,
    }


# --------------------------------------------------------------------------------------------
# windows


def pair_windows(
    raw: RawEvents,
    geom: Geometry,
    size: int = 9,
    seed_threshold_mev: float = 300.0,
    min_photon_mev: float = 1000.0,
    edge_margin_cells: float = 1.0,
) -> dict[str, np.ndarray]:
    """One ``size x size`` window per event around its leading cluster, re-centred on the pair.

    See the module docstring for the centring and the selection. Events without any cluster
    get no window.

    Args:
        raw: events with truth (one or two photons per event, :func:`pi0_truth`).
        geom: the planar ECAL.
        size: window size in cells (odd, >= 3).
        seed_threshold_mev: seed threshold of the connected clustering (MeV).
        min_photon_mev: photons below this true energy are not counted (MeV).
        edge_margin_cells: a counted photon must lie this far inside the window border (cells).

    Returns:
        dict of per-window arrays: ``windows`` float32 (n, size, size) MeV; ``event`` (event
        number), ``event_index`` (position in ``raw``); ``origin_x_mm, origin_y_mm`` (centre of
        the lower-left cell, detector frame), ``origin_row, origin_col``, ``outside``;
        ``truth`` (n, 6) x1, y1, E1, x2, y2, E2 of the photons relative to the origin (mm, MeV;
        NaN for a missing second photon); ``n_true`` (photons in the event with E >=
        ``min_photon_mev``), ``contained`` (every such photon inside the window less the margin),
        ``label`` (1 or 2: the photon count to learn; 0 where the window is not analysed),
        ``usable`` (label > 0 and not ``outside``); ``energy_mev``, ``separation_mm``,
        ``asymmetry``, ``d_min_mm``, ``mass_true`` (:func:`pi0_truth`); ``n_local_maxima``
        (split-cluster seeds inside the window); ``window_energy`` (MeV); and scalars
        ``pitch_mm``, ``z_front_mm``, ``size``.
    """
    if geom.kind != "planar":
        raise ValueError(f"geom: pair_windows needs a planar detector, got {geom.name!r}")
    if int(size) != size or size < 3 or size % 2 == 0:
        raise ValueError(f"size: expected an odd window size >= 3, got {size!r}")
    if not 0 <= edge_margin_cells < size / 2:
        raise ValueError(
            f"edge_margin_cells: expected a value in [0, {size / 2}), got {edge_margin_cells}"
        )
    if not raw.has_truth:
        raise ValueError("raw: pair_windows needs Monte Carlo truth (the photons)")
    size = int(size)
    pitch = geom.pitch
    z_front = float(geom.z.min())
    truth = pi0_truth(raw, z_front)

    labels = connected_clusters(
        raw.hit_offsets, raw.cell_id, raw.cell_energy, geom, seed_threshold_mev, True
    )
    table = cluster_table_from_events(raw, labels, geom)
    # position of each cluster's event in the chunk (event numbers need not be sorted)
    order = np.argsort(raw.event, kind="stable")
    ev_pos = order[np.searchsorted(raw.event[order], table["event"].to_numpy())]
    lead = table["cluster"].to_numpy() == 0
    pos = ev_pos[lead]
    args = (geom, raw.hit_offsets, raw.cell_id, raw.cell_energy, pos)
    first = extract_windows(
        *args, table["seed_row"].to_numpy()[lead], table["seed_col"].to_numpy()[lead], size
    )
    # re-centre on the cell of the window's linear centre of gravity (it holds the pair)
    w = first["windows"].astype(np.float64)
    tot = w.sum(axis=(1, 2))
    k = np.arange(size)
    safe = np.where(tot > 0, tot, 1.0)
    cog_r = (w.sum(axis=2) * k).sum(axis=1) / safe
    cog_c = (w.sum(axis=1) * k).sum(axis=1) / safe
    row = np.clip(first["origin_row"] + np.rint(cog_r).astype(np.int64), 0, geom.n_rows - 1)
    col = np.clip(first["origin_col"] + np.rint(cog_c).astype(np.int64), 0, geom.n_cols - 1)
    win = extract_windows(*args, row, col, size)

    ox, oy = win["origin_x_mm"], win["origin_y_mm"]
    rel = np.column_stack(
        [
            truth["x1"][pos] - ox,
            truth["y1"][pos] - oy,
            truth["e1"][pos],
            truth["x2"][pos] - ox,
            truth["y2"][pos] - oy,
            truth["e2"][pos],
        ]
    )
    lo = (edge_margin_cells - 0.5) * pitch
    hi = (size - 0.5 - edge_margin_cells) * pitch

    def inside(xr: np.ndarray, yr: np.ndarray) -> np.ndarray:
        return (xr >= lo) & (xr <= hi) & (yr >= lo) & (yr <= hi)

    counted1 = rel[:, 2] >= min_photon_mev
    counted2 = np.nan_to_num(rel[:, 5], nan=0.0) >= min_photon_mev
    n_true = counted1.astype(np.int64) + counted2.astype(np.int64)
    contained = (~counted1 | inside(rel[:, 0], rel[:, 1])) & (
        ~counted2 | inside(rel[:, 3], rel[:, 4])
    )
    n_photons = truth["n_photons"][pos]
    # a pi0 whose softer photon is not counted is not a clean one-photon window either
    label = np.where(contained & (n_true == n_photons), n_true, 0)

    # split-cluster seeds inside the window: the local-maximum count of the clustering
    seeds_ev = ev_pos
    win_of_event = np.full(raw.n_events, -1, dtype=np.int64)
    win_of_event[pos] = np.arange(pos.size)
    wi = win_of_event[seeds_ev]
    sr = table["seed_row"].to_numpy() - win["origin_row"][wi]
    sc = table["seed_col"].to_numpy() - win["origin_col"][wi]
    in_win = (sr >= 0) & (sr < size) & (sc >= 0) & (sc < size)
    n_lm = np.bincount(wi[in_win], minlength=pos.size)

    return {
        "windows": win["windows"],
        "event": raw.event[pos],
        "event_index": pos,
        "origin_x_mm": ox,
        "origin_y_mm": oy,
        "origin_row": win["origin_row"],
        "origin_col": win["origin_col"],
        "outside": win["outside"],
        "truth": rel,
        "n_true": n_true,
        "contained": contained,
        "label": label,
        "usable": (label > 0) & ~win["outside"],
        "energy_mev": truth["energy_mev"][pos],
        "separation_mm": truth["separation_mm"][pos],
        "asymmetry": truth["asymmetry"][pos],
        "d_min_mm": truth["d_min_mm"][pos],
        "mass_true": truth["mass"][pos],
        "n_local_maxima": n_lm.astype(np.int64),
        "window_energy": win["windows"].reshape(pos.size, -1).sum(axis=1).astype(np.float64),
        "pitch_mm": np.float64(pitch),
        "z_front_mm": np.float64(z_front),
        "size": np.int64(size),
    }


# --------------------------------------------------------------------------------------------
# photon order and the permutation-invariant loss


def _pairs(name: str, value: np.ndarray) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 6:
        raise ValueError(f"{name}: expected shape (n, 6) (x1, y1, E1, x2, y2, E2), got {a.shape}")
    return a


def _orderings(pred: np.ndarray, truth: np.ndarray, scale: Sequence[float]):
    w = np.asarray(scale, dtype=np.float64)
    if w.shape != (3,) or not np.all(w > 0):
        raise ValueError(f"scale: expected three positive weights (x, y, E), got {scale!r}")
    w6 = np.concatenate([w, w])
    swapped = np.concatenate([pred[:, 3:], pred[:, :3]], axis=1)
    direct = np.sum(((pred - truth) / w6) ** 2, axis=1)
    cross = np.sum(((swapped - truth) / w6) ** 2, axis=1)
    return direct, cross, swapped


def permutation_invariant_loss(
    pred: np.ndarray, truth: np.ndarray, scale: Sequence[float] = MATCH_SCALE
) -> np.ndarray:
    """Per event: the smaller of the two photon orderings' weighted squared error.

    loss = min(sum ((p - t) / w)^2, sum ((swap(p) - t) / w)^2) over the six outputs
    (x1, y1, E1, x2, y2, E2), with w = ``scale`` (x, y, E) for each photon.

    Args:
        pred, truth: (n, 6) in the units of ``scale``.
        scale: (x, y, E) weights.

    Returns:
        (n,) float64.
    """
    p, t = _pairs("pred", pred), _pairs("truth", truth)
    if p.shape != t.shape:
        raise ValueError(f"pred, truth: expected one shape, got {p.shape} and {t.shape}")
    direct, cross, _ = _orderings(p, t, scale)
    return np.minimum(direct, cross)


def order_like_truth(
    pred: np.ndarray, truth: np.ndarray, scale: Sequence[float] = MATCH_SCALE
) -> tuple[np.ndarray, np.ndarray]:
    """Reorder each estimate's two photons to the better ordering against the truth.

    Returns:
        ``(ordered, swapped)``: (n, 6) with photon i of the estimate matched to truth photon i,
        and the (n,) bool mask of events whose photons were swapped. Rows with a NaN keep their
        order (a NaN cost compares false).
    """
    p, t = _pairs("pred", pred), _pairs("truth", truth)
    if p.shape != t.shape:
        raise ValueError(f"pred, truth: expected one shape, got {p.shape} and {t.shape}")
    direct, cross, swapped = _orderings(p, t, scale)
    swap = cross < direct
    return np.where(swap[:, None], swapped, p), swap


def degenerate_pair(one_shower: np.ndarray) -> np.ndarray:
    """The two-photon reading of a one-shower answer: both photons at the shower, E/2 each.

    This is how an event where the fit keeps one shower enters the two-photon quantities when
    it is scored on every event: its positions are off by about d/2 and its mass is 0.

    Args:
        one_shower: (n, 3) x, y (mm), E (MeV).

    Returns:
        (n, 6).
    """
    s = np.asarray(one_shower, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != 3:
        raise ValueError(f"one_shower: expected shape (n, 3) (x, y, E), got {s.shape}")
    half = np.column_stack([s[:, 0], s[:, 1], 0.5 * s[:, 2]])
    return np.concatenate([half, half], axis=1)


# --------------------------------------------------------------------------------------------
# metrics


def _fit(values: np.ndarray) -> dict[str, Any]:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    try:
        f = core_gaussian_fit(v)
    except ValueError as exc:
        return {"error": str(exc), "n": int(v.size)}
    keys = ("mu", "mu_err", "sigma", "sigma_err", "sigma68", "sigma68_err", "n", "n_fit")
    return {k: f[k] for k in keys}


def _fraction(k: int, n: int) -> dict[str, Any]:
    """k / n with its 68.3 % Wilson score interval (lower and upper errors)."""
    if n == 0:
        return {"value": None, "err_lo": None, "err_hi": None, "k": 0, "n": 0}
    p = k / n
    denom = 1.0 + 1.0 / n
    centre = (p + 0.5 / n) / denom
    half = np.sqrt(p * (1 - p) / n + 0.25 / n**2) / denom
    return {
        "value": float(p),
        "err_lo": float(max(p - (centre - half), 0.0)),
        "err_hi": float(max(centre + half - p, 0.0)),
        "k": int(k),
        "n": int(n),
    }


def _residuals(ordered: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Per photon (n, 2) residuals: x, y (mm) and (E_reco - E_true) / E_true."""
    dx = ordered[:, [0, 3]] - truth[:, [0, 3]]
    dy = ordered[:, [1, 4]] - truth[:, [1, 4]]
    de = (ordered[:, [2, 5]] - truth[:, [2, 5]]) / truth[:, [2, 5]]
    return {"x": dx, "y": dy, "energy": de}


def _split_correlation(de: np.ndarray) -> float | None:
    """Pearson correlation of the two photons' relative energy residuals in their core
    (|r - median| < 3 sigma68 for both): -1 means the sum is right and the split is not."""
    d = de[np.all(np.isfinite(de), axis=1)]
    if len(d) < 10:
        return None
    med = np.median(d, axis=0)
    s68 = 0.5 * np.diff(np.quantile(d, [0.15865, 0.84135], axis=0), axis=0)[0]
    core = np.all(np.abs(d - med) < 3 * np.maximum(s68, 1e-12), axis=1)
    if core.sum() < 10:
        return None
    return float(np.corrcoef(d[core, 0], d[core, 1])[0, 1])


def _resolution_block(res: dict[str, np.ndarray], sel: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for who, cols in (("photon1", [0]), ("photon2", [1]), ("both", [0, 1])):
        out[who] = {q: _fit(res[q][sel][:, cols].ravel()) for q in ("x", "y", "energy")}
    out["energy_split_correlation"] = _split_correlation(res["energy"][sel])
    return out


def _mass_block(mass: np.ndarray, sel: np.ndarray, n_sigma: float = 3.0) -> dict[str, Any]:
    m = mass[sel]
    # the peak is fitted inside its window: one-shower windows (m = 0) would drag a core fit
    # of everything; they stay in n_events and so count as failures of within_3sigma
    lo, hi = (f * PI0_MASS_MEV for f in MASS_PEAK_WINDOW)
    in_peak = (m > lo) & (m < hi)
    fit = _fit(m[in_peak])
    out: dict[str, Any] = {
        "fit": fit,
        "n_events": int(sel.sum()),
        "n_outside_peak_window": int(np.sum(~in_peak)),
        "peak_window_mev": [lo, hi],
    }
    if "sigma" in fit:
        window = n_sigma * fit["sigma"]
        k = int(np.sum(np.abs(m - PI0_MASS_MEV) < window))
        out["within_3sigma"] = _fraction(k, int(sel.sum()))
        out["sigma_rel"] = fit["sigma"] / PI0_MASS_MEV
    return out


def _counting(n_pred: np.ndarray, label: np.ndarray, sel: np.ndarray) -> dict[str, Any]:
    lab, pr = label[sel], n_pred[sel]
    conf = [[int(np.sum((lab == t) & (pr == p))) for p in (1, 2)] for t in (1, 2)]
    n = int(sel.sum())
    correct = int(np.sum(lab == pr))
    return {
        "accuracy": _fraction(correct, n),
        "accuracy_one": _fraction(conf[0][0], int(np.sum(lab == 1))),
        "accuracy_two": _fraction(conf[1][1], int(np.sum(lab == 2))),
        "confusion": conf,
        "confusion_axes": "rows: true 1, 2 photons; columns: counted 1, 2",
    }


def _check_estimate(name: str, est: Mapping[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if "photons" in est:
        out["photons"] = _pairs(f"estimates[{name!r}]['photons']", est["photons"])
        if out["photons"].shape[0] != n:
            raise ValueError(f"estimates[{name!r}]['photons']: expected {n} rows")
    if "n_photons" in est:
        cnt = np.asarray(est["n_photons"])
        if cnt.shape != (n,) or not np.all(np.isin(cnt, (1, 2))):
            raise ValueError(f"estimates[{name!r}]['n_photons']: expected {n} counts of 1 or 2")
        out["n_photons"] = cnt.astype(np.int64)
    if not out:
        raise ValueError(f"estimates[{name!r}]: expected 'photons' and/or 'n_photons'")
    return out


def pair_masses(sample: Mapping[str, np.ndarray], photons: np.ndarray) -> np.ndarray:
    """gamma gamma mass (MeV) of each window's two photons (window frame, mm / MeV), seen from
    the target: the photons' positions are moved to the detector frame by the window origin."""
    p = _pairs("photons", photons)
    ox = np.asarray(sample["origin_x_mm"], dtype=np.float64)
    oy = np.asarray(sample["origin_y_mm"], dtype=np.float64)
    z = float(sample["z_front_mm"])
    return invariant_mass(
        p[:, 2], p[:, 0] + ox, p[:, 1] + oy, p[:, 5], p[:, 3] + ox, p[:, 4] + oy, z
    )


def mass_peak(masses: np.ndarray, true_mass_mev: float) -> dict[str, Any]:
    """Core-Gaussian fit of reconstructed masses relative to the true one: ``mu_rel, sigma_rel``
    (with errors) of m_reco / m_true and the fraction within 3 sigma of m_true."""
    r = np.asarray(masses, dtype=np.float64) / float(true_mass_mev)
    fit = _fit(r)
    out: dict[str, Any] = {"true_mass_mev": float(true_mass_mev), "n": int(np.isfinite(r).sum())}
    if "sigma" in fit:
        out.update(
            mu_rel=fit["mu"],
            mu_rel_err=fit["mu_err"],
            sigma_rel=fit["sigma"],
            sigma_rel_err=fit["sigma_err"],
            within_3sigma=_fraction(int(np.sum(np.abs(r - 1) < 3 * fit["sigma"])), len(r)),
        )
    else:
        out["error"] = fit.get("error")
    return out


def two_photon_metrics(
    sample: Mapping[str, np.ndarray],
    estimates: Mapping[str, Mapping[str, np.ndarray]],
    settings: Mapping[str, Any] | None = None,
    subset_of: str | None = "fit",
) -> dict[str, Any]:
    """The two_photon.json metrics of the test windows (JSON-ready plain types).

    Args:
        sample: test windows (:func:`pair_windows` arrays restricted to usable test events):
            ``truth`` (n, 6), ``label`` (1 or 2), ``origin_x_mm``, ``origin_y_mm``,
            ``separation_mm``, ``energy_mev``, and scalars ``pitch_mm``, ``z_front_mm``.
        estimates: per estimator name a dict with ``photons`` (n, 6): x1, y1, E1, x2, y2, E2
            relative to the window origin (mm, MeV), its two-photon answer for every window
            (an estimator that keeps one shower gives :func:`degenerate_pair`), and/or
            ``n_photons`` (n,): its photon count (1 or 2).
        settings: :data:`DEFAULTS` overrides (bins).
        subset_of: an estimator whose two-photon windows define the thesis's subset: every
            estimator with photons is also scored there (``"<name>@<subset_of>_two"``).

    Returns:
        ``{"units", "settings", "sample", "overall", "vs_separation", "vs_energy", "counting",
        "mass", "thesis"}``: ``overall[name]`` holds ``photon1 / photon2 / both`` -> ``x, y,
        energy`` core fits and ``fraction_two``; ``vs_separation`` / ``vs_energy`` are lists of
        bins with ``lo, hi, mean, n`` and per estimator the same blocks (energy bins also the
        counting over both classes); ``counting[name]`` the accuracy, per-class accuracies and the
        confusion; ``mass[name]`` the core fit of m_gamma_gamma (MeV), sigma / m_pi0 and the
        fraction within 3 sigma of the pi0 mass; ``mass_histogram`` the m_gamma_gamma
        distributions of the two-photon windows (``edges_mev``, ``counts`` per estimator).
    """
    s = {**DEFAULTS, **dict(settings or {})}
    truth = _pairs("sample['truth']", sample["truth"])
    n = truth.shape[0]
    label = np.asarray(sample["label"])
    if label.shape != (n,) or not np.all(np.isin(label, (1, 2))):
        raise ValueError(f"sample['label']: expected {n} photon counts of 1 or 2")
    if n == 0:
        raise ValueError("sample: no test windows")
    pitch = float(sample["pitch_mm"])
    z_front = float(sample["z_front_mm"])
    ox = np.asarray(sample["origin_x_mm"], dtype=np.float64)
    oy = np.asarray(sample["origin_y_mm"], dtype=np.float64)
    sep_cells = np.asarray(sample["separation_mm"], dtype=np.float64) / pitch
    energy = np.asarray(sample["energy_mev"], dtype=np.float64)
    ests = {k: _check_estimate(k, v, n) for k, v in estimates.items()}
    two = label == 2

    photon_est = {k: v["photons"] for k, v in ests.items() if "photons" in v}
    # the thesis's subset: where the reference estimator found two photons
    subsets: dict[str, np.ndarray] = {}
    if subset_of is not None and subset_of in ests and "n_photons" in ests[subset_of]:
        sub = ests[subset_of]["n_photons"] == 2
        for k in list(photon_est):
            subsets[f"{k}@{subset_of}_two"] = sub
    residuals, masses, fraction_two = {}, {}, {}
    for k, p in photon_est.items():
        ordered, _ = order_like_truth(p[two], truth[two])
        full = np.full((n, 6), np.nan)
        full[two] = ordered
        residuals[k] = _residuals(full, truth)
        masses[k] = invariant_mass(
            full[:, 2],
            full[:, 0] + ox,
            full[:, 1] + oy,
            full[:, 5],
            full[:, 3] + ox,
            full[:, 4] + oy,
            z_front,
        )
        cnt = ests[k].get("n_photons")
        fraction_two[k] = None if cnt is None else cnt
    scored: dict[str, tuple[str, np.ndarray]] = {k: (k, two) for k in photon_est}
    for name, sub in subsets.items():
        scored[name] = (name.split("@")[0], two & sub)

    def block(sel: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, (k, base) in scored.items():
            m = sel & base
            b = _resolution_block(residuals[k], m)
            b["n"] = int(m.sum())
            cnt = fraction_two[k]
            if cnt is not None:
                b["fraction_two"] = _fraction(int(np.sum(cnt[m] == 2)), int(m.sum()))
            out[name] = b
        return out

    def bins(values: np.ndarray, edges: Sequence[float], with_single: bool) -> list[dict]:
        rows = []
        e = np.asarray(edges, dtype=np.float64)
        for lo, hi in zip(e[:-1], e[1:], strict=True):
            inbin = (values >= lo) & (values < hi)
            sel2 = inbin & two
            row: dict[str, Any] = {
                "lo": float(lo),
                "hi": float(hi),
                "n_two": int(sel2.sum()),
                "mean": float(values[sel2].mean()) if sel2.any() else None,
                "estimators": block(inbin) if sel2.sum() >= 10 else {},
                "counting": {},
                "mass": {},
            }
            for k, v in ests.items():
                if "n_photons" not in v:
                    continue
                if with_single:
                    row["counting"][k] = _counting(v["n_photons"], label, inbin)
                else:
                    row["counting"][k] = {
                        "accuracy_two": _fraction(
                            int(np.sum(v["n_photons"][sel2] == 2)), int(sel2.sum())
                        )
                    }
            if sel2.sum() >= 10:
                for name, (k, base) in scored.items():
                    row["mass"][name] = _mass_block(masses[k], sel2 & base)
            if with_single:
                row["n_one"] = int((inbin & ~two).sum())
            rows.append(row)
        return rows

    result: dict[str, Any] = {
        "units": {
            "x": "mm",
            "y": "mm",
            "energy": "(E_reco - E_true) / E_true",
            "mass": "MeV",
            "separation": "cells (true distance of the impact points / pitch)",
            "energy_bins": "MeV (true total energy of the window's photons)",
        },
        "settings": {
            "separation_bins_cells": [float(v) for v in s["separation_bins_cells"]],
            "energy_bins_mev": [float(v) for v in s["energy_bins_mev"]],
            "pitch_mm": pitch,
            "z_front_mm": z_front,
            "match_scale": list(MATCH_SCALE),
            "subset_of": subset_of,
        },
        "sample": {"n_test": n, "n_two": int(two.sum()), "n_one": int((~two).sum())},
        "overall": block(np.ones(n, dtype=bool)),
        "vs_separation": bins(sep_cells, s["separation_bins_cells"], with_single=False),
        "vs_energy": bins(energy, s["energy_bins_mev"], with_single=True),
        "counting": {
            k: _counting(v["n_photons"], label, np.ones(n, dtype=bool))
            for k, v in ests.items()
            if "n_photons" in v
        },
        "mass": {name: _mass_block(masses[k], two & base) for name, (k, base) in scored.items()},
        "mass_histogram": {
            "edges_mev": MASS_EDGES.tolist(),
            "counts": {k: np.histogram(masses[k][two], MASS_EDGES)[0].tolist() for k in photon_est},
        },
        "thesis": THESIS,
    }
    return result


def _sigma(block: Mapping[str, Any] | None, q: str) -> float:
    try:
        return float(block["both"][q]["sigma"])
    except (KeyError, TypeError):
        return float("nan")


def goal_summary(
    metrics: Mapping[str, Any], nn: str = "nn", fit: str = "fit", min_cells: float = 1.0
) -> list[dict[str, Any]]:
    """The issue's four goals, each with its numbers and ``met`` (True / False).

    1. the network beats the fit in sigma_x and sigma_E/E (both photons pooled) in every
       separation bin from ``min_cells`` up;
    2. the network reaches the thesis target overall (sigma_x <= 2.5 mm, sigma_E/E <= 2.5 %);
    3. the network's mass resolution is at least 20 % better than the fit's;
    4. the network's counting accuracy on two-photon windows is above the fit's at every
       separation (its one-photon accuracy is reported beside).
    """
    goals: list[dict[str, Any]] = []
    rows = []
    ok = True
    for b in metrics["vs_separation"]:
        if b["lo"] < min_cells or not b["estimators"]:
            continue
        e = b["estimators"]
        sx = (_sigma(e.get(nn), "x"), _sigma(e.get(fit), "x"))
        se = (_sigma(e.get(nn), "energy"), _sigma(e.get(fit), "energy"))
        met = bool(sx[0] < sx[1] and se[0] < se[1])
        ok &= met
        rows.append(
            {"bin_cells": [b["lo"], b["hi"]], "sigma_x_mm": sx, "sigma_e_rel": se, "met": met}
        )
    goals.append(
        {
            "goal": f"{nn} beats {fit} in sigma_x and sigma_E/E per separation bin "
            f">= {min_cells} cell",
            "met": bool(ok and rows),
            "bins": rows,
        }
    )
    ov = metrics["overall"].get(nn)
    sx, se = _sigma(ov, "x"), _sigma(ov, "energy")
    target = THESIS["target"]
    goals.append(
        {
            "goal": "thesis target overall (2.5 mm, 2.5 %)",
            "met": bool(sx <= target["sigma_x_mm"] and se <= target["sigma_e_rel"]),
            "sigma_x_mm": sx,
            "sigma_y_mm": _sigma(ov, "y"),
            "sigma_e_rel": se,
        }
    )
    m_nn = metrics["mass"].get(nn, {}).get("fit", {}).get("sigma", float("nan"))
    m_fit = metrics["mass"].get(fit, {}).get("fit", {}).get("sigma", float("nan"))
    goals.append(
        {
            "goal": "mass resolution >= 20 % better than the fit's",
            "met": bool(m_nn <= 0.8 * m_fit),
            "sigma_m_mev": [m_nn, m_fit],
            "ratio": m_nn / m_fit if m_fit else float("nan"),
        }
    )
    rows, ok = [], True
    for b in metrics["vs_separation"]:
        c = b["counting"]
        if nn not in c or fit not in c or not c[nn]["accuracy_two"]["n"]:
            continue
        a = (c[nn]["accuracy_two"]["value"], c[fit]["accuracy_two"]["value"])
        met = bool(a[0] > a[1])
        ok &= met
        rows.append({"bin_cells": [b["lo"], b["hi"]], "accuracy_two": a, "met": met})
    one = [metrics["counting"].get(k, {}).get("accuracy_one", {}).get("value") for k in (nn, fit)]
    goals.append(
        {
            "goal": "counting accuracy above the fit's at every separation",
            "met": bool(ok and rows),
            "bins": rows,
            "accuracy_one_photon": one,
        }
    )
    return goals


# --------------------------------------------------------------------------------------------
# helpers for stages


def concat_windows(parts: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate :func:`pair_windows` chunks (scalars taken from the first)."""
    if not parts:
        raise ValueError("parts: no window chunks given")
    out = {}
    for k, v in parts[0].items():
        out[k] = v if np.ndim(v) == 0 else np.concatenate([np.asarray(p[k]) for p in parts])
    return out


def select(windows: Mapping[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    """The windows where ``mask`` is true (per-window arrays; scalars kept)."""
    m = np.asarray(mask, dtype=bool)
    return {k: (v if np.ndim(v) == 0 else np.asarray(v)[m]) for k, v in windows.items()}


def event_display(
    sample: Mapping[str, np.ndarray],
    estimates: Mapping[str, Mapping[str, np.ndarray]],
    index: int | None = None,
    separation_cells: tuple[float, float] = (1.3, 2.0),
) -> dict[str, Any]:
    """One merged pi0 with every estimator's photons, as plain data for the event display.

    Args:
        sample: test windows (``windows``, ``truth``, ``label``, ``separation_mm``, ...).
        estimates: as :func:`two_photon_metrics`.
        index: the window to show; default the first two-photon window (test order) whose true
            separation lies in ``separation_cells`` and where the fit kept two showers.
        separation_cells: the separation range of the default choice.

    Returns:
        ``{"index", "event", "window_gev" (N x N list), "pitch_mm", "truth", "estimates":
        {name: {"photons", "n_photons"}}, "separation_cells", "energy_gev", "mass_true_mev"}``,
        photons as [x1, y1, E1, x2, y2, E2] (mm from the lower-left cell centre, MeV).
    """
    pitch = float(sample["pitch_mm"])
    if index is None:
        sep = np.asarray(sample["separation_mm"]) / pitch
        ok = (np.asarray(sample["label"]) == 2) & (sep >= separation_cells[0])
        ok &= sep < separation_cells[1]
        if "fit" in estimates and "n_photons" in estimates["fit"]:
            ok &= np.asarray(estimates["fit"]["n_photons"]) == 2
        cand = np.flatnonzero(ok)
        if cand.size == 0:
            cand = np.flatnonzero(np.asarray(sample["label"]) == 2)
        if cand.size == 0:
            raise ValueError("sample: no two-photon window to display")
        index = int(cand[0])

    def plain(v: np.ndarray) -> list:
        return [None if not np.isfinite(x) else float(x) for x in np.asarray(v, dtype=float)]

    ests = {}
    for name, est in estimates.items():
        e: dict[str, Any] = {}
        if "photons" in est:
            e["photons"] = plain(est["photons"][index])
        if "n_photons" in est:
            e["n_photons"] = int(est["n_photons"][index])
        ests[name] = e
    return {
        "index": int(index),
        "event": int(sample["event"][index]) if "event" in sample else None,
        "window_gev": (np.asarray(sample["windows"][index], dtype=float) / 1000.0).tolist(),
        "pitch_mm": pitch,
        "truth": plain(sample["truth"][index]),
        "estimates": ests,
        "separation_cells": float(sample["separation_mm"][index]) / pitch,
        "energy_gev": float(sample["energy_mev"][index]) / 1000.0,
        "mass_true_mev": float(sample["mass_true"][index]) if "mass_true" in sample else None,
    }


def evaluate_estimates(
    test: Mapping[str, np.ndarray],
    estimates: Mapping[str, Mapping[str, np.ndarray]],
    settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """two_photon.json: :func:`two_photon_metrics` of the test windows, the event display of a
    merged pi0 and the issue's goals (:func:`goal_summary`, network ``nn`` against ``fit``)."""
    bins = {k: v for k, v in dict(settings or {}).items() if k in DEFAULTS}
    metrics = two_photon_metrics(test, estimates, bins)
    metrics["event_display"] = event_display(test, estimates)
    metrics["goals"] = goal_summary(metrics)
    return metrics
