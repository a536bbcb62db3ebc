"""Every stage module on tiny inputs written with the stage modules themselves: the files each
writes hold what its contract says, with values checked against the domain functions or by hand.

(simulate, cluster, simulation_qa and clustering_metrics are checked value by value in
tests/test_streaming.py; here they only make the inputs.)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from caloreco.classification import classification_metrics
from caloreco.clustering.matching import labels_from_cells
from caloreco.fitting import core_gaussian_fit
from caloreco.io.raw import read_raw, read_run_info
from caloreco.nn.training import load_checkpoint
from caloreco.pairs.features import FEATURES_DEFAULT, FEATURES_PUBLISHED, make_pairs
from caloreco.report.numbers import parse_numbers_tex
from caloreco.split import assign_split
from caloreco.stages import (
    anomaly,
    cluster,
    cluster_attribution,
    cluster_images,
    evaluate_attribution,
    evaluate_pairs,
    evaluate_regression,
    export_cygno,
    export_cygno_pedestal,
    figure,
    figure_index,
    image_qa,
    import_data,
    import_images,
    merge_clusters,
    numbers,
    pair_seed_study,
    pairs,
    simulate,
    simulate_images,
    train_attribution,
    train_pair_classifier,
    train_regressor,
    train_segmenter,
    windows,
)

from conftest import CALIFA_DETECTOR, REPO

ECAL_DETECTOR = {
    "preset": "ecal",
    "geometry": {"n_rows": 48, "n_cols": 48, "pitch_mm": 38.3, "z_front_mm": 33027.0},
    "response": {"stochastic": 0.07, "constant": 0.015, "noise_mev": 15.0, "threshold_mev": 100.0},
}
SPLIT = (0.6, 0.2, 0.2)
REGRESSION = {
    "model": {"name": "regressor", "hidden": [16, 16]},
    "training": {"lr": 3e-3, "batch_size": 32, "max_epochs": 3, "patience": 2, "seed": 0},
    "energy_bins_mev": [2000, 50000, 200000],
}
PAIRS = {
    "model": {"name": "pair_mlp", "hidden": 16, "n_layers": 2, "dropout": 0.0},
    "training": {"lr": 3e-3, "batch_size": 64, "max_epochs": 3, "patience": 2, "seed": 0},
    "seeds": 2,
    "bootstrap": 50,
}


@pytest.fixture(scope="module")
def ecal(tmp_path_factory) -> Path:
    """Two chunks of 70 single photons, clustered and cut into windows."""
    root = tmp_path_factory.mktemp("ecal")
    cfg = {
        "detector": "ecal",
        "seed": 9,
        "events_per_chunk": 70,
        "simulation": {
            "n_primaries": 1,
            "energy": {"distribution": "uniform", "min_mev": 5000.0, "max_mev": 100000.0},
            "incidence": "perpendicular",
        },
    }
    for c in range(2):
        raw = root / f"raw/chunk-{c:03d}.root"
        simulate.run(raw, "ecal_t", cfg, ECAL_DETECTOR, c)
        cluster.run(
            raw,
            "connected",
            {"seed_threshold_mev": 500.0},
            root / f"clusters/chunk-{c:03d}.parquet",
            root / f"clusters/cells-{c:03d}.parquet",
        )
        windows.run(
            raw,
            root / f"clusters/chunk-{c:03d}.parquet",
            root / f"windows/chunk-{c:03d}.npz",
            REGRESSION,
            9,
            SPLIT,
            c,
        )
    return root


def test_windows_stage_writes_the_cluster_windows(ecal):
    from caloreco.io.raw import geometry_from_file
    from caloreco.regression.windows import cluster_windows
    from caloreco.seeds import chunk_rng

    raw = ecal / "raw/chunk-001.root"
    with np.load(ecal / "windows/chunk-001.npz") as z:
        got = {k: z[k] for k in z.files}
    expected = cluster_windows(
        read_raw(raw, require_truth=True),
        pd.read_parquet(ecal / "clusters/chunk-001.parquet"),
        geometry_from_file(raw),
        5,
        "random",
        0.95,
        chunk_rng(9, 1, "windows"),
        SPLIT,
        9,
    )
    assert set(got) == set(expected)
    for k, v in expected.items():
        np.testing.assert_array_equal(got[k], v, err_msg=k)
    n = len(got["windows"])
    assert n >= 60 and got["windows"].shape == (n, 5, 5)
    # single photons: nearly all clusters are matched and pure; targets inside the window
    assert got["train_mask"].mean() > 0.8
    t = got["targets"][got["train_mask"]]
    assert np.all((t[:, :2] > -0.5 * 38.3) & (t[:, :2] < 4.5 * 38.3))
    assert np.all((t[:, 2] >= 5000.0) & (t[:, 2] <= 100000.0))
    # the window holds the cluster's energy around its seed (the whole shower, nearly)
    ratio = (
        got["windows"].sum(axis=(1, 2))[got["train_mask"]]
        / got["cluster_energy"][got["train_mask"]]
    )
    assert np.median(ratio) == pytest.approx(1.0, abs=0.05)


@pytest.fixture(scope="module")
def regressor(ecal) -> Path:
    files = sorted((ecal / "windows").glob("chunk-*.npz"))
    for name, absolute in (("regressor", False), ("regressor_abspos", True)):
        train_regressor.run(
            files,
            ecal / f"models/{name}.pt",
            ecal / f"models/{name}.history.csv",
            REGRESSION,
            absolute,
            "hash123",
        )
    return ecal


def test_train_regressor_writes_checkpoint_and_history(regressor):
    model, meta = load_checkpoint(regressor / "models/regressor.pt")
    assert meta["config_hash"] == "hash123"
    assert sum(p.numel() for p in model.parameters()) > 0
    history = pd.read_csv(regressor / "models/regressor.history.csv")
    assert {"epoch", "train_loss", "val_loss", "best"} <= set(history.columns)
    assert history["epoch"].tolist() == list(range(1, len(history) + 1)) and len(history) <= 3
    assert np.isfinite(history[["train_loss", "val_loss"]].to_numpy()).all()
    # the kept epoch is the one of the lowest validation loss
    assert history["best"].sum() >= 1
    _, meta_abs = load_checkpoint(regressor / "models/regressor_abspos.pt")
    # the absolute-position network has more inputs than the plain one
    assert len(meta_abs["features"]) > len(meta["features"])


def test_evaluate_regression_metrics_follow_from_the_residual_table(regressor, tmp_path):
    files = sorted((regressor / "windows").glob("chunk-*.npz"))
    out = evaluate_regression.run(
        files,
        {"nn": regressor / "models/regressor.pt"},
        REGRESSION,
        9,
        tmp_path / "resolution.json",
        tmp_path / "residuals.parquet",
    )
    written = json.loads((tmp_path / "resolution.json").read_text())
    assert set(written["estimators"]) == {"nn", "log_cog", "profile_fit"}
    table = pd.read_parquet(tmp_path / "residuals.parquet")
    data = {k: np.concatenate([np.load(f)[k] for f in files]) for k in ("split", "train_mask")}
    n_test = int(((data["split"] == "test") & data["train_mask"]).sum())
    assert written["n_test"] == n_test > 5
    for est in ("log_cog", "profile_fit", "nn"):
        rows = table[table["estimator"] == est]
        assert len(rows) == n_test
        for q in ("x", "y", "energy"):
            fit = written["estimators"][est][q]
            if "sigma" not in fit:
                continue
            ref = core_gaussian_fit(rows[q].to_numpy())
            assert fit["sigma"] == pytest.approx(ref["sigma"], rel=1e-9), (est, q)
            assert fit["n"] == ref["n"]
    # the classical estimators resolve single photons to a fraction of the 38.3 mm cell
    assert written["estimators"]["profile_fit"]["x"]["sigma"] < 5.0
    assert out["n_test"] == n_test


@pytest.fixture(scope="module")
def califa(tmp_path_factory) -> Path:
    """Two chunks of 80 events with three gammas, agglomerative clusters and their pairs."""
    root = tmp_path_factory.mktemp("califa")
    cfg = {
        "detector": "califa",
        "seed": 21,
        "events_per_chunk": 80,
        "simulation": {
            "n_primaries": 3,
            "energy": {"distribution": "uniform", "min_mev": 0.3, "max_mev": 10.0},
        },
    }
    for c in range(2):
        raw = root / f"raw/chunk-{c:03d}.root"
        simulate.run(raw, "califa_t", cfg, CALIFA_DETECTOR, c)
        cluster.run(
            raw,
            "agglomerative",
            {"distance_threshold": 3540.0},
            root / f"clusters/chunk-{c:03d}.parquet",
            root / f"clusters/cells-{c:03d}.parquet",
        )
        pairs.run(
            root / f"clusters/chunk-{c:03d}.parquet",
            root / f"pairs/chunk-{c:03d}.parquet",
            SPLIT,
            21,
        )
    return root


def test_pairs_stage_writes_make_pairs_with_the_event_split(califa):
    got = pd.read_parquet(califa / "pairs/chunk-000.parquet")
    ref = make_pairs(pd.read_parquet(califa / "clusters/chunk-000.parquet"))
    pd.testing.assert_frame_equal(got.drop(columns="split"), ref)
    np.testing.assert_array_equal(got["split"], assign_split(got["event"].to_numpy(), SPLIT, 21))
    assert len(got) > 50 and 0 < got["label"].mean() < 0.5
    assert set(FEATURES_DEFAULT) <= set(got.columns)


@pytest.fixture(scope="module")
def pair_models(califa) -> Path:
    files = sorted((califa / "pairs").glob("chunk-*.parquet"))
    for which in ("pair_classifier", "pair_tiny"):
        train_pair_classifier.run(
            files,
            califa / f"models/{which}.pt",
            califa / f"models/{which}.history.csv",
            PAIRS,
            which,
            "hash456",
        )
    return califa


def test_train_pair_classifier_both_models(pair_models):
    _, meta = load_checkpoint(pair_models / "models/pair_classifier.pt")
    _, tiny = load_checkpoint(pair_models / "models/pair_tiny.pt")
    assert list(meta["features"]) == FEATURES_DEFAULT
    assert list(tiny["features"]) == FEATURES_PUBLISHED
    assert 0.0 < meta["threshold"] < 1.0 and meta["config_hash"] == "hash456"
    h = pd.read_csv(pair_models / "models/pair_tiny.history.csv")
    assert 1 <= len(h) <= 3 and np.isfinite(h["val_loss"]).all()
    with pytest.raises(ValueError, match="unknown pair model"):
        train_pair_classifier.run(
            sorted((pair_models / "pairs").glob("*.parquet")), "x.pt", "x.csv", PAIRS, "huge", ""
        )


def test_evaluate_pairs_metrics_follow_from_the_score_table(pair_models, tmp_path):
    files = sorted((pair_models / "pairs").glob("chunk-*.parquet"))
    models = {
        "nn": pair_models / "models/pair_classifier.pt",
        "nn_tiny": pair_models / "models/pair_tiny.pt",
    }
    result = evaluate_pairs.run(
        files, models, PAIRS, 21, tmp_path / "pairs.json", tmp_path / "scores.parquet"
    )
    written = json.loads((tmp_path / "pairs.json").read_text())
    assert written["method"] == "agglomerative"
    assert {"nn", "nn_tiny", "smart_random", "cut", "gradient_boosting"} <= set(
        written["classifiers"]
    )
    scores = pd.read_parquet(tmp_path / "scores.parquet")
    test = pd.concat([pd.read_parquet(f) for f in files]).query("split == 'test'")
    assert len(scores) == len(test)
    for name in ("nn", "nn_tiny", "gradient_boosting", "cut"):
        m = written["classifiers"][name]
        ref = classification_metrics(
            scores["label"].to_numpy(), scores[name].to_numpy(), m["threshold"]
        )
        for k in ("f1", "precision", "recall", "accuracy"):
            assert m[k] == pytest.approx(ref[k], rel=1e-12), (name, k)
        assert m["f1_ci"][0] <= m["f1"] <= m["f1_ci"][1]
    p = written["classifiers"]["smart_random"]["f1_expected"]
    assert p == pytest.approx(written["positive_fraction"])
    assert result["classifiers"]["nn"]["f1"] == written["classifiers"]["nn"]["f1"]


def test_pair_seed_study_mean_and_spread_of_its_runs(pair_models, tmp_path):
    files = sorted((pair_models / "pairs").glob("chunk-*.parquet"))
    out = pair_seed_study.run(files, PAIRS, tmp_path / "seeds.json")
    written = json.loads((tmp_path / "seeds.json").read_text())
    assert written == json.loads(json.dumps(out))
    runs = written["runs"]
    assert [r["seed"] for r in runs] == [0, 1]
    f1 = np.array([r["f1"] for r in runs])
    assert written["f1_mean"] == pytest.approx(f1.mean())
    assert written["f1_std"] == pytest.approx(f1.std(ddof=1))
    auc = np.array([r["roc_auc"] for r in runs])
    assert written["roc_auc_mean"] == pytest.approx(auc.mean())
    assert np.all((f1 > 0) & (f1 <= 1))


def test_merge_clusters_only_joins_accepted_pairs(pair_models, tmp_path):
    raw = pair_models / "raw/chunk-000.root"
    events = read_raw(raw)
    before = labels_from_cells(events, pd.read_parquet(pair_models / "clusters/cells-000.parquet"))
    merge_clusters.run(
        raw,
        pair_models / "clusters/cells-000.parquet",
        pair_models / "pairs/chunk-000.parquet",
        pair_models / "models/pair_classifier.pt",
        tmp_path / "merged.parquet",
        tmp_path / "cells.parquet",
    )
    after = labels_from_cells(events, pd.read_parquet(tmp_path / "cells.parquet"))
    clusters = pd.read_parquet(tmp_path / "merged.parquet")
    off = events.hit_offsets
    n_before = [len(set(before[off[i] : off[i + 1]]) - {-1}) for i in range(events.n_events)]
    n_after = [len(set(after[off[i] : off[i + 1]]) - {-1}) for i in range(events.n_events)]
    assert all(a <= b for a, b in zip(n_after, n_before, strict=True))
    assert sum(n_after) < sum(n_before)  # the classifier accepts some pairs
    assert len(clusters) == sum(n_after)
    # merging only joins: hits together before stay together
    for i in range(events.n_events):
        b, a = before[off[i] : off[i + 1]], after[off[i] : off[i + 1]]
        for lab in set(b) - {-1}:
            assert len(set(a[b == lab])) == 1
    # the energies of the merged clusters add up to the clustered energy of the event
    e_hits = events.cell_energy.astype(np.float64)
    assert clusters["energy"].sum() == pytest.approx(e_hits[after >= 0].sum(), rel=1e-5)


def test_import_data_from_a_csv_file(tmp_path):
    # CALIFA CSV: event, energy MeV, theta deg, phi deg, time ns; two gammas overlaid per event
    rows = [(i, 1.0 + 0.1 * i, 40.0 + 5 * i, -170.0 + 30 * i, 0.0) for i in range(8)]
    path = tmp_path / "gammas.csv"
    path.write_text("".join(",".join(str(v) for v in r) + "\n" for r in rows))
    cfg = {"detector": "califa", "source": "csv", "seed": 3, "csv": {"primaries_per_event": 2}}
    events = import_data.run([path], tmp_path / "raw.root", "mine", cfg, CALIFA_DETECTOR, 1, 0)
    back = read_raw(tmp_path / "raw.root")
    assert back.n_events == events.n_events == 4
    assert np.diff(back.primary_offsets).tolist() == [2, 2, 2, 2]
    # the hit energies are the gammas' (one crystal each here: no shower in the CSV format)
    assert back.cell_energy.sum() == pytest.approx(sum(r[1] for r in rows), rel=1e-5)
    info = read_run_info(tmp_path / "raw.root")
    assert info["source"] == "csv" and info["dataset"] == "mine" and info["chunk"] == 0
    with pytest.raises(ValueError, match="not an import source"):
        import_data.run(
            [path], tmp_path / "x.root", "mine", dict(cfg, source="simulate"), CALIFA_DETECTOR, 1, 0
        )


def test_figure_figure_index_and_numbers_stages(tmp_path):
    metrics = tmp_path / "results/califa_t/metrics/pairs.json"
    metrics.parent.mkdir(parents=True)
    metrics.write_text(json.dumps({"classifiers": {"nn": {"f1": 0.812, "f1_ci": [0.79, 0.83]}}}))
    outs = [
        tmp_path / "figures/thesis/califa_t-f1.pdf",
        tmp_path / "figures/thesis/califa_t-f1.png",
    ]
    figure.run("f1", {"metrics": metrics}, REPO / "workflow/styles/thesis.mplstyle", outs, {})
    assert outs[0].read_bytes().startswith(b"%PDF") and outs[1].read_bytes().startswith(b"\x89PNG")
    caption = tmp_path / "f1.rst"
    caption.write_text("F1 of {{ snakemake.wildcards.dataset }} on test pairs.\n")
    index = tmp_path / "figures/index.md"
    figure_index.run(
        [caption],
        [{"figure": "califa_t-f1", "dataset": "califa_t", "kind": "f1"}],
        ["thesis"],
        index,
    )
    text = index.read_text()
    assert "F1 of califa_t on test pairs." in text and "figure_f1" in text
    assert "thesis/califa_t-f1.pdf" in text
    got = numbers.run([metrics], tmp_path / "numbers.tex")
    assert set(got) == {"CalifaTNnFOne"}
    assert parse_numbers_tex((tmp_path / "numbers.tex").read_text()) == {
        "CalifaTNnFOne": (0.812, 0.022, 0.018)
    }


def test_notebook_stage_runs_the_notebook_for_the_dataset(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    from caloreco.stages import notebook

    params = nbformat.v4.new_code_cell(
        'dataset = ""\nresults_dir = ""\nstyle = ""\nfigures_dir = ""'
    )
    params.metadata["tags"] = ["parameters"]
    body = nbformat.v4.new_code_cell(
        "import json, pathlib\n"
        "m = json.loads((pathlib.Path(results_dir) / dataset / 'metrics/pairs.json').read_text())\n"
        "print('F1 of', dataset, m['classifiers']['nn']['f1'])"
    )
    nb = nbformat.v4.new_notebook(cells=[params, body])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path / "overview.ipynb"
    nbformat.write(nb, path)
    (tmp_path / "results/califa_t/metrics").mkdir(parents=True)
    (tmp_path / "results/califa_t/metrics/pairs.json").write_text(
        json.dumps({"classifiers": {"nn": {"f1": 0.812}}})
    )
    monkeypatch.chdir(tmp_path)  # the rule runs from the working directory holding results/
    out, html = tmp_path / "out/overview.ipynb", tmp_path / "out/overview.html"
    notebook.run(path, out, html, "califa_t", "thesis.mplstyle", REPO / "src")
    text = out.read_text()
    assert "F1 of califa_t 0.812" in text  # the notebook read this dataset's metrics
    assert "F1 of califa_t 0.812" in html.read_text()


# ------------------------------------------------------------------ attribution (issue 15)


def _jsonable(payload):
    """``payload`` as write_json stores it (NaN as null, tuples as lists)."""
    from caloreco.io.files import to_jsonable

    return json.loads(json.dumps(to_jsonable(payload)))


ATTRIBUTION = {
    "model": {"variant": "attention", "hidden": 16, "n_blocks": 1, "heads": 2},
    "training": {"max_epochs": 2, "batch_size": 128, "lr": 3e-3},
    "peeling": {"thresholds": [0.4, 0.5]},
}
SEGMENTER = {
    "model": {"hidden": 16, "n_blocks": 1, "heads": 2, "n_slots": 4, "iters": 2},
    "training": {"max_epochs": 2, "batch_size": 64},
}
SPLIT_BLOCK = {"fractions": list(SPLIT), "seed": 21}


@pytest.fixture(scope="module")
def attribution(califa) -> Path:
    """The focal network and the segmenter trained by their stages on the califa chunks, and
    both networks' clusterings of every chunk (clusters/{method}/ as the rules write them)."""
    raws = sorted((califa / "raw").glob("chunk-*.root"))
    train_attribution.run(
        raws,
        califa / "models/attribution.pt",
        califa / "models/attribution.history.csv",
        ATTRIBUTION,
        SPLIT_BLOCK,
        "hash789",
    )
    train_segmenter.run(
        raws,
        califa / "models/slots.pt",
        califa / "models/slots.history.csv",
        SEGMENTER,
        SPLIT_BLOCK,
        "hash789",
    )
    for net, model in (("pointnet", "attribution"), ("slots", "slots")):
        for c, raw in enumerate(raws):
            cluster_attribution.run(
                raw,
                califa / f"models/{model}.pt",
                net,
                califa / f"attr/{net}/chunk-{c:03d}.parquet",
                califa / f"attr/{net}/cells-{c:03d}.parquet",
            )
    return califa


def test_train_attribution_stage_is_the_domain_training_on_the_split(attribution):
    from caloreco.attribution.training import FocalAttribution, train_attribution
    from caloreco.io.raw import geometry_from_file
    from caloreco.io.splits import read_split_events

    raws = sorted((attribution / "raw").glob("chunk-*.root"))
    net = FocalAttribution.load(attribution / "models/attribution.pt")
    assert net.threshold in (0.4, 0.5)
    ck = torch.load(attribution / "models/attribution.pt", weights_only=True)
    assert ck["config_hash"] == "hash789"
    # the stage trains on the train events and picks the threshold on val: the same network as
    # the domain function on read_split_events' parts (seeded, so bit for bit)
    parts = read_split_events(raws, SPLIT_BLOCK, ("train", "val", "test"))
    geom = geometry_from_file(raws[0])
    ref = train_attribution(parts["train"], parts["val"], geom, ATTRIBUTION, log=lambda _: None)
    assert net.threshold == ref.threshold
    test = parts["test"]
    np.testing.assert_array_equal(net.cluster(test, geom), ref.cluster(test, geom))
    h = pd.read_csv(attribution / "models/attribution.history.csv")
    timing = [c for c in h.columns if "second" in c]
    pd.testing.assert_frame_equal(
        h.drop(columns=timing),
        ref.history.reset_index(drop=True).drop(columns=timing),
        check_dtype=False,
    )
    assert len(h) == 2


def test_train_segmenter_stage_keeps_the_best_validation_epoch(attribution):
    from caloreco.attribution.segmenter import SlotClustering, train_segmenter
    from caloreco.io.raw import geometry_from_file
    from caloreco.io.splits import read_split_events

    h = pd.read_csv(attribution / "models/slots.history.csv")
    assert len(h) == 2 and h["best"].sum() == 1
    # the kept epoch is the one of the lowest validation loss
    assert h.loc[h["best"], "val_loss"].iloc[0] == h["val_loss"].min()
    assert torch.load(attribution / "models/slots.pt", weights_only=True)["config_hash"] == (
        "hash789"
    )
    raws = sorted((attribution / "raw").glob("chunk-*.root"))
    parts = read_split_events(raws, SPLIT_BLOCK, ("train", "val", "test"))
    geom = geometry_from_file(raws[0])
    ref = train_segmenter(parts["train"], parts["val"], geom, SEGMENTER, log=lambda _: None)
    seg = SlotClustering.load(attribution / "models/slots.pt")
    np.testing.assert_array_equal(
        seg.cluster(parts["test"], geom), ref.cluster(parts["test"], geom)
    )


def test_cluster_attribution_tables_hold_the_networks_labels(attribution):
    from caloreco.attribution.segmenter import SlotClustering
    from caloreco.attribution.training import FocalAttribution
    from caloreco.clustering.table import cluster_table_from_events
    from caloreco.io.raw import geometry_from_file

    raw = attribution / "raw/chunk-001.root"
    events, geom = read_raw(raw), geometry_from_file(raw)
    for net, cls, model in (
        ("pointnet", FocalAttribution, "attribution"),
        ("slots", SlotClustering, "slots"),
    ):
        lab = cls.load(attribution / f"models/{model}.pt").cluster(events, geom)
        cells = pd.read_parquet(attribution / f"attr/{net}/cells-001.parquet")
        got = labels_from_cells(events, cells)
        # the same partition of every event's hits (cluster ids may be renumbered)
        ev = np.repeat(np.arange(events.n_events), np.diff(events.hit_offsets))
        pairs_got = set(zip(ev.tolist(), got.tolist(), strict=True))
        pairs_lab = set(zip(ev.tolist(), lab.tolist(), strict=True))
        assert len(pairs_got) == len(pairs_lab) == len(set(zip(got, lab, ev, strict=True)))
        clusters = pd.read_parquet(attribution / f"attr/{net}/chunk-001.parquet")
        ref = cluster_table_from_events(events, lab, geom)
        assert len(clusters) == len(ref)
        np.testing.assert_allclose(
            np.sort(clusters["energy"].to_numpy()), np.sort(ref["energy"].to_numpy())
        )
        # every hit's energy is in exactly one cluster
        assert clusters["energy"].sum() == pytest.approx(events.cell_energy.sum(), rel=1e-6)
    with pytest.raises(ValueError, match="network"):
        cluster_attribution.run(raw, attribution / "models/slots.pt", "cone", "a", "b")


def test_evaluate_attribution_scores_each_method_on_the_test_events(attribution, tmp_path):
    from caloreco.attribution.evaluation import attribution_metrics
    from caloreco.attribution.training import FocalAttribution
    from caloreco.io.raw import geometry_from_file
    from caloreco.io.splits import read_split_events
    from caloreco.seeds import chunk_rng

    raws = sorted((attribution / "raw").glob("chunk-*.root"))
    cells = sorted((attribution / "attr").glob("*/cells-*.parquet"))
    out = tmp_path / "attribution.json"
    got = evaluate_attribution.run(
        raws,
        attribution / "models/attribution.pt",
        cells,
        {"bootstrap": 20},
        SPLIT_BLOCK,
        21,
        out,
    )
    assert json.loads(out.read_text()) == _jsonable(got)
    assert set(got["clustering"]) == {"pointnet", "slots"}
    assert got["settings"]["bootstrap"] == 20
    # the numbers are attribution_metrics' on the test events with the dataset's generator
    test = read_split_events(raws, SPLIT_BLOCK, ("test",))["test"]
    geom = geometry_from_file(raws[0])
    net = FocalAttribution.load(attribution / "models/attribution.pt")
    lab = {m: net.cluster(test, geom) for m in ("pointnet",)}
    ref = attribution_metrics(
        net,
        test,
        geom,
        chunk_rng(21, 0, "evaluate"),
        n_boot=20,
        energy_edges=None,
        other_labels={},
        pointnet_labels=lab["pointnet"],
    )
    assert got["hit_level"]["network"] == _jsonable(ref["hit_level"]["network"])
    assert got["clustering"]["pointnet"] == pytest.approx(ref["clustering"]["pointnet"])
    with pytest.raises(ValueError, match="pointnet"):
        evaluate_attribution.run(
            raws, attribution / "models/attribution.pt", cells[-2:], {}, SPLIT_BLOCK, 21, out
        )


# ------------------------------------------------------------------ camera-TPC imaging (issue 13)

IMAGING_DATASET = {
    "detector": "lime",
    "source": "simulate",
    "seed": 31,
    "chunks": 2,
    "frames_per_chunk": 30,
    "images": {
        "height": 48,
        "width": 48,
        "pedestal_frames": 20,
        "recoils": {
            "energy": {"distribution": "lines", "values_kev": [1.0, 6.0], "balanced": True},
            "empty_fraction": 0.3,
            "margin_mm": 2.0,
        },
    },
}


@pytest.fixture(scope="module")
def lime() -> dict:
    import yaml

    return yaml.safe_load((REPO / "config/config.yaml").read_text())["detectors"]["lime"]


@pytest.fixture(scope="module")
def images(tmp_path_factory, lime) -> Path:
    """Two chunks of 30 frames of a 48 x 48 camera, as the simulate_images rule writes them."""
    root = tmp_path_factory.mktemp("images")
    for c in range(2):
        simulate_images.run(root / f"raw/chunk-{c:03d}.root", "lime_t", IMAGING_DATASET, lime, c)
    return root


def test_simulate_images_stage_is_simulate_chunk_of_the_dataset(images, lime, tmp_path):
    from caloreco.imaging.chunks import simulate_chunk
    from caloreco.imaging.rawio import read_image_run_info, read_images, read_pedestal
    from caloreco.imaging.settings import camera_block

    got = read_images(images / "raw/chunk-001.root")
    # events of chunk 1 are 30..59; the run info names the dataset and the detector
    np.testing.assert_array_equal(got.event, np.arange(30, 60))
    info = read_image_run_info(images / "raw/chunk-001.root")
    assert info["dataset"] == "lime_t" and info["detector_name"] == "lime"
    ref_path = tmp_path / "ref.root"
    img = IMAGING_DATASET["images"]
    simulate_chunk(
        ref_path,
        camera_block(lime, IMAGING_DATASET),
        img["recoils"],
        31,
        1,
        30,
        n_pedestal_frames=20,
    )
    ref = read_images(ref_path)
    np.testing.assert_array_equal(got.image, ref.image)
    np.testing.assert_array_equal(got.energy_kev, ref.energy_kev)
    assert got.image.shape == (30, 48, 48)
    # both chunks share the dataset's camera: the same pedestal maps
    a, b = read_pedestal(images / "raw/chunk-000.root"), read_pedestal(ref_path)
    np.testing.assert_array_equal(a.mean, b.mean)


def test_image_qa_stage_summarises_every_chunk(images, tmp_path):
    from caloreco.imaging.qa import combine_image_stats, image_chunk_stats, summarize_images
    from caloreco.imaging.rawio import read_image_run_info, read_images, read_pedestal

    raws = sorted((images / "raw").glob("chunk-*.root"))
    out = tmp_path / "simulation.json"
    png, pdf = str(tmp_path / "qa.png"), str(tmp_path / "qa.pdf")
    got = image_qa.run(raws, "lime_t", out, png, pdf)
    assert json.loads(out.read_text()) == _jsonable(got)
    assert got["dataset"] == "lime_t" and got["frames"] == 60
    infos = [read_image_run_info(p) for p in raws]
    stats = combine_image_stats(
        [
            image_chunk_stats(read_images(p), read_pedestal(p), i["pixel_mm"])
            for p, i in zip(raws, infos, strict=True)
        ]
    )
    ref = summarize_images(
        stats, infos, read_pedestal(raws[0]), read_pedestal(raws[0], true_maps=True)
    )
    ref["dataset"] = "lime_t"
    assert got == _jsonable(ref)
    assert Path(png).stat().st_size > 0 and Path(pdf).stat().st_size > 0
    with pytest.raises(ValueError, match="no raw files"):
        image_qa.run([], "lime_t", out, png, pdf)


def test_cluster_images_stage_is_the_cygno_reconstruction(images, tmp_path):
    from caloreco.imaging.rawio import read_images, read_pedestal
    from caloreco.imaging.reco import reco_settings_from_config, reconstruct

    raw = images / "raw/chunk-000.root"
    got = cluster_images.run(raw, "cygno", {}, tmp_path / "clusters.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "clusters.parquet"), got)
    f = read_images(raw)
    ref = reconstruct(
        f.image,
        read_pedestal(raw),
        reco_settings_from_config({}),
        0.152,
        events=f.event,
        truth_light=f.truth_light,
        truth_recoil=f.truth_recoil,
        recoil_offsets=f.recoil_offsets,
        recoils=f.recoils,
    ).clusters
    pd.testing.assert_frame_equal(got.reset_index(drop=True), ref.reset_index(drop=True))
    # 1 and 6 keV spots (2000 counts/keV) are far above the noise: most recoils are found
    assert len(got) >= 0.5 * int(f.recoil_offsets[-1])
    assert set(got["event"]) <= set(f.event.tolist())
    with pytest.raises(ValueError, match="cygno"):
        cluster_images.run(raw, "dbscan", {}, tmp_path / "x.parquet")


def test_export_cygno_and_import_images_round_trip(images, lime, tmp_path):
    from caloreco.imaging.rawio import read_images, read_pedestal

    raw = images / "raw/chunk-001.root"
    s = export_cygno.run(raw, tmp_path / "run.root", {"hist_type": "TH2S", "pad_run": True})
    assert s["frames"] == 30 and s["keys"][0] == "pic_run00001_ev30"
    p = export_cygno_pedestal.run(
        raw, tmp_path / "ped.root", tmp_path / "pedmap.root", {"pedestal_run": 5}
    )
    assert p["frames"] == 20 and p["run"] == 5 and p["keys"] == ["pic_run5_ev0", "pic_run5_ev19"]
    ds = {
        "detector": "lime",
        "source": "cygno",
        "seed": 1,
        "chunks": 1,
        "files": [str(tmp_path / "run.root")],
        "cygno": {"pedestal": str(tmp_path / "ped.root")},
    }
    info = import_images.run(
        [str(tmp_path / "run.root")], tmp_path / "back.root", "lime_data", ds, lime, 0
    )
    assert info["frames"] == 30 and info["pedestal_frames"] == 20
    back, orig = read_images(tmp_path / "back.root"), read_images(raw)
    np.testing.assert_array_equal(back.image, orig.image)
    np.testing.assert_array_equal(back.event, orig.event)
    assert not back.has_truth  # CYGNO files carry no truth
    np.testing.assert_allclose(read_pedestal(tmp_path / "back.root").mean, read_pedestal(raw).mean)


def test_anomaly_stage_writes_the_analysis_and_its_autoencoder(images, tmp_path):
    from caloreco.imaging.settings import anomaly_block
    from caloreco.nn.autoencoder import load_autoencoder

    raws = sorted((images / "raw").glob("chunk-*.root"))
    settings = anomaly_block(
        {
            "autoencoder": {
                "channels": [4, 4, 4],
                "latent": 2,
                "patch": 16,
                "patches_per_frame": 2,
                "epochs": 2,
            },
            "crop_size": 16,
            "classifier_epochs": 1,
            "dec_steps": 5,
            "n_boot": 10,
        },
        None,
        31,
    )
    outputs = {
        k: tmp_path / f"{k}.{ext}"
        for k, ext in (
            ("metrics", "json"),
            ("regions", "parquet"),
            ("roc_scores", "parquet"),
            ("examples", "npz"),
            ("model", "pt"),
            ("history", "csv"),
        )
    }
    m = anomaly.run(raws, settings, {}, 31, outputs, threads=1)
    assert json.loads(outputs["metrics"].read_text()) == _jsonable(m)
    # the history's best epoch is the lowest validation loss, and the checkpoint says so
    h = pd.read_csv(outputs["history"])
    assert len(h) == 2 and h["best"].sum() == 1
    assert h.loc[h["best"], "val_loss"].iloc[0] == h["val_loss"].min()
    model, meta = load_autoencoder(outputs["model"])
    assert meta["seed"] == 31 and meta["best_val_loss"] == pytest.approx(h["val_loss"].min())
    assert meta["window_sigmas_px"] == m["window_sigmas_px"]
    assert len(pd.read_parquet(outputs["regions"])) > 0
    with np.load(outputs["examples"]) as z:
        assert z["raw"].shape[1:] == (48, 48)
    roc = pd.read_parquet(outputs["roc_scores"])
    assert len(roc) > 0
    # the selection compares every method at the same discarded area
    for name in ("nsigma", "ae_local"):
        k = m["selection"]["methods"][name]["kept_at_area"]
        assert all(0.0 <= v["value"] <= 1.0 for v in k.values())
