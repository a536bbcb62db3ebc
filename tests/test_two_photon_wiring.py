"""The two-photon analysis as the workflow runs it: config checks, settings, the stage chain on
a small simulated sample, the metrics' failure accounting and the numbers.tex macros."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
from test_two_photon import Z_FRONT, _synthetic_sample

from caloreco.config import ConfigError, _cross_check
from caloreco.io.two_photon import read_pair_sample
from caloreco.regression.two_photon import (
    PI0_MASS_MEV,
    degenerate_pair,
    evaluate_estimates,
    invariant_mass,
    pair_masses,
)
from caloreco.regression.two_photon_settings import (
    network_settings,
    training_simulation,
    two_photon_settings,
    window_settings,
)
from caloreco.regression.two_shower_fit import result_arrays, result_from_arrays, two_shower_fit
from caloreco.report.numbers import headline_numbers, macro_name

ECAL = {"preset": "ecal", "geometry": {"n_rows": 48, "n_cols": 48}}
DATASET = {
    "detector": "ecal",
    "source": "simulate",
    "seed": 104,
    "chunks": 1,
    "events_per_chunk": 300,
    "simulation": {
        "process": "pi0",
        "energy": {"distribution": "uniform", "min_mev": 40000.0, "max_mev": 250000.0},
        "incidence": "target",
        "max_angle_rad": 0.027,
        "margin_cells": 5,
        "single_photon_fraction": 0.35,
    },
    "analyses": ["two_photon"],
}


def _config(**changes) -> dict:
    ds = copy.deepcopy(DATASET)
    for key, value in changes.items():
        ds[key] = value
    return {"detectors": {"ecal": ECAL}, "datasets": {"ecal_stage4": ds}}


# --------------------------------------------------------------------------------------------
# config


def test_config_accepts_the_dataset_and_names_both_keys_when_wrong():
    _cross_check(_config())
    bad = {
        "photons": (
            {"simulation": {**DATASET["simulation"], "process": "photons", "n_primaries": 1}},
            "simulation.process",
        ),
        "no singles": (
            {"simulation": {**DATASET["simulation"], "single_photon_fraction": 0.0}},
            "single_photon_fraction",
        ),
        "settings, no analysis": ({"analyses": [], "two_photon": {"size": 9}}, "two_photon"),
        "mass range": ({"two_photon": {"training_mass_mev": [200.0, 70.0]}}, "training_mass_mev"),
        "even size": ({"two_photon": {"size": 8}}, "two_photon.size"),
        "margin": ({"two_photon": {"size": 5, "edge_margin_cells": 3.0}}, "edge_margin_cells"),
        "bins": ({"two_photon": {"separation_bins_cells": [0.0, 2.0, 1.0]}}, "separation_bins"),
        "residual": ({"two_photon": {"fit_inputs": False}}, "regressor.residual"),
    }
    for name, (changes, key) in bad.items():
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            _cross_check(_config(**changes))
        assert name


def test_config_refuses_two_photon_on_califa():
    cfg = _config()
    cfg["detectors"]["califa"] = {"preset": "califa"}
    cfg["datasets"]["ecal_stage4"]["detector"] = "califa"
    with pytest.raises(ConfigError, match="needs an ecal detector"):
        _cross_check(cfg)


def test_settings_defaults_and_overrides():
    s = two_photon_settings({"regressor": {"max_epochs": 3}, "size": 7})
    assert s["regressor"]["max_epochs"] == 3 and s["regressor"]["architecture"] == "cnn"
    assert s["counter"]["architecture"] == "dense" and s["training_mass_mev"] == [70.0, 200.0]
    assert window_settings(s) == {
        "size": 7,
        "seed_threshold_mev": 300.0,
        "min_photon_mev": 1000.0,
        "edge_margin_cells": 1.0,
    }
    net = network_settings(s, "regressor")
    assert net == {
        "architecture": "cnn",
        "lr": 1e-3,
        "batch_size": 256,
        "max_epochs": 3,
        "patience": 8,
        "residual": True,
    }
    with pytest.raises(ValueError, match="which"):
        network_settings(s, "classifier")
    sim = training_simulation(DATASET["simulation"], [70.0, 200.0])
    assert sim["parent_mass_mev"] == {"distribution": "uniform", "min_mev": 70.0, "max_mev": 200.0}
    assert sim["energy"] == DATASET["simulation"]["energy"]
    with pytest.raises(ValueError, match="pi0"):
        training_simulation({"n_primaries": 1}, [70.0, 200.0])


# --------------------------------------------------------------------------------------------
# the metrics: pair order, masses and the fit's one-shower failures on hand-made events


def test_one_shower_events_count_as_failures_and_the_subset_is_scored_apart():
    rng = np.random.default_rng(3)
    n = 4000
    s = _synthetic_sample(n, rng)
    t = np.where(np.isfinite(s["truth"]), s["truth"], 0.0)
    two = s["label"] == 2
    # make every pair a pi0: scale its separation about the energy-weighted centre until the
    # invariant mass is m_pi0 (the mass is nearly linear in the separation)
    e = t[:, 2] + t[:, 5]
    for _ in range(4):
        c = [(t[:, j] * t[:, 2] + t[:, j + 3] * t[:, 5]) / e for j in (0, 1)]
        factor = np.where(two, PI0_MASS_MEV / np.where(two, pair_masses(s, t), 1.0), 1.0)
        for j in (0, 1):
            t[:, j] = c[j] + (t[:, j] - c[j]) * factor
            t[:, j + 3] = c[j] + (t[:, j + 3] - c[j]) * factor
    s = {**s, "truth": np.where(np.isfinite(s["truth"]), t, np.nan)}
    np.testing.assert_allclose(pair_masses(s, t)[two], PI0_MASS_MEV, rtol=1e-9)
    # the mass resolution is that of a 1 % energy smearing of each photon
    t[:, [2, 5]] *= 1 + rng.normal(0, 0.01, (n, 2))
    # "fit": exact photons, but one shower (a degenerate pair at the energy-weighted centre)
    # in every third two-photon window; it counts those as one photon
    fails = two & (np.arange(n) % 3 == 0)
    e = t[:, 2] + t[:, 5]
    centre = np.column_stack(
        [
            (t[:, 0] * t[:, 2] + t[:, 3] * t[:, 5]) / e,
            (t[:, 1] * t[:, 2] + t[:, 4] * t[:, 5]) / e,
            e,
        ]
    )
    fit = np.where(fails[:, None], degenerate_pair(centre), t)
    count = np.where(two & ~fails, 2, 1)
    # "nn": the same photons, reported in the swapped order
    nn = np.concatenate([t[:, 3:], t[:, :3]], axis=1)
    est = {"fit": {"photons": fit, "n_photons": count}, "nn": {"photons": nn, "n_photons": count}}
    m = evaluate_estimates(s, est)
    # the masses of the true photons, computed here independently in the detector frame
    ox, oy = s["origin_x_mm"], s["origin_y_mm"]
    m_true = invariant_mass(
        t[:, 2], t[:, 0] + ox, t[:, 1] + oy, t[:, 5], t[:, 3] + ox, t[:, 4] + oy, Z_FRONT
    )
    np.testing.assert_allclose(pair_masses(s, nn)[two], m_true[two], rtol=1e-12)
    # m ~ sqrt(E1 E2): 1 % on each energy gives 0.71 % on the mass
    assert m["mass"]["nn"]["fit"]["sigma"] == pytest.approx(
        0.01 / math.sqrt(2) * PI0_MASS_MEV, rel=0.06
    )
    assert m["mass"]["nn"]["fit"]["mu"] == pytest.approx(PI0_MASS_MEV, rel=1e-3)
    assert np.all(pair_masses(s, fit)[fails] == 0.0)  # a degenerate pair has no opening angle
    n_two, n_fail = int(two.sum()), int(fails.sum())
    # every two-photon window is scored; the failures fall outside the 3 sigma window
    w_nn, w_fit = m["mass"]["nn"]["within_3sigma"], m["mass"]["fit"]["within_3sigma"]
    assert w_fit["n"] == w_nn["n"] == n_two
    # the fit's core is that of the network (the same photons where it found two)
    assert m["mass"]["fit"]["fit"]["sigma"] == pytest.approx(
        m["mass"]["nn"]["fit"]["sigma"], rel=0.05
    )
    assert w_fit["k"] <= n_two - n_fail < w_nn["k"]
    assert w_fit["value"] == pytest.approx((1 - n_fail / n_two) * w_nn["value"], abs=0.01)
    # the thesis's subset: only where the fit found two showers
    sub = m["mass"]["fit@fit_two"]
    assert sub["n_events"] == n_two - n_fail
    assert sub["within_3sigma"]["value"] == pytest.approx(w_nn["value"], abs=0.01)
    assert m["overall"]["fit"]["both"]["x"]["n"] == 2 * n_two
    assert m["overall"]["fit"]["fraction_two"]["value"] == pytest.approx(1 - n_fail / n_two)
    # the count: one- and two-photon confusion of the fit, failures in the (2, 1) cell
    n_one = n - n_two
    assert m["counting"]["fit"]["confusion"] == [[n_one, 0], [n_fail, n_two - n_fail]]
    # event display: a two-photon window where the fit kept two showers
    ev = m["event_display"]
    assert ev["estimates"]["fit"]["n_photons"] == 2
    assert [g["goal"] for g in m["goals"]][1] == "thesis target overall (2.5 mm, 2.5 %)"


def test_headline_numbers_of_two_photon_json():
    fit = {"sigma": 1.25, "sigma_err": 0.05}
    tp = {
        "overall": {
            "nn": {"both": {"x": fit, "y": fit, "energy": {"sigma": 0.021, "sigma_err": 0.001}}},
            "fit": {"both": {"x": {"sigma": 2.0, "sigma_err": 0.1}}},
        },
        "mass": {
            "nn": {
                "fit": {"sigma": 2.5, "sigma_err": 0.2},
                "within_3sigma": {"value": 0.9, "err_lo": 0.01, "err_hi": 0.02},
            }
        },
        "counting": {"fit": {"accuracy": {"value": 0.95, "err_lo": 0.005, "err_hi": 0.004}}},
    }
    out = headline_numbers({"ecal_stage4": {"two_photon": tp}})
    assert out[macro_name("ecal_stage4", "nn", "PairSigmaX")].value == 1.25
    assert out[macro_name("ecal_stage4", "nn", "PairSigmaE")].value == pytest.approx(2.1)
    assert out[macro_name("ecal_stage4", "fit", "PairSigmaX")].err_lo == 0.1
    w = out[macro_name("ecal_stage4", "nn", "MassWithin")]
    assert (w.value, w.err_lo, w.err_hi) == pytest.approx((90.0, 1.0, 2.0))
    assert out[macro_name("ecal_stage4", "fit", "CountAccuracy")].value == pytest.approx(95.0)
    assert macro_name("ecal_stage4", "fit", "MassSigma") not in out


# --------------------------------------------------------------------------------------------
# the stage chain on one small simulated chunk


def test_fit_result_round_trip():
    rng = np.random.default_rng(1)
    w = rng.exponential(50.0, (5, 9, 9)).astype(np.float32)
    w[:, 4, 4] += 20000.0
    r = two_shower_fit(w, 38.3)
    back = result_from_arrays(result_arrays(r))
    for a, b in zip(r, back, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="fit_n_showers"):
        result_from_arrays({k: v for k, v in result_arrays(r).items() if k != "fit_n_showers"})


def test_stage_chain_writes_the_contract(tmp_path):
    from caloreco.stages import (
        evaluate_two_photon,
        train_photon_counter,
        train_two_photon_regressor,
        two_photon_windows,
    )
    from caloreco.stages import (
        two_shower_fit as fit_stage,
    )

    torch.set_num_threads(1)
    ds = copy.deepcopy(DATASET)
    settings = {"counter": {"max_epochs": 1}, "regressor": {"max_epochs": 1}}
    fractions = (0.5, 0.25, 0.25)
    paths = {}
    for sample in ("events", "training"):
        # the training sample is simulated by the stage; events come from the same simulation
        # with the pi0 mass, through the stage's training path (no raw file needed here)
        s = settings if sample == "training" else {**settings, "training_mass_mev": [134.0, 136.0]}
        w = tmp_path / f"{sample}-windows.npz"
        out = two_photon_windows.run(w, s, 104, fractions, 0, dataset_cfg=ds, detector_cfg=ECAL)
        assert int(out["n_events"]) == 300 and int(out["n_usable"]) == len(out["label"])
        assert set(np.unique(out["label"])) == {1, 2}
        assert set(np.unique(out["split"])) == {"train", "val", "test"}
        f = tmp_path / f"{sample}-fit.npz"
        fit_stage.run(w, f, s)
        paths[sample] = ([w], [f])
    win, fit = read_pair_sample(*paths["training"])
    assert len(fit.n_showers) == len(win["label"]) and int(win["n_events"]) == 300
    # the mass-agnostic sample: true pair masses spread over the configured range
    masses = win["mass_true"][win["label"] == 2]
    assert masses.min() < 100.0 and masses.max() > 170.0
    events, _ = read_pair_sample(paths["events"][0])
    pi0 = events["mass_true"][events["label"] == 2]
    assert np.all(np.abs(pi0 - 135.0) < 1.0 + 1e-9)
    models = {}
    for name, stage in (
        ("counter", train_photon_counter),
        ("regressor", train_two_photon_regressor),
    ):
        models[name] = (tmp_path / f"{name}.pt", tmp_path / f"{name}.history.csv")
        stage.run(*paths["training"], *models[name], settings, "hash")
    metrics_path = tmp_path / "two_photon.json"
    evaluate_two_photon.run(
        *paths["events"],
        *paths["training"],
        models["counter"][0],
        models["regressor"][0],
        models["counter"][1],
        models["regressor"][1],
        settings,
        metrics_path,
    )
    m = json.loads(metrics_path.read_text())
    assert m["sample"]["n_test"] == int(np.sum(events["split"] == "test"))
    assert {"nn", "fit", "fit@fit_two", "fit_forced"} <= set(m["mass"])
    assert len(m["goals"]) == 4 and all(isinstance(g["met"], bool) for g in m["goals"])
    assert m["networks"]["regressor"]["architecture"] == "cnn"
    assert m["networks"]["regressor"]["epochs"] == 1
    assert m["thesis"]["nn"] == {"sigma_x_mm": 4.2, "sigma_y_mm": 3.3, "sigma_e_rel": 0.035}
    assert math.isclose(PI0_MASS_MEV, 134.9768)
    # the wrong kind of network is refused by name
    with pytest.raises(ValueError, match="counter"):
        evaluate_two_photon.run(
            *paths["events"],
            *paths["training"],
            models["regressor"][0],
            models["regressor"][0],
            models["counter"][1],
            models["regressor"][1],
            settings,
            metrics_path,
        )
