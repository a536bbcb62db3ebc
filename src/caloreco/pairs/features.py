"""Cluster pairs for the case A/B classifier (merge or keep apart).

Every unordered pair of clusters of an event becomes one row. Cluster 1 is the more energetic of
the two (ties broken by the lower cluster index). The label follows the published CALIFA study:
1 ("case B", should merge) when both clusters are dominated by the same true primary, 0 ("case A",
two different primaries, or a cluster without a matched primary) otherwise.

Features (units MeV, rad, ns):

* ``FEATURES_PUBLISHED``: the 11 inputs of Jenegger et al. (2024): ``E1, theta1, phi1, t1, E2,
  theta2, phi2, t2, dtheta, dphi, dt`` with ``dtheta = |theta1 - theta2|``, ``dphi`` the absolute
  azimuth difference wrapped into [0, pi] (the original code wrapped with pi instead of 2 pi) and
  ``dt = |t1 - t2|``.
* physics additions: ``opening_angle`` (3-D angle between the two cluster directions seen from the
  target), ``energy_ratio = E2/E1`` (in (0, 1]), ``compton_consistency`` (see
  :func:`compton_consistency`), ``size1``, ``size2`` (hits per cluster).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from caloreco.constants import ELECTRON_MASS_MEV

__all__ = [
    "COMPTON_INVALID",
    "FEATURES_PUBLISHED",
    "FEATURES_PHYSICS",
    "FEATURES_DEFAULT",
    "REQUIRED_COLUMNS",
    "pair_indices",
    "make_pairs",
    "wrap_dphi",
    "opening_angle",
    "compton_consistency",
]

#: value of ``compton_consistency`` when neither ordering is kinematically allowed (|cos| > 1);
#: pi is the largest possible |predicted - geometric| angle, so "impossible" reads as "maximally
#: inconsistent" and stays on the scale of the valid values.
COMPTON_INVALID = float(np.pi)

FEATURES_PUBLISHED: list[str] = [
    "E1",
    "theta1",
    "phi1",
    "t1",
    "E2",
    "theta2",
    "phi2",
    "t2",
    "dtheta",
    "dphi",
    "dt",
]
FEATURES_PHYSICS: list[str] = [
    "opening_angle",
    "energy_ratio",
    "compton_consistency",
    "size1",
    "size2",
]
FEATURES_DEFAULT: list[str] = FEATURES_PUBLISHED + FEATURES_PHYSICS

REQUIRED_COLUMNS = ("event", "cluster", "energy", "theta", "phi", "x", "y", "z", "time", "size")


def wrap_dphi(phi1: np.ndarray, phi2: np.ndarray) -> np.ndarray:
    """Absolute azimuth difference wrapped into [0, pi] (rad)."""
    d = np.mod(np.abs(np.asarray(phi1, float) - np.asarray(phi2, float)), 2 * np.pi)
    return np.minimum(d, 2 * np.pi - d)


def _unit(theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    st = np.sin(theta)
    return np.stack([st * np.cos(phi), st * np.sin(phi), np.cos(theta)], axis=-1)


def _angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle between vectors along the last axis (rad), accurate at small and large angles.

    Zero-length vectors give 0.
    """
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    dot = np.einsum("...i,...i->...", a, b)
    return np.arctan2(cross, dot)


def opening_angle(
    theta1: np.ndarray, phi1: np.ndarray, theta2: np.ndarray, phi2: np.ndarray
) -> np.ndarray:
    """3-D angle between two directions given by polar and azimuthal angles (rad)."""
    return _angle_between(_unit(theta1, phi1), _unit(theta2, phi2))


def _compton_one_order(
    e_first: np.ndarray, e_second: np.ndarray, p_first: np.ndarray, p_second: np.ndarray
) -> np.ndarray:
    """|theta_Compton - theta_geometric| for one ordering; NaN where |cos theta_C| > 1."""
    e_tot = e_first + e_second
    with np.errstate(divide="ignore", invalid="ignore"):
        cos_c = 1.0 - ELECTRON_MASS_MEV * (1.0 / e_second - 1.0 / e_tot)
    ok = np.isfinite(cos_c) & (np.abs(cos_c) <= 1.0)
    theta_c = np.arccos(np.clip(np.where(ok, cos_c, 1.0), -1.0, 1.0))
    theta_geo = _angle_between(p_first, p_second - p_first)
    return np.where(ok, np.abs(theta_c - theta_geo), np.nan)


def compton_consistency(
    e1: np.ndarray,
    e2: np.ndarray,
    pos1: np.ndarray,
    pos2: np.ndarray,
    target: np.ndarray | None = None,
) -> np.ndarray:
    """How well a pair fits one photon that Compton-scattered in one cluster and stopped in the other.

    For the ordering "a first, b second" the photon energy is ``E_gamma = E_a + E_b`` (full
    absorption), the scattered photon carries ``E_b``, and Compton kinematics predicts

        cos theta_C = 1 - m_e c^2 (1/E_b - 1/(E_a + E_b)).

    The geometric scattering angle is the angle between the direction target -> a and the
    direction a -> b. The result is the smaller of ``|theta_C - theta_geo|`` over the two orderings
    (rad, in [0, pi]); an ordering with ``|cos theta_C| > 1`` is kinematically forbidden, and a
    pair with both orderings forbidden gets :data:`COMPTON_INVALID`.

    Args:
        e1, e2: cluster energies in MeV, shape (n,).
        pos1, pos2: cluster positions in mm, shape (n, 3).
        target: interaction point in mm (default the origin).

    Returns:
        float64 array of shape (n,), rad.
    """
    e1 = np.asarray(e1, dtype=np.float64)
    e2 = np.asarray(e2, dtype=np.float64)
    p1 = np.asarray(pos1, dtype=np.float64)
    p2 = np.asarray(pos2, dtype=np.float64)
    if target is not None:
        t = np.asarray(target, dtype=np.float64).reshape(1, 3)
        p1, p2 = p1 - t, p2 - t
    d12 = _compton_one_order(e1, e2, p1, p2)
    d21 = _compton_one_order(e2, e1, p2, p1)
    best = np.fmin(d12, d21)  # fmin ignores a NaN operand
    return np.where(np.isnan(best), COMPTON_INVALID, best)


def pair_indices(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs ``i < j`` within groups of ``counts`` consecutive items, without a group loop.

    Args:
        counts: number of items per group (non-negative ints), groups stored consecutively.

    Returns:
        ``(group, first, second)``: the group index of each pair and the global item indices of
        its two members, ``first < second``. Pairs come grouped, each group in row-major order of
        ``(i, j)``.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 1 or np.any(counts < 0):
        raise ValueError("counts: expected a 1-D array of non-negative integers")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    n_pairs = counts * (counts - 1) // 2
    total = int(n_pairs.sum())
    group = np.repeat(np.arange(counts.size, dtype=np.int64), n_pairs)
    first = np.empty(total, dtype=np.int64)
    second = np.empty(total, dtype=np.int64)
    pair_start = np.concatenate([[0], np.cumsum(n_pairs)[:-1]])
    # one vectorised block per distinct group size (a handful of sizes, not one per group)
    for n in np.unique(counts[counts >= 2]):
        groups = np.flatnonzero(counts == n)
        iu, ju = np.triu_indices(int(n), k=1)
        rows = (pair_start[groups][:, None] + np.arange(iu.size)[None, :]).ravel()
        first[rows] = (starts[groups][:, None] + iu[None, :]).ravel()
        second[rows] = (starts[groups][:, None] + ju[None, :]).ravel()
    return group, first, second


def make_pairs(clusters: pd.DataFrame) -> pd.DataFrame:
    """Every unordered pair of clusters within each event, with features and (if truth) labels.

    Args:
        clusters: one row per cluster with at least the columns of :data:`REQUIRED_COLUMNS`
            (``energy`` MeV, ``theta``/``phi`` rad, ``x``/``y``/``z`` mm, ``time`` ns, ``size``
            hits); optional truth columns ``primary`` (dominant primary, -1 none) and ``purity``.

    Returns:
        One row per pair, sorted by event then by (cluster 1, cluster 2) energy rank, with
        columns ``event``, ``cluster1``, ``cluster2`` (cluster indices, cluster 1 the more
        energetic), the features of :data:`FEATURES_DEFAULT` (float64; sizes int32), and with
        truth ``label`` (int8: 1 = same primary, case B; 0 = case A), ``primary1``,
        ``primary2``, ``purity1``, ``purity2``. Events with fewer than two clusters contribute no
        row.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in clusters.columns]
    if missing:
        raise ValueError(f"clusters: missing columns {missing}; expected {list(REQUIRED_COLUMNS)}")
    if clusters.duplicated(["event", "cluster"]).any():
        dup = clusters.loc[clusters.duplicated(["event", "cluster"]), ["event", "cluster"]]
        raise ValueError(
            f"clusters: (event, cluster) must be unique; repeated e.g. {dup.iloc[0].tolist()}"
        )
    ev = clusters["event"].to_numpy()
    energy = clusters["energy"].to_numpy(dtype=np.float64)
    cl = clusters["cluster"].to_numpy()
    if len(clusters) and not np.isfinite(energy).all():
        raise ValueError("clusters: column 'energy' has non-finite values")

    # events contiguous, clusters by decreasing energy (ties: lower cluster index first)
    order = np.lexsort((cl, -energy, ev))
    ev_sorted = ev[order]
    if ev_sorted.size:
        boundaries = np.flatnonzero(np.diff(ev_sorted)) + 1
        counts = np.diff(np.concatenate([[0], boundaries, [ev_sorted.size]]))
    else:
        counts = np.zeros(0, dtype=np.int64)
    _, a, b = pair_indices(counts)
    i1, i2 = order[a], order[b]

    def col(name: str, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
        v = clusters[name].to_numpy(dtype=dtype)
        return v[i1], v[i2]

    e1, e2 = energy[i1], energy[i2]
    th1, th2 = col("theta")
    ph1, ph2 = col("phi")
    t1, t2 = col("time")
    pos = clusters[["x", "y", "z"]].to_numpy(dtype=np.float64)
    out: dict[str, np.ndarray] = {
        "event": ev[i1].astype(np.int64),
        "cluster1": cl[i1].astype(np.int32),
        "cluster2": cl[i2].astype(np.int32),
        "E1": e1,
        "theta1": th1,
        "phi1": ph1,
        "t1": t1,
        "E2": e2,
        "theta2": th2,
        "phi2": ph2,
        "t2": t2,
        "dtheta": np.abs(th1 - th2),
        "dphi": wrap_dphi(ph1, ph2),
        "dt": np.abs(t1 - t2),
        "opening_angle": opening_angle(th1, ph1, th2, ph2),
    }
    with np.errstate(divide="ignore", invalid="ignore"):
        out["energy_ratio"] = np.where(e1 > 0, e2 / e1, 0.0)
    out["compton_consistency"] = compton_consistency(e1, e2, pos[i1], pos[i2])
    s1, s2 = col("size", np.int64)
    out["size1"], out["size2"] = s1.astype(np.int32), s2.astype(np.int32)
    if "primary" in clusters.columns:
        p1, p2 = col("primary", np.int64)
        out["label"] = ((p1 == p2) & (p1 >= 0)).astype(np.int8)
        out["primary1"], out["primary2"] = p1.astype(np.int32), p2.astype(np.int32)
    if "purity" in clusters.columns:
        out["purity1"], out["purity2"] = col("purity")
    return pd.DataFrame(out)
