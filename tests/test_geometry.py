"""Detector presets: cell counts, centres, angles and neighbours."""

import numpy as np
import pytest

from caloreco.geometry import (
    califa_cell_from_direction,
    califa_geometry,
    ecal_geometry,
    make_geometry,
)


def test_ecal_grid_centres_and_neighbours():
    g = ecal_geometry()
    assert g.n_cells == 48 * 48
    # centred grid: cell (23, 23) and (24, 24) straddle the beam axis by half a pitch
    c = g.cell_at(np.array([23]), np.array([24]))[0]
    assert g.x[c] == pytest.approx(38.3 / 2)
    assert g.y[c] == pytest.approx(-38.3 / 2)
    assert g.z[0] == pytest.approx(33027.0)
    # side neighbours only: 2 in a corner, 3 on an edge, 4 inside
    n = np.diff(g.neighbour_offsets)
    assert n[0] == 2 and n[1] == 3 and n[49] == 4
    assert sorted(g.neighbours(49)) == [1, 48, 50, 97]
    # the patch reaches about 27 mrad at its edge (physics.md)
    assert np.max(np.abs(g.x)) / 33027.0 == pytest.approx(0.0272, abs=0.001)
    assert g.cell_at(np.array([-1, 0]), np.array([0, 48])).tolist() == [-1, -1]


def test_califa_counts_and_seam_neighbours():
    g = califa_geometry()
    assert g.n_cells == 30 * 64 + 15 * 32 == 2400
    assert np.degrees(g.theta.min()) > 19 and np.degrees(g.theta.max()) < 140
    # phi neighbours wrap at the phi = 0 / 2 pi seam
    first = int(g.ring_first_cell[20])
    last = first + int(g.ring_segments[20]) - 1
    assert last in g.neighbours(first)
    # symmetric adjacency
    for c in (0, 700, 2399):
        for nb in g.neighbours(c):
            assert c in g.neighbours(nb)
    # direction lookup returns the cell whose centre it is
    ids = califa_cell_from_direction(g, g.theta, g.phi)
    assert np.array_equal(ids, g.cell_id)
    assert califa_cell_from_direction(g, np.array([0.1]), np.array([0.0]))[0] == -1


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="pitch_mm"):
        ecal_geometry(pitch_mm=-1)
    with pytest.raises(ValueError, match="theta_min_deg"):
        califa_geometry(theta_min_deg=50)
    with pytest.raises(ValueError, match="unknown detector preset"):
        make_geometry("hcal")
