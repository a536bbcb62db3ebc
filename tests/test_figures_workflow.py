"""Stage 4 on the complete run of config/test.yaml: figures, numbers.tex, notebooks, report.

Shares the session run (``test_run``) with test_workflow.py and test_rerun.py.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import nbformat
import pytest
import yaml

from caloreco.plotting.registry import FIGURES
from caloreco.report.numbers import macro_name, parse_numbers_tex

from conftest import TEST_CONFIG, planned_updates, run_copy

pytestmark = pytest.mark.workflow

FIGURE_RULES = {"numbers", "figure_index", "thesis", "talk"}  # and every figure_<kind>


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load(TEST_CONFIG.read_text())


def test_every_dataset_has_its_figures_in_both_styles(test_run, config):
    figures = test_run / "results/figures"
    for style in ("thesis", "talk"):
        names = {p.stem for p in (figures / style).glob("*.pdf")}
        for ds, spec in config["datasets"].items():
            expected = {f"{ds}-event_display", f"{ds}-loss_curves"}
            if "anomaly" in spec["analyses"]:  # camera images: no hit display
                expected = {
                    f"{ds}-{k}" for k in ("image_display", "intensity_area", "anomaly_roc", "er_nr")
                } | {f"{ds}-loss_curves"}
            if "unet" in spec.get("clustering", {}):  # U-Net pixel selection (camera images)
                expected |= {
                    f"{ds}-{k}"
                    for k in (
                        "pixel_precision_recall",
                        "pixel_efficiency_fakes",
                        "pixel_integral_ratio",
                        "pixel_dbscan_load",
                        "pixel_selection_display",
                    )
                }
            if "regression" in spec["analyses"]:
                expected |= {f"{ds}-windows", f"{ds}-residuals", f"{ds}-resolution"}
            if "pairs" in spec["analyses"]:
                expected |= {f"{ds}-{k}" for k in ("roc", "f1", "pair_scores", "event_categories")}
            if "two_photon" in spec["analyses"]:
                # no clustering of its own: the merged-pi0 display replaces the hit display
                expected = {f"{ds}-loss_curves"} | {
                    f"{ds}-two_photon_{k}" for k in ("resolution", "mass", "counting", "display")
                }
            assert expected <= names, (style, ds, sorted(expected - names))
        for pdf in (figures / style).glob("*.pdf"):
            assert pdf.read_bytes()[:5] == b"%PDF-", pdf
            assert pdf.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", pdf
    # the talk style is 16:9, the thesis one fits the 6.3 in text width
    from PIL import Image

    talk = Image.open(figures / "talk/ecal_stage2-residuals.png").size
    thesis = Image.open(figures / "thesis/ecal_stage2-residuals.png").size
    assert talk[0] / talk[1] == pytest.approx(16 / 9, rel=0.02)
    assert thesis[0] / 300 == pytest.approx(6.3, rel=0.02)  # 300 dpi


def test_figure_index_lists_every_figure_with_its_caption(test_run):
    index = (test_run / "results/figures/index.md").read_text()
    pdfs = sorted((test_run / "results/figures/thesis").glob("*.pdf"))
    assert pdfs
    for pdf in pdfs:
        row = next(line for line in index.splitlines() if line.startswith(f"| {pdf.stem} |"))
        assert f"(thesis/{pdf.name})" in row and "`figure_" in row
        caption = row.split(" | ")[2]
        assert len(caption) > 40 and "{{" not in caption, row
    assert "ecal_stage2" in index and "califa_uniform" in index


def test_numbers_tex_equals_the_metrics(test_run, config):
    """Every checked macro carries the metrics file's value and uncertainty (PDG-rounded)."""
    macros = parse_numbers_tex((test_run / "results/tex/numbers.tex").read_text())
    checked = 0

    def close(macro: tuple[float, float, float], value: float, err: float, scale: float = 1.0):
        # PDG rounding: the error to one or two significant digits, the value to the same place
        digit = 10.0 ** math.floor(math.log10(err * scale))
        assert macro[0] == pytest.approx(value * scale, abs=0.5 * digit + 1e-12)
        assert macro[1] == pytest.approx(err * scale, abs=0.5 * digit + 1e-12)

    for ds in config["datasets"]:
        metrics = test_run / f"results/{ds}/metrics"
        if (metrics / "resolution.json").exists():
            res = json.loads((metrics / "resolution.json").read_text())
            for est, fits in res["estimators"].items():
                x, e = fits["x"], fits["energy"]
                close(macros[macro_name(ds, est, "SigmaX")], x["sigma"], x["sigma_err"])
                checked += 1
                if res.get("mono_energetic") and est.startswith("nn"):
                    assert macro_name(ds, est, "SigmaE") not in macros
                    continue
                close(macros[macro_name(ds, est, "SigmaE")], e["sigma"], e["sigma_err"], 100)
                checked += 1
        if (metrics / "pairs.json").exists():
            pairs = json.loads((metrics / "pairs.json").read_text())
            for clf, m in pairs["classifiers"].items():
                value, lo, hi = macros[macro_name(ds, clf, "FOne")]
                # value and both errors are rounded to two decimals
                assert value == pytest.approx(m["f1"], abs=0.0051)
                assert value - lo == pytest.approx(m["f1_ci"][0], abs=0.0101)
                assert value + hi == pytest.approx(m["f1_ci"][1], abs=0.0101)
                checked += 1
        if (metrics / "clustering.json").exists():
            clus = json.loads((metrics / "clustering.json").read_text())
            for method, m in clus["methods"].items():
                close(macros[macro_name(ds, method, "TP")], m["TP"], m["TP_err"], 100)
                checked += 1
        if (metrics / "anomaly.json").exists():
            ano = json.loads((metrics / "anomaly.json").read_text())
            for sel, v in ano["selection"]["methods"].items():
                kept = v.get("kept_at_area", {}).get("0.978")
                if kept and kept["value"] is not None and kept["err"]:
                    close(
                        macros[macro_name(ds, sel, "KeptAtCygnoArea")],
                        kept["value"],
                        kept["err"],
                        100,
                    )
                    checked += 1
            for clf, acc in ano["er_nr"].get("overall", {}).items():
                if acc["accuracy_err"]:
                    got = macros[macro_name(ds, clf, "ErNrAccuracy")]
                    close(got, acc["accuracy"], acc["accuracy_err"], 100)
                    checked += 1
        if (metrics / "two_photon.json").exists():
            tp = json.loads((metrics / "two_photon.json").read_text())
            for est, name in (("nn", "nn"), ("fit", "fit"), ("fit@fit_two", "fit_subset")):
                x = tp["overall"][est]["both"]["x"]
                close(macros[macro_name(ds, name, "PairSigmaX")], x["sigma"], x["sigma_err"])
                m = tp["mass"][est]["fit"]
                close(macros[macro_name(ds, name, "MassSigma")], m["sigma"], m["sigma_err"])
                checked += 2
    assert checked >= 10


def test_notebooks_executed_without_errors(test_run, config):
    for ds in config["datasets"]:
        for name in ("dataset_overview", "model_review"):
            path = test_run / f"results/notebooks/{ds}/{name}.ipynb"
            nb = nbformat.read(path, as_version=4)
            code = [c for c in nb.cells if c.cell_type == "code"]
            assert all(c.get("execution_count") for c in code), path
            outputs = [o for c in code for o in c.get("outputs", [])]
            assert not [o for o in outputs if o.get("output_type") == "error"], path
            # papermill injected this dataset, and the notebook drew figures from its results
            assert any(f'"{ds}"' in "".join(c.source) for c in code), path
            assert any("image/png" in o.get("data", {}) for o in outputs), path
            html = path.with_suffix(".html").read_text()
            assert ds in html and "<img" in html


def test_style_edit_redraws_only_figures(test_run):
    style = test_run / "workflow/styles/thesis.mplstyle"
    original, stat = style.read_text(), style.stat()
    try:
        style.write_text(original + "\nlines.linewidth: 1.3\n")
        updates = planned_updates(test_run)
        proc = run_copy(test_run, "--configfile", "test.yaml", "--dry-run", "--quiet", "rules")
    finally:
        style.write_text(original)
        os.utime(style, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert {rule for rule, _ in updates} <= {f"figure_{k}" for k in FIGURES}
    assert {rule for rule, _ in updates}
    assert {Path(p).parts[:3] for _, p in updates} == {("results", "figures", "thesis")}
    n_thesis = len(list((test_run / "results/figures/thesis").glob("*.pdf")))
    assert len(updates) == 2 * n_thesis  # pdf and png of every thesis figure, nothing else
    planned = {
        line.split()[0]
        for line in proc.stdout.splitlines()
        if line.strip() and line.split()[0].isidentifier() and line.split()[-1].isdigit()
    }
    figure_rules = {f"figure_{k}" for k in FIGURES}
    assert planned <= FIGURE_RULES | figure_rules | {"all", "job", "total"}, planned
    assert planned_updates(test_run) == []  # restoring the file restores the cache


def test_report_builds_with_figures_and_captions(test_run):
    run_copy(test_run, "--configfile", "test.yaml", "--report", "results/report.html")
    html = (test_run / "results/report.html").read_text(errors="replace")
    assert len(html) > 100_000  # the figures are embedded
    for text in ("ecal_stage2", "califa_uniform", "Simulation QA", "resolution", "F1"):
        assert text in html, text
