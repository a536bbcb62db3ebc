"""Figures: every figure kind draws a non-trivial file in both styles from small simulated or
synthetic inputs, with the content asserted; the per-primary WR behind the efficiency figure
equals clustering.json; the notebooks execute."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from caloreco.plotting import _common, names, registry, style

from conftest import CALIFA_DETECTOR

REPO = Path(__file__).resolve().parents[1]
THESIS = REPO / "workflow/styles/thesis.mplstyle"
TALK = REPO / "workflow/styles/talk.mplstyle"

CALIFA = CALIFA_DETECTOR
ECAL = {
    "preset": "ecal",
    "geometry": {"n_rows": 48, "n_cols": 48, "pitch_mm": 38.3, "z_front_mm": 33027.0},
    "response": {"stochastic": 0.07, "constant": 0.015, "noise_mev": 15.0, "threshold_mev": 100.0},
}


def outputs(tmp: Path, name: str) -> list[Path]:
    return [tmp / f"{name}.pdf", tmp / f"{name}.png"]


def assert_files(paths: list[Path], min_bytes: int = 5000) -> None:
    for p in paths:
        data = p.read_bytes()
        assert len(data) > min_bytes, p
        magic = b"%PDF" if p.suffix == ".pdf" else b"\x89PNG"
        assert data.startswith(magic), p
        assert not list(p.parent.glob(f".{p.name}.tmp-*"))


# --------------------------------------------------------------------------------------------
# inputs: a small simulated CALIFA and ECAL dataset laid out as the workflow's results/


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    from caloreco.stages import cluster, clustering_metrics, simulate

    root = tmp_path_factory.mktemp("results")
    cal = root / "califa_uniform"
    ds_cfg = {
        "detector": "califa",
        "seed": 5,
        "events_per_chunk": 120,
        "simulation": {
            "n_primaries": 3,
            "energy": {"distribution": "uniform", "min_mev": 0.3, "max_mev": 10.0},
        },
    }
    simulate.run(cal / "raw/chunk-000.root", "califa_uniform", ds_cfg, CALIFA, 0)
    methods = {
        "cone": {"opening_angle_rad": 0.25, "seed_threshold_mev": 0.0},
        "agglomerative": {"distance_threshold": 3540.0},
    }
    for m, s in methods.items():
        cluster.run(
            cal / "raw/chunk-000.root",
            m,
            s,
            cal / f"clusters/{m}/chunk-000.parquet",
            cal / f"clusters/{m}/cells-000.parquet",
        )
    clustering_metrics.run(
        [cal / "raw/chunk-000.root"],
        [cal / f"clusters/{m}/cells-000.parquet" for m in methods],
        list(methods),
        cal / "metrics/clustering.json",
        cal / "tables/primaries.parquet",
        response=CALIFA["response"],
    )
    write_pairs(cal)
    write_history(cal / "models/pair_classifier.history.csv", 12, 0.4, 0.15)
    write_history(cal / "models/pair_tiny.history.csv", 20, 0.6, 0.2)

    ecal = root / "ecal_stage2"
    ds_cfg = {
        "detector": "ecal",
        "seed": 7,
        "events_per_chunk": 20,
        "simulation": {
            "n_primaries": 1,
            "energy": {"distribution": "uniform", "min_mev": 2000.0, "max_mev": 200000.0},
            "incidence": "perpendicular",
        },
    }
    simulate.run(ecal / "raw/chunk-000.root", "ecal_stage2", ds_cfg, ECAL, 0)
    cluster.run(
        ecal / "raw/chunk-000.root",
        "connected",
        {"seed_threshold_mev": 500.0},
        ecal / "clusters/connected/chunk-000.parquet",
        ecal / "clusters/connected/cells-000.parquet",
    )
    write_regression(ecal, abspos=False)
    write_history(ecal / "models/regressor.history.csv", 30, 1.0, 0.05)
    ecal3 = root / "ecal_stage3"
    write_regression(ecal3, abspos=True)
    return root


def write_history(path: Path, epochs: int, start: float, end: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    e = np.arange(1, epochs + 1)
    train = end + (start - end) * np.exp(-e / 4)
    val = train * 1.1
    pd.DataFrame(
        {
            "epoch": e,
            "train_loss": train,
            "val_loss": val,
            "lr": 1e-3,
            "seconds": 0.1,
            "best": val == val.min(),
        }
    ).to_csv(path, index=False)


def write_pairs(root: Path) -> None:
    rng = np.random.default_rng(3)
    n = 2000
    label = (rng.random(n) < 0.15).astype(int)
    cols = {"event": np.arange(n) // 5, "label": label}
    for name, sep in (("nn", 3.0), ("nn_tiny", 2.5), ("gradient_boosting", 3.2), ("cut", 1.5)):
        z = rng.normal(sep * label - sep / 2, 1.0)
        cols[name] = 1 / (1 + np.exp(-z))
    cols["smart_random"] = (rng.random(n) < 0.15).astype(float)
    (root / "tables").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(cols).to_parquet(root / "tables/pair_scores.parquet")
    classifiers = {}
    for name in ("nn", "nn_tiny", "gradient_boosting", "cut", "smart_random"):
        pred = cols[name] >= 0.5
        tp = np.sum(pred & (label == 1))
        prec = tp / max(pred.sum(), 1)
        rec = tp / max(label.sum(), 1)
        f1 = 2 * prec * rec / max(prec + rec, 1e-9)
        classifiers[name] = {
            "accuracy": float(np.mean(pred == label)),
            "precision": float(prec),
            "recall": float(rec),
            "f1": float(f1),
            "f1_ci": [float(f1 - 0.02), float(f1 + 0.025)],
            "roc_auc": 0.9,
            "threshold": 0.5,
        }
    classifiers["smart_random"]["f1_expected"] = float(label.mean())
    (root / "metrics").mkdir(parents=True, exist_ok=True)
    (root / "metrics/pairs.json").write_text(
        json.dumps({"positive_fraction": float(label.mean()), "classifiers": classifiers})
    )
    (root / "metrics/pairs_seeds.json").write_text(
        json.dumps({"f1_mean": 0.8, "f1_std": 0.01, "runs": [{"seed": 0}, {"seed": 1}]})
    )


#: true widths of the synthetic residuals: x, y in mm, energy as a fraction
WIDTHS = {"nn": (0.4, 0.42, 0.02), "log_cog": (0.5, 0.5, 0.022), "profile_fit": (0.55, 0.6, 0.02)}


def write_regression(root: Path, abspos: bool) -> None:
    """Synthetic windows (Lednev fractions), residuals and a resolution.json fitted on them
    with the package's own fits, in the format of evaluate_regression."""
    from caloreco.fitting import core_gaussian_fit, resolution_function_fit
    from caloreco.regression.lednev import lednev_window_fractions

    rng = np.random.default_rng(11)
    n = 1500
    e_true = rng.uniform(2000, 200000, n)
    x, y = rng.uniform(60, 100, n), rng.uniform(60, 100, n)
    win = lednev_window_fractions(x, y, 5, 38.3) * e_true[:, None, None]
    win[win < 100] = 0.0
    (root / "windows").mkdir(parents=True, exist_ok=True)
    np.savez(
        root / "windows/chunk-000.npz",
        windows=win.astype(np.float32),
        targets=np.stack([x, y, e_true], 1),
        train_mask=np.ones(n, bool),
        split=np.array(["test"] * n),
        pitch_mm=np.float64(38.3),
    )
    widths = dict(WIDTHS)
    if abspos:
        widths["nn"] = (2.3, 2.3, 0.02)
        widths["nn_abspos"] = (0.5, 0.5, 0.02)
    tables, est, vs, funcs = [], {}, {}, {}
    edges = [2000, 20000, 60000, 120000, 200000]
    for name, (sx, sy, se) in widths.items():
        stoch = se * np.sqrt(50.0 / (e_true / 1000))  # sigma_E/E = se at 50 GeV, a/sqrt(E)
        res = pd.DataFrame(
            {
                "x": rng.normal(0, sx, n),
                "y": rng.normal(0, sy, n),
                "energy": rng.normal(0, np.hypot(stoch, 0.01)),
            }
        )
        est[name] = {q: core_gaussian_fit(res[q].to_numpy()) for q in ("x", "y", "energy")}
        rows = []
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            sel = (e_true >= lo) & (e_true < hi)
            row = {"e_lo_mev": lo, "e_hi_mev": hi, "e_mean_mev": float(e_true[sel].mean())}
            row.update({q: core_gaussian_fit(res[q].to_numpy()[sel]) for q in ("x", "y", "energy")})
            rows.append(row)
        vs[name] = rows
        funcs[name] = resolution_function_fit(
            np.array([r["e_mean_mev"] for r in rows]) / 1000,
            np.array([r["energy"]["sigma"] for r in rows]),
            np.array([r["energy"]["sigma_err"] for r in rows]),
        )
        res["estimator"] = name
        res["true_energy_mev"] = e_true
        res["event"] = np.arange(n)
        res["true_x_mm"], res["true_y_mm"] = x, y
        tables.append(res)
    (root / "tables").mkdir(parents=True, exist_ok=True)
    pd.concat(tables, ignore_index=True).to_parquet(root / "tables/residuals.parquet")
    (root / "metrics").mkdir(parents=True, exist_ok=True)
    (root / "metrics/resolution.json").write_text(
        json.dumps(
            {
                "estimators": est,
                "vs_energy": vs,
                "resolution_function": funcs,
                "n_test": n,
                "clusters_per_second": {k: 1e4 for k in widths},
            }
        )
    )


# --------------------------------------------------------------------------------------------
# styles


def test_styles_set_size_fonts_and_refuse_bad_paths(tmp_path):
    import matplotlib.pyplot as plt

    with style.use_style(THESIS):
        assert plt.rcParams["font.family"] == ["serif"]
        assert plt.rcParams["xtick.direction"] == "in"  # from mplhep's base
        fig, axes = style.figure(1, 2)
        assert fig.get_size_inches()[0] == pytest.approx(6.3)
        assert not style.is_slide()
    with style.use_style(TALK):
        assert style.is_slide()
        fig, _ = style.figure(2, 3)
        assert fig.get_size_inches() == pytest.approx((10, 5.625))
        assert plt.rcParams["font.size"] >= 16
        style.save(fig, [tmp_path / "a.png"])
    from PIL import Image

    assert Image.open(tmp_path / "a.png").size == (1600, 900)
    with pytest.raises(ValueError, match="style"):
        with style.use_style(tmp_path / "nope.mplstyle"):
            pass
    with pytest.raises(ValueError, match="outputs"):
        style.save(fig, [tmp_path / "a.jpeg"])


def test_names_are_defined_once():
    assert names.label("nn") == "NN (this work)"
    assert names.label("agglomerative+nn") == "agglomerative + NN merge"
    assert names.label("unknown_thing") == "unknown_thing"
    assert set(names.COLORS) <= set(names.LABELS)
    with pytest.raises(ValueError, match="kind"):
        registry.draw("nope", {}, THESIS, ["x.pdf"])
    with pytest.raises(ValueError, match="missing"):
        registry.draw("roc", {"scores": "x"}, THESIS, ["x.pdf"])


def test_gaussian_curve_integrates_to_the_fitted_count():
    fit = {"mu": 0.1, "sigma": 0.5, "lo": -0.9, "hi": 1.1, "n_fit": 900}
    edges = np.linspace(-3, 3, 121)
    x, y, inside = _common.gaussian_curve(fit, edges, n_points=20001)
    width = edges[1] - edges[0]
    integral = np.trapezoid(np.where(inside, y, 0.0), x) / width
    assert integral == pytest.approx(900, rel=2e-3)


# --------------------------------------------------------------------------------------------
# every figure kind


@pytest.mark.parametrize("style_file", [THESIS, TALK], ids=["thesis", "talk"])
def test_pair_figures(results, tmp_path, style_file):
    d = results / "califa_uniform"
    out = outputs(tmp_path, "roc")
    fig = registry.draw(
        "roc",
        {"scores": d / "tables/pair_scores.parquet", "metrics": d / "metrics/pairs.json"},
        style_file,
        out,
        dataset="califa_uniform",
    )
    assert_files(out)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(t.startswith("NN (this work)") for t in texts)
    assert any(t.startswith("smart random") for t in texts)
    # four continuous classifiers drawn as curves, smart random as a point
    curves = [ln for ln in fig.axes[0].lines if len(ln.get_xdata()) > 10]
    assert len(curves) == 1 + 4  # random diagonal + 4 curves

    out = outputs(tmp_path, "scores")
    fig = registry.draw(
        "pair_scores",
        {"scores": d / "tables/pair_scores.parquet", "metrics": d / "metrics/pairs.json"},
        style_file,
        out,
    )
    assert_files(out)
    assert len(fig.axes) == 3
    assert all(len(ax.patches) == 2 for ax in fig.axes)  # case A and case B per classifier

    out = outputs(tmp_path, "f1")
    fig = registry.draw(
        "f1",
        {"metrics": d / "metrics/pairs.json", "seeds": d / "metrics/pairs_seeds.json"},
        style_file,
        out,
    )
    assert_files(out)
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == [
        names.label(n) for n in ("nn", "nn_tiny", "gradient_boosting", "cut", "smart_random")
    ]


def test_loss_curves(results, tmp_path):
    d = results / "califa_uniform/models"
    out = outputs(tmp_path, "loss")
    fig = registry.draw(
        "loss_curves",
        {"histories": [d / "pair_classifier.history.csv", d / "pair_tiny.history.csv"]},
        THESIS,
        out,
    )
    assert_files(out)
    lines = [ln for ln in fig.axes[0].lines if len(ln.get_xdata()) > 1]
    assert len(lines) == 4  # training and validation per model
    assert {ln.get_color() for ln in lines} == {names.color("nn"), names.color("nn_tiny")}


def test_event_categories_bars_equal_the_metrics(results, tmp_path):
    metrics = results / "califa_uniform/metrics/clustering.json"
    info = json.loads(metrics.read_text())["methods"]
    out = outputs(tmp_path, "cat")
    fig = registry.draw(
        "event_categories", {"metrics": metrics}, TALK, out, dataset="califa_uniform"
    )
    assert_files(out)
    ax = fig.axes[0]
    ours = [p for p in ax.patches if p.get_hatch() is None]
    published = [p for p in ax.patches if p.get_hatch()]
    assert len(ours) == 4 * len(info)
    # cone and agglomerative both have a published counterpart with four categories
    assert len(published) == 8
    tp = {round(p.get_x() + p.get_width() / 2): p.get_height() for p in ours if p.get_y() == 0}
    for i, m in enumerate(["cone", "agglomerative"]):
        assert tp[i] == pytest.approx(100 * info[m]["TP"])
    # the categories of each bar add up to 100 %
    tops = [p.get_y() + p.get_height() for p in ours]
    assert max(tops) == pytest.approx(100.0)


def test_primary_matches_reproduce_wr(results):
    d = results / "califa_uniform"
    info = json.loads((d / "metrics/clustering.json").read_text())["methods"]
    table = pd.read_parquet(d / "tables/primaries.parquet")
    for m in ("cone", "agglomerative"):
        t = table[table["method"] == m]
        assert t["has_cluster"].sum() == info[m]["true_clusters"]
        assert t["matched"].sum() == info[m]["matched_clusters"]
        # each primary's nearest other primary is at a positive angle, at most pi
        assert np.all((t["nearest_angle"] > 0) & (t["nearest_angle"] <= np.pi))


@pytest.mark.parametrize("style_file", [THESIS, TALK], ids=["thesis", "talk"])
def test_califa_efficiency_spectra_and_display(results, tmp_path, style_file):
    d = results / "califa_uniform"
    cells = sorted(d.glob("clusters/*/cells-000.parquet"))
    out = outputs(tmp_path, "eff")
    fig = registry.draw(
        "efficiency",
        {"primaries": d / "tables/primaries.parquet", "metrics": d / "metrics/clustering.json"},
        style_file,
        out,
    )
    assert_files(out)
    assert len(fig.axes) == 3  # WR vs energy, WR vs angle, photopeak vs energy
    out = outputs(tmp_path, "spectra")
    fig = registry.draw(
        "energy_spectra",
        {"primaries": d / "tables/primaries.parquet"},
        style_file,
        out,
    )
    assert_files(out)
    assert len(fig.axes[1].patches) == 2  # one ratio histogram per method
    out = outputs(tmp_path, "display")
    fig = registry.draw(
        "event_display", {"raw": d / "raw/chunk-000.root", "cells": cells}, style_file, out
    )
    assert_files(out)
    assert len(fig.axes) == 2 * 2  # two events x two methods
    assert [ax.get_title() for ax in fig.axes[:2]] == [names.label(p.parent.name) for p in cells]


def test_ecal_display(results, tmp_path):
    d = results / "ecal_stage2"
    out = outputs(tmp_path, "display")
    fig = registry.draw(
        "event_display",
        {
            "raw": d / "raw/chunk-000.root",
            "cells": d / "clusters/connected/cells-000.parquet",
            "clusters": d / "clusters/connected/chunk-000.parquet",
        },
        THESIS,
        out,
    )
    assert_files(out)
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == 3
    assert all(len(ax.collections) >= 1 for ax in panels)  # the cluster outlines


@pytest.mark.parametrize("style_file", [THESIS, TALK], ids=["thesis", "talk"])
def test_regression_figures(results, tmp_path, style_file):
    d = results / "ecal_stage2"
    out = outputs(tmp_path, "residuals")
    fig = registry.draw(
        "residuals",
        {"residuals": d / "tables/residuals.parquet", "metrics": d / "metrics/resolution.json"},
        style_file,
        out,
    )
    assert_files(out)
    assert len(fig.axes) == 3 and all(len(ax.patches) == 3 for ax in fig.axes)
    # the sigma printed in the x panel is the fitted one, near the true width
    sig = [float(t.get_text().split("=")[1]) for t in fig.axes[0].texts if "sigma" in t.get_text()]
    assert sig == pytest.approx([w[0] for w in WIDTHS.values()], rel=0.1)

    # one beam energy: the energy panel leaves out the network trained on it
    mono = json.loads((d / "metrics/resolution.json").read_text()) | {"mono_energetic": True}
    (tmp_path / "mono.json").write_text(json.dumps(mono))
    out = outputs(tmp_path, "residuals_mono")
    fig = registry.draw(
        "residuals",
        {"residuals": d / "tables/residuals.parquet", "metrics": tmp_path / "mono.json"},
        style_file,
        out,
    )
    assert [len(ax.patches) for ax in fig.axes] == [3, 3, 2]
    assert any("not shown" in t.get_text() for t in fig.axes[2].texts)

    out = outputs(tmp_path, "resolution")
    fig = registry.draw("resolution", {"metrics": d / "metrics/resolution.json"}, style_file, out)
    assert_files(out)
    fn_lines = [ln for ln in fig.axes[2].lines if len(ln.get_xdata()) == 200]
    assert len(fn_lines) == 3  # one resolution function per estimator

    out = outputs(tmp_path, "windows")
    fig = registry.draw("windows", {"windows": d / "windows/chunk-000.npz"}, style_file, out)
    assert_files(out)
    profile = fig.axes[3]
    sim_x, sim_y = profile.lines[-1].get_data()  # the Lednev line
    assert sim_x[np.nanargmax(sim_y)] == pytest.approx(0.0, abs=0.2)  # peaks at the impact

    d3 = results / "ecal_stage3"
    out = outputs(tmp_path, "abspos")
    fig = registry.draw(
        "abspos",
        {"metrics": d3 / "metrics/resolution.json", "reference": d / "metrics/resolution.json"},
        style_file,
        out,
    )
    assert_files(out)
    assert len(fig.axes) == 2


# --------------------------------------------------------------------------------------------
# notebooks


@pytest.mark.parametrize("notebook", ["dataset_overview", "model_review"])
def test_notebooks_execute(results, tmp_path, notebook):
    papermill = pytest.importorskip("papermill")
    for dataset in ("califa_uniform", "ecal_stage2"):
        out = tmp_path / f"{dataset}-{notebook}.ipynb"
        papermill.execute_notebook(
            str(REPO / f"workflow/notebooks/{notebook}.ipynb"),
            str(out),
            parameters={
                "dataset": dataset,
                "results_dir": str(results),
                "style": str(TALK),
                "figures_dir": str(tmp_path / "figs"),
            },
            kernel_name="python3",
            progress_bar=False,
        )
        text = out.read_text()
        assert '"output_type": "error"' not in text
        assert "image/png" in text
    shutil.rmtree(tmp_path / "figs", ignore_errors=True)
