"""Truth matching and scoring of a clustering, on hand-made events with every value known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from caloreco.clustering.matching import (
    best_cluster_energy,
    labels_from_cells,
    nearest_primary_angle,
    primary_matches,
)
from caloreco.clustering.scoring import PRIMARY_COLUMNS, score_events, summarize_scores
from caloreco.events import RawEvents

THETA = [1.0, 1.0, 2.0, 0.5, 0.5, 0.5, 1.0, 1.2]
PHI = [0.0, 0.3, 2.0, 1.0, 0.0, math.pi, 1.0, -0.4]
ENERGY = [3.0, 2.0, 1.5, 0.8, 1.1, 1.2, 0.7, 0.5]
#: per hit: (dominant) true primary within the event, -1 without truth; and a clustering
TRUE = [0, 0, 1, 1, 2] + [0, 0] + [-1] + [0, -1]
RECO = [0, 0, 1, 1, 1] + [0, -1] + [0] + [3, 3]


def hand_events() -> RawEvents:
    """Five events (numbers 100-104), energies MeV, angles rad.

    * 100: three primaries; p0 alone in cluster 0 (exactly matched); p1 and p2 together in
      cluster 1 (over-merged: neither matched). Hit 3 has deposits of p1 (0.6) and p2 (0.1).
    * 101: one primary, one of its two hits unclustered (lost: split, not matched).
    * 102: two primaries and no hit (no true cluster).
    * 103: one primary that left nothing; one hit without truth (noise).
    * 104: one primary, its hit and a noise hit in cluster 3 (matched: noise is ignored).
    """
    return RawEvents(
        event=[100, 101, 102, 103, 104],
        hit_offsets=[0, 5, 7, 7, 8, 10],
        cell_id=[10, 11, 12, 13, 14, 20, 21, 30, 40, 41],
        cell_energy=[1.0, 0.8, 0.7, 0.7, 0.9, 0.3, 0.2, 0.05, 0.5, 0.02],
        cell_time=np.zeros(10),
        primary_offsets=[0, 3, 4, 6, 7, 8],
        primary_energy=ENERGY,
        primary_theta=THETA,
        primary_phi=PHI,
        primary_time=np.zeros(8),
        primary_x=np.zeros(8),
        primary_y=np.zeros(8),
        truth_offsets=[0, 6, 8, 8, 8, 9],
        truth_cell=[0, 1, 2, 3, 3, 4, 0, 1, 0],
        truth_primary=[0, 0, 1, 1, 2, 2, 0, 0, 0],
        truth_energy=[1.0, 0.8, 0.7, 0.6, 0.1, 0.9, 0.3, 0.2, 0.5],
    )


def cells_of(events: RawEvents, labels) -> pd.DataFrame:
    """The cells table (event, hit, cluster) of a clustering; unclustered hits are absent."""
    labels = np.asarray(labels)
    ev = np.repeat(events.event, np.diff(events.hit_offsets))
    hit = np.arange(labels.size) - np.repeat(events.hit_offsets[:-1], np.diff(events.hit_offsets))
    keep = labels >= 0
    return pd.DataFrame({"event": ev[keep], "hit": hit[keep], "cluster": labels[keep]})


#: cluster table: (event, cluster, dominant primary, energy)
CLUSTERS = pd.DataFrame(
    [
        (100, 0, 0, 2.9),
        (100, 1, 1, 3.2),
        (100, 2, 0, 0.4),  # a second, smaller cluster of p0: not its best
        (100, 3, -1, 5.0),  # no dominant primary: nobody's best
        (101, 0, 0, 0.5),
        (103, 0, -1, 0.05),
        (104, 3, 0, 0.48),
    ],
    columns=["event", "cluster", "primary", "energy"],
)
BEST = [2.9, 3.2, 0.0, 0.5, 0.0, 0.0, 0.0, 0.48]


def angle(i: int, j: int) -> float:
    """Spherical law of cosines (reference for the unit-vector computation)."""
    c = math.sin(THETA[i]) * math.sin(THETA[j]) * math.cos(PHI[i] - PHI[j]) + math.cos(
        THETA[i]
    ) * math.cos(THETA[j])
    return math.acos(max(-1.0, min(1.0, c)))


def test_labels_from_cells_restores_the_clustering():
    events = hand_events()
    cells = cells_of(events, RECO).sample(frac=1.0, random_state=1)  # row order is irrelevant
    assert labels_from_cells(events, cells).tolist() == RECO
    with pytest.raises(ValueError, match="absent"):
        labels_from_cells(events, pd.DataFrame({"event": [999], "hit": [0], "cluster": [0]}))


def test_best_cluster_energy_is_the_largest_dominated_cluster():
    events = hand_events()
    np.testing.assert_array_equal(best_cluster_energy(CLUSTERS, events), BEST)
    shuffled = CLUSTERS.sample(frac=1.0, random_state=2)
    np.testing.assert_array_equal(best_cluster_energy(shuffled, events), BEST)


def test_nearest_primary_angle_against_the_law_of_cosines():
    got = nearest_primary_angle(hand_events())
    expected = [
        min(angle(0, 1), angle(0, 2)),
        min(angle(1, 0), angle(1, 2)),
        min(angle(2, 0), angle(2, 1)),
        math.inf,  # alone in its event
        1.0,  # theta 0.5 at opposite azimuths: 2 * 0.5 through the pole
        1.0,
        math.inf,
        math.inf,
    ]
    assert got.tolist() == pytest.approx(expected, rel=1e-6)  # angles are float32 in files
    assert angle(0, 1) == pytest.approx(0.252163, abs=1e-6)  # hand: acos(0.968374)


def test_primary_matches_hand_made():
    events = hand_events()
    table = primary_matches(events, np.array(RECO))
    assert table["event"].tolist() == [100, 100, 100, 101, 102, 102, 103, 104]
    assert table["primary"].tolist() == [0, 1, 2, 0, 0, 1, 0, 0]
    assert table["energy"].tolist() == pytest.approx(ENERGY)
    assert table["has_cluster"].tolist() == [True, True, True, True, False, False, False, True]
    assert table["matched"].tolist() == [True, False, False, False, False, False, False, True]
    assert table["nearest_angle"].tolist() == pytest.approx(nearest_primary_angle(events).tolist())
    # every hit in one cluster per event: only the lone primaries are matched
    one = np.zeros(len(RECO), dtype=np.int64)
    t1 = primary_matches(events, one)
    assert t1["matched"].tolist() == [False, False, False, True, False, False, False, True]
    # relabelling the clusters changes nothing
    t2 = primary_matches(events, np.where(np.array(RECO) >= 0, np.array(RECO) + 7, -1))
    assert t2["matched"].tolist() == table["matched"].tolist()
    with pytest.raises(ValueError, match="reco_labels"):
        primary_matches(events, np.zeros(3, dtype=np.int64))


def test_score_events_and_summary_by_hand():
    events = hand_events()
    metrics, table = score_events(events, np.array(RECO), CLUSTERS, "agglomerative")
    assert list(table.columns) == list(PRIMARY_COLUMNS)
    assert set(table["method"]) == {"agglomerative"}
    assert table["best_energy"].tolist() == pytest.approx(BEST)
    # 100 FP (over-merged), 101 FN (lost hit), 102 and 103 empty, 104 TP
    assert metrics["category"].tolist() == [1, 2, -1, -1, 0]
    assert metrics["n_true_clusters"].tolist() == [3, 1, 0, 0, 1]
    assert metrics["n_exactly_matched"].tolist() == [1, 0, 0, 0, 1]

    resp = {"resolution_fwhm_at_1mev": 0.055, "non_uniformity": 0.01}
    # scored in two chunks (events 100-101 and 102-104): the same as all at once
    first = events.event <= 101
    parts = [events.select(first), events.select(~first)]
    clus = [CLUSTERS[CLUSTERS.event <= 101], CLUSTERS[CLUSTERS.event > 101]]
    scores = [score_events(p, np.array(RECO)[np.repeat(m, np.diff(events.hit_offsets))], c, "a")
              for p, m, c in zip(parts, (first, ~first), clus, strict=True)]  # fmt: skip
    summary, photo = summarize_scores(
        [s[0] for s in scores], pd.concat([s[1] for s in scores]), resp
    )
    assert summary["events"] == 3 and summary["empty_events"] == 2
    for k in ("TP", "FP", "FN"):
        assert summary[k] == pytest.approx(1 / 3)
    assert summary["FM"] == 0.0
    assert summary["WR"] == pytest.approx(2 / 5)
    assert summary["WR_err"] == pytest.approx(math.sqrt(0.4 * 0.6 / 5))
    assert summary["true_clusters"] == 5 and summary["matched_clusters"] == 2
    # photopeak (3 sigma, CALIFA): 2.9 for 3.0 MeV (sigma 0.050) and 0.48 for 0.5 MeV
    # (sigma 0.0173) are in; 3.2 for 2.0, 0.5 for 0.8 and the primaries without cluster are out
    assert photo["primaries"] == 8
    assert photo["efficiency"] == pytest.approx(2 / 8)
    _, none = summarize_scores([s[0] for s in scores], pd.concat([s[1] for s in scores]), None)
    assert none is None


def reference_matches(true, reco, hit_off, prim_off):
    """primary_matches' has_cluster / matched by loops over events, primaries and hits."""
    has, matched = [], []
    for i in range(len(hit_off) - 1):
        t = true[hit_off[i] : hit_off[i + 1]]
        r = reco[hit_off[i] : hit_off[i + 1]]
        for p in range(prim_off[i + 1] - prim_off[i]):
            mine = t == p
            has.append(bool(mine.any()))
            labels = set(r[mine].tolist())
            ok = mine.any() and len(labels) == 1 and -1 not in labels
            if ok:  # the reconstructed cluster holds no other true hit
                (lab,) = labels
                ok = bool(np.all(mine[(r == lab) & (t >= 0)]))
            matched.append(ok)
    return has, matched


def random_events(rng, n_events=60):
    n_hits = rng.integers(0, 12, n_events)
    n_prim = rng.integers(1, 4, n_events)
    hit_off = np.concatenate([[0], np.cumsum(n_hits)])
    prim_off = np.concatenate([[0], np.cumsum(n_prim)])
    true = np.concatenate([rng.integers(-1, k, n) for k, n in zip(n_prim, n_hits, strict=True)])
    # reconstructed labels: mostly the truth relabelled, sometimes merged, split or lost
    reco = np.where(true >= 0, 3 * true + 2, 0)
    noise = rng.random(true.size)
    reco = np.where(noise < 0.15, rng.integers(-1, 8, true.size), reco)
    # one dominant deposit per hit with truth (hits without truth get none)
    truth_cell, truth_primary, truth_off = [], [], [0]
    for i in range(n_events):
        t = true[hit_off[i] : hit_off[i + 1]]
        idx = np.flatnonzero(t >= 0)
        truth_cell += idx.tolist()
        truth_primary += t[idx].tolist()
        truth_off.append(truth_off[-1] + idx.size)
    k = len(truth_cell)
    ev = RawEvents(
        event=np.arange(n_events) * 7 + 3,
        hit_offsets=hit_off,
        cell_id=np.arange(true.size),
        cell_energy=np.ones(true.size),
        cell_time=np.zeros(true.size),
        primary_offsets=prim_off,
        primary_energy=np.ones(prim_off[-1]),
        primary_theta=rng.uniform(0.3, 2.8, prim_off[-1]),
        primary_phi=rng.uniform(-np.pi, np.pi, prim_off[-1]),
        primary_time=np.zeros(prim_off[-1]),
        primary_x=np.zeros(prim_off[-1]),
        primary_y=np.zeros(prim_off[-1]),
        truth_offsets=truth_off,
        truth_cell=truth_cell,
        truth_primary=truth_primary,
        truth_energy=np.ones(k),
    )
    return ev, true, reco


@pytest.mark.parametrize("seed", range(4))
def test_primary_matches_equals_a_loop_reference(seed):
    events, true, reco = random_events(np.random.default_rng(seed))
    table = primary_matches(events, reco)
    has, matched = reference_matches(true, reco, events.hit_offsets, events.primary_offsets)
    assert table["has_cluster"].tolist() == has
    assert table["matched"].tolist() == matched
    assert 0 < sum(matched) < sum(has)  # the random clusterings are neither perfect nor empty
    # and it agrees with the WR of the event metrics
    from caloreco.clustering.metrics import event_metrics, summarize_metrics

    s = summarize_metrics(event_metrics(events.hit_offsets, reco, true))
    assert (s["true_clusters"], s["matched_clusters"]) == (sum(has), sum(matched))


def test_nearest_angle_of_identical_directions_is_zero_not_nan():
    events = hand_events()
    # event 102: two primaries in one direction whose unit vectors have u.u = 1 + 2e-16
    theta = np.array(THETA, dtype=np.float64)
    phi = np.array(PHI, dtype=np.float64)
    theta[4:6], phi[4:6] = 0.1775919795036316, -3.0
    same = RawEvents(**{**events.arrays(), "primary_theta": theta, "primary_phi": phi})
    got = nearest_primary_angle(same)
    assert got[4] == 0.0 and got[5] == 0.0  # the cosine is clipped to 1 before arccos
    assert np.isfinite(got).sum() == 5


def test_summarize_scores_of_a_single_chunk():
    events = hand_events()
    metrics, table = score_events(events, np.array(RECO), CLUSTERS, "cone")
    summary, photo = summarize_scores([metrics], table, None)
    assert summary["WR"] == pytest.approx(2 / 5) and photo is None


def test_primary_matches_when_the_last_primaries_left_no_hit():
    """Without event 104 the last three primaries (102, 103) have no true hit: their rows are
    still there (unmatched, no cluster), not a shorter or broadcast array."""
    events = hand_events()
    first = events.select(events.event != 104)
    table = primary_matches(first, np.array(RECO[:8]))
    assert table["event"].tolist() == [100, 100, 100, 101, 102, 102, 103]
    assert table["has_cluster"].tolist() == [True, True, True, True, False, False, False]
    assert table["matched"].tolist() == [True, False, False, False, False, False, False]


def test_primary_matches_without_any_true_hit():
    # one event: a primary that left nothing and one noise hit (no truth at all)
    events = RawEvents(
        event=[7],
        hit_offsets=[0, 1],
        cell_id=[30],
        cell_energy=[0.05],
        cell_time=np.zeros(1),
        primary_offsets=[0, 1],
        primary_energy=[0.7],
        primary_theta=[1.0],
        primary_phi=[0.0],
        primary_time=np.zeros(1),
        primary_x=np.zeros(1),
        primary_y=np.zeros(1),
        truth_offsets=[0, 0],
        truth_cell=np.zeros(0, int),
        truth_primary=np.zeros(0, int),
        truth_energy=np.zeros(0),
    )
    table = primary_matches(events, np.array([0]))
    assert table["has_cluster"].tolist() == [False] and table["matched"].tolist() == [False]
    assert table["energy"].tolist() == pytest.approx([0.7])
