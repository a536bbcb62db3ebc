"""Raw ROOT files and the import of users' ROOT and CSV data: round trips and bad input."""

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from caloreco.errors import InputError
from caloreco.events import RawEvents
from caloreco.geometry import ecal_geometry
from caloreco.io.califa_csv import import_csv
from caloreco.io.raw import read_cells, read_raw, read_run_info, write_raw
from caloreco.io.root_import import import_root


def small_events() -> RawEvents:
    return RawEvents(
        event=[10, 11, 12],
        hit_offsets=[0, 2, 2, 5],
        cell_id=[1, 2, 7, 8, 9],
        cell_energy=[1.0, 2.0, 3.0, 4.0, 5.0],
        cell_time=[0.5, 0.6, 0.7, 0.8, 0.9],
        primary_offsets=[0, 1, 2, 4],
        primary_energy=[3.0, 1.0, 6.0, 6.0],
        primary_theta=[0.1, 0.2, 0.3, 0.4],
        primary_phi=[0.0, 1.0, 2.0, 3.0],
        primary_time=[0, 0, 0, 0],
        primary_x=[1, 2, 3, 4],
        primary_y=[5, 6, 7, 8],
        truth_offsets=[0, 2, 2, 6],
        truth_cell=[0, 1, 0, 1, 2, 2],
        truth_primary=[0, 0, 0, 1, 1, 0],
        truth_energy=[1.0, 2.0, 3.0, 4.0, 3.0, 2.0],
    )


def test_raw_round_trip(tmp_path):
    ev = small_events()
    path = tmp_path / "chunk-000.root"
    write_raw(path, ev, ecal_geometry().table(), {"detector": "ecal", "seed": 3})
    back = read_raw(path, require_truth=True)
    for name, value in ev.arrays().items():
        np.testing.assert_array_equal(getattr(back, name), value, err_msg=name)
    assert read_run_info(path) == {"detector": "ecal", "seed": 3}
    assert read_cells(path)["cell_id"].size == 48 * 48
    # dominant primary per hit: the last hit of event 12 got 3 MeV from primary 1, 2 from 0
    dom, frac = back.hit_truth()
    assert dom.tolist() == [0, 0, 0, 1, 1]
    assert frac[4] == pytest.approx(0.6)
    assert not list(tmp_path.glob(".*tmp*")), "atomic write left a temporary file"


def test_missing_file_and_branch(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_raw(tmp_path / "nope.root")
    path = tmp_path / "bad.root"
    with uproot.recreate(path) as f:
        f["events"] = {"event": np.arange(3), "cell_energy": ak.Array([[1.0], [], [2.0]])}
    with pytest.raises(InputError, match=r"lacks branches .*cell_id.*it has .*cell_energy"):
        read_raw(path)
    garbage = tmp_path / "garbage.root"
    garbage.write_bytes(b"not a root file at all" * 10)
    with pytest.raises(InputError, match="cannot be read as a ROOT file"):
        read_raw(garbage)
    # a truncated file opens lazily and fails on the first read: still named
    good = tmp_path / "good.root"
    write_raw(good, small_events(), ecal_geometry().table(), {})
    cut = tmp_path / "cut.root"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(InputError, match=r"cut\.root: cannot be read"):
        read_raw(cut)


def test_truth_required_but_absent(tmp_path):
    ev = small_events()
    no_truth = RawEvents(**{k: v for k, v in ev.arrays().items() if not k.startswith("truth")})
    path = tmp_path / "data.root"
    write_raw(path, no_truth, ecal_geometry().table(), {})
    assert not read_raw(path).has_truth
    with pytest.raises(InputError, match="needs Monte Carlo truth"):
        read_raw(path, require_truth=True)


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n")
    return path


def test_csv_overlay_sums_shared_crystals(tmp_path):
    rows = [
        "5,1.0,50.0,10.0,100",  # primary 0
        "5,0.5,52.0,10.0,110",
        "9,2.0,50.0,10.0,-40",  # primary 1 shares the first crystal
        "9,0.3,90.0,200.0,-30",
        "2,0.7,60.0,359.5,0",  # primary 2 (event 1 with primary 3)
        "3,0.4,60.0,0.5,10",
    ]
    path = write_csv(tmp_path / "hits.csv", rows)
    ev, geom = import_csv([path], 1, 0, per_event=2, rng=np.random.default_rng(1))
    assert ev.n_events == 2
    assert geom.n_cells == 5  # unique (theta, phi) centres
    e0 = ev.cell_energy[ev.hit_offsets[0] : ev.hit_offsets[1]]
    np.testing.assert_allclose(np.sort(e0), [0.3, 0.5, 3.0], rtol=1e-6)
    # truth keeps both primaries' shares of the shared crystal
    assert ev.truth_offsets.tolist() == [0, 4, 6]
    dom, _ = ev.hit_truth()
    shared = ev.hit_offsets[0] + int(np.argmax(e0))
    assert dom[shared] == 1  # 2.0 MeV of primary 1 beats 1.0 MeV of primary 0
    # the phi = 0 / 360 deg crystals are neighbours through the seam
    a, b = (geom.phi < 0.1).nonzero()[0][0], (geom.phi > 6.2).nonzero()[0][0]
    assert b in geom.neighbours(a)


def test_csv_chunks_partition_events(tmp_path):
    rows = [f"{i},1.0,{40 + i},{i * 3},0" for i in range(30)]
    path = write_csv(tmp_path / "hits.csv", rows)
    parts = [import_csv([path], 3, c, 3, np.random.default_rng(0))[0] for c in range(3)]
    assert [p.event.tolist() for p in parts] == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("1,2.0,50.0,10.0", r"hits.csv:2: expected 5 comma-separated fields"),
        ("1,abc,50.0,10.0,0", r"hits.csv:2: non-numeric"),
        ("1,-2.0,50.0,10.0,0", r"hits.csv:2: energy \(column 2\) must be >= 0 MeV"),
        ("1,nan,50.0,10.0,0", r"hits.csv:2: NaN or infinite value"),
    ],
)
def test_csv_bad_rows_name_the_line(tmp_path, line, message):
    path = write_csv(tmp_path / "hits.csv", ["0,1.0,50.0,10.0,0", line])
    with pytest.raises(InputError, match=message):
        import_csv([path], 1, 0, 1, np.random.default_rng(0))


def foreign_root(path: Path, n: int = 8, jagged_mismatch: bool = False) -> Path:
    rng = np.random.default_rng(4)
    counts = rng.integers(1, 5, n)
    ids = ak.unflatten(rng.integers(0, 48 * 48, counts.sum()).astype(np.int32), counts)
    e = ak.unflatten(rng.uniform(100, 1000, counts.sum()), counts)
    t_counts = counts.copy()
    if jagged_mismatch:
        t_counts[0] += 1
    t = ak.unflatten(np.zeros(t_counts.sum()), t_counts)
    with uproot.recreate(path) as f:
        f["hits"] = {"evt": np.arange(n) + 100, "ecell": e, "idcell": ids, "tcell": t}
    return path


def test_root_import_with_branch_mapping(tmp_path):
    path = foreign_root(tmp_path / "theirs.root")
    mapping = {"event": "evt", "cell_energy": "ecell", "cell_id": "idcell", "cell_time": "tcell"}
    ev, geom = import_root([path], "hits", mapping, 2, 1, geom=ecal_geometry())
    assert ev.event.tolist() == [104, 105, 106, 107]
    assert not ev.has_truth and geom.name == "ecal"
    with pytest.raises(InputError, match=r"branch 'E_cell' .* not found; the tree has"):
        import_root([path], "hits", {**mapping, "cell_energy": "E_cell"}, 1, 0, ecal_geometry())
    with pytest.raises(InputError, match="no tree 'events'"):
        import_root([path], "events", mapping, 1, 0, ecal_geometry())
    bad = foreign_root(tmp_path / "jag.root", jagged_mismatch=True)
    with pytest.raises(InputError, match="different lengths"):
        import_root([bad], "hits", mapping, 1, 0, ecal_geometry())
    # a cell twice in one event (a Geant4 step table, not a hit table) is refused by name
    dup = tmp_path / "dup.root"
    with uproot.recreate(dup) as f:
        f["hits"] = {
            "evt": np.array([7, 8]),
            "ecell": ak.Array([[1.0, 2.0], [3.0, 4.0, 5.0]]),
            "idcell": ak.Array([[5, 6], [9, 10, 9]]),
            "tcell": ak.Array([[0.0, 0.0], [0.0, 0.0, 0.0]]),
        }
    with pytest.raises(
        InputError,
        match=r"dup\.root.*cell_id: cell 9 has 2 hits in event 8 \(1 duplicate hits in all\); "
        r"expected one hit per cell and event \(sum the deposits of a cell first\)",
    ):
        import_root([dup], "hits", mapping, 1, 0, ecal_geometry())
