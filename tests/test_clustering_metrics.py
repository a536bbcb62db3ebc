"""event_metrics and summarize_metrics on eight hand-made events, one of each kind (TP, FP,
FN, FM, a lost hit, noise only, no hits, an exact match beside a merge), every per-event array
known by hand (the conventions of caloreco.clustering.metrics' docstring)."""

from __future__ import annotations

import numpy as np
import pytest

from caloreco.clustering.metrics import event_metrics, summarize_metrics

# (true labels, reco labels) per event
EVENTS = [
    ([0, 0, 1], [0, 0, 1]),  # identical: TP
    ([0, 1], [0, 0]),  # two primaries in one cluster: FP
    ([0, 0], [0, 1]),  # one primary in two clusters: FN
    ([0, 0, 1, 1], [0, 1, 1, 2]),  # split and merged: FM
    ([0, 0], [0, -1]),  # a lost hit: split, FN
    ([-1, -1], [0, 0]),  # noise only: empty, its cluster ignored
    ([], []),  # no hits at all (last but one: bincount needs its minlength)
    ([0, 1, 2], [0, 0, 1]),  # primary 2 exactly matched beside a merge: FP
]


def _metrics():
    # called inside each test, not in a fixture: mutmut links a test to the functions its call
    # phase runs
    off = np.cumsum([0] + [len(t) for t, _ in EVENTS]).astype(np.int64)
    true = np.concatenate([np.asarray(t, dtype=np.int64) for t, _ in EVENTS])
    reco = np.concatenate([np.asarray(r, dtype=np.int64) for _, r in EVENTS])
    return event_metrics(off, reco, true)


def test_every_per_event_array_by_hand():
    m = _metrics()
    np.testing.assert_array_equal(m["category"], [0, 1, 2, 3, 2, -1, -1, 1])
    assert m["category"].dtype == np.int8
    f, t = False, True
    np.testing.assert_array_equal(m["over_merged"], [f, t, f, t, f, f, f, t])
    np.testing.assert_array_equal(m["split"], [f, f, t, t, t, f, f, f])
    np.testing.assert_array_equal(m["empty"], [f, f, f, f, f, t, t, f])
    np.testing.assert_array_equal(m["n_true_clusters"], [2, 2, 1, 2, 1, 0, 0, 3])
    # reconstructed clusters holding a true hit: the lost hit and the noise cluster are none
    np.testing.assert_array_equal(m["n_reco_clusters"], [2, 1, 2, 3, 1, 0, 0, 2])
    np.testing.assert_array_equal(m["n_exactly_matched"], [2, 0, 0, 0, 0, 0, 0, 1])
    for i, name in enumerate(("TP", "FP", "FN", "FM")):
        np.testing.assert_array_equal(m[name], m["category"] == i)
    for k in ("n_true_clusters", "n_reco_clusters", "n_exactly_matched"):
        assert m[k].dtype == np.int64 and m[k].shape == (8,)


def test_trailing_events_without_clusters_are_counted():
    """Events after the last cluster still get their rows (zeros), not a shorter array."""
    off = np.array([0, 2, 2, 2], dtype=np.int64)
    m = event_metrics(off, np.array([0, 0]), np.array([0, 0]))
    np.testing.assert_array_equal(m["category"], [0, -1, -1])
    np.testing.assert_array_equal(m["n_reco_clusters"], [1, 0, 0])
    np.testing.assert_array_equal(m["split"], [False, False, False])
    np.testing.assert_array_equal(m["n_exactly_matched"], [1, 0, 0])
    np.testing.assert_array_equal(m["n_true_clusters"], [1, 0, 0])


def test_summary_fractions_by_hand():
    metrics = _metrics()
    s = summarize_metrics(metrics)
    # six labelled events: TP 1, FP 2, FN 2, FM 1; 11 true clusters, 3 exactly matched
    assert s["events"] == 6 and s["empty_events"] == 2
    assert s["TP"] == pytest.approx(1 / 6) and s["FP"] == pytest.approx(2 / 6)
    assert s["FN"] == pytest.approx(2 / 6) and s["FM"] == pytest.approx(1 / 6)
    assert s["WR"] == pytest.approx(3 / 11)
    with pytest.raises(ValueError, match="missing key"):
        summarize_metrics({"category": metrics["category"]})


def test_bad_labels_are_named():
    off = np.array([0, 2], dtype=np.int64)
    with pytest.raises(ValueError, match=r"^reco_labels: expected shape"):
        event_metrics(off, np.array([0]), np.array([0, 0]))
    with pytest.raises(ValueError, match=r"^true_labels: expected shape"):
        event_metrics(off, np.array([0, 0]), np.array([0]))
