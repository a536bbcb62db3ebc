"""What the workflow's imaging stages call: config cross-checks, import plan, image QA numbers,
the CYGNO export and its round trip, and the numbers.tex macros of anomaly.json."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import uproot
import yaml

from caloreco.config import ConfigError, validate_config
from caloreco.errors import InputError
from caloreco.imaging import cygno
from caloreco.imaging.camera import camera_from_config
from caloreco.imaging.chunks import export_cygno_chunk, export_cygno_pedestal, simulate_chunk
from caloreco.imaging.pedestal import PedestalMaps, pedestal_from_frames
from caloreco.imaging.qa import (
    MAD_TO_SIGMA,
    combine_image_stats,
    frame_noise,
    image_chunk_stats,
    recoil_spot_sigma,
    spot_variance,
    summarize_images,
)
from caloreco.imaging.rawio import read_image_run_info, read_images, read_pedestal
from caloreco.imaging.settings import anomaly_block, camera_block, import_plan
from caloreco.imaging.simulate import simulate_camera, simulate_pedestal_run
from caloreco.report.numbers import anomaly_numbers, macro_name

from conftest import REPO

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


@pytest.fixture(scope="module")
def base():
    return yaml.safe_load((REPO / "config/config.yaml").read_text())


def _cygno_dataset():
    return {
        "detector": "lime",
        "source": "cygno",
        "seed": 1,
        "chunks": 2,
        "frames_per_chunk": 10,
        "files": ["run1.root"],
        "cygno": {"pedestal": "ped.root"},
        "clustering": {"cygno": {}},
    }


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c["datasets"]["lime_crops"].update(analyses=["pairs"]),
            r"datasets\.lime_crops\.analyses and datasets\.lime_crops\.detector: 'pairs' needs hit",
        ),
        (
            lambda c: c["datasets"]["lime_crops"].update(analyses=["regression"]),
            r"'regression' needs hit data",
        ),
        (
            lambda c: c["datasets"]["ecal_stage1"].update(analyses=["anomaly"]),
            r"datasets\.ecal_stage1\.analyses and datasets\.ecal_stage1\.detector: 'anomaly' "
            r"needs camera images",
        ),
        (
            lambda c: c["datasets"]["califa_2p1"]["clustering"].update(cygno={}),
            r"datasets\.califa_2p1\.clustering\.cygno and datasets\.califa_2p1\.detector",
        ),
        (
            lambda c: c["datasets"]["califa_2p1"].update(frames_per_chunk=5),
            r"datasets\.califa_2p1\.frames_per_chunk and datasets\.califa_2p1\.detector",
        ),
        (
            lambda c: c["datasets"]["lime_crops"].update(events_per_chunk=5),
            r"datasets\.lime_crops\.events_per_chunk and datasets\.lime_crops\.detector: "
            r"'events_per_chunk' is a key of hit datasets",
        ),
        (
            lambda c: c["datasets"]["lime_crops"]["clustering"].update(cone={}),
            r"datasets\.lime_crops\.clustering and datasets\.lime_crops\.detector: camera "
            r"images are clustered by 'cygno'",
        ),
        (
            lambda c: c["datasets"]["lime_crops"].pop("frames_per_chunk"),
            r"datasets\.lime_crops\.frames_per_chunk: required for source 'simulate'",
        ),
        (
            lambda c: c["datasets"]["lime_crops"]["images"].update(height=250),
            r"datasets\.lime_crops\.images and datasets\.lime_crops\.clustering\.cygno\.rebin: "
            r"frames of 250 x 256",
        ),
        (
            lambda c: c["datasets"]["lime_crops"]["images"]["recoils"]["energy"].update(
                distribution="uniform"
            ),
            r"datasets\.lime_crops\.images\.recoils\.energy\.min_kev: required",
        ),
        (
            lambda c: c["datasets"]["lime_crops"].update(anomaly={"autoencoder": {"patch": 512}}),
            r"datasets\.lime_crops\.anomaly\.autoencoder\.patch and datasets\.lime_crops\.images",
        ),
        (
            lambda c: c["datasets"]["lime_crops"].update(anomaly={"n_boots": 5}),
            r"datasets\.lime_crops\.anomaly: Additional properties are not allowed",
        ),
        (
            lambda c: c["detectors"]["lime"]["camera"].update(gem_hv_v=[440.0]),
            r"detectors\.lime\.camera\.gem_hv_v",
        ),
        (
            lambda c: c["datasets"].update(
                imp=_cygno_dataset() | {"analyses": ["anomaly"]},
            ),
            r"datasets\.imp\.analyses and datasets\.imp\.source: the anomaly metrics need the "
            r"truth of simulated frames",
        ),
        (
            lambda c: c["datasets"].update(
                imp=_cygno_dataset() | {"chunks": 3, "files": ["a.root", "b.root"]}
            ),
            r"datasets\.imp\.chunks and datasets\.imp\.files: 3 chunks cannot be spread",
        ),
        (
            lambda c: c["datasets"].update(imp=_cygno_dataset() | {"cygno": {}}),
            r"datasets\.imp\.cygno: 'pedestal' is a required property",
        ),
        (
            lambda c: c["datasets"].update(
                imp={k: v for k, v in _cygno_dataset().items() if k != "frames_per_chunk"}
            ),
            r"datasets\.imp\.frames_per_chunk and datasets\.imp\.chunks",
        ),
        (
            lambda c: c["datasets"].update(imp=_cygno_dataset() | {"source": "root"}),
            r"datasets\.imp\.source and datasets\.imp\.detector: a camera_tpc dataset is "
            r"simulated or read from CYGNO files",
        ),
        (
            lambda c: c["datasets"]["califa_2p1"].update(source="cygno"),
            r"datasets\.califa_2p1\.source and datasets\.califa_2p1\.detector: 'cygno' files",
        ),
    ],
)
def test_bad_imaging_config_names_both_keys(base, edit, message):
    cfg = copy.deepcopy(base)
    edit(cfg)
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg, SCHEMA)


def test_a_valid_cygno_import_dataset_passes(base):
    cfg = copy.deepcopy(base)
    cfg["datasets"]["imp"] = _cygno_dataset()
    validate_config(cfg, SCHEMA)


def test_import_plan_spreads_chunks_over_files():
    files, peds = ["a.root", "b.root"], ["pa.root", "pb.root"]
    plans = [import_plan(files, peds, 4, c, 25, first=3) for c in range(4)]
    assert [p["data"] for p in plans] == ["a.root", "a.root", "b.root", "b.root"]
    assert [p["pedestal"] for p in plans] == ["pa.root", "pa.root", "pb.root", "pb.root"]
    assert [p["first"] for p in plans] == [3, 28, 3, 28]
    assert {p["max_frames"] for p in plans} == {25}
    one = import_plan(files, "ped.root", 2, 1, None)
    assert one == {"data": "b.root", "pedestal": "ped.root", "first": 0, "max_frames": None}
    with pytest.raises(ValueError, match="frames_per_chunk"):
        import_plan(files, "ped.root", 4, 0, None)
    with pytest.raises(ValueError, match="chunks: 3"):
        import_plan(files, "ped.root", 3, 0, 10)
    with pytest.raises(ValueError, match="cygno.pedestal"):
        import_plan(files, ["p1", "p2", "p3"], 2, 0, None)


def test_settings_blocks():
    det = {"preset": "camera_tpc", "camera": {"pixel_mm": 0.2}}
    ds = {"images": {"height": 64}}
    assert camera_block(det, ds) == {"pixel_mm": 0.2, "height": 64, "width": 256}
    assert camera_block(det) == {"pixel_mm": 0.2}
    a = anomaly_block({"n_boot": 5}, None, 7)
    assert a == {"n_boot": 5, "split_fractions": [0.5, 0.1, 0.4], "split_seed": 7}
    assert anomaly_block(None, [0.6, 0.2, 0.2], 1)["split_fractions"] == [0.6, 0.2, 0.2]


def test_spot_sigma_and_noise_by_hand():
    # two frames: a recoil of two pixels (weights 1 and 3, 2 pixels apart along x) and one of a
    # single pixel; an empty frame owns no recoil
    light = np.zeros((3, 6, 6), np.float32)
    owner = np.full((3, 6, 6), -1, np.int8)
    light[0, 2, 1], light[0, 2, 3] = 1.0, 3.0
    owner[0, 2, 1] = owner[0, 2, 3] = 0
    light[2, 4, 4] = 5.0
    owner[2, 4, 4] = 0
    s = recoil_spot_sigma(light, owner, np.array([0, 1, 1, 2]), pixel_mm=0.5)
    # x variance of weights 1, 3 at x = 0.75, 1.75 mm: 0.25 * 0.75 * 1^2 = 0.1875; y variance 0
    assert s[0] == pytest.approx(np.sqrt(0.5 * 0.1875))
    assert s[1] == 0.0
    # the diffusion variance of a spot: pixel size removed, few-electron shrinkage undone
    v = spot_variance(
        {"sigma_mm": np.array([0.5, 0.5, np.nan]), "electrons": np.array([10.0, 4.0, 50.0])}, 0.3
    )
    assert v[0] == pytest.approx((0.25 - 0.09 / 12) / 0.8) and np.isnan(v[1:]).all()
    # noise: frames of exactly +-1 sigma around the mean are a spread of 1 / 1.4826 ... x 1.4826
    ped = PedestalMaps(
        np.full((4, 4), 100.0, np.float32), np.full((4, 4), 2.0, np.float32), np.zeros((4, 4), bool)
    )
    img = np.full((1, 4, 4), 100, np.uint16)
    img[0, ::2] = 102
    assert frame_noise(img, ped)[0] == pytest.approx(MAD_TO_SIGMA * 0.5)
    with pytest.raises(ValueError, match="images"):
        frame_noise(img[:, :3], ped)


@pytest.fixture(scope="module")
def chunks(tmp_path_factory):
    """Two simulated chunks of a small camera, as the simulate_images rule writes them."""
    d = tmp_path_factory.mktemp("img")
    cam = {"height": 48, "width": 48}
    rec = {
        "energy": {"distribution": "lines", "values_kev": [0.5, 6.0], "balanced": True},
        "empty_fraction": 0.25,
        "margin_mm": 2.0,
    }
    paths = [d / f"chunk-{c:03d}.root" for c in range(2)]
    for c, p in enumerate(paths):
        simulate_chunk(p, cam, rec, 11, c, 24, n_pedestal_frames=40, extra_info={"dataset": "x"})
    return paths


def test_image_qa_numbers_against_the_simulation(chunks):
    parts, infos = [], []
    for p in chunks:
        info = read_image_run_info(p)
        parts.append(image_chunk_stats(read_images(p), read_pedestal(p), info["pixel_mm"]))
        infos.append(info)
    assert infos[0]["dataset"] == "x" and infos[0]["simulation_seconds"] > 0
    stats = combine_image_stats(parts)
    ped, true = read_pedestal(chunks[0]), read_pedestal(chunks[0], true_maps=True)
    s = summarize_images(stats, infos, ped, true)
    assert s["frames"] == 48 and sum(s["frames_by_kind"].values()) == 48
    assert s["shape"] == [48, 48]
    # the frames hold exactly what the chunks hold
    frames = [read_images(p) for p in chunks]
    assert s["recoils"] == sum(int(f.recoil_offsets[-1]) for f in frames)
    light = np.concatenate([f.recoils["recoil_light"] for f in frames])
    e = np.concatenate([f.recoils["recoil_energy_kev"] for f in frames])
    kind = np.concatenate([f.recoils["recoil_kind"] for f in frames])
    er = kind == 1
    assert s["counts_per_kev"]["ER"]["mean"] == pytest.approx(np.mean(light[er] / e[er]))
    # CYGNO's scale: about 2000 counts per keV at 6 keV (the tuning point), more at 0.5 keV
    # where GEM3 saturates less
    six = s["counts_per_kev"]["per_energy"]["ER"]["6"]["mean"]
    assert 1600 < six < 2500
    # RMS map measured on 40 pedestal frames: ratio to the truth scatters by 1/sqrt(2 * 39)
    r = s["pedestal"]["rms_over_true"]
    assert r["mean"] == pytest.approx(1.0, abs=0.01)
    assert r["std"] == pytest.approx(r["expected_std"], rel=0.1)
    # empty frames are noise of the measured maps: one sigma, a little more from their scatter
    assert s["noise_sigmas"]["frames"] == "without recoil"
    assert 0.98 < s["noise_sigmas"]["mean"] < 1.06
    with pytest.raises(ValueError, match="truth"):
        combine_image_stats([parts[0], {k: parts[1][k] for k in ("frame_kind", "noise")}])


def test_cygno_export_round_trips_and_regenerates_the_pedestal_run(chunks, tmp_path):
    out = tmp_path / "run-000.root"
    summary = export_cygno_chunk(chunks[0], out, "TH2S", pad_run=True)
    frames = read_images(chunks[0])
    assert summary["frames"] == 24 and summary["keys"][0] == f"pic_run00001_ev{frames.event[0]}"
    with uproot.open(out) as f:
        assert set(f.classnames(cycle=False).values()) == {"TH2S"}
    run_path, pedmap_path = tmp_path / "pedestal.root", tmp_path / "pedmap.root"
    export_cygno_pedestal(chunks[0], run_path, pedmap_path, pedestal_run=7)
    # the importer sees the same frames, events and pedestal maps as the raw chunk
    info = cygno.import_cygno(out, run_path, tmp_path / "back.root")
    assert info["frames"] == 24 and info["pedestal_frames"] == 40
    back = read_images(tmp_path / "back.root")
    assert np.array_equal(back.image, frames.image)
    assert np.array_equal(back.event, frames.event)
    ped, raw_ped = read_pedestal(tmp_path / "back.root"), read_pedestal(chunks[0])
    assert np.allclose(ped.mean, raw_ped.mean) and np.allclose(ped.rms, raw_ped.rms)
    # the pedestal run is the simulation's own: its frames measure the stored maps exactly
    cam = camera_from_config(read_image_run_info(chunks[0])["camera"])
    _, pframes = simulate_pedestal_run(cam, 11, 40)
    assert np.array_equal(pedestal_from_frames(pframes).rms, raw_ped.rms)
    _, measured = simulate_camera(cam, 11, 40)
    assert np.array_equal(measured.mean, raw_ped.mean)
    assert cygno.list_pictures(run_path)[0] == (7, 0, "pic_run7_ev0")
    m = cygno.read_cygno_pedestal(pedmap_path)
    assert np.allclose(m.mean, raw_ped.mean) and np.allclose(m.rms, raw_ped.rms, rtol=1e-6)
    # imported data has no pedestal run to regenerate
    with pytest.raises(InputError, match="not a simulated image chunk"):
        export_cygno_pedestal(tmp_path / "back.root", tmp_path / "p.root", tmp_path / "m.root")


def test_anomaly_numbers_carry_value_and_error():
    m = {
        "selection": {
            "reference": {"area_discarded": 0.978},
            "methods": {
                "ae_local": {"kept_at_area": {"0.978": {"value": 0.9512, "err": 0.004}}},
                "nsigma": {"kept_at_area": {"0.978": {"value": float("nan"), "err": 0.1}}},
                "ae_roi": {
                    "point": {
                        "intensity_kept": 0.99,
                        "intensity_kept_err": 0.001,
                        "area_discarded": 0.98,
                        "area_discarded_err": 0.002,
                    }
                },
            },
        },
        "roc": {"methods": {"ae_local": {"1": {"auc": 0.97, "auc_err": 0.01}}}},
        "er_nr": {
            "overall": {"cnn": {"accuracy": 0.8, "accuracy_err": 0.02}},
            "per_energy": {"6": {"cnn": {"accuracy": 0.9, "accuracy_err": 0.03}}},
        },
    }
    n = anomaly_numbers("lime_crops", m)
    kept = n[macro_name("lime_crops", "ae_local", "KeptAtCygnoArea")]
    assert (kept.value, kept.err_lo, kept.unit) == pytest.approx((95.12, 0.4, "%"))
    assert macro_name("lime_crops", "nsigma", "KeptAtCygnoArea") not in n  # NaN: no macro
    assert n["LimeCropsAeRoiDiscarded"].value == pytest.approx(98.0)
    assert n["LimeCropsAeLocalAUCOneKeV"].value == 0.97
    assert n["LimeCropsCnnErNrAccuracy"].value == pytest.approx(80.0)
    assert n["LimeCropsCnnErNrAccuracySixKeV"].err_hi == pytest.approx(3.0)
    assert anomaly_numbers("x", {}) == {}
