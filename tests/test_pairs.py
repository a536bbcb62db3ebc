"""Cluster pairs: combinations, ordering, labels, angle wrapping, Compton consistency."""

import numpy as np
import pandas as pd
import pytest

from caloreco.constants import ELECTRON_MASS_MEV
from caloreco.pairs.features import (
    COMPTON_INVALID,
    FEATURES_DEFAULT,
    FEATURES_PUBLISHED,
    compton_consistency,
    make_pairs,
    pair_indices,
)


def _clusters(rows):
    cols = ["event", "cluster", "energy", "theta", "phi", "time", "primary"]
    df = pd.DataFrame(rows, columns=cols)
    r = 300.0
    df["x"] = r * np.sin(df.theta) * np.cos(df.phi)
    df["y"] = r * np.sin(df.theta) * np.sin(df.phi)
    df["z"] = r * np.cos(df.theta)
    df["size"] = 2
    df["purity"] = 1.0
    df["event"] = df["event"].astype(np.int64)
    df["cluster"] = df["cluster"].astype(np.int32)
    return df


def test_pair_indices_all_combinations():
    g, a, b = pair_indices(np.array([3, 0, 1, 2, 4]))
    assert g.tolist() == [0, 0, 0, 3] + [4] * 6
    assert list(zip(a.tolist(), b.tolist(), strict=True)) == [
        (0, 1), (0, 2), (1, 2), (4, 5),
        (6, 7), (6, 8), (6, 9), (7, 8), (7, 9), (8, 9),
    ]  # fmt: skip
    with pytest.raises(
        ValueError, match=r"^counts: expected a 1-D array of non-negative integers$"
    ):
        pair_indices(np.array([2, -1]))


def test_labels_ordering_and_counts():
    clusters = _clusters(
        [
            # event 10: primaries 0, 0, 1 (cluster 2 is the most energetic)
            (10, 0, 0.5, 1.0, 0.5, 100.0, 0),
            (10, 1, 1.5, 1.1, 0.6, 110.0, 0),
            (10, 2, 3.0, 2.0, 3.0, -50.0, 1),
            # event 11: one cluster only -> no pair
            (11, 0, 2.0, 1.0, 1.0, 0.0, 0),
            # event 12: two clusters without a matched primary (-1, -1): not "same primary"
            (12, 0, 1.0, 1.0, 1.0, 0.0, -1),
            (12, 1, 0.8, 1.0, 1.2, 0.0, -1),
        ]
    )
    pairs = make_pairs(clusters.sample(frac=1.0, random_state=3))  # input order irrelevant
    assert len(pairs) == 3 + 0 + 1
    assert (pairs["E1"] >= pairs["E2"]).all()
    got = {
        (int(e), int(c1), int(c2)): int(lab)
        for e, c1, c2, lab in pairs[["event", "cluster1", "cluster2", "label"]].to_numpy()
    }
    assert got == {(10, 2, 1): 0, (10, 2, 0): 0, (10, 1, 0): 1, (12, 0, 1): 0}
    row = pairs[(pairs.cluster1 == 1) & (pairs.event == 10)].iloc[0]
    assert row.E1 == 1.5 and row.E2 == 0.5
    assert row["dt"] == pytest.approx(10.0)
    assert row.dtheta == pytest.approx(0.1)
    assert row.energy_ratio == pytest.approx(1 / 3)
    for c in FEATURES_DEFAULT + ["purity1", "purity2", "event", "cluster1", "cluster2"]:
        assert c in pairs.columns
    assert len(FEATURES_PUBLISHED) == 11


def test_phi_wraparound_and_opening_angle():
    clusters = _clusters(
        [
            (1, 0, 2.0, np.pi / 2, 0.1, 0.0, 0),
            (1, 1, 1.0, np.pi / 2, 2 * np.pi - 0.1, 5.0, 1),
            (2, 0, 2.0, 0.5, 0.0, 0.0, 0),
            (2, 1, 1.0, 0.5, np.pi, 0.0, 0),
        ]
    )
    pairs = make_pairs(clusters).set_index("event")
    assert pairs.loc[1, "dphi"] == pytest.approx(0.2, abs=1e-12)
    # on the equator the opening angle equals the azimuth difference
    assert pairs.loc[1, "opening_angle"] == pytest.approx(0.2, abs=1e-12)
    # opposite azimuths at theta = 0.5: the two directions are 2 * 0.5 apart through the pole
    assert pairs.loc[2, "dphi"] == pytest.approx(np.pi)
    assert pairs.loc[2, "opening_angle"] == pytest.approx(1.0, abs=1e-12)


def test_compton_consistency_exact_scatter_and_forbidden():
    # photon of 1 MeV from the target along +z scatters at (0, 0, 300) by 60 degrees
    e0 = 1.0
    theta = np.pi / 3
    e_scat = e0 / (1 + e0 / ELECTRON_MASS_MEV * (1 - np.cos(theta)))
    p1 = np.array([[0.0, 0.0, 300.0]])
    p2 = p1 + 50.0 * np.array([[np.sin(theta), 0.0, np.cos(theta)]])
    d = compton_consistency(np.array([e0 - e_scat]), np.array([e_scat]), p1, p2)
    assert d[0] == pytest.approx(0.0, abs=1e-9)
    # same energies, second hit scattered backwards by 150 degrees: forward ordering is 90
    # degrees off; the reverse ordering (hand computation): geometric 35.6, Compton 61.4 degrees
    back = 5 * np.pi / 6
    p2_bad = p1 + 50.0 * np.array([[np.sin(back), 0.0, np.cos(back)]])
    d_bad = compton_consistency(np.array([e0 - e_scat]), np.array([e_scat]), p1, p2_bad)
    assert np.degrees(d_bad[0]) == pytest.approx(61.4 - 35.6, abs=0.3)
    # zero energies are forbidden in both orders
    d_inv = compton_consistency(np.array([0.0]), np.array([0.0]), p1, p2)
    assert d_inv[0] == COMPTON_INVALID
    e1, e2 = np.array([0.05]), np.array([0.05])  # 1/0.05 - 1/0.1 = 10 -> cos = -4.1: forbidden
    assert compton_consistency(e1, e2, p1, p2)[0] == COMPTON_INVALID


def test_compton_consistency_measures_the_first_direction_from_the_target():
    # the exact 60 degree scatter of the test above, with the whole geometry moved by a target
    # offset: from that target it is exact again, from the origin it is not
    e0, theta = 1.0, np.pi / 3
    e_scat = e0 / (1 + e0 / ELECTRON_MASS_MEV * (1 - np.cos(theta)))
    target = np.array([40.0, -25.0, 10.0])
    p1 = np.array([[0.0, 0.0, 300.0], [0.0, 0.0, 200.0]]) + target
    p2 = p1 + 50.0 * np.array([np.sin(theta), 0.0, np.cos(theta)])
    e1, e2 = np.full(2, e0 - e_scat), np.full(2, e_scat)
    np.testing.assert_allclose(compton_consistency(e1, e2, p1, p2, target=target), 0.0, atol=1e-9)
    # a target given as a list, or as a (1, 3) row, is the same point
    np.testing.assert_allclose(
        compton_consistency(e1, e2, p1, p2, target=[target.tolist()]), 0.0, atol=1e-9
    )
    # from the origin the first leg points along (40, -25, 310): the geometric angle is off by
    # the angle between that and +z (hand computation, per row)
    off = compton_consistency(e1, e2, p1, p2)
    leg = p1 / np.linalg.norm(p1, axis=1, keepdims=True)
    out = (p2 - p1) / 50.0
    geo = np.arccos(np.sum(leg * out, axis=1))
    np.testing.assert_allclose(off, np.abs(geo - theta), atol=1e-9)
    assert np.all(off > 0.05)


def test_no_truth_and_missing_columns():
    clusters = _clusters([(1, 0, 1.0, 1.0, 1.0, 0.0, 0), (1, 1, 2.0, 1.2, 1.0, 0.0, 0)])
    pairs = make_pairs(clusters.drop(columns=["primary", "purity"]))
    assert "label" not in pairs.columns and len(pairs) == 1
    with pytest.raises(ValueError, match="time"):
        make_pairs(clusters.drop(columns=["time"]))
    with pytest.raises(ValueError, match="unique"):
        make_pairs(pd.concat([clusters, clusters]))
    empty = make_pairs(clusters.iloc[:0])
    assert len(empty) == 0 and "dphi" in empty.columns


# one event, three clusters, every input value distinct (positions independent of the angles)
HAND = pd.DataFrame(
    {
        "event": np.array([7, 7, 7], dtype=np.int64),
        "cluster": np.array([0, 1, 2], dtype=np.int32),
        "energy": [1.2, 2.5, 0.2],
        "theta": [1.1, 0.7, 2.2],
        "phi": [0.4, 2.9, -2.8],
        "x": [100.0, -80.0, 10.0],
        "y": [50.0, 120.0, -150.0],
        "z": [200.0, 260.0, -90.0],
        "time": [12.0, -4.0, 30.5],
        "size": [3, 7, 1],
        "primary": [2, 0, 2],
        "purity": [0.91, 0.77, 0.55],
    }
)


def _compton_reference(ea, eb, pa, pb):
    """|theta_C - theta_geo| for "a scattered, b absorbed", None where forbidden (by hand:
    cos theta_C = 1 - m_e (1/E_b - 1/(E_a + E_b)), theta_geo = angle(target->a, a->b))."""
    cos_c = 1 - ELECTRON_MASS_MEV * (1 / eb - 1 / (ea + eb))
    if abs(cos_c) > 1:
        return None
    pa, pb = np.asarray(pa, float), np.asarray(pb, float)
    d = pb - pa
    cos_g = pa @ d / (np.linalg.norm(pa) * np.linalg.norm(d))
    return abs(np.arccos(cos_c) - np.arccos(np.clip(cos_g, -1, 1)))


def test_every_pair_feature_against_a_hand_made_event():
    pairs = make_pairs(HAND.iloc[::-1])  # input order is irrelevant
    # cluster 1 is the more energetic: (1, 0), (1, 2), (0, 2)
    assert pairs["cluster1"].tolist() == [1, 1, 0]
    assert pairs["cluster2"].tolist() == [0, 2, 2]
    assert pairs["event"].tolist() == [7, 7, 7]
    h = HAND.set_index("cluster")
    for k, (c1, c2) in enumerate([(1, 0), (1, 2), (0, 2)]):
        row = pairs.iloc[k]
        a, b = h.loc[c1], h.loc[c2]
        assert (row.E1, row.E2) == (a.energy, b.energy)
        assert (row.theta1, row.theta2) == (a.theta, b.theta)
        assert (row.phi1, row.phi2) == (a.phi, b.phi)
        assert (row.t1, row.t2) == (a.time, b.time)
        assert (row.size1, row.size2) == (a["size"], b["size"])
        assert (row.primary1, row.primary2) == (a.primary, b.primary)
        assert (row.purity1, row.purity2) == (a.purity, b.purity)
        assert row.dtheta == pytest.approx(abs(a.theta - b.theta), abs=1e-15)
        assert row["dt"] == pytest.approx(abs(a.time - b.time), abs=1e-15)
        assert row.energy_ratio == pytest.approx(b.energy / a.energy, rel=1e-15)
        # the 3-D angle by the spherical law of cosines
        cos_open = np.sin(a.theta) * np.sin(b.theta) * np.cos(a.phi - b.phi) + np.cos(
            a.theta
        ) * np.cos(b.theta)
        assert row.opening_angle == pytest.approx(np.arccos(cos_open), rel=1e-12)
        pa, pb = a[["x", "y", "z"]].to_numpy(float), b[["x", "y", "z"]].to_numpy(float)
        both = [
            d
            for d in (
                _compton_reference(a.energy, b.energy, pa, pb),
                _compton_reference(b.energy, a.energy, pb, pa),
            )
            if d is not None
        ]
        assert row.compton_consistency == pytest.approx(min(both), rel=1e-9)
    # azimuth differences by hand: 2.5; 5.7 -> 2 pi - 5.7; 3.2 -> 2 pi - 3.2
    assert pairs["dphi"].tolist() == pytest.approx([2.5, 2 * np.pi - 5.7, 2 * np.pi - 3.2])
    assert pairs["dtheta"].tolist() == pytest.approx([0.4, 1.5, 1.1])
    assert pairs["dt"].tolist() == pytest.approx([16.0, 34.5, 18.5])
    assert pairs["energy_ratio"].tolist() == pytest.approx([1.2 / 2.5, 0.2 / 2.5, 0.2 / 1.2])
    # clusters 0 and 2 share primary 2: the only "same primary" (case B) pair
    assert pairs["label"].tolist() == [0, 0, 1]
    # the pairs with cluster 2 (0.2 MeV) allow only "cluster 2 scattered first" kinematically:
    # 1/0.2 - 1/2.7 = 4.63 per MeV gives cos theta_C = -1.37
    assert _compton_reference(2.5, 0.2, [-80.0, 120, 260], [10.0, -150, -90]) is None
    # dtypes of the file contract
    assert pairs["size1"].dtype == np.int32 and pairs["size2"].dtype == np.int32
    assert pairs["label"].dtype == np.int8 and pairs["event"].dtype == np.int64
    assert pairs["cluster1"].dtype == np.int32
    assert list(pairs.columns[: 3 + len(FEATURES_DEFAULT)]) == [
        "event",
        "cluster1",
        "cluster2",
        *FEATURES_DEFAULT,
    ]


def test_equal_energies_order_by_cluster_index_and_events_stay_apart():
    clusters = pd.concat(
        [
            HAND,
            HAND.assign(event=np.int64(3), cluster=np.array([5, 2, 9], np.int32), energy=1.0),
        ],
        ignore_index=True,
    )
    pairs = make_pairs(clusters)
    assert pairs["event"].tolist() == [3, 3, 3, 7, 7, 7]  # sorted by event
    ev3 = pairs[pairs.event == 3]
    assert list(zip(ev3.cluster1, ev3.cluster2, strict=True)) == [(2, 5), (2, 9), (5, 9)]
    assert (ev3["energy_ratio"] == 1.0).all()
    # the row of clusters (2, 5): cluster 2 is HAND's second row (theta 0.7), 5 its first
    assert ev3.iloc[0].theta1 == 0.7 and ev3.iloc[0].theta2 == 1.1


def test_wrap_dphi_and_energy_ratio_of_zero_energy():
    from caloreco.pairs.features import wrap_dphi

    assert wrap_dphi(np.array([0.1, 3.0, -3.0, 7.0]), np.array([6.2, -3.0, 3.0, 0.5])).tolist() == (
        pytest.approx([2 * np.pi - 6.1, 2 * np.pi - 6.0, 2 * np.pi - 6.0, 0.21681469])
    )
    zero = HAND.assign(energy=[0.0, 0.0, 0.0])
    assert make_pairs(zero)["energy_ratio"].tolist() == [0.0, 0.0, 0.0]
    bad = HAND.assign(energy=[1.0, np.nan, 2.0])
    with pytest.raises(ValueError, match="energy"):
        make_pairs(bad)
