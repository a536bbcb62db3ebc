"""What the workflow's pixel-selection rules call: the config checks of clustering.unet, its
settings blocks, the three stage modules on small simulated chunks (train_unet, cluster_unet,
evaluate_pixel_selection) and the numbers.tex macros of pixel_selection.json."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from caloreco.config import ConfigError, validate_config
from caloreco.imaging.chunks import read_chunks, simulate_chunk
from caloreco.imaging.pixel_selection import (
    pixel_selection_settings_from_config,
    split_indices,
    unet_reconstruct,
)
from caloreco.imaging.rawio import read_images, read_pedestal
from caloreco.imaging.reco import CLUSTER_COLUMNS, TRUTH_COLUMNS
from caloreco.imaging.settings import UNET_CLUSTER_KEYS, UNET_TRAIN_KEYS, unet_block
from caloreco.nn.unet import load_unet
from caloreco.report.numbers import pixel_selection_numbers
from caloreco.stages import cluster_unet, evaluate_pixel_selection, train_unet

from conftest import REPO

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


@pytest.fixture(scope="module")
def base():
    return yaml.safe_load((REPO / "config/config.yaml").read_text())


def _unet(c):
    return c["datasets"]["lime_crops"]["clustering"]["unet"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c["datasets"]["califa_2p1"]["clustering"].update(unet={}),
            r"datasets\.califa_2p1\.clustering\.unet and datasets\.califa_2p1\.detector: the "
            r"'unet' method clusters camera images",
        ),
        (
            lambda c: _unet(c)["unet"].update(patch=512),
            r"datasets\.lime_crops\.clustering\.unet\.unet\.patch and datasets\.lime_crops\.images"
            r": training crops of 512 pixels do not fit frames of 256 x 256",
        ),
        (
            lambda c: _unet(c)["unet"].update(patch=36),
            r"datasets\.lime_crops\.clustering\.unet\.unet\.patch and "
            r"datasets\.lime_crops\.clustering\.unet\.unet\.channels: 4 levels .* multiple of 8",
        ),
        (
            lambda c: _unet(c).update(n_boots=3),
            r"datasets\.lime_crops\.clustering\.unet: Additional properties are not allowed",
        ),
        (
            lambda c: _unet(c)["unet"].update(alpha=1.0),
            r"datasets\.lime_crops\.clustering\.unet\.unet\.alpha",
        ),
        (
            lambda c: _unet(c).update(compare={"talk": {"eps": 18.0, "rebin": 2}}),
            r"datasets\.lime_crops\.clustering\.unet\.compare\.talk: Additional properties",
        ),
        (
            lambda c: c["datasets"]["lime_crops"].update(split={"fractions": [0.5, 0.2, 0.2]}),
            r"datasets\.lime_crops\.split\.fractions",
        ),
        (
            lambda c: c["datasets"].update(
                imp={
                    "detector": "lime",
                    "source": "cygno",
                    "seed": 1,
                    "chunks": 2,
                    "frames_per_chunk": 10,
                    "files": ["run1.root"],
                    "cygno": {"pedestal": "ped.root"},
                    "clustering": {"cygno": {}, "unet": {}},
                }
            ),
            r"datasets\.imp\.clustering\.unet and datasets\.imp\.source: the U-Net trains on the "
            r"per-pixel truth of simulated frames",
        ),
    ],
)
def test_bad_unet_config_names_both_keys(base, edit, message):
    cfg = copy.deepcopy(base)
    edit(cfg)
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg, SCHEMA)


def test_default_and_test_configs_run_unet_beside_cygno(base):
    validate_config(base, SCHEMA)
    for cfg in (base, yaml.safe_load((REPO / "config/test.yaml").read_text())):
        cl = cfg["datasets"]["lime_crops"]["clustering"]
        assert set(cl) == {"cygno", "unet"}
        s = pixel_selection_settings_from_config(unet_block(cl["unet"], None, 301))
        assert s.split_fractions == (0.5, 0.1, 0.4) and s.split_seed == 301
        # the talk's chain is compared in both
        assert dict(s.compare["talk"]) == {"nsigma": 0.2, "eps": 18.0, "min_samples": 20}


def test_unet_blocks_split_what_each_rule_depends_on():
    block = unet_block(
        {"unet": {"max_epochs": 3}, "n_boot": 7, "integral_grow": 1}, [0.6, 0.2, 0.2], 5
    )
    assert block["split_fractions"] == [0.6, 0.2, 0.2] and block["split_seed"] == 5
    train = unet_block({"unet": {"max_epochs": 3}, "n_boot": 7}, None, 5, UNET_TRAIN_KEYS)
    assert train == {"unet": {"max_epochs": 3}, "split_fractions": [0.5, 0.1, 0.4], "split_seed": 5}
    assert unet_block(block, None, 5, UNET_CLUSTER_KEYS) == {"integral_grow": 1}
    # no key is both an evaluation-only and a training key by accident
    assert not set(UNET_TRAIN_KEYS) & set(UNET_CLUSTER_KEYS)


@pytest.fixture(scope="module")
def chunks(tmp_path_factory):
    """Two simulated chunks of 48 x 48 pixels (0.5 and 6 keV recoils, a quarter empty)."""
    d = tmp_path_factory.mktemp("px")
    cam = {"height": 48, "width": 48}
    rec = {
        "energy": {"distribution": "lines", "values_kev": [1.0, 6.0], "balanced": True},
        "empty_fraction": 0.25,
        "margin_mm": 2.0,
    }
    paths = [d / f"chunk-{c:03d}.root" for c in range(2)]
    for c, p in enumerate(paths):
        simulate_chunk(p, cam, rec, 13, c, 40, n_pedestal_frames=30, extra_info={"dataset": "x"})
    return paths


SETTINGS = {
    "unet": {"channels": [4, 8], "patch": 16, "patches_per_frame": 2, "max_epochs": 2},
    "nsigma_points": [0.6, 2.0],
    "relaxed_min_samples": [20, 5],
    "n_boot": 10,
    "n_examples": 2,
}


@pytest.fixture(scope="module")
def staged(chunks, tmp_path_factory):
    """The three stages run as the rules run them."""
    d = tmp_path_factory.mktemp("px_out")
    block = unet_block(SETTINGS, None, 13)
    out = {"model": d / "unet.pt", "history": d / "unet.history.csv"}
    info = train_unet.run(
        chunks, unet_block(SETTINGS, None, 13, UNET_TRAIN_KEYS), {}, 13, out, threads=1
    )
    tables = [d / f"unet-{c}.parquet" for c in range(2)]
    for raw, t in zip(chunks, tables, strict=True):
        cluster_unet.run(
            raw, out["model"], unet_block(SETTINGS, None, 13, UNET_CLUSTER_KEYS), {}, t
        )
    ev = {
        "metrics": d / "pixel_selection.json",
        "clusters": d / "clusters.parquet",
        "recoils": d / "recoils.parquet",
        "examples": d / "examples.npz",
    }
    metrics = evaluate_pixel_selection.run(chunks, out["model"], block, {}, 13, ev, threads=1)
    return {"info": info, "out": out, "tables": tables, "ev": ev, "metrics": metrics}


def test_train_stage_writes_the_checkpoint_with_its_thresholds(staged):
    model, meta = load_unet(staged["out"]["model"])
    assert meta == json.loads(json.dumps(staged["info"]))  # JSON-able, stored as returned
    assert meta["split_fractions"] == [0.5, 0.1, 0.4] and meta["split_seed"] == 13
    assert meta["relaxed_min_samples"] in (20, 5) and 0 <= meta["point_threshold"] < 1
    hist = pd.read_csv(staged["out"]["history"])
    assert list(hist["epoch"]) == [0, 1]
    assert meta["parameters"] == sum(p.numel() for p in model.parameters())


def test_cluster_stage_is_the_unet_chain_with_the_cygno_table(chunks, staged):
    model, meta = load_unet(staged["out"]["model"])
    for raw, path in zip(chunks, staged["tables"], strict=True):
        t = pd.read_parquet(path)
        assert list(t.columns) == [*CLUSTER_COLUMNS, *TRUTH_COLUMNS]
        frames, ped = read_images(raw), read_pedestal(raw)
        res, _ = unet_reconstruct(frames, ped, model, meta["point_threshold"])
        assert len(t) == len(res.clusters)
        np.testing.assert_allclose(t["integral"], res.clusters["integral"])
        # the integral is CYGNO's sc_integral: the pedestal-subtracted pixels of the cluster's
        # macro-pixels (n_pixels = 16 n_macro), whatever selected them
        assert (t["n_pixels"] == 16 * t["n_macro"]).all()


def test_evaluate_stage_scores_the_test_split_of_all_chunks(chunks, staged):
    m = json.loads(staged["ev"]["metrics"].read_text())
    frames, _ = read_chunks(chunks, require_truth=True)
    s = pixel_selection_settings_from_config(unet_block(SETTINGS, None, 13))
    _, va, te = split_indices(frames, s)
    assert m["frames"]["test"] == te.size and m["frames"]["val"] == va.size
    assert m["test_signal_frames"] == int((np.diff(frames.recoil_offsets)[te] > 0).sum())
    assert set(m["clustering"]["methods"]) == {
        "nsigma",
        "unet",
        "unet_relaxed",
        "nsigma_talk",
        "unet_talk",
    }
    assert m["unet"]["point_threshold"] == staged["info"]["point_threshold"]
    cl = pd.read_parquet(staged["ev"]["clusters"])
    # evaluation clusters are test-frame clusters only
    assert set(cl["event"]) <= set(frames.event[te].tolist())
    with np.load(staged["ev"]["examples"]) as ex:
        assert ex["sub"].shape[1:] == (48, 48)
    # the evaluation refuses a checkpoint trained on another split
    with pytest.raises(ValueError, match="split"):
        evaluate_pixel_selection.run(
            chunks,
            staged["out"]["model"],
            unet_block(SETTINGS, [0.6, 0.2, 0.2], 13),
            {},
            13,
            staged["ev"],
        )


def test_pixel_selection_numbers_carry_value_and_error(staged):
    m = json.loads(staged["ev"]["metrics"].read_text())
    nums = pixel_selection_numbers("lime_crops", m)
    u = nums["LimeCropsUnetPixelFOne"]
    lo, hi = m["pixels"]["unet"]["f1_ci"]
    assert u.value == pytest.approx(100 * m["pixels"]["unet"]["f1"])
    assert (u.err_lo, u.err_hi) == pytest.approx((u.value - 100 * lo, 100 * hi - u.value))
    assert nums["LimeCropsSmartRandomPixelFOne"].value == pytest.approx(
        100 * m["target"]["signal_pixel_fraction_train"]
    )
    e = m["clustering"]["methods"]["unet"]["per_energy"]["6"]["efficiency"]
    n = nums["LimeCropsUnetEfficiencySixKeV"]
    assert (n.value, n.err_lo) == pytest.approx((100 * e["value"], 100 * e["err"]))
    f = m["clustering"]["methods"]["nsigma_talk"]["pedestal"]["fakes_per_frame"]
    assert nums["LimeCropsNsigmaTalkPedestalFakesPerFrame"].value == f["value"]
    assert pixel_selection_numbers("x", {}) == {}
