"""The imaging dataset of config/test.yaml end to end (the shared ``test_run``): the raw image
contract, the image QA, CYGNO's reconstruction, the anomaly analysis and its tables, the model and
the export in CYGNO's layout, with values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import uproot
import yaml

from caloreco.imaging import cygno
from caloreco.imaging.anomaly import CYGNO_REFERENCE
from caloreco.imaging.rawio import read_image_run_info, read_images, read_pedestal
from caloreco.imaging.reco import CLUSTER_COLUMNS, TRUTH_COLUMNS
from caloreco.nn.autoencoder import load_autoencoder, reconstruct_frames

from conftest import TEST_CONFIG

pytestmark = pytest.mark.workflow

NAME = "lime_crops"


@pytest.fixture(scope="module")
def ds() -> dict:
    return yaml.safe_load(TEST_CONFIG.read_text())["datasets"][NAME]


@pytest.fixture(scope="module")
def res(test_run) -> Path:
    return test_run / "results" / NAME


@pytest.fixture(scope="module")
def anomaly(res) -> dict:
    return json.loads((res / "metrics/anomaly.json").read_text())


def test_raw_chunks_are_ttrees_of_the_image_contract(res, ds):
    n, h = ds["frames_per_chunk"], ds["images"]["height"]
    events = []
    for c in range(ds["chunks"]):
        path = res / f"raw/chunk-{c:03d}.root"
        with uproot.open(path) as f:
            classes = f.classnames(cycle=False)
            assert {classes[t] for t in ("images", "pedestal", "run_info")} == {"TTree"}
            tree = f["images"]
            assert tree.num_entries == n
            branches = set(tree.keys())
            for b in ("event", "run", "image", "kind", "energy_kev", "truth_light", "truth_recoil"):
                assert b in branches, b
            assert {"nrecoil", "recoil_kind", "recoil_energy_kev", "recoil_light"} <= branches
            img = tree["image"].array(library="np", entry_stop=2)
            assert img.dtype == np.uint16 and img.shape == (2, h, h)
            assert set(f["pedestal"].keys()) >= {"mean", "rms", "bad", "n_frames", "true_rms"}
        frames = read_images(path, require_truth=True)
        # event numbers continue over the chunks; the light is in the truth, not the noise
        assert np.array_equal(frames.event, c * n + np.arange(n))
        signal = frames.recoil_offsets[1:] > frames.recoil_offsets[:-1]
        assert (frames.truth_light[~signal] == 0).all() and (frames.energy_kev[~signal] == 0).all()
        assert set(np.unique(frames.recoils["recoil_energy_kev"])) <= {1.0, 6.0}
        info = read_image_run_info(path)
        assert info["dataset"] == NAME and info["seed"] == ds["seed"] and info["shape"] == [h, h]
        assert read_pedestal(path).n_frames == ds["images"]["pedestal_frames"]
        events.append(frames.event)
    assert np.unique(np.concatenate(events)).size == n * ds["chunks"]


def test_image_qa_is_physical(res, ds):
    s = json.loads((res / "metrics/simulation.json").read_text())
    assert s["frames"] == ds["chunks"] * ds["frames_per_chunk"] == sum(s["frames_by_kind"].values())
    assert s["detector"] == "camera_tpc" and s["shape"] == [64, 64]
    # about 30 % empty frames (empty_fraction 0.3), the rest ER or NR
    assert 0.15 < s["frames_by_kind"]["pedestal"] / s["frames"] < 0.45
    # the pedestal run of 30 frames measures the true RMS map: unbiased, with the statistical
    # scatter 1 / sqrt(2 x 29) = 0.131
    r = s["pedestal"]["rms_over_true"]
    assert r["mean"] == pytest.approx(1.0, abs=0.01)
    assert r["std"] == pytest.approx(r["expected_std"], rel=0.1)
    assert s["pedestal"]["rms_median"] == pytest.approx(2.5, rel=0.05)  # camera noise_median
    assert s["pedestal"]["mean_level"] == pytest.approx(100.0, abs=0.5)
    # empty frames: one pedestal sigma, plus the scatter of maps measured on 30 frames (~3 %)
    assert 0.99 < s["noise_sigmas"]["mean"] < 1.07
    # light yield: CYGNO's ~2000 counts/keV at 6 keV (the tuning point)
    per = s["counts_per_kev"]["per_energy"]
    for kind in ("ER", "NR"):
        assert 1700 < per[kind]["6"]["mean"] < 2500, (kind, per[kind])
    # point-like spots grow with the drift as the diffusion law (0.01232 mm^2/cm); GEM
    # saturation flattens the dense spots near the GEM, which raises the intercept only
    spot = s["spot_sigma"]
    assert spot["n"] > 20 and 0.9 < spot["ratio_to_law"]["mean"] < 1.5
    assert abs(spot["t_mm2_per_cm"] - 0.01232) < 3 * spot["t_mm2_per_cm_err"] + 1e-3
    assert spot["t0_mm2"] > 0.1225 - 3 * spot["t0_mm2_err"]
    assert (res / "qa/simulation.png").stat().st_size > 10_000


def test_cygno_cluster_tables_match_the_truth(res, ds):
    n = ds["frames_per_chunk"]
    found = {1.0: [], 6.0: []}
    for c in range(ds["chunks"]):
        t = pd.read_parquet(res / f"clusters/cygno/chunk-{c:03d}.parquet")
        assert list(t.columns) == [*CLUSTER_COLUMNS, *TRUTH_COLUMNS]
        assert len(t) > 0
        assert t["frame"].between(0, n - 1).all()
        assert t["event"].between(c * n, (c + 1) * n - 1).all()
        assert (t["n_pixels"] == 16 * t["n_macro"]).all()  # 4 x 4 rebin
        assert t["purity"].between(0, 1).all() and t["completeness"].between(0, 1.0001).all()
        matched = t[t["recoil"] >= 0]
        assert set(matched["true_kind"]) <= {1, 2}
        # the pedestal-subtracted integral is the signal light: noise only adds its spread
        ratio = matched["integral"] / matched["truth_light"]
        assert ratio.median() == pytest.approx(1.0, abs=0.1)
        frames = read_images(res / f"raw/chunk-{c:03d}.root", require_truth=True)
        # per recoil (one per frame here): the cluster that holds most of its light
        best = matched.groupby("frame")["completeness"].max()
        for f in np.flatnonzero(frames.recoil_offsets[1:] > frames.recoil_offsets[:-1]):
            e = float(frames.recoils["recoil_energy_kev"][frames.recoil_offsets[f]])
            found[e].append(best.get(f, 0.0) > 0.5)
    # 1 keV spots are 2000 counts on 2.5 counts of noise: CYGNO's chain finds nearly all
    for e, hits in found.items():
        assert np.mean(hits) > 0.85, (e, np.mean(hits))


def test_anomaly_metrics_contract(anomaly, ds):
    m = anomaly
    assert sum(m["frames"].values()) == ds["chunks"] * ds["frames_per_chunk"]
    assert m["signal_frames_test"] > 0 and m["empty_frames_test"] > 0
    assert m["shape"] == [64, 64] and m["energies"] == ["1", "6"]
    sel = m["selection"]
    assert sel["reference"] == CYGNO_REFERENCE
    assert {"nsigma", "ae_pixel", "window", "ae_local", "ae_roi", "classical_reco"} <= set(
        sel["methods"]
    )
    for name in ("nsigma", "ae_pixel", "window", "ae_local"):
        v = sel["methods"][name]
        area = np.asarray(v["curve"]["area_discarded"])
        kept = np.asarray(v["curve"]["intensity_kept"])
        assert ((area >= 0) & (area <= 1)).all() and ((kept >= 0) & (kept <= 1 + 1e-9)).all()
        # a higher threshold discards more and keeps less
        order = np.argsort(area, kind="stable")
        assert (np.diff(kept[order]) <= 1e-9).all(), name
        for t in ("0.978", "0.99", "0.995"):
            k = v["kept_at_area"][t]
            assert 0 <= k["value"] <= 1 and k["err"] >= 0
    for name in ("ae_roi", "classical_reco"):
        p = sel["methods"][name]["point"]
        assert 0 < p["intensity_kept"] <= 1 and 0 < p["area_discarded"] < 1
    goals = sel["goals"]
    assert goals["ae_kept_at_97.8"] == sel["methods"]["ae_local"]["kept_at_area"]["0.978"]
    assert isinstance(goals["met_93_at_97.8"], bool)
    # 1 and 6 keV frames are far above the noise: every frame score separates them
    for name in ("nsigma", "ae_local", "window", "classical_reco"):
        for e in ("1", "6"):
            r = m["roc"]["methods"][name][e]
            assert r["auc"] > 0.9 and r["n_signal"] > 0 and r["n_background"] > 0, (name, e)
    er = m["er_nr"]
    assert set(er["per_energy"]) <= {"1", "6"} and er["per_energy"]
    for per in er["per_energy"].values():
        for clf in ("cnn", "gbdt", "shape_cut"):
            assert 0 <= per[clf]["accuracy"] <= 1
    assert 0.5 <= m["dec"]["purity"] <= 1.0
    a = m["autoencoder"]
    assert len(a["history"]) == ds["anomaly"]["autoencoder"]["epochs"]
    # what the network reconstructs of the signal light (the error map misses it): small
    assert a["pedestal_frames"] >= 2 and abs(a["signal_absorbed_fraction"]) < 0.5


def test_anomaly_tables_model_and_examples(res, anomaly, ds):
    tables = res / "tables"
    scores = pd.read_parquet(tables / "anomaly_roc_scores.parquet")
    assert len(scores) == anomaly["frames"]["test"]
    assert scores["signal"].sum() == anomaly["signal_frames_test"]
    assert {"event", "energy", "nsigma", "ae_local", "window", "classical_reco"} <= set(scores)
    regions = pd.read_parquet(tables / "anomaly_regions.parquet")
    assert {"frame", "cluster", "integral", "split", "energy", "used_for_er_nr"} <= set(regions)
    assert set(regions["split"]) <= {"train", "val", "test"}
    with np.load(tables / "anomaly_examples.npz") as ex:
        assert ex["raw"].shape[1:] == (64, 64) and ex["raw"].dtype == np.uint16
        assert ex["error"].shape == ex["truth"].shape == ex["raw"].shape
        # an example is a signal frame: its true light sits where the error map is high
        k = ex["truth"][0] > 0
        assert ex["error"][0][k].mean() > 3 * ex["error"][0][~k].mean()
    model, meta = load_autoencoder(res / "models/autoencoder.pt")
    assert meta["config"]["channels"] == ds["anomaly"]["autoencoder"]["channels"]
    assert meta["best_val_loss"] == min(h["val_loss"] for h in anomaly["autoencoder"]["history"])
    z = np.random.default_rng(0).standard_normal((2, 64, 64)).astype(np.float32)
    assert reconstruct_frames(model, z).shape == (2, 64, 64)
    hist = pd.read_csv(res / "models/autoencoder.history.csv")
    assert list(hist["epoch"]) == list(range(len(hist))) and hist["best"].sum() == 1


def test_cygno_export_reimports_as_the_raw_chunks(res, ds, tmp_path):
    pedestal = res / "cygno/pedestal.root"
    for c in range(ds["chunks"]):
        run = res / f"cygno/run-{c:03d}.root"
        pics = cygno.list_pictures(run)
        raw = read_images(res / f"raw/chunk-{c:03d}.root")
        # data-like TH2S with the run zero-padded (cygno_export in config/test.yaml)
        assert pics[0][2] == f"pic_run00001_ev{raw.event[0]}" and len(pics) == len(raw)
        with uproot.open(run) as f:
            assert set(f.classnames(cycle=False).values()) == {"TH2S"}
        cygno.import_cygno(run, pedestal, tmp_path / f"back-{c}.root")
        back = read_images(tmp_path / f"back-{c}.root")
        assert np.array_equal(back.image, raw.image) and np.array_equal(back.event, raw.event)
    ped = read_pedestal(tmp_path / "back-0.root")
    raw_ped = read_pedestal(res / "raw/chunk-000.root")
    assert ped.n_frames == ds["images"]["pedestal_frames"]
    assert np.allclose(ped.mean, raw_ped.mean) and np.allclose(ped.rms, raw_ped.rms)
    m = cygno.read_cygno_pedestal(res / "cygno/pedmap.root")
    assert np.allclose(m.rms, raw_ped.rms, rtol=1e-6)
