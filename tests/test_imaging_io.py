"""The raw image contract and CYGNO's ROOT format: round trips, orientation, bad files."""

import numpy as np
import pytest
import uproot

from caloreco.errors import InputError
from caloreco.imaging import cygno, rawio
from caloreco.imaging.camera import CameraTPC
from caloreco.imaging.frames import ImageFrames, concat_frames
from caloreco.imaging.pedestal import camera_pedestal, pedestal_frames, pedestal_from_frames
from caloreco.imaging.simulate import RecoilSpec, simulate_camera, simulate_frames

CAM = CameraTPC(height=48, width=64)


@pytest.fixture(scope="module")
def sim():
    spec = RecoilSpec(
        energy={"distribution": "lines", "values_kev": [1.0, 6.0]},
        empty_fraction=0.3,
        margin_mm=2.0,
    )
    true, meas = simulate_camera(CAM, seed=9, n_pedestal_frames=30)
    return simulate_frames(CAM, spec, true, 12, seed=9), true, meas


def test_raw_contract_round_trip(tmp_path, sim):
    frames, true, meas = sim
    path = tmp_path / "chunk-000.root"
    rawio.write_images(
        path, frames, meas, {"seed": 9, "pixel_mm": CAM.pixel_mm}, true_pedestal=true
    )
    back = rawio.read_images(path, require_truth=True)
    for k in (
        "event",
        "run",
        "image",
        "kind",
        "energy_kev",
        "truth_light",
        "truth_recoil",
        "recoil_offsets",
    ):
        assert np.array_equal(getattr(back, k), getattr(frames, k)), k
    for k, v in frames.recoils.items():
        assert np.array_equal(back.recoils[k], v), k
    p = rawio.read_pedestal(path)
    assert np.array_equal(p.rms, meas.rms) and p.n_frames == 30
    t = rawio.read_pedestal(path, true_maps=True)
    assert np.array_equal(t.hot, true.hot) and np.array_equal(t.mean, true.mean)
    info = rawio.read_image_run_info(path)
    assert info["seed"] == 9 and info["shape"] == [48, 64]
    assert rawio.image_entries(path) == 12
    part = rawio.read_images(path, entry_start=3, entry_stop=7)
    assert np.array_equal(part.image, frames.image[3:7])
    middle = frames.select((np.arange(12) >= 3) & (np.arange(12) < 7))
    assert np.array_equal(part.recoils["recoil_light"], middle.recoils["recoil_light"])
    # written as TTrees (not RNTuple)
    with uproot.open(path) as f:
        assert set(f.classnames().values()) == {"TTree"}


def test_frames_select_and_concat(sim):
    frames = sim[0]
    a = frames.select(np.arange(12) < 5)
    b = frames.select(np.arange(12) >= 5)
    c = concat_frames([a, b])
    assert np.array_equal(c.image, frames.image)
    assert np.array_equal(c.recoil_offsets, frames.recoil_offsets)
    assert np.array_equal(c.recoils["recoil_x_mm"], frames.recoils["recoil_x_mm"])


def test_raw_contract_bad_files(tmp_path, sim):
    frames, true, meas = sim
    with pytest.raises(InputError, match="does not exist"):
        rawio.read_images(tmp_path / "missing.root")
    junk = tmp_path / "junk.root"
    junk.write_text("not a root file")
    with pytest.raises(InputError, match="junk.root"):
        rawio.read_images(junk)
    other = tmp_path / "other.root"
    with uproot.recreate(other) as f:
        f.mktree("events", {"x": np.float64}).extend({"x": np.zeros(3)})
    with pytest.raises(InputError, match="no tree 'images'"):
        rawio.read_images(other)
    nothruth = tmp_path / "data.root"
    data = ImageFrames(frames.event, frames.run, frames.image, frames.kind, frames.energy_kev)
    rawio.write_images(nothruth, data, meas, {})
    assert not rawio.read_images(nothruth).has_truth
    with pytest.raises(InputError, match="no truth"):
        rawio.read_images(nothruth, require_truth=True)
    with pytest.raises(ValueError, match="do not match"):
        rawio.write_images(
            tmp_path / "x.root",
            data,
            camera_pedestal(CameraTPC(height=16, width=16), np.random.default_rng(0)),
            {},
        )
    assert not (tmp_path / "x.root").exists()
    # a file whose pedestal maps do not match its images
    bad = tmp_path / "badshape.root"
    with uproot.recreate(bad) as f:
        f.mktree(
            "images",
            {
                "event": np.int64,
                "run": np.int32,
                "image": np.dtype((np.uint16, (4, 4))),
                "kind": np.int8,
                "energy_kev": np.float32,
            },
        ).extend(
            {
                "event": np.zeros(1, np.int64),
                "run": np.zeros(1, np.int32),
                "image": np.zeros((1, 4, 4), np.uint16),
                "kind": np.zeros(1, np.int8),
                "energy_kev": np.zeros(1, np.float32),
            }
        )
        f.mktree("pedestal", {"mean": np.dtype((np.float32, (5, 5)))}).extend(
            {"mean": np.zeros((1, 5, 5), np.float32)}
        )
    with pytest.raises(InputError, match="4 x 4 but the pedestal maps are 5 x 5"):
        rawio.read_images(bad)


def test_cygno_orientation_matches_rootflip(tmp_path):
    # an independent TH2D written by uproot from a numpy histogram: bin (ix, iy) has 10 ix + iy
    nx, ny = 5, 3
    vals = np.add.outer(10.0 * np.arange(nx), np.arange(ny))
    path = tmp_path / "h.root"
    with uproot.recreate(path) as f:
        f["pic_run3_ev0"] = (vals, np.arange(nx + 1.0), np.arange(ny + 1.0))
    _, _, img = cygno.read_cygno_frames(path)
    # CYGNO: image = values().T[::-1]  ->  image[row, col] = vals[col, ny - 1 - row]
    for row in range(ny):
        for col in range(nx):
            assert img[0, row, col] == vals[col, ny - 1 - row]


@pytest.mark.parametrize("hist_type, pad", [("TH2S", True), ("TH2I", False)])
def test_cygno_run_round_trip(tmp_path, hist_type, pad):
    rng = np.random.default_rng(1)
    images = rng.integers(90, 3000, (4, 6, 10)).astype(np.uint16)
    images[0, 1, 2] = 40000  # above int16: wraps in a TH2S and comes back
    path = tmp_path / "histograms_Run00012.root"
    keys = cygno.write_cygno_run(
        path, images, np.array([5, 0, 7, 2]), run=12, hist_type=hist_type, pad_run=pad
    )
    assert keys[0] == ("pic_run00012_ev5" if pad else "pic_run12_ev5")
    with uproot.open(path) as f:
        assert set(f.classnames().values()) == {hist_type}
    runs, events, back = cygno.read_cygno_frames(path)
    order = np.argsort([5, 0, 7, 2])
    assert np.array_equal(events, [0, 2, 5, 7]) and np.all(runs == 12)
    assert np.array_equal(back, images[order])
    r, e, crop = cygno.read_cygno_frames(
        path, first=1, max_frames=2, crop=(1, 2, 3, 4), exclude=[0]
    )
    assert np.array_equal(e, [5, 7]) and np.array_equal(crop, images[[0, 2]][:, 1:4, 2:6])


def test_cygno_pedestal_run_and_map_and_import(tmp_path):
    cam = CameraTPC(height=24, width=32)
    rng = np.random.default_rng(2)
    true = camera_pedestal(cam, rng)
    ped = pedestal_frames(true, 40, rng)
    ped_run = tmp_path / "histograms_Run00100.root"
    cygno.write_cygno_run(ped_run, ped, np.arange(40), run=100, hist_type="TH2S", pad_run=True)
    maps = cygno.read_cygno_pedestal(ped_run)
    ref = pedestal_from_frames(ped)
    assert (
        np.allclose(maps.mean, ref.mean) and np.allclose(maps.rms, ref.rms) and maps.n_frames == 40
    )
    assert cygno.read_cygno_pedestal(ped_run, max_frames=10).n_frames == 10
    pedmap = tmp_path / "pedmap_run100_rebin1.root"
    cygno.write_cygno_pedmap(pedmap, maps)
    with uproot.open(pedmap) as f:
        h = f["pedmap"]
        assert h.classname == "TH2D"
        # CYGNO: pedmap.values().T is the mean map, errors().T the RMS map
        assert np.allclose(h.values().T, maps.mean) and np.allclose(h.errors().T, maps.rms)
    m2 = cygno.read_cygno_pedestal(pedmap)
    assert np.allclose(m2.mean, maps.mean) and np.allclose(m2.rms, maps.rms)
    data = tmp_path / "histograms_Run00101.root"
    frames = pedestal_frames(true, 5, rng)
    frames[2, 10:13, 10:13] += 300
    cygno.write_cygno_run(data, frames, np.arange(5), run=101, hist_type="TH2S", pad_run=True)
    out = tmp_path / "raw.root"
    info = cygno.import_cygno(data, pedmap, out)
    assert info["frames"] == 5 and info["shape"] == [24, 32]
    back = rawio.read_images(out)
    assert np.array_equal(back.image, frames) and np.all(back.run == 101) and not back.has_truth
    assert np.allclose(rawio.read_pedestal(out).rms, maps.rms)
    # the same with the pedestal run itself and a crop
    cygno.import_cygno(data, ped_run, out, crop=(4, 8, 16, 16))
    assert rawio.read_images(out).image.shape == (5, 16, 16)


def test_cygno_bad_files(tmp_path):
    good = tmp_path / "good.root"
    cygno.write_cygno_run(good, np.full((2, 8, 8), 100, np.uint16), np.arange(2), run=1)
    with pytest.raises(InputError, match="does not exist"):
        cygno.read_cygno_frames(tmp_path / "nope.root")
    junk = tmp_path / "junk.root"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(InputError, match="junk.root"):
        cygno.read_cygno_frames(junk)
    empty = tmp_path / "empty.root"
    with uproot.recreate(empty) as f:
        f["other"] = (np.zeros((2, 2)), np.arange(3.0), np.arange(3.0))
    with pytest.raises(InputError, match="no camera frames"):
        cygno.read_cygno_frames(empty)
    wrong = tmp_path / "wrong.root"
    with uproot.recreate(wrong) as f:
        f["pic_run1_ev0"] = (np.zeros(4), np.arange(5.0))
    with pytest.raises(InputError, match="'pic_run1_ev0' is a TH1D"):
        cygno.read_cygno_frames(wrong)
    mixed = tmp_path / "mixed.root"
    with uproot.recreate(mixed) as f:
        f["pic_run1_ev0"] = (np.zeros((8, 8)), np.arange(9.0), np.arange(9.0))
        f["pic_run1_ev1"] = (np.zeros((6, 8)), np.arange(7.0), np.arange(9.0))
    with pytest.raises(InputError, match="'pic_run1_ev1' is 8 x 6 but 'pic_run1_ev0' is 8 x 8"):
        cygno.read_cygno_frames(mixed)
    neg = tmp_path / "neg.root"
    with uproot.recreate(neg) as f:
        f["pic_run1_ev0"] = (np.full((4, 4), -5.0), np.arange(5.0), np.arange(5.0))
    with pytest.raises(InputError, match="outside the 16-bit"):
        cygno.read_cygno_frames(neg)
    # missing pedestal, a pedestal of another shape, a pedestal file without pedestals
    with pytest.raises(InputError, match="pedestal file does not exist"):
        cygno.import_cygno(good, tmp_path / "noped.root", tmp_path / "o.root")
    small = tmp_path / "ped_small.root"
    cygno.write_cygno_run(
        small,
        np.full((3, 6, 6), 100, np.uint16) + np.arange(3, dtype=np.uint16)[:, None, None],
        np.arange(3),
        run=2,
    )
    with pytest.raises(
        InputError, match="pedestal maps are 6 x 6 but the frames of .*good.root are 8 x 8"
    ):
        cygno.import_cygno(good, small, tmp_path / "o.root")
    assert not (tmp_path / "o.root").exists()
    with pytest.raises(InputError, match="not a pedestal"):
        cygno.read_cygno_pedestal(empty)
    one = tmp_path / "one.root"
    cygno.write_cygno_run(one, np.full((1, 8, 8), 100, np.uint16), np.arange(1), run=3)
    with pytest.raises(InputError, match="at least 2 frames"):
        cygno.read_cygno_pedestal(one)
    with pytest.raises(InputError, match="crop"):
        cygno.read_cygno_frames(good, crop=(0, 0, 9, 9))
