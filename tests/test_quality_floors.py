"""The quality floors of tests/test_quality_workflow.py judged here on metrics files written by
hand (no workflow run): the numbers of the seeded test run pass, and each broken model the
floors are there for fails (a regressor that forgot the log-CoG reference, stage 3 without the
gain of absolute position, a pair classifier at chance, merging that does not help)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from test_quality_workflow import check_absolute_position, check_ecal_network, check_pair_classifier


def _fit(sigma: float, err: float) -> dict:
    return {"sigma": sigma, "sigma_err": err, "valid": True}


#: the numbers of the seeded test run quoted in test_quality_workflow's docstring
GOOD = {
    "ecal_stage2/resolution": {
        "estimators": {
            "nn": {"x": _fit(0.73, 0.08), "y": _fit(0.75, 0.08), "energy": _fit(0.022, 0.001)},
            "log_cog": {
                "x": _fit(1.49, 0.08),
                "y": _fit(1.47, 0.08),
                "energy": _fit(0.019, 0.001),
            },
        }
    },
    "ecal_stage3/resolution": {
        "estimators": {
            "nn": {"x": _fit(2.61, 0.15), "y": _fit(2.55, 0.15)},
            "nn_abspos": {"x": _fit(1.19, 0.1), "y": _fit(1.22, 0.1)},
        }
    },
    "califa_uniform/pairs": {
        "classifiers": {
            "nn": {"f1": 0.74, "f1_ci": [0.67, 0.80], "roc_auc": 0.93},
            "smart_random": {"f1_ci": [0.07, 0.21], "f1_expected": 0.14},
            "nn_tiny": {"f1_ci": [0.6, 0.75]},
            "gradient_boosting": {"f1_ci": [0.62, 0.77]},
            "cut": {"f1_ci": [0.4, 0.55]},
        }
    },
    "califa_uniform/clustering": {
        "methods": {
            "agglomerative+nn": {"TP": 0.73, "events": 200},
            "agglomerative": {"TP": 0.60, "events": 200},
        }
    },
}
CHECKS = (check_ecal_network, check_absolute_position, check_pair_classifier)


def _write(root: Path, metrics: dict) -> Path:
    for key, payload in metrics.items():
        ds, name = key.split("/")
        p = root / f"results/{ds}/metrics/{name}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(payload))
    return root


def test_the_seeded_run_passes_every_floor(tmp_path):
    run = _write(tmp_path, GOOD)
    for check in CHECKS:
        check(run)


def _broken(edit) -> dict:
    m = copy.deepcopy(GOOD)
    edit(m)
    return m


def _est(m, stage):
    return m[f"ecal_{stage}/resolution"]["estimators"]


@pytest.mark.parametrize(
    ("check", "edit"),
    [
        # the log-CoG reference not added back: residuals of tens of mm
        (check_ecal_network, lambda m: _est(m, "stage2")["nn"].update(x=_fit(21.0, 1.0))),
        # a network no better than the classical estimator it refines
        (check_ecal_network, lambda m: _est(m, "stage2")["nn"].update(y=_fit(1.5, 0.08))),
        # energy regression broken (window sum not undone)
        (check_ecal_network, lambda m: _est(m, "stage2")["nn"].update(energy=_fit(0.08, 0.004))),
        # a failed fit
        (check_ecal_network, lambda m: _est(m, "stage2")["nn"]["x"].update(valid=False)),
        # absolute position ignored by the stage-3 network
        (
            check_absolute_position,
            lambda m: _est(m, "stage3")["nn_abspos"].update(x=_fit(2.5, 0.15)),
        ),
        # a gain within the errors is no gain
        (
            check_absolute_position,
            lambda m: _est(m, "stage3").update(
                nn={"x": _fit(1.6, 0.5), "y": _fit(1.6, 0.5)},
                nn_abspos={"x": _fit(1.19, 0.3), "y": _fit(1.19, 0.3)},
            ),
        ),
        # the pair classifier at chance
        (
            check_pair_classifier,
            lambda m: m["califa_uniform/pairs"]["classifiers"]["nn"].update(
                f1=0.2, f1_ci=[0.12, 0.28], roc_auc=0.55
            ),
        ),
        # merging along the pairs does not raise TP
        (
            check_pair_classifier,
            lambda m: m["califa_uniform/clustering"]["methods"]["agglomerative+nn"].update(TP=0.62),
        ),
    ],
)
def test_a_broken_model_fails_its_floor(tmp_path, check, edit):
    run = _write(tmp_path, _broken(edit))
    with pytest.raises(AssertionError):
        check(run)
