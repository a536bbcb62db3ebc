"""The workflow end to end on config/test.yaml: outputs, values, determinism.

One complete run (module fixture) in a temporary working directory; the tests read its outputs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from caloreco.io.raw import read_raw, read_run_info

from conftest import REPO, run_snakemake

pytestmark = pytest.mark.workflow

TEST_CONFIG = REPO / "config/test.yaml"


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load(TEST_CONFIG.read_text())


@pytest.fixture(scope="module")
def run_dir(test_run) -> Path:
    return test_run


def hit_datasets(config) -> dict:
    """The datasets of hits (camera images: tests/test_imaging_workflow.py)."""
    return {n: ds for n, ds in config["datasets"].items() if "frames_per_chunk" not in ds}


def test_raw_files_have_the_configured_events(run_dir, config):
    for name, ds in hit_datasets(config).items():
        seen = []
        for c in range(ds["chunks"]):
            ev = read_raw(run_dir / f"results/{name}/raw/chunk-{c:03d}.root", require_truth=True)
            assert ev.n_events == ds["events_per_chunk"]
            n_prim = np.diff(ev.primary_offsets)
            if ds["simulation"].get("process") == "pi0":
                # pi0 -> gamma gamma events and single photons of the configured fraction
                single = ds["simulation"]["single_photon_fraction"]
                assert set(np.unique(n_prim)) == {1, 2}
                assert np.mean(n_prim == 1) == pytest.approx(single, abs=0.06)
            else:
                assert (n_prim == ds["simulation"]["n_primaries"]).all()
            seen.append(ev.event)
        events = np.concatenate(seen)
        assert np.unique(events).size == events.size, f"{name}: event numbers repeat"
        info = read_run_info(run_dir / f"results/{name}/raw/chunk-000.root")
        assert info["dataset"] == name and info["seed"] == ds["seed"]


def test_simulation_metrics_are_physical(run_dir, config):
    for name, ds in hit_datasets(config).items():
        m = json.loads((run_dir / f"results/{name}/metrics/simulation.json").read_text())
        assert m["events"] == ds["chunks"] * ds["events_per_chunk"]
        # measured energy agrees with the true deposits (smearing is unbiased)
        assert m["measured_over_truth"]["mean"] == pytest.approx(1.0, abs=0.03)
        if ds["detector"] == "ecal":
            # a 48x48 shashlik contains nearly all of a photon shower
            assert 0.9 < m["truth_over_primary"]["mean"] <= 1.0
            assert 5 < m["cells_per_primary"]["mean"] < 60
        else:
            # 0.3-10 MeV gammas in CsI: a few crystals per gamma, photopeak fraction well below 1
            assert 1.2 < m["cells_per_primary"]["mean"] < 5
            assert 0.2 < m["full_energy_fraction"]["mean"] < 0.9
        assert (run_dir / f"results/{name}/qa/simulation.png").stat().st_size > 10_000


def test_same_config_gives_identical_events_and_chunks_differ(run_dir, config, tmp_path):
    name = "califa_uniform"
    again = tmp_path / "again"
    again.mkdir()
    run_snakemake(
        again,
        "--configfile",
        str(TEST_CONFIG),
        "--cores",
        "2",
        f"results/{name}/raw/chunk-001.root",
    )
    a = read_raw(run_dir / f"results/{name}/raw/chunk-001.root")
    b = read_raw(again / f"results/{name}/raw/chunk-001.root")
    for field, value in a.arrays().items():
        np.testing.assert_array_equal(getattr(b, field), value, err_msg=field)
    c0 = read_raw(run_dir / f"results/{name}/raw/chunk-000.root")
    assert not np.array_equal(c0.primary_energy, a.primary_energy)
    shutil.rmtree(again)


def test_clustering_metrics_cover_every_method(run_dir, config):
    for name, ds in hit_datasets(config).items():
        if not ds.get("clustering"):  # ecal_stage4 clusters inside its pair windows only
            assert not (run_dir / f"results/{name}/metrics/clustering.json").exists()
            continue
        m = json.loads((run_dir / f"results/{name}/metrics/clustering.json").read_text())
        merged = [f"{x}+nn" for x in ds["clustering"]] if "pairs" in ds.get("analyses", []) else []
        networks = ["pointnet"] if "attribution" in ds.get("analyses", []) else []
        assert sorted(m["methods"]) == sorted([*ds["clustering"], *merged, *networks])
        for method, r in m["methods"].items():
            total = r["TP"] + r["FP"] + r["FN"] + r["FM"]
            assert total == pytest.approx(1.0, abs=1e-9), method
            assert 0 < r["WR"] <= 1
            assert r["events"] > 0


def test_pair_analysis_beats_its_baselines(run_dir, config):
    for name, ds in config["datasets"].items():
        if "pairs" not in ds.get("analyses", []):
            continue
        p = json.loads((run_dir / f"results/{name}/metrics/pairs.json").read_text())
        c = p["classifiers"]
        assert set(c) >= {"nn", "nn_tiny", "smart_random", "cut", "gradient_boosting"}
        assert c["smart_random"]["f1_expected"] == pytest.approx(p["positive_fraction"])
        # the classifier is far above chance and its interval contains its value
        assert c["nn"]["f1"] > 3 * c["smart_random"]["f1_expected"]
        lo, hi = c["nn"]["f1_ci"]
        assert lo <= c["nn"]["f1"] <= hi
        assert c["nn"]["roc_auc"] > 0.9
        m = json.loads((run_dir / f"results/{name}/metrics/clustering.json").read_text())
        assert m["events_subset"] == "test"
        # merging the pairs the classifier accepts repairs split gammas
        assert m["methods"]["agglomerative+nn"]["FN"] < m["methods"]["agglomerative"]["FN"]
        assert m["methods"]["agglomerative+nn"]["TP"] > m["methods"]["agglomerative"]["TP"]
        seeds = json.loads((run_dir / f"results/{name}/metrics/pairs_seeds.json").read_text())
        assert len(seeds["runs"]) == 3 and seeds["f1_std"] < 0.1


def test_resolution_metrics_for_every_estimator(run_dir, config):
    for name, ds in config["datasets"].items():
        if "regression" not in ds.get("analyses", []):
            continue
        r = json.loads((run_dir / f"results/{name}/metrics/resolution.json").read_text())
        expected = {"nn", "log_cog", "profile_fit"}
        if ds.get("regression", {}).get("compare_absolute_position"):
            expected.add("nn_abspos")
        assert set(r["estimators"]) == expected
        for est, fits in r["estimators"].items():
            for key in ("x", "y", "energy"):
                f = fits[key]
                assert f["sigma"] > 0 and 0 < f["sigma_err"] < f["sigma"], (est, key)
        # the classical estimators are strong: millimetre positions, percent energies
        for est in ("log_cog", "profile_fit"):
            assert r["estimators"][est]["x"]["sigma"] < 5.0
            assert abs(r["estimators"][est]["energy"]["mu"]) < 0.02
            assert r["estimators"][est]["energy"]["sigma"] < 0.05
        assert r["vs_energy"]["log_cog"], "no energy bins fitted"
        # speeds are informational here (no timed assertions); benchmarks/ compares them
        assert set(r["clusters_per_second"]) == expected
        assert all(v > 0 for v in r["clusters_per_second"].values())
