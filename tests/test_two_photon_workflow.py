"""The two-photon analysis (ECAL stage 4) in the shared run of config/test.yaml (``test_run``):
the two_photon.json contract with values recomputed from the run's own window and fit files,
the models, the figures and the numbers.tex macros."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from caloreco.io.two_photon import read_pair_sample
from caloreco.nn.two_photon import load_pair_network
from caloreco.regression.two_photon import PI0_MASS_MEV, pair_masses, select
from caloreco.regression.two_shower_fit import select_result
from caloreco.report.numbers import macro_name, parse_numbers_tex
from caloreco.split import assign_split

from conftest import TEST_CONFIG

pytestmark = pytest.mark.workflow

DS = "ecal_stage4"
ESTIMATORS = {"nn", "fit", "fit_forced", "fit@fit_two", "nn@fit_two", "fit_forced@fit_two"}


@pytest.fixture(scope="module")
def cfg() -> dict:
    return yaml.safe_load(TEST_CONFIG.read_text())["datasets"][DS]


@pytest.fixture(scope="module")
def metrics(test_run) -> dict:
    return json.loads((test_run / f"results/{DS}/metrics/two_photon.json").read_text())


def _files(test_run, sample: str, kind: str, n: int) -> list:
    return [test_run / f"results/{DS}/two_photon/{sample}/{kind}-{c:03d}.npz" for c in range(n)]


def test_windows_and_fits_match_the_events(test_run, cfg):
    n = cfg["chunks"]
    win, fit = read_pair_sample(
        _files(test_run, "events", "windows", n), _files(test_run, "events", "fit", n)
    )
    assert int(win["n_events"]) == n * cfg["events_per_chunk"]
    assert int(win["n_usable"]) == len(win["label"]) and set(np.unique(win["label"])) == {1, 2}
    np.testing.assert_array_equal(
        win["split"], assign_split(win["event"], (0.6, 0.2, 0.2), cfg["seed"])
    )
    assert len(fit.n_showers) == len(win["label"]) and set(np.unique(fit.n_showers)) <= {1, 2}
    # the true pair masses of the dataset's events are the pi0's
    pi0 = win["mass_true"][win["label"] == 2]
    np.testing.assert_allclose(pi0, PI0_MASS_MEV, rtol=1e-5)
    # the training sample: pairs of parents of uniform mass in the configured range
    tw, _ = read_pair_sample(_files(test_run, "training", "windows", n))
    masses = tw["mass_true"][tw["label"] == 2]
    assert 70.0 <= masses.min() < 100.0 and 170.0 < masses.max() <= 200.0


def test_two_photon_json_contract(test_run, metrics, cfg):
    m = metrics
    n = cfg["chunks"]
    win, fit = read_pair_sample(
        _files(test_run, "events", "windows", n), _files(test_run, "events", "fit", n)
    )
    test = win["split"] == "test"
    label = win["label"][test]
    assert m["sample"]["n_test"] == int(test.sum())
    assert m["sample"]["n_two"] == int(np.sum(label == 2)) and m["sample"]["n_one"] == int(
        np.sum(label == 1)
    )
    assert ESTIMATORS <= set(m["mass"]) and ESTIMATORS <= set(m["overall"])
    # the fit's count, recomputed from its file: confusion rows true 1, 2; columns counted 1, 2
    counted = fit.n_showers[test]
    conf = [[int(np.sum((label == t) & (counted == c))) for c in (1, 2)] for t in (1, 2)]
    assert m["counting"]["fit"]["confusion"] == conf
    for name in ("nn", "fit", "local_maxima"):
        c = m["counting"][name]
        total = sum(map(sum, c["confusion"]))
        assert total == m["sample"]["n_test"]
        assert c["accuracy"]["value"] == pytest.approx(
            (c["confusion"][0][0] + c["confusion"][1][1]) / total
        )
    # per separation bin (cells) and per energy bin: every two-photon test window once
    edges = m["settings"]["separation_bins_cells"]
    assert [b["lo"] for b in m["vs_separation"]] == edges[:-1]
    sep = win["separation_mm"][test][label == 2] / m["settings"]["pitch_mm"]
    inside = (sep >= edges[0]) & (sep < edges[-1])
    assert sum(b["n_two"] for b in m["vs_separation"]) == int(inside.sum())
    assert sum(b["n_two"] + b["n_one"] for b in m["vs_energy"]) <= m["sample"]["n_test"]
    for b in m["vs_separation"]:
        for name, e in b["estimators"].items():
            for who in ("photon1", "photon2", "both"):
                assert set(e[who]) == {"x", "y", "energy"}, name
            assert e["n"] <= b["n_two"]
    # the mass peak with errors, network and fit; the fraction within 3 sigma over all pi0s
    for name in ("nn", "fit", "fit@fit_two"):
        mass = m["mass"][name]
        f = mass["fit"]
        assert abs(f["mu"] - PI0_MASS_MEV) < 15.0 and 0 < f["sigma"] < 20.0, name
        assert f["mu_err"] > 0 and f["sigma_err"] > 0
        w = mass["within_3sigma"]
        assert w["n"] == mass["n_events"] and 0.5 < w["value"] <= 1.0
    assert m["mass"]["fit"]["n_events"] == m["sample"]["n_two"]
    assert m["mass"]["fit@fit_two"]["n_events"] == conf[1][1]
    assert m["thesis"]["nn"]["sigma_x_mm"] == 4.2 and m["thesis"]["target"]["sigma_e_rel"] == 0.025
    goals = m["goals"]
    assert [g["goal"][:18] for g in goals] == [
        "nn beats fit in si",
        "thesis target over",
        "mass resolution >=",
        "counting accuracy ",
    ]
    g = goals[2]
    assert g["sigma_m_mev"] == [m["mass"]["nn"]["fit"]["sigma"], m["mass"]["fit"]["fit"]["sigma"]]
    assert g["met"] == (g["sigma_m_mev"][0] <= 0.8 * g["sigma_m_mev"][1])
    ov = m["overall"]["nn"]["both"]
    assert goals[1]["met"] == (ov["x"]["sigma"] <= 2.5 and ov["energy"]["sigma"] <= 0.025)
    ev = m["event_display"]
    assert np.asarray(ev["window_gev"]).shape == (9, 9) and {"nn", "fit"} <= set(ev["estimates"])


def test_mass_histogram_of_the_fit_from_its_files(test_run, metrics, cfg):
    """The fit's gamma gamma masses recomputed from the window and fit files (calibration
    from metrics) reproduce the histogram in two_photon.json."""
    from caloreco.regression.two_shower_fit import fit_estimates

    n = cfg["chunks"]
    win, fit = read_pair_sample(
        _files(test_run, "events", "windows", n), _files(test_run, "events", "fit", n)
    )
    test = win["split"] == "test"
    t, f = select(win, test), select_result(fit, test)
    photons = fit_estimates(t, f, metrics["fit_calibration"])["fit"]["photons"]
    masses = pair_masses(t, photons)[t["label"] == 2]
    edges = np.asarray(metrics["mass_histogram"]["edges_mev"])
    np.testing.assert_array_equal(
        np.histogram(masses, edges)[0], metrics["mass_histogram"]["counts"]["fit"]
    )


def test_models_figures_and_numbers(test_run, metrics):
    res = test_run / "results" / DS
    counter, meta = load_pair_network(res / "models/photon_counter.pt", "counter")
    assert counter.architecture == "dense" and meta["fit_inputs"] is True
    regressor, _ = load_pair_network(res / "models/two_photon_regressor.pt", "regressor")
    assert regressor.architecture == "cnn" and regressor.residual
    for kind in ("resolution", "mass", "counting", "display"):
        for style in ("thesis", "talk"):
            png = test_run / f"results/figures/{style}/{DS}-two_photon_{kind}.png"
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    macros = parse_numbers_tex((test_run / "results/tex/numbers.tex").read_text())
    got = macros[macro_name(DS, "nn", "MassSigma")]
    f = metrics["mass"]["nn"]["fit"]
    assert got[0] == pytest.approx(f["sigma"], abs=max(f["sigma_err"], 0.01))
    assert macro_name(DS, "fit_subset", "PairSigmaX") in macros
