"""Figures of the imaging analysis drawn from small metrics / examples files, and the chunk API."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from caloreco.imaging.chunks import read_chunks, simulate_chunk
from caloreco.plotting import imaging as fig

STYLE = Path(__file__).resolve().parents[1] / "workflow/styles/thesis.mplstyle"


def fake_metrics() -> dict:
    curve = {
        "area_discarded": [0.95, 0.97, 0.978, 0.99, 0.999],
        "intensity_kept": [1.0, 0.99, 0.98, 0.9, 0.5],
    }
    per = {e: {"auc": 0.9, "auc_err": 0.01} for e in ("0.25", "1")}
    cls = {"accuracy": 0.6, "accuracy_err": 0.05, "auc": 0.65, "auc_err": 0.05}
    return {
        "shape": [64, 64],
        "energies": ["0.25", "1"],
        "selection": {
            "reference": {
                "intensity_kept": 0.93,
                "intensity_kept_err": 0.002,
                "area_discarded": 0.978,
                "area_discarded_err": 0.001,
            },
            "methods": {
                "nsigma": {"curve": curve},
                "window": {"curve": curve},
                "ae_local": {"curve": curve},
                "ae_roi": {
                    "point": {"area_discarded": 0.98, "intensity_kept": 0.97},
                    "curve": curve,
                },
                "classical_reco": {"point": {"area_discarded": 0.99, "intensity_kept": 0.99}},
            },
        },
        "roc": {"methods": {"nsigma": per, "ae_local": per}},
        "er_nr": {
            "per_energy": {
                e: {
                    "cnn": cls,
                    "gbdt": cls,
                    "shape_cut": {
                        "accuracy": 0.5,
                        "accuracy_err": 0.05,
                        "auc_density_over_length": 0.55,
                    },
                }
                for e in ("0.25", "1")
            }
        },
        "dec": {"per_energy": {"1": {"purity": 0.6}}},
    }


def test_figures_draw_what_the_metrics_hold(tmp_path):
    mpath = tmp_path / "metrics.json"
    mpath.write_text(json.dumps(fake_metrics()))
    f = fig.intensity_area(mpath, STYLE, [tmp_path / "ia.png"])
    ax = f.axes[0]
    assert len(ax.lines) >= 3 and (tmp_path / "ia.png").stat().st_size > 0
    ys = ax.lines[0].get_ydata()
    assert np.allclose(ys, [100, 99, 98, 90, 50])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "CYGNO AE (LIME data)" in labels and fig.IMAGING_LABELS["classical_reco"] in labels
    f = fig.er_nr_performance(mpath, STYLE, [tmp_path / "ernr.pdf"])
    assert np.allclose(f.axes[0].lines[0].get_ydata(), [0.6, 0.6])
    scores = pd.DataFrame(
        {
            "energy": ["0.25", "0.25", "", ""],
            "signal": [True, True, False, False],
            "nsigma": [3.0, 1.0, 0.5, 2.0],
            "ae_local": [5.0, 4.0, 1.0, 0.0],
        }
    )
    spath = tmp_path / "roc.parquet"
    scores.to_parquet(spath)
    f = fig.roc(spath, mpath, STYLE, [tmp_path / "roc.png"], methods=("nsigma", "ae_local"))
    # ae_local separates perfectly: its ROC reaches efficiency 1 at zero false positives
    x, y = f.axes[0].lines[1].get_xdata(), f.axes[0].lines[1].get_ydata()
    assert np.any((np.asarray(x) == 0) & (np.asarray(y) == 1))
    ex = tmp_path / "examples.npz"
    rng = np.random.default_rng(0)
    np.savez(
        ex,
        raw=rng.integers(90, 110, (2, 16, 16)).astype(np.uint16),
        sub=rng.normal(size=(2, 16, 16)),
        error=rng.normal(size=(2, 16, 16)),
        truth=np.zeros((2, 16, 16)),
        roi=np.full((2, 16, 16), -1),
        energy=np.array(["1", "6"]),
        kind=np.array([1, 2]),
        event=np.array([3, 4]),
    )
    f = fig.image_display(ex, STYLE, [tmp_path / "disp.png"])
    assert len([a for a in f.axes if a.images]) == 8
    with pytest.raises(ValueError, match="no such file"):
        fig.intensity_area(tmp_path / "missing.json", STYLE, [tmp_path / "x.png"])


def test_simulate_chunk_and_read_chunks(tmp_path):
    cam = {"height": 32, "width": 32}
    rec = {"energy": {"distribution": "lines", "values_kev": [2.0]}, "margin_mm": 1.0}
    a = simulate_chunk(
        tmp_path / "c0.root", cam, rec, seed=3, chunk=0, frames_per_chunk=5, n_pedestal_frames=10
    )
    b = simulate_chunk(
        tmp_path / "c1.root", cam, rec, seed=3, chunk=1, frames_per_chunk=5, n_pedestal_frames=10
    )
    assert a["frames"] == 5 and a["file_bytes"] > 0 and b["recoils"] >= 0
    frames, ped = read_chunks([tmp_path / "c0.root", tmp_path / "c1.root"], require_truth=True)
    assert np.array_equal(frames.event, np.arange(10)) and ped.n_frames == 10
    simulate_chunk(
        tmp_path / "other.root", cam, rec, seed=4, chunk=0, frames_per_chunk=2, n_pedestal_frames=10
    )
    with pytest.raises(ValueError, match="another run"):
        read_chunks([tmp_path / "c0.root", tmp_path / "other.root"])
