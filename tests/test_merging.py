"""Merging pre-clusters along accepted pairs: connected components per event."""

import numpy as np
import pytest

from caloreco.pairs.merging import event_index, merge_clusters


def _csr(per_event):
    offsets = np.concatenate([[0], np.cumsum([len(e) for e in per_event])])
    labels = np.concatenate([np.asarray(e, dtype=np.int32) for e in per_event]) if per_event else []
    return offsets, np.asarray(labels, dtype=np.int32)


def test_components_on_hand_made_events():
    off, lab = _csr(
        [
            [0, 0, 1, 2, 3, 3, 4],  # event 0: 5 clusters; merge 1-3 and 3-4 (chain), 0-2 rejected
            [0, 1, 2],  # event 1: merge 0-2 -> {0, 2}, {1}
            [],  # event 2: no hits
            [0, -1, 1],  # event 3: noise hit stays -1; merge 0-1
            [0, 1],  # event 4: nothing accepted
        ]
    )
    pe = np.array([0, 0, 0, 1, 1, 3, 4])
    c1 = np.array([1, 3, 0, 0, 0, 0, 0])
    c2 = np.array([3, 4, 2, 2, 1, 1, 1])
    acc = np.array([True, True, False, True, False, True, False])
    new = merge_clusters(off, lab, pe, c1, c2, acc)
    per_event = [new[off[i] : off[i + 1]].tolist() for i in range(len(off) - 1)]
    assert per_event == [
        [0, 0, 1, 2, 1, 1, 1],  # {0}, {1, 3, 4}, {2} numbered by lowest original label
        [0, 1, 0],
        [],
        [0, -1, 0],
        [0, 1],
    ]
    assert new.dtype == np.int32


def test_nothing_accepted_is_identity_and_all_accepted_is_one_cluster():
    off, lab = _csr([[2, 0, 1, 1], [0, 1]])
    pe = np.array([0, 0, 0, 1])
    c1 = np.array([0, 0, 1, 0])
    c2 = np.array([1, 2, 2, 1])
    assert merge_clusters(off, lab, pe, c1, c2, np.zeros(4, bool)).tolist() == lab.tolist()
    assert merge_clusters(off, lab, pe, c1, c2, np.ones(4, bool)).tolist() == [0] * 6


def test_label_gaps_are_compacted_and_bad_pairs_refused():
    off, lab = _csr([[0, 3, 3]])  # labels 1 and 2 have no hit
    assert merge_clusters(off, lab, [], [], [], np.zeros(0, bool)).tolist() == [0, 1, 1]
    with pytest.raises(ValueError, match="has 4 clusters"):
        merge_clusters(off, lab, [0], [0], [7], [True])
    with pytest.raises(ValueError, match="labels"):
        merge_clusters(off, lab[:2], [], [], [], np.zeros(0, bool))


def test_event_index():
    assert event_index(np.array([3, 7, 9]), np.array([9, 3, 3])).tolist() == [2, 0, 0]
    with pytest.raises(ValueError, match=r"\[8\]"):
        event_index(np.array([3, 7, 9]), np.array([8]))
