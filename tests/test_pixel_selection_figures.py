"""Figures of the pixel-selection analysis drawn from the metrics and examples of a tiny run."""

import json
from pathlib import Path

import numpy as np
import pytest

from caloreco.imaging import pixel_selection as ps
from caloreco.imaging.camera import CameraTPC
from caloreco.imaging.simulate import RecoilSpec, simulate_camera, simulate_frames
from caloreco.plotting import pixel_selection as fig

STYLE = Path(__file__).resolve().parents[1] / "workflow/styles/thesis.mplstyle"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cam = CameraTPC(height=64, width=64)
    spec = RecoilSpec(
        energy={"distribution": "lines", "values_kev": [0.5, 1.0, 6.0], "balanced": True},
        margin_mm=2.0,
    )
    true, meas = simulate_camera(cam, seed=4, n_pedestal_frames=30)
    f = simulate_frames(cam, spec, true, 40, seed=4)
    s = ps.PixelSelectionSettings(
        unet={"channels": [4, 8], "patch": 32, "max_epochs": 2}, n_boot=10, n_examples=3
    )
    m, art = ps.pixel_selection_analysis(f, meas, s, pixel_mm=cam.pixel_mm, seed=0)
    root = tmp_path_factory.mktemp("ps")
    (root / "pixel_selection.json").write_text(json.dumps(m))
    np.savez_compressed(root / "examples.npz", **art["examples"])
    return root, m


def _ok(paths):
    for p in paths:
        data = Path(p).read_bytes()
        assert len(data) > 5000 and data.startswith(b"%PDF" if p.suffix == ".pdf" else b"\x89PNG")


def test_precision_recall_draws_the_metrics(run, tmp_path):
    root, m = run
    out = [tmp_path / "pr.pdf", tmp_path / "pr.png"]
    f = fig.precision_recall(root / "pixel_selection.json", STYLE, out)
    _ok(out)
    ax = f.axes[0]
    point = [ln for ln in ax.lines if ln.get_label().startswith("U-Net at")][0]
    assert point.get_xdata()[0] == pytest.approx(m["pixels"]["unet"]["recall"])
    assert point.get_ydata()[0] == pytest.approx(m["pixels"]["unet"]["precision"])
    ns = [ln for ln in ax.lines if "zero suppression" in ln.get_label()][0]
    assert len(ns.get_xdata()) == len(m["pixels"]["nsigma"])


def test_efficiency_fakes_integral_and_load(run, tmp_path):
    root, m = run
    mpath = root / "pixel_selection.json"
    f = fig.efficiency_fakes(mpath, STYLE, [tmp_path / "ef.pdf"])
    _ok([tmp_path / "ef.pdf"])
    # the first container of the left panel: the nsigma efficiencies per energy, then multi-keV
    eff = f.axes[0].containers[0].lines[0].get_ydata()
    v = m["clustering"]["methods"]["nsigma"]
    want = [v["per_energy"][e]["efficiency"]["value"] for e in m["energies"]]
    assert np.allclose(eff, [*want, v["multi_keV"]["efficiency"]["value"]])
    f = fig.integral_ratio(mpath, STYLE, [tmp_path / "ir.pdf"])
    _ok([tmp_path / "ir.pdf"])
    assert len(f.axes[0].containers) == 2 * len(m["clustering"]["methods"])
    f = fig.dbscan_load(mpath, STYLE, [tmp_path / "dl.png"])
    _ok([tmp_path / "dl.png"])
    pts = f.axes[0].containers[0].lines[0].get_ydata()
    assert pts[0] == pytest.approx(v["pedestal"]["points_per_frame"])


def test_selection_display_and_all(run, tmp_path):
    root, m = run
    f = fig.selection_display(root / "examples.npz", STYLE, [tmp_path / "d.png"], threshold=0.5)
    _ok([tmp_path / "d.png"])
    assert len(f.axes) == 3 * 3
    made = fig.all_figures(root / "pixel_selection.json", root / "examples.npz", tmp_path, STYLE)
    assert len(made) == 5
    _ok(made)
    with pytest.raises(ValueError, match="examples"):
        fig.selection_display(tmp_path / "missing.npz", STYLE, [tmp_path / "x.png"])
