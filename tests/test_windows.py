"""Windows on hand-made clusters: centre, edge, corner and random placement."""

import numpy as np
import pytest

from caloreco.geometry import ecal_geometry
from caloreco.lednev import window_fractions
from caloreco.windows import extract_windows, window_targets

G = ecal_geometry()


def one_event(cells, energies):
    return np.array([0, len(cells)]), np.array(cells), np.array(energies, dtype=float)


def test_centred_window_reads_row_by_row():
    seed = int(G.cell_at(np.array([20]), np.array([30]))[0])
    right = seed + 1
    up = seed + G.n_cols
    off, cells, e = one_event([seed, right, up], [100.0, 20.0, 7.0])
    w = extract_windows(G, off, cells, e, np.array([0]), np.array([20]), np.array([30]))
    win = w["windows"][0]
    assert win[2, 2] == 100 and win[2, 3] == 20 and win[3, 2] == 7
    assert win.sum() == pytest.approx(127)
    assert (w["origin_row"][0], w["origin_col"][0]) == (18, 28)
    assert not w["outside"][0]
    assert w["origin_x_mm"][0] == pytest.approx(G.x[18 * 48 + 28])
    assert w["origin_y_mm"][0] == pytest.approx(G.y[18 * 48 + 28])


def test_corner_and_edge_windows_are_flagged_and_zero_padded():
    off, cells, e = one_event([0, 1], [50.0, 5.0])
    w = extract_windows(G, off, cells, e, np.array([0, 0]), np.array([0, 0]), np.array([0, 1]))
    assert w["outside"].all()
    assert w["windows"][0, 2, 2] == 50 and w["windows"][0, 2, 3] == 5
    assert w["windows"][0, :2].sum() == 0 and w["windows"][0, :, :2].sum() == 0


def test_random_placement_keeps_seed_in_central_block_and_is_seeded():
    off, cells, e = one_event([G.cell_at(np.array([24]), np.array([24]))[0]], [10.0])
    n = 500
    kw = dict(placement="random", size=5)
    a = extract_windows(
        G,
        off,
        cells,
        e,
        np.zeros(n, int),
        np.full(n, 24),
        np.full(n, 24),
        rng=np.random.default_rng(1),
        **kw,
    )
    b = extract_windows(
        G,
        off,
        cells,
        e,
        np.zeros(n, int),
        np.full(n, 24),
        np.full(n, 24),
        rng=np.random.default_rng(1),
        **kw,
    )
    np.testing.assert_array_equal(a["windows"], b["windows"])
    pos = np.argwhere(a["windows"] > 0)
    assert set(pos[:, 1]) == {1, 2, 3} and set(pos[:, 2]) == {1, 2, 3}
    with pytest.raises(ValueError, match="Generator"):
        extract_windows(G, off, cells, e, np.zeros(1, int), np.full(1, 24), np.full(1, 24), **kw)


def test_targets_relative_to_lower_left_cell():
    t = window_targets(
        np.array([10.0]), np.array([-5.0]), np.array([30.0]), np.array([0.0]), np.array([1000.0])
    )
    assert t.tolist() == [[20.0, 5.0, 1000.0]]


def test_lednev_containment_reference_numbers():
    f = window_fractions(
        np.array([2 * 38.3, 2.5 * 38.3]), np.array([2 * 38.3, 2.5 * 38.3]), 5, 38.3
    )
    assert f[0, 2, 2] == pytest.approx(0.80, abs=0.01)
    assert f[0, 1:4, 1:4].sum() == pytest.approx(0.974, abs=0.01)
    assert f[0].sum() == pytest.approx(0.994, abs=0.01)
    assert f[1].max() == pytest.approx(0.23, abs=0.01)
    assert f[1].sum() == pytest.approx(0.992, abs=0.01)
