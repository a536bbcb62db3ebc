"""Stage-4 figures: drawn from a two_photon metrics dict (and its JSON file) in both styles,
with the drawn values checked against the metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from caloreco.plotting import two_photon as fig2
from caloreco.regression.two_photon import (
    PI0_MASS_MEV,
    event_display,
    two_photon_metrics,
)

REPO = Path(__file__).resolve().parents[1]
STYLES = [REPO / "workflow/styles/thesis.mplstyle", REPO / "workflow/styles/talk.mplstyle"]


@pytest.fixture(scope="module")
def metrics() -> dict:
    rng = np.random.default_rng(0)
    n, pitch = 3000, 38.3
    sep = rng.uniform(1.0, 4.0, n) * pitch
    e = rng.uniform(50e3, 200e3, n)
    f = rng.uniform(0.55, 0.8, n)
    x1 = 4 * pitch + rng.uniform(-10, 10, n) - sep / 2
    y1 = 4 * pitch + rng.uniform(-10, 10, n)
    truth = np.column_stack([x1, y1, f * e, x1 + sep, y1, (1 - f) * e])
    label = np.where(np.arange(n) < n // 4, 1, 2)
    truth[label == 1, 3:] = np.nan
    sample = {
        "truth": truth,
        "label": label,
        "origin_x_mm": np.full(n, -200.0),
        "origin_y_mm": np.full(n, 100.0),
        "separation_mm": np.where(label == 2, sep, np.nan),
        "energy_mev": e,
        "pitch_mm": pitch,
        "z_front_mm": 33027.0,
        "event": np.arange(n),
        "windows": rng.uniform(0, 1000, (n, 9, 9)),
        "mass_true": np.full(n, PI0_MASS_MEV),
    }
    t = np.nan_to_num(truth)
    est = {}
    for name, s_pos, s_e in (("nn", 0.6, 0.02), ("fit", 0.8, 0.025)):
        p = t.copy()
        p[:, [0, 1, 3, 4]] += rng.normal(0, s_pos, (n, 4))
        p[:, [2, 5]] *= 1 + rng.normal(0, s_e, (n, 2))
        count = label.copy()
        if name == "fit":
            count[n // 4 : n // 4 + 30] = 1
        est[name] = {"photons": p, "n_photons": count}
    m = two_photon_metrics(sample, est)
    m["event_display"] = event_display(sample, est)
    return m


@pytest.mark.parametrize("style_file", STYLES, ids=["thesis", "talk"])
def test_resolution_vs_separation(metrics, tmp_path, style_file):
    out = [tmp_path / "res.pdf", tmp_path / "res.png"]
    f = fig2.resolution_vs_separation(metrics, style_file, out, estimators=("nn", "fit"))
    assert all(p.stat().st_size > 5000 for p in out)
    ax = f.axes[0]
    # one error-bar series per estimator: its points are the metrics' sigma_x per bin
    rows = [r for r in metrics["vs_separation"] if r["estimators"]]
    expected = [r["estimators"]["nn"]["both"]["x"]["sigma"] for r in rows]
    series = [c for c in ax.containers if c.get_label() == fig2.label("nn")]
    assert len(series) == 1
    np.testing.assert_allclose(series[0].lines[0].get_ydata(), expected)
    # the thesis target line at 2.5 mm
    assert any(np.allclose(ln.get_ydata(), 2.5) for ln in ax.lines if len(ln.get_ydata()) == 2)


def test_mass_peaks_from_json(metrics, tmp_path):
    path = tmp_path / "two_photon.json"
    path.write_text(json.dumps(metrics))
    out = [tmp_path / "mass.png"]
    f = fig2.mass_peaks(path, STYLES[0], out, estimators=("nn", "fit"))
    assert out[0].stat().st_size > 5000
    ax = f.axes[0]
    steps = [p for p in ax.patches if p.get_label() in (fig2.label("nn"), fig2.label("fit"))]
    assert len(steps) == 2
    assert any(f"{metrics['mass']['nn']['fit']['sigma']:.2f} MeV" in t.get_text() for t in ax.texts)


def test_counting_and_event_display(metrics, tmp_path):
    f = fig2.counting_vs_separation(
        metrics, STYLES[0], [tmp_path / "count.png"], estimators=("nn", "fit")
    )
    ax = f.axes[0]
    fit_series = [c for c in ax.containers if c.get_label().startswith(fig2.label("fit"))][0]
    acc = [
        r["counting"]["fit"]["accuracy_two"]["value"]
        for r in metrics["vs_separation"]
        if r["counting"]["fit"]["accuracy_two"]["n"]
    ]
    np.testing.assert_allclose(fit_series.lines[0].get_ydata(), acc)
    assert min(acc) < 1.0  # the 30 fit failures show up
    f = fig2.event_display(metrics, STYLES[1], [tmp_path / "event.pdf"])
    ax = f.axes[0]
    assert len(ax.images) == 1
    truth = metrics["event_display"]["truth"]
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_allclose(offsets[:, 0], [truth[0], truth[3]])
    with pytest.raises(ValueError, match="event_display"):
        fig2.event_display({"x": 1}, STYLES[0], [tmp_path / "e.png"])


def test_mass_linearity(tmp_path):
    scan = {
        str(mass): {
            "nn": {"mu_rel": 1 + 0.3 * (PI0_MASS_MEV / mass - 1), "sigma_rel": 0.02},
            "fit": {"mu_rel": 0.998, "sigma_rel": 0.025},
        }
        for mass in (100.0, 120.0, PI0_MASS_MEV, 170.0)
    }
    f = fig2.mass_linearity({"mass_linearity": scan}, STYLES[0], [tmp_path / "lin.png"])
    ax = f.axes[0]
    nn = [c for c in ax.containers if c.get_label() == fig2.label("nn")][0]
    np.testing.assert_allclose(
        nn.lines[0].get_ydata(), [scan[k]["nn"]["mu_rel"] for k in sorted(scan, key=float)]
    )
    with pytest.raises(ValueError, match="mass_linearity"):
        fig2.mass_linearity({}, STYLES[0], [tmp_path / "x.png"])
