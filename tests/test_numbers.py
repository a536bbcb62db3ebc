"""numbers.tex: one macro per headline number, equal to the metrics values; the figure index."""

from __future__ import annotations

import re

import pytest

from caloreco.report.captions import caption_from_rst
from caloreco.report.figure_index import write_figure_index
from caloreco.report.numbers import (
    Number,
    headline_numbers,
    macro_name,
    parse_numbers_tex,
    pixel_selection_numbers,
    write_numbers_tex,
)


def fit(sigma, err, mu=0.0):
    return {"mu": mu, "mu_err": err, "sigma": sigma, "sigma_err": err, "sigma68": sigma, "n": 900}


METRICS = {
    "ecal_stage2": {
        "resolution": {
            "estimators": {
                "nn": {
                    "x": fit(0.3681, 0.0068),
                    "y": fit(0.3714, 0.0069),
                    "energy": fit(0.019938, 0.000359),
                },
                "log_cog": {
                    "x": fit(0.4654, 0.0085),
                    "y": fit(0.4644, 0.0085),
                    "energy": fit(0.019664, 0.000357),
                },
                "profile_fit": {
                    "x": fit(0.548, 0.0097),
                    "y": {"error": "too few", "n": 3},
                    "energy": fit(0.01942, 0.00035, mu=-0.03),
                },
            },
            "resolution_function": {
                "nn": {"a": 0.0828, "a_err": 0.0065, "b": 0.01712, "b_err": 0.00055, "c": 0.0},
                "log_cog": {"error": "did not converge"},
            },
        }
    },
    "califa_2p1": {
        "pairs": {
            "positive_fraction": 0.075,
            "classifiers": {
                "nn": {"f1": 0.9531, "f1_ci": [0.9401, 0.9641]},
                "smart_random": {"f1": 0.0751, "f1_ci": [0.057, 0.0951], "f1_expected": 0.075},
            },
        },
        "clustering": {
            "events_subset": "test",
            "methods": {
                "agglomerative+nn": {
                    "TP": 0.9491,
                    "TP_err": 0.0036,
                    "WR": 0.96623,
                    "WR_err": 0.00191,
                },
                "cone": {"TP": 0.7390, "TP_err": 0.0078, "WR": 0.8785, "WR_err": 0.0035},
            },
        },
    },
}


def test_macro_names_are_letters_only():
    assert macro_name("califa_2p1", "agglomerative+nn", "TP") == "CalifaTwoPOneAgglomerativeNnTP"
    assert macro_name("ecal_stage2", "nn", "SigmaX") == "EcalStageTwoNnSigmaX"
    assert macro_name("ecal_stage3", "nn_abspos", "SigmaE") == "EcalStageThreeNnAbsposSigmaE"
    assert macro_name("x10", "f1") == "XOneZeroFOne"
    with pytest.raises(ValueError, match="parts"):
        macro_name("_", "+")


@pytest.mark.parametrize(
    ("value", "err_lo", "err_hi", "expected"),
    [
        (1.2345, 0.0356, 0.0356, "1.23 \\pm 0.04"),  # 356: one digit
        (0.8780, 0.0120, 0.0120, "0.878 \\pm 0.012"),  # 120: two digits
        (0.8780, 0.0098, 0.0098, "0.878 \\pm 0.010"),  # 980: up to 1000, two digits
        (0.8780, 0.0095, 0.0095, "0.878 \\pm 0.010"),  # 950 is rounded up too
        (0.5, 0.10, 0.10, "0.50 \\pm 0.10"),  # trailing zeros are significant
        (123.4, 12.3, 12.3, "123 \\pm 12"),
        (96.623, 0.191, 0.191, "96.62 \\pm 0.19"),
        (0.953, 0.013, 0.011, "0.953 {}_{-0.013}^{+0.011}"),  # digits of the smaller error
        (12345.0, 999.0, 999.0, "12300 \\pm 1000"),  # no scientific notation in the text
    ],
)
def test_pdg_rounding(value, err_lo, err_hi, expected):
    assert Number(value, err_lo, err_hi, "", "").tex() == expected


def test_numbers_tex_macros_equal_the_metrics(tmp_path):
    out = tmp_path / "tex/numbers.tex"
    written = write_numbers_tex(METRICS, out)
    parsed = parse_numbers_tex(out.read_text())
    assert set(parsed) == set(written) == set(headline_numbers(METRICS))
    assert all(name.isalpha() for name in parsed)
    res = METRICS["ecal_stage2"]["resolution"]["estimators"]
    clu = METRICS["califa_2p1"]["clustering"]["methods"]
    pairs = METRICS["califa_2p1"]["pairs"]["classifiers"]
    expected = {
        "EcalStageTwoNnSigmaX": (res["nn"]["x"]["sigma"], res["nn"]["x"]["sigma_err"]),
        "EcalStageTwoLogCogSigmaY": (
            res["log_cog"]["y"]["sigma"],
            res["log_cog"]["y"]["sigma_err"],
        ),
        "EcalStageTwoNnSigmaE": (100 * res["nn"]["energy"]["sigma"], 0.0359),
        "EcalStageTwoProfileFitSigmaE": (1.942, 0.035),
        "EcalStageTwoNnStochasticTerm": (8.28, 0.65),
        "EcalStageTwoNnConstantTerm": (1.712, 0.055),
        "CalifaTwoPOneAgglomerativeNnTP": (100 * clu["agglomerative+nn"]["TP"], 0.36),
        "CalifaTwoPOneAgglomerativeNnWR": (100 * clu["agglomerative+nn"]["WR"], 0.191),
        "CalifaTwoPOneConeTP": (73.90, 0.78),
        "CalifaTwoPOneConeWR": (87.85, 0.35),
    }
    for name, (value, err) in expected.items():
        v, lo, hi = parsed[name]
        decimals = len(str(v).split(".")[1]) if "." in str(v) else 0
        tol = 0.5 * 10 ** -max(decimals, 1) + 1e-12
        assert v == pytest.approx(value, abs=max(tol, abs(err) * 0.05 + 1e-9)), name
        assert lo == hi == pytest.approx(err, rel=0.15), name
    # a fit that failed or a resolution function that failed gives no macro
    assert "EcalStageTwoProfileFitSigmaY" not in parsed
    assert "EcalStageTwoLogCogStochasticTerm" not in parsed
    # F1 carries its asymmetric 95 % interval
    v, lo, hi = parsed["CalifaTwoPOneNnFOne"]
    assert v == pytest.approx(pairs["nn"]["f1"], abs=5e-4)
    assert lo == pytest.approx(pairs["nn"]["f1"] - pairs["nn"]["f1_ci"][0], abs=5e-4)
    assert hi == pytest.approx(pairs["nn"]["f1_ci"][1] - pairs["nn"]["f1"], abs=5e-4)
    text = out.read_text()
    assert r"\newcommand{\CalifaTwoPOneNnFOne}{\ensuremath{0.953 {}_{-0.013}^{+0.011}}}" in text
    assert r"\newcommand{\EcalStageTwoNnSigmaX}{\ensuremath{0.368 \pm 0.007}}" in text


def test_figure_index(tmp_path):
    rst = tmp_path / "cap.rst"
    rst.write_text("ROC curves of dataset {{ snakemake.wildcards.dataset }}\non ``test`` pairs.\n")
    cap = caption_from_rst(rst, dataset="califa_uniform")
    assert cap == "ROC curves of dataset califa_uniform on `test` pairs."
    out = tmp_path / "figures/index.md"
    write_figure_index(
        [
            {
                "figure": "califa_uniform-roc",
                "caption": cap,
                "rule": "figure",
                "files": [tmp_path / "figures/thesis/califa_uniform-roc.pdf"],
            },
            {"figure": "a|b", "caption": "x | y", "rule": "figure"},
        ],
        out,
    )
    text = out.read_text()
    assert "| califa_uniform-roc | [thesis pdf](thesis/califa_uniform-roc.pdf) |" in text
    assert "x \\| y" in text
    with pytest.raises(ValueError, match="rule"):
        write_figure_index([{"figure": "x", "caption": "y"}], out)


def test_no_energy_macro_for_a_network_on_one_beam_energy():
    res = dict(METRICS["ecal_stage2"]["resolution"], mono_energetic=True)
    numbers = headline_numbers({"ecal_stage1": {"resolution": res}})
    assert "EcalStageOneNnSigmaE" not in numbers
    assert "EcalStageOneNnSigmaX" in numbers and "EcalStageOneLogCogSigmaE" in numbers


#: every macro of METRICS by hand: (value, err_lo, err_hi, unit in the comment)
EXPECTED_MACROS = {
    "EcalStageTwoNnSigmaX": (0.3681, 0.0068, 0.0068, "mm"),
    "EcalStageTwoNnSigmaY": (0.3714, 0.0069, 0.0069, "mm"),
    "EcalStageTwoNnSigmaE": (1.9938, 0.0359, 0.0359, "%"),
    "EcalStageTwoLogCogSigmaX": (0.4654, 0.0085, 0.0085, "mm"),
    "EcalStageTwoLogCogSigmaY": (0.4644, 0.0085, 0.0085, "mm"),
    "EcalStageTwoLogCogSigmaE": (1.9664, 0.0357, 0.0357, "%"),
    "EcalStageTwoProfileFitSigmaX": (0.548, 0.0097, 0.0097, "mm"),
    "EcalStageTwoProfileFitSigmaE": (1.942, 0.035, 0.035, "%"),
    "EcalStageTwoNnStochasticTerm": (8.28, 0.65, 0.65, "% sqrt(GeV)"),
    "EcalStageTwoNnConstantTerm": (1.712, 0.055, 0.055, "%"),
    "CalifaTwoPOneNnFOne": (0.9531, 0.9531 - 0.9401, 0.9641 - 0.9531, ""),
    "CalifaTwoPOneSmartRandomFOne": (0.0751, 0.0751 - 0.057, 0.0951 - 0.0751, ""),
    "CalifaTwoPOneAgglomerativeNnTP": (94.91, 0.36, 0.36, "%"),
    "CalifaTwoPOneAgglomerativeNnWR": (96.623, 0.191, 0.191, "%"),
    "CalifaTwoPOneConeTP": (73.90, 0.78, 0.78, "%"),
    "CalifaTwoPOneConeWR": (87.85, 0.35, 0.35, "%"),
}
_LINE = re.compile(r"^\\newcommand\{\\([A-Za-z]+)\}\{\\ensuremath\{(.*)\}\}$")
_SYM = re.compile(r"^(-?[0-9.]+) \\pm ([0-9.]+)$")
_ASYM = re.compile(r"^(-?[0-9.]+) \{\}_\{-([0-9.]+)\}\^\{\+([0-9.]+)\}$")


def half_unit(text: str) -> float:
    """Half a unit of the last printed digit of a number."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10.0**-decimals + 1e-12


def test_every_macro_round_trips_against_the_metrics(tmp_path):
    out = tmp_path / "numbers.tex"
    write_numbers_tex(METRICS, out)
    lines = out.read_text().splitlines()
    found = {}
    for k, line in enumerate(lines):
        m = _LINE.match(line)
        if not m:
            continue
        name, body = m.groups()
        sym, asym = _SYM.match(body), _ASYM.match(body)
        assert sym or asym, f"{name}: {body!r} is neither v \\pm e nor v _{{-lo}}^{{+hi}}"
        parts = sym.groups() + sym.groups()[1:] if sym else asym.groups()
        found[name] = (parts, lines[k - 1])
    assert set(found) == set(EXPECTED_MACROS)
    for name, (value, lo, hi, unit) in EXPECTED_MACROS.items():
        (v_txt, lo_txt, hi_txt), comment = found[name]
        # the value and its errors are the metrics' own, rounded to the printed digits
        assert abs(float(v_txt) - value) <= half_unit(v_txt), name
        assert abs(float(lo_txt) - lo) <= half_unit(lo_txt), name
        assert abs(float(hi_txt) - hi) <= half_unit(hi_txt), name
        # the PDG rule: the value has the decimals of its (smaller) error
        assert half_unit(v_txt) == half_unit(lo_txt if float(lo) <= float(hi) else hi_txt), name
        # the comment above each macro says what it is and its unit
        assert comment.startswith("% "), name
        assert comment.endswith(f" [{unit}]") if unit else not comment.endswith("]"), name
    assert parse_numbers_tex(out.read_text()).keys() == EXPECTED_MACROS.keys()
    # descriptions name the dataset, the estimator and the events
    text = out.read_text()
    assert "% califa_2p1: TP of cone (test events) [%]" in text
    assert "% ecal_stage2: core Gaussian sigma of x residuals, profile_fit [mm]" in text
    assert "% ecal_stage2: resolution function term a, nn [% sqrt(GeV)]" in text
    assert "% califa_2p1: F1 on test pairs (95 % CI), smart_random" in text


def test_numbers_without_uncertainty_and_skipped_entries():
    # no error (or a non-finite one): three significant digits
    assert Number(0.123456, 0.0, 0.0, "", "").tex() == "0.123"
    assert Number(96.6234, float("nan"), float("nan"), "", "").tex() == "96.6"
    metrics = {
        "x1": {
            "resolution": {
                "estimators": {
                    "nn": {"x": {"sigma": float("nan"), "sigma_err": 0.1}, "y": {"n": 3}},
                    "lc": {"x": {"sigma": 0.5}},  # no error given: error 0
                }
            },
            "pairs": {"classifiers": {"cut": {"f1": 0.7}, "bad": {"auc": 0.5}}},
            "clustering": {"methods": {"cone": {"TP": None, "WR": 0.8}}},
        }
    }
    numbers = headline_numbers(metrics)
    assert set(numbers) == {"XOneLcSigmaX", "XOneCutFOne", "XOneConeWR"}
    assert numbers["XOneLcSigmaX"] == Number(
        0.5, 0.0, 0.0, "mm", numbers["XOneLcSigmaX"].description
    )
    assert (numbers["XOneCutFOne"].value, numbers["XOneCutFOne"].err_lo) == (0.7, 0.0)
    assert numbers["XOneConeWR"].value == pytest.approx(80.0)
    assert numbers["XOneConeWR"].err_hi == 0.0
    assert "all events" in numbers["XOneConeWR"].description  # no events_subset given
    assert numbers["XOneCutFOne"].symmetric and not Number(1, 0.1, 0.2, "", "").symmetric


def test_attribution_and_anomaly_macros_by_hand():
    """The macros of attribution.json and anomaly.json (issues 15 and 13): every value and
    error is the metric's, in the unit of the macro (% for fractions), and each description
    says what it is."""
    att = {
        "hit_level": {
            "network": {"raw": {"f1": 0.62, "f1_ci": [0.58, 0.67], "accuracy": 0.91}},
            "smart_random": {"p": 0.21},
            "majority": {"raw": {"accuracy": 0.79}},
        }
    }
    anomaly = {
        "selection": {
            "reference": {"area_discarded": 0.978},
            "methods": {
                "nsigma": {"kept_at_area": {"0.978": {"value": 0.41, "err": 0.02}}},
                "ae_local": {"kept_at_area": {"0.978": {"value": 0.63, "err": 0.03}}},
                # a curve that does not reach the area: no macro
                "window": {"kept_at_area": {"0.9": {"value": 0.7, "err": 0.01}}},
                "ae_roi": {
                    "point": {
                        "intensity_kept": 0.55,
                        "intensity_kept_err": 0.04,
                        "area_discarded": 0.97,
                        "area_discarded_err": 0.005,
                    }
                },
            },
        },
        "roc": {"methods": {"ae_local": {"1": {"auc": 0.93, "auc_err": 0.02}, "6": {}}}},
        "er_nr": {
            "overall": {"cnn": {"accuracy": 0.8, "accuracy_err": 0.05}},
            "per_energy": {
                "6": {
                    "cnn": {"accuracy": 0.9, "accuracy_err": 0.04},
                    "shape_cut": {"accuracy": 0.7, "accuracy_err": float("nan")},
                }
            },
        },
    }
    n = headline_numbers(
        {"califa_uniform": {"attribution": att}, "lime_crops": {"anomaly": anomaly}}
    )
    expected = {
        "CalifaUniformPointnetHitFOne": (0.62, 0.04, 0.05, ""),
        "CalifaUniformPointnetHitAccuracy": (0.91, 0.0, 0.0, ""),
        "CalifaUniformSmartRandomHitFOne": (0.21, 0.0, 0.0, ""),
        "CalifaUniformMajorityHitAccuracy": (0.79, 0.0, 0.0, ""),
        "LimeCropsNsigmaKeptAtCygnoArea": (41.0, 2.0, 2.0, "%"),
        "LimeCropsAeLocalKeptAtCygnoArea": (63.0, 3.0, 3.0, "%"),
        "LimeCropsAeRoiKept": (55.0, 4.0, 4.0, "%"),
        "LimeCropsAeRoiDiscarded": (97.0, 0.5, 0.5, "%"),
        "LimeCropsAeLocalAUCOneKeV": (0.93, 0.02, 0.02, ""),
        "LimeCropsCnnErNrAccuracy": (80.0, 5.0, 5.0, "%"),
        "LimeCropsCnnErNrAccuracySixKeV": (90.0, 4.0, 4.0, "%"),
    }
    assert set(n) == set(expected)
    for name, (v, lo, hi, unit) in expected.items():
        got = n[name]
        assert (got.value, got.err_lo, got.err_hi) == pytest.approx((v, lo, hi)), name
        assert got.unit == unit, name
    d = {k: v.description for k, v in n.items()}
    assert d["CalifaUniformPointnetHitFOne"].startswith("califa_uniform: hit-level attribution")
    assert "f1 of the network (95 % CI)" in d["CalifaUniformPointnetHitFOne"]
    assert "accuracy of the network" in d["CalifaUniformPointnetHitAccuracy"]
    assert "smart_random" in d["CalifaUniformSmartRandomHitFOne"]
    assert "majority" in d["CalifaUniformMajorityHitAccuracy"]
    assert d["LimeCropsNsigmaKeptAtCygnoArea"] == (
        "lime_crops: signal intensity kept at 97.8 % area discarded, nsigma"
    )
    assert d["LimeCropsAeRoiKept"] == "lime_crops: intensity_kept of the autoencoder's ROIs"
    assert d["LimeCropsAeLocalAUCOneKeV"] == "lime_crops: ROC AUC at 1 keV, ae_local"
    assert d["LimeCropsCnnErNrAccuracy"] == "lime_crops: ER/NR accuracy, all energies, cnn"
    assert d["LimeCropsCnnErNrAccuracySixKeV"] == "lime_crops: ER/NR accuracy at 6 keV, cnn"
    # no hit-level block, no attribution macros
    assert headline_numbers({"x": {"attribution": {"clustering": {}}}}) == {}


def test_pixel_selection_macros_by_hand():
    """Every macro of a hand-made pixel_selection.json, each value distinct, with its errors."""
    ps = {
        "pixels": {
            "unet": {"f1": 0.81, "f1_ci": [0.79, 0.84]},
            "nsigma": {"0.8": {"f1": 0.52, "f1_ci": [0.50, 0.55]}, "0.6": {"f1": 0.1}},
            "smart_random": {"f1_expected": 0.031},
        },
        "clustering": {
            "methods": {
                "nsigma": {
                    "reco": {"nsigma": 0.8},
                    "per_energy": {
                        "1": {
                            "efficiency": {"value": 0.97, "err": 0.02},
                            "integral_ratio": {"mean": 0.93, "mean_err": 0.011},
                        },
                    },
                    "all": {
                        "fakes_per_frame": {"value": 0.42, "err": 0.07},
                        "points_per_frame": 1234.0,
                        "points_per_frame_err": 56.0,
                    },
                    "pedestal": {"fakes_per_frame": {"value": 0.25, "err": 0.05}},
                },
                "unet": {
                    "per_energy": {"0.5": {"efficiency": {"value": 0.88, "err": 0.03}}},
                    "all": {"fakes_per_frame": {"value": float("nan"), "err": 0.1}},
                },
            }
        },
    }
    numbers = pixel_selection_numbers("ds", ps)
    got = {k: (n.value, n.err_lo, n.err_hi, n.unit) for k, n in numbers.items()}
    m = macro_name
    expected = {
        m("ds", "unet", "PixelFOne"): (81.0, 2.0, 3.0, "%"),
        m("ds", "nsigma", "PixelFOne"): (52.0, 2.0, 3.0, "%"),  # the chain's own nsigma, 0.8
        m("ds", "smart_random", "PixelFOne"): (3.1, 0.0, 0.0, "%"),
        m("ds", "nsigma", "Efficiency", "1keV"): (97.0, 2.0, 2.0, "%"),
        m("ds", "nsigma", "IntegralRatio", "1keV"): (0.93, 0.011, 0.011, ""),
        m("ds", "nsigma", "FakesPerFrame"): (0.42, 0.07, 0.07, ""),
        m("ds", "nsigma", "PedestalFakesPerFrame"): (0.25, 0.05, 0.05, ""),
        m("ds", "nsigma", "PointsPerFrame"): (1234.0, 56.0, 56.0, ""),
        m("ds", "unet", "Efficiency", "0.5keV"): (88.0, 3.0, 3.0, "%"),
    }  # the NaN fakes of the U-Net and the 0.6 nsigma entry give no macro
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        assert got[k][:3] == pytest.approx(v[:3], abs=1e-9), k
        assert got[k][3] == v[3], k
    d = {k: n.description for k, n in numbers.items()}
    assert d[m("ds", "nsigma", "FakesPerFrame")] == (
        "ds: fake clusters per frame, all test frames, nsigma"
    )
    assert d[m("ds", "nsigma", "PedestalFakesPerFrame")] == (
        "ds: fake clusters per frame, test frames without a recoil, nsigma"
    )
    # an F1 without its bootstrap interval is not quoted (no bare number in the thesis)
    assert pixel_selection_numbers("ds", {"pixels": {"unet": {"f1": 0.8}}}) == {}


def test_anomaly_macros_follow_the_reference_area():
    """The kept-intensity macro is read at the area the selection block names, not at the
    default 97.8 %."""
    anomaly = {
        "selection": {
            "reference": {"area_discarded": 0.95},
            "methods": {
                "nsigma": {"kept_at_area": {"0.95": {"value": 0.5, "err": 0.01}}},
                "window": {"kept_at_area": {"0.978": {"value": 0.7, "err": 0.01}}},
            },
        }
    }
    n = headline_numbers({"lime": {"anomaly": anomaly}})
    assert set(n) == {"LimeNsigmaKeptAtCygnoArea"}
    assert n["LimeNsigmaKeptAtCygnoArea"].value == pytest.approx(50.0)
    assert "at 95 % area discarded" in n["LimeNsigmaKeptAtCygnoArea"].description


def test_two_photon_macros_by_hand():
    """Every macro of a hand-made two_photon.json (issue 12), per estimator, in its unit."""

    def fit(s, e):
        return {"sigma": s, "sigma_err": e}

    def both(k):
        return {
            "both": {
                "x": fit(4 + k, 0.1),
                "y": fit(3 + k, 0.2),
                "energy": fit(0.03 + k / 100, 0.001),
            }
        }

    tp = {
        "overall": {"nn": both(0), "fit": both(1), "fit@fit_two": both(2)},
        "mass": {
            "nn": {
                "fit": fit(2.8, 0.05),
                "within_3sigma": {"value": 0.8, "err_lo": 0.01, "err_hi": 0.02},
            },
            "fit": {"fit": fit(2.9, 0.06)},
            "fit@fit_two": {"within_3sigma": {"value": 0.7, "err_lo": 0.03, "err_hi": 0.04}},
        },
        "counting": {
            "nn": {"accuracy": {"value": 0.95, "err_lo": 0.005, "err_hi": 0.004}},
            "fit": {"accuracy": {"value": 0.9, "err_lo": 0.006, "err_hi": 0.007}},
        },
    }
    got = {
        k: (n.value, n.err_lo, n.err_hi, n.unit)
        for k, n in headline_numbers({"ecal_stage4": {"two_photon": tp}}).items()
    }
    expected = {"EcalStageFourNnMassSigma": (2.8, 0.05, 0.05, "MeV")}
    for k, name in enumerate(("Nn", "Fit", "FitSubset")):
        expected[f"EcalStageFour{name}PairSigmaX"] = (4 + k, 0.1, 0.1, "mm")
        expected[f"EcalStageFour{name}PairSigmaY"] = (3 + k, 0.2, 0.2, "mm")
        expected[f"EcalStageFour{name}PairSigmaE"] = (3 + k, 0.1, 0.1, "%")
    expected |= {
        "EcalStageFourFitMassSigma": (2.9, 0.06, 0.06, "MeV"),
        "EcalStageFourNnMassWithin": (80.0, 1.0, 2.0, "%"),
        "EcalStageFourFitSubsetMassWithin": (70.0, 3.0, 4.0, "%"),
        "EcalStageFourNnCountAccuracy": (95.0, 0.5, 0.4, "%"),
        "EcalStageFourFitCountAccuracy": (90.0, 0.6, 0.7, "%"),
    }
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        assert got[k][:3] == pytest.approx(v[:3], abs=1e-9), k
        assert got[k][3] == v[3], k
