"""The U-Net pixel selection of config/test.yaml's lime_crops end to end (the shared ``test_run``):
the checkpoint, the ``unet`` cluster tables and pixel_selection.json, with values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from caloreco.imaging.rawio import read_images
from caloreco.imaging.reco import CLUSTER_COLUMNS, TRUTH_COLUMNS
from caloreco.nn.unet import load_unet
from caloreco.split import assign_split

from conftest import TEST_CONFIG

pytestmark = pytest.mark.workflow

NAME = "lime_crops"
METHODS = {"nsigma", "unet", "unet_relaxed", "nsigma_talk", "unet_talk"}


@pytest.fixture(scope="module")
def ds() -> dict:
    return yaml.safe_load(TEST_CONFIG.read_text())["datasets"][NAME]


@pytest.fixture(scope="module")
def res(test_run) -> Path:
    return test_run / "results" / NAME


@pytest.fixture(scope="module")
def ps(res) -> dict:
    return json.loads((res / "metrics/pixel_selection.json").read_text())


def _split(ds) -> np.ndarray:
    n = ds["chunks"] * ds["frames_per_chunk"]
    return assign_split(np.arange(n), (0.5, 0.1, 0.4), ds["seed"])  # default split and seed


def _test_events(ds) -> np.ndarray:
    return np.flatnonzero(_split(ds) == "test")


def test_checkpoint_holds_the_validation_thresholds(res, ps, ds):
    model, meta = load_unet(res / "models/unet.pt")
    cfg = ds["clustering"]["unet"]
    assert meta["config"]["channels"] == cfg["unet"]["channels"]
    n_train = int((_split(ds) == "train").sum())
    assert meta["train_frames"] == ps["frames"]["train"] == min(cfg["max_train_frames"], n_train)
    assert 0 <= meta["point_threshold"] < 1 and meta["threshold_from"] == "validation F1"
    assert meta["relaxed_min_samples"] in cfg["relaxed_min_samples"]
    # the evaluation used the checkpoint's numbers
    for k in ("pixel_threshold", "point_threshold", "relaxed_min_samples", "parameters"):
        assert ps["unet"][k] == meta[k], k
    # 2 levels of 3 x 3 double convolutions: the parameter count of the architecture
    assert meta["parameters"] == sum(p.numel() for p in model.parameters())
    hist = pd.read_csv(res / "models/unet.history.csv")
    assert len(hist) == len(meta["history"]) == cfg["unet"]["max_epochs"]
    assert np.allclose(hist["val_loss"], [h["val_loss"] for h in meta["history"]])


def test_pixel_selection_contract(ps, ds):
    part = _split(ds)
    test_events = _test_events(ds)
    assert ps["frames"]["val"] == (part == "val").sum()
    assert ps["frames"]["test"] == test_events.size
    assert ps["test_signal_frames"] + ps["test_empty_frames"] == test_events.size
    assert ps["energies"] == ["1", "6"] and ps["shape"] == [64, 64] and ps["rebin"] == 4
    assert set(ps["clustering"]["methods"]) == METHODS
    # the talk's chain: nsigma 0.2 and eps 18 with the LIME DBSCAN's min_samples
    talk = ps["clustering"]["methods"]["nsigma_talk"]["reco"]
    assert (talk["nsigma"], talk["eps"], talk["min_samples"]) == (0.2, 18.0, 20)
    lime = ps["clustering"]["methods"]["nsigma"]["reco"]
    assert (lime["nsigma"], lime["eps"]) == (0.6, 12.0)
    for m in ps["clustering"]["methods"].values():
        recoils = 0
        for e in ps["energies"]:
            b = m["per_energy"][e]
            eff = b["efficiency"]
            assert eff["passed"] <= eff["total"] == b["recoils"] and 0 <= eff["value"] <= 1
            assert eff["value"] == pytest.approx(eff["passed"] / eff["total"])
            assert b["fakes_per_frame"]["upper_95"] > b["fakes_per_frame"]["value"] >= 0
            recoils += b["recoils"]
        assert recoils == m["all"]["recoils"] == ps["test_signal_frames"]  # one recoil a frame
        assert m["pedestal"]["frames"] == ps["test_empty_frames"]
        assert m["all"]["points_per_frame"] >= 0 and m["dbscan_ms_per_frame_batched"] > 0
    # 1 and 6 keV are far above the 2.5 counts of noise: the classical chains find them
    for name in ("nsigma", "nsigma_talk"):
        for e in ("1", "6"):
            assert ps["clustering"]["methods"][name]["per_energy"][e]["efficiency"]["value"] > 0.85
        r = ps["clustering"]["methods"][name]["per_energy"]["6"]["integral_ratio"]
        assert r["mean"] == pytest.approx(1.0, abs=0.05)


def test_pixel_metrics_and_baselines(ps):
    px = ps["pixels"]
    u = px["unet"]
    lo, hi = u["f1_ci"]
    assert lo <= u["f1"] <= hi and 0 < u["f1"] <= 1
    assert u["f1"] == pytest.approx(
        2 * u["precision"] * u["recall"] / (u["precision"] + u["recall"])
    )
    # smart_random: F1 = the training split's signal pixel fraction, far below both selections
    sr = px["smart_random"]
    assert sr["f1_expected"] == pytest.approx(ps["target"]["signal_pixel_fraction_train"])
    assert sr["f1_expected"] < u["f1"] and sr["f1_expected"] < px["nsigma"]["2"]["f1"]
    assert set(px["nsigma"]) == {"0.6", "2"}
    # a higher zero-suppression level keeps fewer pixels: recall falls, precision rises
    assert px["nsigma"]["2"]["recall"] < px["nsigma"]["0.6"]["recall"]
    assert px["nsigma"]["2"]["precision"] > px["nsigma"]["0.6"]["precision"]
    c = px["pr_curve"]
    assert len(c["threshold"]) == len(c["precision"]) == len(c["recall"])
    assert (np.diff(c["recall"]) <= 1e-12).all()  # thresholds increase, recall cannot grow


def test_goals_follow_from_the_numbers(ps):
    goals = ps["goals"]
    assert set(goals) == {"unet_vs_nsigma", "unet_talk_vs_nsigma_talk", "unet_relaxed_vs_nsigma"}
    m = ps["clustering"]["methods"]
    for key, g in goals.items():
        u, ref = key.split("_vs_")
        e = g["efficiency_1kev"]
        assert e["value"] == m[u]["per_energy"]["1"]["efficiency"]["value"]
        assert e["met"] == (e["value"] >= 0.99)
        r = g["integral_ratio_1kev"]
        assert r["met"] == (abs(r["value"] - 1) <= 0.02)
        p = g["points_reduction"]
        pu, pr = m[u]["all"]["points_per_frame"], m[ref]["all"]["points_per_frame"]
        assert p["value"] == pytest.approx(pr / pu) and p["met"] == (pr / pu >= 5)
        bins = g["fewer_fakes_every_bin"]["bins"]
        assert set(bins) == {"1", "6", "multi_keV", "pedestal"}
        assert g["fewer_fakes_every_bin"]["met"] == all(b["met"] for b in bins.values())
        for b in bins.values():
            assert b["met"] == (
                b["fakes_unet"] < b["fakes_ref"] and b.get("equal_or_better_efficiency", True)
            )


def test_cluster_tables_of_both_methods_agree_with_the_evaluation(res, ps, ds):
    """The unet (cygno) cluster tables of the clustering rules hold, on the test frames, exactly
    the clusters the evaluation scored as unet (nsigma): one chain, two rules."""
    test_events = set(_test_events(ds).tolist())
    ev = pd.read_parquet(res / "tables/pixel_selection_clusters.parquet")
    assert set(ev["method"]) == METHODS
    assert set(ev["status"]) <= {"main", "split", "fake"}
    for method, name in (("unet", "unet"), ("cygno", "nsigma")):
        parts = [
            pd.read_parquet(res / f"clusters/{method}/chunk-{c:03d}.parquet") for c in range(2)
        ]
        for t in parts:
            assert list(t.columns) == [*CLUSTER_COLUMNS, *TRUTH_COLUMNS], method
        t = pd.concat(parts, ignore_index=True)
        t = t[t["event"].isin(test_events)].sort_values(["event", "cluster"])
        e = ev[ev["method"] == name].sort_values(["event", "cluster"])
        assert len(t) == len(e) > 0, method
        np.testing.assert_allclose(t["integral"].to_numpy(), e["integral"].to_numpy(), rtol=1e-6)
        np.testing.assert_array_equal(t["n_macro"].to_numpy(), e["n_macro"].to_numpy())
    # every frame of the chunk is clustered (train and validation frames too)
    frames = read_images(res / "raw/chunk-000.root")
    unet0 = pd.read_parquet(res / "clusters/unet/chunk-000.parquet")
    assert unet0["event"].isin(frames.event).all() and unet0["frame"].max() < len(frames)


def test_recoil_table_and_examples(res, ps):
    rec = pd.read_parquet(res / "tables/pixel_selection_recoils.parquet")
    for name, m in ps["clustering"]["methods"].items():
        r = rec[rec["method"] == name]
        assert len(r) == ps["test_signal_frames"]
        assert int(r["detected"].sum()) == sum(
            m["per_energy"][e]["efficiency"]["passed"] for e in ps["energies"]
        )
        det = r[r["detected"]]
        np.testing.assert_allclose(det["ratio"], det["integral"] / det["light"])
    with np.load(res / "tables/pixel_selection_examples.npz") as ex:
        assert ex["sub"].shape[1:] == (64, 64) and ex["labels_unet"].shape[1:] == (16, 16)
        assert ((ex["prob"] >= 0) & (ex["prob"] <= 1)).all()
        assert set(np.unique(ex["target"])) <= {0, 1}
