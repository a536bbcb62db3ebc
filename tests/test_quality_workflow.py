"""Quality floors of the trained models on config/test.yaml (the shared ``test_run``).

Each floor is one a broken model cannot pass and the seeded run passes with margin (numbers of
the run in the comments, statistical errors from its fits):

* the ECAL network's x/y resolution is below the log-weighted CoG's on the same test windows
  (0.73 vs 1.49 mm in x, errors 0.08 mm); a regressor that forgot to add the log-CoG
  reference back gives residuals of tens of mm;
* its energy resolution is within 1.5x the classical one (2.2 % vs 1.9 %);
* stage 3: absolute position recovers the resolution lost by inclined incidence (1.19 vs
  2.61 mm), and inclined incidence does lose it against stage 2 (2.61 vs 0.73 mm);
* the pair classifier's F1 interval lies far above smart_random's (0.67-0.80 vs 0.07-0.21),
  and merging along its pairs raises the TP fraction of the clustering (0.73 vs 0.60).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.workflow


def metrics(run: Path, dataset: str, name: str) -> dict:
    return json.loads((run / f"results/{dataset}/metrics/{name}.json").read_text())


def fit_of(estimators: dict, est: str, q: str) -> tuple[float, float]:
    f = estimators[est][q]
    assert "sigma" in f and f["valid"], f"{est} {q}: the core fit failed: {f}"
    return f["sigma"], f["sigma_err"]


def check_ecal_network(run: Path) -> None:
    est = metrics(run, "ecal_stage2", "resolution")["estimators"]
    pitch = 38.3
    for q in ("x", "y"):
        nn, nn_err = fit_of(est, "nn", q)
        cog, cog_err = fit_of(est, "log_cog", q)
        assert nn < cog, f"NN sigma_{q} {nn:.3f} mm not below the log-CoG's {cog:.3f} mm"
        assert nn < 0.1 * pitch, f"NN sigma_{q} {nn:.3f} mm: more than a tenth of a cell"
        assert nn_err < 0.3 * nn  # the fit has the statistics to mean something
    e_nn, _ = fit_of(est, "nn", "energy")
    e_cog, _ = fit_of(est, "log_cog", "energy")
    assert e_nn < 1.5 * e_cog, f"NN sigma_E/E {e_nn:.4f} vs log-CoG {e_cog:.4f}"
    assert e_nn < 0.05


def check_absolute_position(run: Path) -> None:
    est3 = metrics(run, "ecal_stage3", "resolution")["estimators"]
    est2 = metrics(run, "ecal_stage2", "resolution")["estimators"]
    for q in ("x", "y"):
        plain, plain_err = fit_of(est3, "nn", q)
        absolute, abs_err = fit_of(est3, "nn_abspos", q)
        assert absolute < 0.75 * plain, (
            f"stage 3 sigma_{q}: with absolute position {absolute:.3f} mm, without {plain:.3f} mm"
        )
        assert plain - absolute > 3 * (plain_err**2 + abs_err**2) ** 0.5
        perpendicular, _ = fit_of(est2, "nn", q)
        assert plain > 1.5 * perpendicular, "inclined incidence should cost resolution"


def check_pair_classifier(run: Path) -> None:
    clf = metrics(run, "califa_uniform", "pairs")["classifiers"]
    nn, rnd = clf["nn"], clf["smart_random"]
    assert nn["f1_ci"][0] > rnd["f1_ci"][1] + 0.3, (nn, rnd)
    assert nn["f1"] > 4 * rnd["f1_expected"]
    assert nn["f1"] > 0.5 and nn["roc_auc"] > 0.85
    # every trained classifier beats chance by far; the tuned cuts too
    for name in ("nn_tiny", "gradient_boosting", "cut"):
        assert clf[name]["f1_ci"][0] > rnd["f1_ci"][1], name
    methods = metrics(run, "califa_uniform", "clustering")["methods"]
    merged, pre = methods["agglomerative+nn"], methods["agglomerative"]
    assert merged["TP"] > pre["TP"] + 0.05, (merged["TP"], pre["TP"])
    assert merged["events"] == pre["events"]


def test_ecal_network_beats_the_log_cog_on_the_same_windows(test_run):
    check_ecal_network(test_run)


def test_absolute_position_recovers_the_stage3_resolution(test_run):
    check_absolute_position(test_run)


def test_pair_classifier_far_above_smart_random(test_run):
    check_pair_classifier(test_run)
