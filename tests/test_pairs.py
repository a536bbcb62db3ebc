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
