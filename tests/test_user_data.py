"""Bring-your-own data: what the README documents is accepted, every bad input gets a message
naming the file (line or branch) and what was expected, and files are TTrees ROOT can read.

Each test here fails on the code before issue 16 (a NaN primary energy refused by the cluster
table, the truth-only ROOT mapping refused, two CSV files numbered from 0 merged, repeated ROOT
event numbers accepted, raw traceback on a truncated file or an empty dataset, a killed job's
temporary file left for good, RNTuple raw files).
"""

from __future__ import annotations

import os

import awkward as ak
import numpy as np
import pandas as pd
import pytest
import uproot

from caloreco.clustering.methods import run_clustering
from caloreco.clustering.table import cluster_table_from_events
from caloreco.errors import InputError
from caloreco.geometry import califa_geometry, ecal_geometry
from caloreco.io.califa_csv import import_csv, parse_califa_csv
from caloreco.io.files import atomic_path, write_json
from caloreco.io.raw import read_raw, write_raw
from caloreco.io.root_import import import_root
from caloreco.simulation import simulate_events


def write_csv(path, rows):
    path.write_text("".join(",".join(str(v) for v in r) + "\n" for r in rows))
    return path


def test_csv_without_primary_energy_clusters(tmp_path):
    """README's my_califa_csv: no primary_energy_mev, so the energies are NaN; clustering works
    and the cluster table carries NaN primary energies."""
    rows = [(0, 1.0, 90.0, 10.0, 5.0), (0, 0.5, 92.0, 10.0, 6.0), (1, 2.0, 60.0, 200.0, 1.0)]
    csv = write_csv(tmp_path / "g.csv", rows)
    events, geom = import_csv([csv], 1, 0, 2, np.random.default_rng(0))
    assert np.isnan(events.primary_energy).all()
    labels = run_clustering(events, geom, "cone", {"opening_angle_rad": 0.25})
    table = cluster_table_from_events(events, labels, geom)
    assert len(table) == 2 and table["primary"].tolist() == [1, 0]
    assert np.isnan(table["primary_energy"]).all()
    np.testing.assert_allclose(table["energy"], [2.0, 1.5])


def test_two_csv_files_numbered_from_zero_hold_different_gammas(tmp_path):
    a = write_csv(tmp_path / "a.csv", [(0, 1.0, 90, 10, 0), (1, 2.0, 90, 100, 0)])
    b = write_csv(tmp_path / "b.csv", [(0, 3.0, 60, 200, 0), (1, 4.0, 60, 300, 0)])
    events, _ = import_csv([a, b], 1, 0, 1, np.random.default_rng(0))
    # four gammas in file order, not two with summed energies
    assert events.n_events == 4
    assert events.event.tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(events.cell_energy, [1.0, 2.0, 3.0, 4.0])
    # chunks partition the renumbered events, and every number is used once
    parts = [import_csv([a, b], 3, c, 1, np.random.default_rng(0))[0] for c in range(3)]
    assert sorted(e for p in parts for e in p.event.tolist()) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0,nan,90,10,0", r"g\.csv:3: NaN or infinite"),
        ("0,-1.0,90,10,0", r"g\.csv:3: energy \(column 2\) must be >= 0"),
        ("0,1.0,190,10,0", r"g\.csv:3: theta \(column 3\) must be within 0..180"),
        ("0.5,1.0,90,10,0", r"g\.csv:3: event number \(column 1\) must be an integer"),
    ],
)
def test_csv_value_errors_name_the_1_based_line(tmp_path, line, message):
    path = tmp_path / "g.csv"
    path.write_text("# a comment\n1,1.0,90,10,0\n" + line + "\n")
    with pytest.raises(InputError, match=message):
        parse_califa_csv(path)


def _g4_tree(path, n_events=4, event_numbers=None, rntuple=False, with_primaries=False):
    """A Geant4-like ECAL tree as in the README's my_geant4 example (truth, no primary_*)."""
    geom = ecal_geometry()
    sim = {"n_primaries": 2, "energy": {"distribution": "fixed", "value_mev": 50000.0}}
    ev = simulate_events(geom, "ecal", {}, sim, n_events, np.random.default_rng(1))
    counts = np.diff(ev.hit_offsets)
    tcounts = np.diff(ev.truth_offsets)
    cols = {
        "evt": np.asarray(event_numbers if event_numbers is not None else np.arange(n_events)),
        "cellID": ak.unflatten(ev.cell_id, counts),
        "Edep": ak.unflatten(ev.cell_energy, counts),
        "T": ak.unflatten(ev.cell_time, counts),
        "mc_cell": ak.unflatten(ev.truth_cell, tcounts),
        "mc_prim": ak.unflatten(ev.truth_primary.astype(np.int32), tcounts),
        "mc_edep": ak.unflatten(ev.truth_energy, tcounts),
    }
    if with_primaries:  # only the first photon of each event listed
        cols["E0"] = ak.unflatten(ev.primary_energy[ev.primary_offsets[:-1]], 1)
    with uproot.recreate(path) as f:
        if rntuple:
            f["hits"] = cols  # uproot's plain assignment writes an RNTuple
        else:
            f.mktree(
                "hits",
                {
                    k: v.type.content if isinstance(v, ak.Array) else v.dtype
                    for k, v in cols.items()
                },
            )
            f["hits"].extend(cols)
    return ev


README_G4 = {
    "event": "evt",
    "cell_id": "cellID",
    "cell_energy": "Edep",
    "cell_time": "T",
    "truth_cell": "mc_cell",
    "truth_primary": "mc_prim",
    "truth_energy": "mc_edep",
}


@pytest.mark.parametrize("rntuple", [False, True], ids=["ttree", "rntuple"])
def test_readme_root_mapping_truth_without_primaries(tmp_path, rntuple):
    path = tmp_path / "g4.root"
    truth = _g4_tree(path, rntuple=rntuple)
    with uproot.open(path) as f:
        assert f["hits"].classname == ("ROOT::RNTuple" if rntuple else "TTree")
    events, _ = import_root([path], "hits", README_G4, 1, 0, geom=ecal_geometry())
    # two photons per event, counted from truth_primary; energies and positions unknown
    assert np.diff(events.primary_offsets).tolist() == [2, 2, 2, 2]
    assert np.isnan(events.primary_energy).all() and np.isnan(events.primary_x).all()
    np.testing.assert_array_equal(events.truth_energy, truth.truth_energy)
    np.testing.assert_array_equal(events.cell_energy, truth.cell_energy)


def test_truth_primary_beyond_the_mapped_primaries_names_the_branches(tmp_path):
    path = tmp_path / "g4.root"
    _g4_tree(path, with_primaries=True)  # one primary listed per event, truth uses two
    mapping = {**README_G4, "primary_energy": "E0"}
    with pytest.raises(InputError, match=r"'mc_prim' \(truth_primary\) holds 1 .* branch 'E0'"):
        import_root([path], "hits", mapping, 1, 0, geom=ecal_geometry())


def test_repeated_root_event_numbers_are_refused_naming_file_and_number(tmp_path):
    a, b = tmp_path / "a.root", tmp_path / "b.root"
    _g4_tree(a, event_numbers=[0, 1, 2, 3])
    _g4_tree(b, event_numbers=[4, 5, 2, 7])
    with pytest.raises(InputError, match=r"a\.root and .*b\.root: event number 2 "):
        import_root([a, b], "hits", README_G4, 2, 1, geom=ecal_geometry())
    _g4_tree(b, event_numbers=[4, 4, 6, 7])
    with pytest.raises(InputError, match=r"b\.root: event number 4 "):
        import_root([b], "hits", README_G4, 1, 0, geom=ecal_geometry())
    # unmapped, the entries are numbered in file order: unique whatever the files say
    mapping = {k: v for k, v in README_G4.items() if k != "event"}
    events, _ = import_root([a, b], "hits", mapping, 1, 0, geom=ecal_geometry())
    assert events.event.tolist() == list(range(8))


def test_truncated_user_root_file_is_named(tmp_path):
    path = tmp_path / "g4.root"
    _g4_tree(path, n_events=50)
    data = path.read_bytes()
    cut = tmp_path / "cut.root"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(InputError, match=r"cut\.root: (cannot|no tree)"):
        import_root([cut], "hits", README_G4, 1, 0, geom=ecal_geometry())


def test_raw_files_are_ttrees(tmp_path):
    geom = califa_geometry()
    sim = {"n_primaries": 2, "energy": {"distribution": "fixed", "value_mev": 1.0}}
    ev = simulate_events(geom, "califa", {}, sim, 5, np.random.default_rng(0))
    path = tmp_path / "chunk-000.root"
    write_raw(path, ev, geom.table(), {"detector": "califa", "preset": "califa"})
    with uproot.open(path) as f:
        assert {k.split(";")[0]: f[k].classname for k in f.keys()} == {
            "events": "TTree",
            "cells": "TTree",
            "run": "TTree",
        }
        # jagged branches share one counter per group, as a ROOT user would write them
        assert {"n_hits", "n_primaries", "n_truth"} <= set(f["events"].keys())
        assert (
            f["events"]["n_hits"].array(library="np").tolist() == np.diff(ev.hit_offsets).tolist()
        )
    back = read_raw(path, require_truth=True)
    np.testing.assert_array_equal(back.truth_energy, ev.truth_energy)


def test_a_killed_jobs_temporary_file_is_removed_on_the_next_write(tmp_path):
    out = tmp_path / "metrics.json"
    stale = tmp_path / f".metrics.json.tmp-{os.getpid() + 12345}"  # left by a SIGKILLed job
    stale.write_text("{half")
    other = tmp_path / ".other.json.tmp-1"  # another output's temporary file is not touched
    other.write_text("x")
    write_json(out, {"a": 1})
    assert not stale.exists() and other.exists()
    assert out.read_text().strip().startswith("{")
    # a failing block leaves neither the output nor a temporary file
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "x.json") as tmp:
        tmp.write_text("partial")
        raise RuntimeError("job failed")
    assert not list(tmp_path.glob("*x.json*"))


def test_empty_dataset_gives_a_valid_qa_summary_and_clear_training_errors(tmp_path):
    from caloreco.events import RawEvents
    from caloreco.stages import cluster, simulation_qa, train_regressor, windows

    n = 4
    ev = RawEvents(
        event=np.arange(n),
        hit_offsets=np.zeros(n + 1, int),
        cell_id=[],
        cell_energy=[],
        cell_time=[],
        primary_offsets=np.arange(n + 1),
        primary_energy=np.full(n, 1e4),
        primary_theta=np.zeros(n),
        primary_phi=np.zeros(n),
        primary_time=np.zeros(n),
        primary_x=np.zeros(n),
        primary_y=np.zeros(n),
        truth_offsets=np.zeros(n + 1, int),
        truth_cell=[],
        truth_primary=[],
        truth_energy=[],
    )
    raw = tmp_path / "raw/chunk-000.root"
    write_raw(raw, ev, ecal_geometry().table(), {"detector": "ecal", "preset": "ecal"})
    summary = simulation_qa.run(
        [raw], "empty", tmp_path / "s.json", str(tmp_path / "q.png"), str(tmp_path / "q.pdf")
    )
    assert summary["hits"] == 0 and summary["empty_events"] == n and "empty" in summary["note"]
    assert (tmp_path / "q.png").stat().st_size > 1000
    cluster.run(raw, "connected", {}, tmp_path / "c.parquet", tmp_path / "cells.parquet")
    assert len(pd.read_parquet(tmp_path / "c.parquet")) == 0
    windows.run(raw, tmp_path / "c.parquet", tmp_path / "w.npz", {}, 1, [0.6, 0.2, 0.2], 0)
    with pytest.raises(ValueError, match="no windows"):
        train_regressor.run(
            [tmp_path / "w.npz"], tmp_path / "m.pt", tmp_path / "h.csv", {}, False, "x"
        )
    assert not (tmp_path / "m.pt").exists()
