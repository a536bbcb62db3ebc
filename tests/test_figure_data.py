"""Figures draw the numbers they are made from: the plotted arrays (error-bar points and errors,
line values, bar heights, histogram contents) against the metrics and tables, on small
hand-made inputs (no simulation), for every figure kind that shows metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from caloreco.plotting import names, registry

REPO = Path(__file__).resolve().parents[1]
STYLE = REPO / "workflow/styles/thesis.mplstyle"


def draw(kind, inputs, tmp_path, **params):
    return registry.draw(kind, inputs, STYLE, [tmp_path / f"{kind}.png"], **params)


def errorbars(ax) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """label -> (x, y, symmetric-or-upper error along the bar direction) of each error bar."""
    out = {}
    for c in ax.containers:
        if not hasattr(c, "has_yerr"):
            continue
        line, _, bars = c.lines
        x, y = (np.asarray(a, float) for a in line.get_data())
        err = None
        segs = bars[0].get_segments() if bars else []
        if segs and all(np.shape(s) == (2, 2) for s in segs):  # NaN points draw no bar
            seg = np.array(segs)
            err = (seg[:, 1, 1] - seg[:, 0, 1]) / 2 if c.has_yerr else (seg[:, 1, 0] - seg[:, 0, 0])
        out[c.get_label()] = (x, y, err)
    return out


def step_heights(patch) -> np.ndarray:
    """Bin contents of a step histogram drawn by ``ax.hist(histtype='step')``."""
    v = patch.get_xy()
    return v[1:-1:2, 1]


# -------------------------------------------------------------------------------- regression


def fit(sigma, err, n=200):
    return {"mu": 0.0, "sigma": sigma, "sigma_err": err, "lo": -2 * sigma, "hi": 2 * sigma,
            "n_fit": n, "n": n, "sigma68": 1.13 * sigma, "valid": True}  # fmt: skip


VS = {
    "nn": [
        {"e_lo_mev": 2e3, "e_hi_mev": 20e3, "e_mean_mev": 11e3, "x": fit(1.1, 0.05),
         "y": fit(1.2, 0.06), "energy": fit(0.031, 0.002)},
        {"e_lo_mev": 20e3, "e_hi_mev": 200e3, "e_mean_mev": 110e3, "x": fit(0.41, 0.02),
         "y": fit(0.43, 0.03), "energy": fit(0.018, 0.001)},
    ],
    "log_cog": [
        {"e_lo_mev": 2e3, "e_hi_mev": 20e3, "e_mean_mev": 11e3, "x": fit(1.3, 0.07),
         "y": {"error": "failed", "n": 3}, "energy": fit(0.033, 0.002)},
        {"e_lo_mev": 20e3, "e_hi_mev": 200e3, "e_mean_mev": 110e3, "x": fit(0.52, 0.03),
         "y": fit(0.55, 0.03), "energy": fit(0.019, 0.001)},
    ],
    "nn_abspos": [
        {"e_lo_mev": 2e3, "e_hi_mev": 20e3, "e_mean_mev": 11e3, "x": fit(1.4, 0.08),
         "y": fit(1.5, 0.08), "energy": fit(0.03, 0.002)},
        {"e_lo_mev": 20e3, "e_hi_mev": 200e3, "e_mean_mev": 110e3, "x": fit(0.6, 0.04),
         "y": fit(0.65, 0.04), "energy": fit(0.018, 0.001)},
    ],
}  # fmt: skip
FUNCS = {"nn": {"a": 0.09, "b": 0.012, "c": 0.05}, "log_cog": {"error": "did not converge"}}


def test_resolution_figure_draws_the_fitted_sigmas_and_functions(tmp_path):
    path = tmp_path / "resolution.json"
    path.write_text(json.dumps({"vs_energy": VS, "resolution_function": FUNCS}))
    fig = draw("resolution", {"metrics": path}, tmp_path)
    for ax, q, scale in zip(fig.axes[:3], ("x", "y", "energy"), (1, 1, 100), strict=True):
        bars = errorbars(ax)
        for j, est in enumerate(("nn", "log_cog")):
            rows = [r for r in VS[est] if "sigma" in r[q]]
            x, y, err = bars[names.label(est)]
            # points at the mean energy of each bin (GeV), shifted by 2.5 % per estimator
            shift = 1 + 0.025 * (j - 0.5)
            assert x == pytest.approx([shift * r["e_mean_mev"] / 1000 for r in rows])
            assert y == pytest.approx([scale * r[q]["sigma"] for r in rows])
            assert err == pytest.approx([scale * r[q]["sigma_err"] for r in rows])
    # the energy panel's line is nn's a/sqrt(E) (+) b (+) c/E in percent; log_cog has none
    (line,) = [ln for ln in fig.axes[2].lines if len(ln.get_xdata()) == 200]
    e, y = line.get_data()
    assert e[0] == pytest.approx(2.0) and e[-1] == pytest.approx(200.0)
    expected = 100 * np.sqrt((0.09 / np.sqrt(e)) ** 2 + 0.012**2 + (0.05 / e) ** 2)
    np.testing.assert_allclose(y, expected, rtol=1e-12)


def test_abspos_figure_draws_both_networks_and_the_reference(tmp_path):
    path, ref = tmp_path / "stage3.json", tmp_path / "stage2.json"
    path.write_text(json.dumps({"vs_energy": VS}))
    ref_vs = {"nn": [dict(VS["nn"][1], x=fit(0.3, 0.01), y=fit(0.31, 0.01))]}
    ref.write_text(json.dumps({"vs_energy": ref_vs}))
    fig = draw("abspos", {"metrics": path, "reference": ref}, tmp_path)
    for ax, q in zip(fig.axes[:2], ("x", "y"), strict=True):
        bars = errorbars(ax)
        for est in ("nn", "nn_abspos", "log_cog"):
            rows = [r for r in VS[est] if "sigma" in r[q]]
            _, y, err = bars[names.label(est)]
            assert y == pytest.approx([r[q]["sigma"] for r in rows])
            assert err == pytest.approx([r[q]["sigma_err"] for r in rows])
        (perp,) = [k for k in bars if k.endswith("perpendicular")]
        assert bars[perp][1] == pytest.approx([ref_vs["nn"][0][q]["sigma"]])
        assert bars[perp][0] == pytest.approx([110.0])


def test_residuals_figure_histograms_and_gaussians(tmp_path):
    rng = np.random.default_rng(0)
    rows, est = [], {}
    for name, sx in (("nn", 0.4), ("log_cog", 0.6)):
        v = pd.DataFrame(
            {"x": rng.normal(0, sx, 500), "y": rng.normal(0, sx, 500),
             "energy": rng.normal(0, 0.02, 500), "estimator": name}
        )  # fmt: skip
        rows.append(v)
        est[name] = {q: fit(float(v[q].std()), 0.01, n=480) for q in ("x", "y", "energy")}
    table = pd.concat(rows, ignore_index=True)
    table.to_parquet(tmp_path / "res.parquet")
    (tmp_path / "m.json").write_text(json.dumps({"estimators": est}))
    fig = draw(
        "residuals",
        {"residuals": tmp_path / "res.parquet", "metrics": tmp_path / "m.json"},
        tmp_path,
    )
    for ax, q, scale in zip(fig.axes[:3], ("x", "y", "energy"), (1, 1, 100), strict=True):
        half = max(3.5 * est[n][q]["sigma"] for n in est) * scale
        edges = np.linspace(-half, half, 61)
        for patch, name in zip(ax.patches, ("nn", "log_cog"), strict=True):
            values = table.loc[table.estimator == name, q].to_numpy() * scale
            np.testing.assert_array_equal(step_heights(patch), np.histogram(values, edges)[0])
        # the printed sigma and the Gaussian: n_fit / (fraction in +-2 sigma) * bin / (s sqrt(2 pi))
        texts = [t.get_text() for t in ax.texts if "sigma" in t.get_text()]
        assert texts == [rf"$\sigma$ = {est[n][q]['sigma'] * scale:.3g}" for n in ("nn", "log_cog")]
        solid = ax.lines[0]
        s = est["nn"][q]["sigma"] * scale
        peak = 480 / 0.9544997 * (edges[1] - edges[0]) / (s * math.sqrt(2 * math.pi))
        assert np.nanmax(solid.get_ydata()) == pytest.approx(peak, rel=2e-3)


# -------------------------------------------------------------------------------- pairs


CLASSIFIERS = {
    "nn": {
        "f1": 0.81,
        "f1_ci": [0.78, 0.85],
        "roc_auc": 0.95,
        "threshold": 0.6,
        "precision": 0.84,
        "recall": 0.78,
        "accuracy": 0.95,
    },
    "gradient_boosting": {
        "f1": 0.79,
        "f1_ci": [0.75, 0.82],
        "roc_auc": 0.94,
        "threshold": 0.5,
        "precision": 0.77,
        "recall": 0.81,
        "accuracy": 0.94,
    },
    "smart_random": {
        "f1": 0.12,
        "f1_ci": [0.08, 0.17],
        "f1_expected": 0.13,
        "threshold": 0.5,
        "precision": 0.12,
        "recall": 0.13,
        "accuracy": 0.78,
    },
}


def test_f1_figure_draws_each_f1_and_its_interval(tmp_path):
    (tmp_path / "pairs.json").write_text(json.dumps({"classifiers": CLASSIFIERS}))
    (tmp_path / "seeds.json").write_text(
        json.dumps({"f1_mean": 0.8, "f1_std": 0.02, "runs": [1, 2, 3]})
    )
    fig = draw(
        "f1", {"metrics": tmp_path / "pairs.json", "seeds": tmp_path / "seeds.json"}, tmp_path
    )
    ax = fig.axes[0]
    points = []
    for c in ax.containers:
        line, _, bars = c.lines
        x, y = line.get_data()
        seg = np.array(bars[0].get_segments())[0]
        points.append((float(x[0]), float(y[0]), float(seg[0, 0]), float(seg[1, 0])))
    order = ["nn", "gradient_boosting", "smart_random"]
    assert [p[1] for p in points] == [2, 1, 0]  # top to bottom
    for (f1, _, lo, hi), name in zip(points, order, strict=True):
        m = CLASSIFIERS[name]
        assert (f1, lo, hi) == pytest.approx((m["f1"], m["f1_ci"][0], m["f1_ci"][1]))
    diamond = [ln for ln in ax.lines if ln.get_marker() == "d"]
    assert [float(diamond[0].get_xdata()[0]), float(diamond[0].get_ydata()[0])] == [0.13, 0]
    band = ax.collections[-1].get_paths()[0].vertices
    assert band[:, 0].min() == pytest.approx(0.78) and band[:, 0].max() == pytest.approx(0.82)


@pytest.fixture()
def scores(tmp_path) -> Path:
    rng = np.random.default_rng(1)
    n = 400
    label = (rng.random(n) < 0.3).astype(int)
    df = pd.DataFrame(
        {"event": np.arange(n) // 4, "label": label,
         "nn": 1 / (1 + np.exp(-rng.normal(3 * label - 1.5, 1))),
         "gradient_boosting": 1 / (1 + np.exp(-rng.normal(2 * label - 1, 1))),
         "smart_random": (rng.random(n) < 0.3).astype(float)}
    )  # fmt: skip
    df.to_parquet(tmp_path / "scores.parquet")
    (tmp_path / "pairs.json").write_text(json.dumps({"classifiers": CLASSIFIERS}))
    return tmp_path


def test_roc_figure_curves_and_working_points(scores, tmp_path):
    from sklearn.metrics import roc_curve

    df = pd.read_parquet(scores / "scores.parquet")
    fig = draw(
        "roc", {"scores": scores / "scores.parquet", "metrics": scores / "pairs.json"}, tmp_path
    )
    ax = fig.axes[0]
    y = df["label"].to_numpy()
    n_neg, n_pos = int((y == 0).sum()), int((y == 1).sum())
    for name in ("nn", "gradient_boosting"):
        (curve,) = [ln for ln in ax.lines if ln.get_label().startswith(names.label(name))]
        assert curve.get_label() == f"{names.label(name)} (AUC {CLASSIFIERS[name]['roc_auc']:.3f})"
        fpr, tpr, _ = roc_curve(y, df[name])
        np.testing.assert_allclose(curve.get_xdata(), fpr[fpr > 0])
        np.testing.assert_allclose(curve.get_ydata(), tpr[fpr > 0])
        # the working point at the classifier's threshold, by hand
        pred = df[name].to_numpy() >= CLASSIFIERS[name]["threshold"]
        point = [ln for ln in ax.lines if ln.get_marker() == "o" and ln.get_color() == curve.get_color()
                 and len(ln.get_xdata()) == 1][0]  # fmt: skip
        assert float(point.get_xdata()[0]) == pytest.approx(
            max((pred & (y == 0)).sum() / n_neg, 0.5 / n_neg)
        )
        assert float(point.get_ydata()[0]) == pytest.approx((pred & (y == 1)).sum() / n_pos)
    (sq,) = [ln for ln in ax.lines if ln.get_marker() == "s"]
    pred = df["smart_random"].to_numpy() >= 0.5
    assert float(sq.get_ydata()[0]) == pytest.approx((pred & (y == 1)).sum() / n_pos)


def test_pair_score_histograms_are_the_class_fractions(scores, tmp_path):
    df = pd.read_parquet(scores / "scores.parquet")
    fig = draw(
        "pair_scores",
        {"scores": scores / "scores.parquet", "metrics": scores / "pairs.json"},
        tmp_path,
    )
    edges = np.linspace(0, 1, 41)
    for ax, name in zip(fig.axes, ("nn", "gradient_boosting"), strict=False):
        for patch, cls in zip(ax.patches, (1, 0), strict=True):
            s = df.loc[df.label == cls, name].to_numpy()
            np.testing.assert_allclose(step_heights(patch), np.histogram(s, edges)[0] / s.size)
        (thr,) = [ln for ln in ax.lines if ln.get_linestyle() == ":"]
        assert thr.get_xdata()[0] == CLASSIFIERS[name]["threshold"]


def test_loss_curves_draw_the_history(tmp_path):
    h = pd.DataFrame({"epoch": [1, 2, 3, 4], "train_loss": [0.9, 0.5, 0.4, 0.35],
                      "val_loss": [1.0, 0.6, 0.45, 0.5], "lr": 1e-3, "seconds": 0.1,
                      "best": [False, False, True, False]})  # fmt: skip
    h.to_csv(tmp_path / "regressor.history.csv", index=False)
    fig = draw("loss_curves", {"histories": [tmp_path / "regressor.history.csv"]}, tmp_path)
    lines = [ln for ln in fig.axes[0].lines if len(ln.get_xdata()) > 1]
    assert sorted(tuple(ln.get_ydata()) for ln in lines) == sorted(
        [tuple(h.train_loss), tuple(h.val_loss)]
    )
    (best,) = [ln for ln in fig.axes[0].lines if len(ln.get_xdata()) == 1]
    assert (best.get_xdata()[0], best.get_ydata()[0]) == (3, 0.45)  # the kept epoch


# -------------------------------------------------------------------------------- clustering


def test_event_category_bars_are_the_four_fractions(tmp_path):
    methods = {
        "cone": {"TP": 0.55, "FP": 0.1, "FN": 0.3, "FM": 0.05},
        "agglomerative": {"TP": 0.6, "FP": 0.02, "FN": 0.35, "FM": 0.03},
    }
    (tmp_path / "c.json").write_text(json.dumps({"methods": methods}))
    fig = draw("event_categories", {"metrics": tmp_path / "c.json"}, tmp_path, reference="none")
    bars = fig.axes[0].patches
    assert len(bars) == 8
    for i, m in enumerate(["cone", "agglomerative"]):
        mine = bars[4 * i : 4 * i + 4]
        assert [b.get_height() for b in mine] == pytest.approx(
            [100 * methods[m][c] for c in ("TP", "FP", "FN", "FM")]
        )
        assert [b.get_y() for b in mine] == pytest.approx(
            np.cumsum([0] + [100 * methods[m][c] for c in ("TP", "FP", "FN")])
        )
        assert {round(b.get_x() + b.get_width() / 2, 9) for b in mine} == {float(i)}


def primaries_table() -> pd.DataFrame:
    # 8 gammas, energies 1..8 MeV, two methods; nearest angles spread over the angle bins
    e = np.arange(1.0, 9.0)
    rows = []
    for m, matched in (
        ("cone", [1, 0, 1, 1, 0, 0, 1, 1]),
        ("agglomerative", [1, 1, 1, 0, 1, 1, 1, 0]),
    ):
        rows.append(pd.DataFrame({
            "method": m, "event": np.arange(8) // 2, "primary": np.arange(8) % 2, "energy": e,
            "nearest_angle": np.radians([5, 15, 25, 35, 45, 55, 100, 150]),
            "has_cluster": [True] * 7 + [False], "matched": np.array(matched, bool) & (e < 8),
            "best_energy": np.where(np.array(matched, bool), e, 0.5 * e)}))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def test_efficiency_points_are_the_matched_fractions(tmp_path):
    t = primaries_table()
    t.to_parquet(tmp_path / "p.parquet")
    photo = {"cone": {"vs_energy": [{"e_lo": 1.0, "e_hi": 4.0, "efficiency": 0.7, "err": 0.1},
                                    {"e_lo": 4.0, "e_hi": 8.0, "efficiency": 0.4, "err": 0.2}]}}  # fmt: skip
    (tmp_path / "c.json").write_text(json.dumps({"photopeak": photo}))
    fig = draw(
        "efficiency",
        {"primaries": tmp_path / "p.parquet", "metrics": tmp_path / "c.json"},
        tmp_path,
    )
    wr_e, wr_a, pp = fig.axes[:3]
    e_edges = np.linspace(1, 8, 11)
    a_edges = np.radians([0, 10, 20, 30, 40, 50, 60, 75, 90, 120, 180])
    for m in ("cone", "agglomerative"):
        s = t[(t.method == m) & t.has_cluster]
        for ax, col, edges in ((wr_e, "energy", e_edges), (wr_a, "nearest_angle", a_edges)):
            _, y, _ = errorbars(ax)[names.label(m)]
            idx = np.digitize(s[col], edges) - 1
            k = np.bincount(idx, weights=s.matched, minlength=10)
            n = np.bincount(idx, minlength=10)
            with np.errstate(invalid="ignore"):
                expected = np.where(n > 0, k / np.maximum(n, 1), np.nan)
            np.testing.assert_allclose(y, expected)
    (c,) = pp.containers
    x, y = c.lines[0].get_data()
    assert list(y) == [0.7, 0.4]
    assert x[0] == pytest.approx(2.5 - 0.006 * 7) and x[1] == pytest.approx(6.0 - 0.006 * 7)


def test_energy_spectra_histograms_are_the_best_cluster_energies(tmp_path):
    t = primaries_table()
    t.to_parquet(tmp_path / "p.parquet")
    fig = draw("energy_spectra", {"primaries": tmp_path / "p.parquet"}, tmp_path)
    ax_e, ax_r = fig.axes[:2]
    e_edges = np.linspace(0, 1.15 * 8, 81)
    r_edges = np.linspace(0, 1.2, 97)
    true_bars = [p.get_height() for p in ax_e.patches if type(p).__name__ == "Rectangle"]
    np.testing.assert_array_equal(true_bars, np.histogram(np.arange(1.0, 9.0), e_edges)[0])
    steps = [p for p in ax_e.patches if type(p).__name__ == "Polygon"]
    for patch, m in zip(steps, ("cone", "agglomerative"), strict=True):
        best = t.loc[t.method == m, "best_energy"].to_numpy()
        np.testing.assert_array_equal(step_heights(patch), np.histogram(best, e_edges)[0])
    for patch, m in zip(ax_r.patches, ("cone", "agglomerative"), strict=True):
        s = t[t.method == m]
        ratio = np.clip(s.best_energy / s.energy, 0, 1.2 - 1e-9)
        np.testing.assert_array_equal(step_heights(patch), np.histogram(ratio, r_edges)[0])
