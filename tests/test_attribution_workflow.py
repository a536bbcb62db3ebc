"""The attribution analysis in the workflow: its config checks (fast), and the file contract of
the shared run of config/test.yaml (``test_run``): attribution.json, the ``pointnet`` clusters
and their scores in clustering.json, the model, the figures and numbers.tex."""

from __future__ import annotations

import copy
import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from caloreco.attribution.settings import DEFAULTS, SEGMENTER_DEFAULTS
from caloreco.attribution.training import FocalAttribution
from caloreco.clustering.table import CLUSTER_COLUMNS, true_labels
from caloreco.config import ConfigError, validate_config
from caloreco.io.raw import read_raw
from caloreco.report.numbers import macro_name, parse_numbers_tex
from caloreco.split import assign_split

from conftest import REPO, TEST_CONFIG

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load(TEST_CONFIG.read_text())


def _attribution_datasets(config: dict) -> list[str]:
    return [d for d, ds in config["datasets"].items() if "attribution" in ds.get("analyses", [])]


# ----------------------------------------------------------------------------- config checks


def _califa(cfg: dict) -> dict:
    return cfg["datasets"]["califa_uniform"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c["datasets"]["ecal_stage2"]["analyses"].append("attribution"),
            r"datasets\.ecal_stage2\.analyses and datasets\.ecal_stage2\.detector: "
            r"'attribution' needs a califa detector",
        ),
        (
            lambda c: _califa(c).update(analyses=["pairs"]),
            r"datasets\.califa_uniform\.attribution and datasets\.califa_uniform\.analyses",
        ),
        (
            lambda c: _califa(c).update(
                source="root",
                files=["x.root"],
                root={"tree": "t", "branches": {"cell_energy": "e", "truth_cell": "tc"}},
            ),
            r"datasets\.califa_uniform\.root\.branches: 'attribution' trains on per-cell truth",
        ),
        (
            lambda c: _califa(c)["attribution"]["model"].update(hidden=30, heads=4),
            r"datasets\.califa_uniform\.attribution\.model\.hidden and "
            r"datasets\.califa_uniform\.attribution\.model\.heads",
        ),
        (
            lambda c: _califa(c)["attribution"].update(segmenter={"model": {"hidden": 66}}),
            r"attribution\.segmenter\.model\.hidden and .*segmenter\.model\.heads: hidden \(66\)",
        ),
        (
            lambda c: _califa(c)["attribution"]["training"].update(energy_weight="cubic"),
            r"datasets\.califa_uniform\.attribution\.training\.energy_weight: 'cubic'",
        ),
        (
            lambda c: _califa(c)["attribution"].update(modle={}),
            r"datasets\.califa_uniform\.attribution: .*'modle'",
        ),
        (
            lambda c: _califa(c)["attribution"]["peeling"].update(threshold=1.5),
            r"datasets\.califa_uniform\.attribution\.peeling\.threshold",
        ),
    ],
)
def test_bad_attribution_config_names_the_keys(config, edit, message):
    cfg = copy.deepcopy(config)
    edit(cfg)
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg, SCHEMA)


def test_attribution_configs_valid_and_defaults_agree(config):
    validate_config(config, SCHEMA)
    cfg = copy.deepcopy(config)
    # no settings at all: the defaults of attribution.settings pass the config checks
    _califa(cfg)["attribution"] = {"segmenter": {"enabled": True}}
    validate_config(cfg, SCHEMA)
    # the config check assumes these defaults (it does not import them)
    assert (DEFAULTS["model"]["hidden"], DEFAULTS["model"]["heads"]) == (32, 4)
    assert (SEGMENTER_DEFAULTS["model"]["hidden"], SEGMENTER_DEFAULTS["model"]["heads"]) == (64, 4)
    # the plain PointNet has no heads to split into
    _califa(cfg)["attribution"] = {"model": {"variant": "pointnet", "hidden": 30}}
    validate_config(cfg, SCHEMA)


def test_default_config_runs_attribution_on_both_califa_datasets():
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    assert sorted(_attribution_datasets(cfg)) == ["califa_2p1", "califa_uniform"]
    for name in _attribution_datasets(cfg):
        block = cfg["datasets"][name]["attribution"]
        assert block["segmenter"]["enabled"] is False
        assert block["model"] == DEFAULTS["model"]


# ----------------------------------------------------------------------------- the test run


def _test_events(run, name: str, ds: dict):
    """The test events of the dataset (all chunks) as the workflow splits them."""
    frac = tuple(ds.get("split", {}).get("fractions", [0.6, 0.2, 0.2]))
    out = []
    for c in range(ds["chunks"]):
        ev = read_raw(run / f"results/{name}/raw/chunk-{c:03d}.root", require_truth=True)
        out.append(ev.select(assign_split(ev.event, frac, ds["seed"]) == "test"))
    return out


@pytest.mark.workflow
def test_attribution_json_against_its_baselines(test_run, config):
    names = _attribution_datasets(config)
    assert names, "config/test.yaml has no attribution dataset"
    for name in names:
        ds = config["datasets"][name]
        m = json.loads((test_run / f"results/{name}/metrics/attribution.json").read_text())
        hl = m["hit_level"]
        net, sr, maj = hl["network"], hl["smart_random"], hl["majority"]
        # smart_random's p is the positive fraction of the (focal, target) hits, worked out
        # here from the truth: per gamma with hits, n_gamma - 1 positives among n_event - 1
        pos = tot = n_events = 0
        for ev in _test_events(test_run, name, ds):
            truth = true_labels(ev)
            n_events += ev.n_events
            for e in range(ev.n_events):
                t = truth[ev.hit_offsets[e] : ev.hit_offsets[e + 1]]
                sizes = np.bincount(t[t >= 0])
                sizes = sizes[sizes > 0]
                pos += int(np.sum(sizes - 1))
                tot += int(sizes.size * (t.size - 1))
        assert m["n_test_events"] == n_events
        assert sr["p"] == pytest.approx(pos / tot, rel=1e-12)
        assert sr["expected"]["raw"]["f1"] == pytest.approx(sr["p"])
        # the network far above smart_random, its accuracy above the majority class
        assert net["raw"]["f1"] > 2 * sr["p"]
        assert hl["goals"]["f1_ratio_to_smart_random"] == pytest.approx(net["raw"]["f1"] / sr["p"])
        assert net["raw"]["accuracy"] > maj["raw"]["accuracy"] >= 0.5
        for kind in ("raw", "energy_weighted"):
            for key in ("accuracy", "precision", "recall", "f1"):
                lo, hi = net[kind][f"{key}_ci"]
                assert 0 <= lo <= net[kind][key] <= hi <= 1, (kind, key)
                assert 0 <= maj[kind][key] <= 1
        # the peeling threshold is one of the configured ones, chosen on validation events
        thresholds = ds["attribution"]["peeling"]["thresholds"]
        assert m["peeling_threshold"] in thresholds
        assert [r["threshold"] for r in m["threshold_scan_validation"]] == thresholds
        # every scored method binned versus energy and angle; the WR bins hold every gamma
        clus = json.loads((test_run / f"results/{name}/metrics/clustering.json").read_text())
        assert set(m["binned"]) == set(clus["methods"])
        for method, binned in m["binned"].items():
            n_gammas = sum(b["n"] for b in binned["WR_vs_angle"])
            assert n_gammas == m["clustering"][method]["true_clusters"], method
            assert all(0 <= b["value"] <= 1 for b in binned["TP_vs_energy"])


@pytest.mark.workflow
def test_pointnet_is_a_clustering_method_scored_beside_the_others(test_run, config):
    for name in _attribution_datasets(config):
        ds = config["datasets"][name]
        clus = json.loads((test_run / f"results/{name}/metrics/clustering.json").read_text())
        att = json.loads((test_run / f"results/{name}/metrics/attribution.json").read_text())
        assert clus["events_subset"] == "test"
        assert {"pointnet", "agglomerative", "agglomerative+nn", "cone"} <= set(clus["methods"])
        r = clus["methods"]["pointnet"]
        assert r["TP"] + r["FP"] + r["FN"] + r["FM"] == pytest.approx(1.0, abs=1e-9)
        assert 0 < r["WR"] <= 1
        # the same test events and labels in both files
        assert r["events"] == clus["methods"]["agglomerative"]["events"]
        for key in ("TP", "FP", "FN", "FM", "WR"):
            assert att["clustering"]["pointnet"][key] == pytest.approx(r[key], abs=1e-12)
        # better than no network at all: above the agglomerative pre-clustering alone
        assert r["TP"] > clus["methods"]["agglomerative"]["TP"]
        primaries = pd.read_parquet(test_run / f"results/{name}/tables/primaries.parquet")
        assert "pointnet" in set(primaries["method"])
        # the cluster tables have the columns of every method; the clusters hold every hit once
        for c in range(ds["chunks"]):
            d = test_run / f"results/{name}/clusters"
            table = pd.read_parquet(d / f"pointnet/chunk-{c:03d}.parquet")
            assert list(table.columns) == list(CLUSTER_COLUMNS)
            ref = pd.read_parquet(d / f"agglomerative/chunk-{c:03d}.parquet")
            assert table.dtypes.equals(ref.dtypes)
            cells = pd.read_parquet(d / f"pointnet/cells-{c:03d}.parquet")
            ev = read_raw(test_run / f"results/{name}/raw/chunk-{c:03d}.root")
            assert len(cells) == ev.cell_id.size and (cells["cluster"] >= 0).all()
            hit_e = pd.Series(ev.cell_energy.astype(np.float64)).groupby(
                np.repeat(ev.event, np.diff(ev.hit_offsets))
            )
            np.testing.assert_allclose(
                table.groupby("event")["energy"].sum().to_numpy(), hit_e.sum().to_numpy(), 1e-5
            )
            sizes = cells.groupby(["event", "cluster"]).size()
            np.testing.assert_array_equal(
                table.set_index(["event", "cluster"])["size"].sort_index().to_numpy(),
                sizes.sort_index().to_numpy(),
            )


@pytest.mark.workflow
def test_attribution_model_figures_and_numbers(test_run, config):
    tex = (test_run / "results/tex/numbers.tex").read_text()
    macros = parse_numbers_tex(tex)

    def exact(name: str) -> float:
        # a baseline without uncertainty is written as a plain number
        m = re.search(r"\\newcommand\{\\" + name + r"\}\{\\ensuremath\{([-0-9.]+)\}\}", tex)
        assert m, name
        return float(m.group(1))

    for name in _attribution_datasets(config):
        ds = config["datasets"][name]
        models = test_run / f"results/{name}/models"
        net = FocalAttribution.load(models / "attribution.pt")
        att = json.loads((test_run / f"results/{name}/metrics/attribution.json").read_text())
        assert net.threshold == att["peeling_threshold"]
        assert net.model.hparams["hidden"] == ds["attribution"]["model"]["hidden"]
        hist = pd.read_csv(models / "attribution.history.csv")
        assert 1 <= len(hist) <= ds["attribution"]["training"]["max_epochs"]
        assert hist["best"].sum() == 1
        for style in ("thesis", "talk"):
            for kind in ("attribution_baselines", "attribution_tp_wr", "attribution_display"):
                png = test_run / f"results/figures/{style}/{name}-{kind}.png"
                assert png.stat().st_size > 10_000, png
        hl = att["hit_level"]
        f1, lo, hi = macros[macro_name(name, "pointnet", "HitFOne")]
        assert f1 == pytest.approx(hl["network"]["raw"]["f1"], abs=0.005)
        assert f1 - lo == pytest.approx(hl["network"]["raw"]["f1_ci"][0], abs=0.005)
        sr = exact(macro_name(name, "smart_random", "HitFOne"))
        assert sr == pytest.approx(hl["smart_random"]["p"], rel=0.005)
        acc = exact(macro_name(name, "majority", "HitAccuracy"))
        assert acc == pytest.approx(hl["majority"]["raw"]["accuracy"], rel=0.005)
