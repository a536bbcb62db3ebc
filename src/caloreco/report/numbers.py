"""Every number quoted in the thesis text, generated from the metrics files.

:func:`headline_numbers` collects the headline numbers of every dataset (resolutions per
estimator, F1 per classifier, TP and WR per clustering method) with their uncertainties;
:func:`write_numbers_tex` writes them as one ``\\newcommand`` each to ``results/tex/numbers.tex``;
:func:`parse_numbers_tex` reads them back.

Macro names are letters only (TeX forbids digits): ``\\<Dataset><Name><Quantity>`` in CamelCase,
digits spelled out, e.g. ``ecal_stage2`` + ``nn`` + sigma_x -> ``\\EcalStageTwoNnSigmaX``,
``califa_2p1`` + ``agglomerative+nn`` + TP -> ``\\CalifaTwoPOneAgglomerativeNnTP``.
Values are rounded with the PDG rule (iminuit's ``pdg_format``: the uncertainty to one or two
significant digits, the value to the same decimal place) and written in math mode,
``\\ensuremath{1.97 \\pm 0.04}``, asymmetric errors as ``0.953 {}_{-0.013}^{+0.011}``;
units are stated in a comment beside each macro and are not part of it.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from caloreco.io.files import atomic_path

__all__ = [
    "Number",
    "macro_name",
    "headline_numbers",
    "anomaly_numbers",
    "pixel_selection_numbers",
    "write_numbers_tex",
    "parse_numbers_tex",
]

#: iminuit's LaTeX format without stripping trailing zeros (0.10 keeps its two digits)
_TEX = (" {}_{%s}", "^{+%s}", r" \pm %s", r" (\mathrm{%s})", r"(%s) \times 10^{%i}", False, None)

_DIGITS = ["Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine"]


@dataclass(frozen=True)
class Number:
    """One quoted number.

    Attributes:
        value: central value in the quoted unit (e.g. percent).
        err_lo, err_hi: uncertainty below and above (equal for a symmetric error).
        unit: the quoted unit (``"mm"``, ``"%"``, ``""``).
        description: what it is and where it comes from.
    """

    value: float
    err_lo: float
    err_hi: float
    unit: str
    description: str

    @property
    def symmetric(self) -> bool:
        return math.isclose(self.err_lo, self.err_hi, rel_tol=1e-9, abs_tol=0.0)

    def tex(self) -> str:
        """The number in TeX math, rounded by the PDG rule (iminuit's ``pdg_format``): the
        uncertainty to one or two significant digits, the value to the same decimal place; an
        asymmetric error as ``v {}_{-lo}^{+hi}`` with the digits of the smaller one."""
        from iminuit.pdg_format import pdg_format

        errors = self.err_hi if self.symmetric else (self.err_lo, self.err_hi)
        if not all(math.isfinite(e) and e > 0 for e in np.atleast_1d(errors)):
            return f"{self.value:.3g}"
        return pdg_format(self.value, errors, format=_TEX, exp=0)


def macro_name(*parts: str) -> str:
    """A TeX-safe macro name (letters only) from name parts, CamelCase, digits spelled out.

    ``macro_name("califa_2p1", "agglomerative+nn", "TP") == "CalifaTwoPOneAgglomerativeNnTP"``
    (a part that is all capitals, such as ``TP`` or ``WR``, is kept as it is).
    """
    out = []
    for part in parts:
        for token in re.split(r"[^A-Za-z0-9]+", str(part)):
            if not token:
                continue
            if token.isupper() and token.isalpha():
                out.append(token)
                continue
            for piece in re.findall(r"[A-Za-z]+|[0-9]", token):
                out.append(
                    _DIGITS[int(piece)] if piece.isdigit() else piece[:1].upper() + piece[1:]
                )
    name = "".join(out)
    if not name or not name.isalpha():
        raise ValueError(f"parts: {parts!r} give no letters-only macro name")
    return name


def _fit_number(fit: Mapping[str, Any] | None, scale: float, unit: str, what: str):
    if not fit or "sigma" not in fit or not math.isfinite(fit.get("sigma", math.nan)):
        return None
    err = float(fit.get("sigma_err", 0.0)) * scale
    return Number(float(fit["sigma"]) * scale, err, err, unit, what)


def _attribution_numbers(ds: str, att: Mapping[str, Any]) -> dict[str, Number]:
    """Hit-level numbers of attribution.json: the network's F1 and accuracy (95 % bootstrap
    interval) and their baselines, smart_random's expected F1 and the majority accuracy (exact
    for these hits: no uncertainty)."""
    hl = att.get("hit_level") or {}
    if not hl:
        return {}
    where = f"{ds}: hit-level attribution, focal = seed hit of each true gamma, test events"
    net = hl["network"]["raw"]
    out = {}
    for key, name in (("f1", "HitFOne"), ("accuracy", "HitAccuracy")):
        v = float(net[key])
        lo, hi = net.get(f"{key}_ci", [v, v])
        out[macro_name(ds, "pointnet", name)] = Number(
            v, v - float(lo), float(hi) - v, "", f"{where}: {key} of the network (95 % CI)"
        )
    p = float(hl["smart_random"]["p"])
    out[macro_name(ds, "smart_random", "HitFOne")] = Number(
        p, 0.0, 0.0, "", f"{where}: F1 of smart_random (expected, = positive fraction)"
    )
    acc = float(hl["majority"]["raw"]["accuracy"])
    out[macro_name(ds, "majority", "HitAccuracy")] = Number(
        acc, 0.0, 0.0, "", f"{where}: accuracy of the per-focal-hit majority class"
    )
    return out


def _two_photon_numbers(ds: str, tp: Mapping[str, Any]) -> dict[str, Number]:
    """Headline numbers of two_photon.json: per estimator (``nn``, ``fit`` on every event,
    ``fit@fit_two`` on the fit's two-shower subset) sigma_x, sigma_y (mm) and sigma_E/E (%) of
    both photons of the two-photon test windows, the gamma gamma mass peak sigma (MeV) and the
    fraction within 3 sigma of m_pi0 (%), and the counting accuracy (%, 68 % Wilson interval)."""
    out: dict[str, Number] = {}
    where = f"{ds}: two-photon test windows"
    names = {"nn": "nn", "fit": "fit", "fit@fit_two": "fit_subset"}
    for est, name in names.items():
        both = ((tp.get("overall") or {}).get(est) or {}).get("both") or {}
        for q, key, scale, unit in (
            ("x", "PairSigmaX", 1.0, "mm"),
            ("y", "PairSigmaY", 1.0, "mm"),
            ("energy", "PairSigmaE", 100.0, "%"),
        ):
            n = _fit_number(both.get(q), scale, unit, f"{where}: core sigma of {q}, {est}")
            if n is not None:
                out[macro_name(ds, name, key)] = n
        mass = (tp.get("mass") or {}).get(est) or {}
        n = _fit_number(mass.get("fit"), 1.0, "MeV", f"{where}: m_gamma_gamma core sigma, {est}")
        if n is not None:
            out[macro_name(ds, name, "MassSigma")] = n
        within = mass.get("within_3sigma") or {}
        if within.get("value") is not None:
            out[macro_name(ds, name, "MassWithin")] = Number(
                100 * within["value"],
                100 * within["err_lo"],
                100 * within["err_hi"],
                "%",
                f"{where}: pi0 within 3 sigma of m_pi0 (68 % interval), {est}",
            )
    for est, name in (("nn", "nn"), ("fit", "fit")):
        acc = (((tp.get("counting") or {}).get(est) or {}).get("accuracy")) or {}
        if acc.get("value") is not None:
            out[macro_name(ds, name, "CountAccuracy")] = Number(
                100 * acc["value"],
                100 * acc["err_lo"],
                100 * acc["err_hi"],
                "%",
                f"{ds}: photon-count accuracy, one- and two-photon test windows, {est}",
            )
    return out


def headline_numbers(metrics: Mapping[str, Mapping[str, Any]]) -> dict[str, Number]:
    """The quoted numbers of every dataset, by macro name.

    Args:
        metrics: ``{dataset: {"resolution": resolution.json, "pairs": pairs.json,
            "clustering": clustering.json, "attribution": attribution.json, "anomaly":
            anomaly.json, "pixel_selection": pixel_selection.json, "two_photon":
            two_photon.json}}`` (loaded JSON; any may be absent).

    Returns:
        ``{macro_name: Number}``:

        * resolution: ``<Ds><Est>SigmaX``, ``SigmaY`` (mm), ``SigmaE`` (sigma_E/E, %; not for a
          network on a ``mono_energetic`` sample), and where fitted ``<Ds><Est>StochasticTerm`` (a, % sqrt(GeV)), ``ConstantTerm`` (b, %);
        * pairs: ``<Ds><Clf>FOne`` (F1 with its 95 % bootstrap interval);
        * clustering: ``<Ds><Method>TP`` and ``<Ds><Method>WR`` (%);
        * attribution: ``<Ds>PointnetHitFOne`` and ``<Ds>PointnetHitAccuracy`` (with the 95 %
          interval), ``<Ds>SmartRandomHitFOne``, ``<Ds>MajorityHitAccuracy`` (baselines);
        * anomaly (camera images, :func:`anomaly_numbers`): intensity kept at the CYGNO area,
          ROC AUC at 1 keV, ER / NR accuracy;
        * pixel_selection (camera images, :func:`pixel_selection_numbers`): pixel F1 of the U-Net,
          nsigma and smart_random; per chain efficiency and integral ratio per energy, fakes and
          DBSCAN points per frame.
        * two_photon (:func:`_two_photon_numbers`): ``<Ds><Est>PairSigmaX`` / ``Y`` / ``E``,
          ``MassSigma``, ``MassWithin``, ``CountAccuracy`` for ``nn``, ``fit`` and
          ``fit_subset`` (the fit on its two-shower windows).
    """
    out: dict[str, Number] = {}
    for ds, files in metrics.items():
        res = files.get("resolution") or {}
        for est, fits in (res.get("estimators") or {}).items():
            for q, key, scale, unit in (
                ("x", "SigmaX", 1.0, "mm"),
                ("y", "SigmaY", 1.0, "mm"),
                ("energy", "SigmaE", 100.0, "%"),
            ):
                if q == "energy" and res.get("mono_energetic") and est.startswith("nn"):
                    continue  # trained on one beam energy, the network outputs it: no resolution
                n = _fit_number(
                    fits.get(q), scale, unit, f"{ds}: core Gaussian sigma of {q} residuals, {est}"
                )
                if n is not None:
                    out[macro_name(ds, est, key)] = n
            f = (res.get("resolution_function") or {}).get(est) or {}
            if "error" not in f:
                for term, key in (("a", "StochasticTerm"), ("b", "ConstantTerm")):
                    if term in f and math.isfinite(f[term]):
                        err = 100 * float(f.get(f"{term}_err", 0.0))
                        out[macro_name(ds, est, key)] = Number(
                            100 * float(f[term]),
                            err,
                            err,
                            "%" if term == "b" else r"% sqrt(GeV)",
                            f"{ds}: resolution function term {term}, {est}",
                        )
        pairs = files.get("pairs") or {}
        for clf, m in (pairs.get("classifiers") or {}).items():
            if "f1" not in m:
                continue
            f1 = float(m["f1"])
            lo, hi = m.get("f1_ci", [f1, f1])
            out[macro_name(ds, clf, "FOne")] = Number(
                f1, f1 - float(lo), float(hi) - f1, "", f"{ds}: F1 on test pairs (95 % CI), {clf}"
            )
        out.update(_attribution_numbers(ds, files.get("attribution") or {}))
        clus = files.get("clustering") or {}
        for method, m in (clus.get("methods") or {}).items():
            for key in ("TP", "WR"):
                if key in m and m[key] is not None:
                    err = 100 * float(m.get(f"{key}_err", 0.0))
                    out[macro_name(ds, method, key)] = Number(
                        100 * float(m[key]),
                        err,
                        err,
                        "%",
                        f"{ds}: {key} of {method} ({clus.get('events_subset', 'all')} events)",
                    )
        out |= anomaly_numbers(ds, files.get("anomaly") or {})
        out |= pixel_selection_numbers(ds, files.get("pixel_selection") or {})
        out |= _two_photon_numbers(ds, files.get("two_photon") or {})
    return out


def _finite(*values: Any) -> bool:
    return all(isinstance(v, int | float) and math.isfinite(v) for v in values)


def anomaly_numbers(ds: str, anomaly: Mapping[str, Any]) -> dict[str, Number]:
    """The headline numbers of an imaging dataset's anomaly.json, by macro name:

    * ``<Ds><Sel>KeptAtCygnoArea`` (%): signal intensity kept at CYGNO's 97.8 % area discarded,
      per selection curve (``nsigma``, ``window``, ``ae_local``, ``ae_pixel``), bootstrap error;
    * ``<Ds>AeRoiKept``, ``<Ds>AeRoiDiscarded`` (%): the regions-of-interest working point;
    * ``<Ds><Method>AUCOneKeV``: ROC AUC of 1 keV frames against empty ones (Hanley-McNeil error);
    * ``<Ds><Clf>ErNrAccuracy`` (%) over all energies and ``<Ds><Clf>ErNrAccuracy<E>keV`` at
      each energy line, for ``cnn``, ``gbdt`` and ``shape_cut`` (binomial errors).
    """
    out: dict[str, Number] = {}
    sel = (anomaly.get("selection") or {}).get("methods") or {}
    ref = (anomaly.get("selection") or {}).get("reference") or {}
    area = f"{ref.get('area_discarded', 0.978):g}"
    for m, v in sel.items():
        kept = (v.get("kept_at_area") or {}).get(area)
        if kept and _finite(kept.get("value"), kept.get("err")):
            out[macro_name(ds, m, "KeptAtCygnoArea")] = Number(
                100 * kept["value"],
                100 * kept["err"],
                100 * kept["err"],
                "%",
                f"{ds}: signal intensity kept at {100 * float(area):g} % area discarded, {m}",
            )
    roi = (sel.get("ae_roi") or {}).get("point") or {}
    for key, name in (("intensity_kept", "Kept"), ("area_discarded", "Discarded")):
        if _finite(roi.get(key), roi.get(f"{key}_err")):
            err = 100 * roi[f"{key}_err"]
            out[macro_name(ds, "ae_roi", name)] = Number(
                100 * roi[key], err, err, "%", f"{ds}: {key} of the autoencoder's ROIs"
            )
    for m, per in ((anomaly.get("roc") or {}).get("methods") or {}).items():
        auc = per.get("1")
        if auc and _finite(auc.get("auc"), auc.get("auc_err")):
            out[macro_name(ds, m, "AUC", "1keV")] = Number(
                auc["auc"], auc["auc_err"], auc["auc_err"], "", f"{ds}: ROC AUC at 1 keV, {m}"
            )
    er_nr = anomaly.get("er_nr") or {}
    for clf, acc in (er_nr.get("overall") or {}).items():
        if _finite(acc.get("accuracy"), acc.get("accuracy_err")):
            err = 100 * acc["accuracy_err"]
            out[macro_name(ds, clf, "ErNrAccuracy")] = Number(
                100 * acc["accuracy"], err, err, "%", f"{ds}: ER/NR accuracy, all energies, {clf}"
            )
    for energy, per in (er_nr.get("per_energy") or {}).items():
        for clf in ("cnn", "gbdt", "shape_cut"):
            acc = per.get(clf) or {}
            if _finite(acc.get("accuracy"), acc.get("accuracy_err")):
                err = 100 * acc["accuracy_err"]
                out[macro_name(ds, clf, "ErNrAccuracy", f"{energy}keV")] = Number(
                    100 * acc["accuracy"],
                    err,
                    err,
                    "%",
                    f"{ds}: ER/NR accuracy at {energy} keV, {clf}",
                )
    return out


def write_numbers_tex(
    metrics: Mapping[str, Mapping[str, Any]], out_path: str | os.PathLike
) -> dict[str, Number]:
    """Write ``numbers.tex``: one ``\\newcommand`` per headline number (atomically).

    Args:
        metrics: as :func:`headline_numbers`.
        out_path: output ``.tex`` file.

    Returns:
        the numbers written, by macro name.
    """
    numbers = headline_numbers(metrics)
    lines = [
        "% Generated by caloreco.report.numbers.write_numbers_tex from the metrics files: do not edit.",
        "% Every macro is a number in math mode with its uncertainty; the unit is in the comment.",
        "",
    ]
    for name in sorted(numbers):
        n = numbers[name]
        unit = f" [{n.unit}]" if n.unit else ""
        lines.append(f"% {n.description}{unit}")
        lines.append(f"\\newcommand{{\\{name}}}{{\\ensuremath{{{n.tex()}}}}}")
    with atomic_path(out_path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return numbers


_MACRO = re.compile(
    r"\\newcommand\{\\([A-Za-z]+)\}\{\\ensuremath\{([-0-9.]+)"
    r"(?: \\pm ([0-9.]+)| \{\}_\{-([0-9.]+)\}\^\{\+([0-9.]+)\})\}\}"
)


def parse_numbers_tex(text: str) -> dict[str, tuple[float, float, float]]:
    """Read back ``numbers.tex``: ``{macro: (value, err_lo, err_hi)}``."""
    out = {}
    for m in _MACRO.finditer(text):
        name, value, sym, lo, hi = m.groups()
        if sym is not None:
            out[name] = (float(value), float(sym), float(sym))
        else:
            out[name] = (float(value), float(lo), float(hi))
    return out


def pixel_selection_numbers(ds: str, ps: Mapping[str, Any]) -> dict[str, Number]:
    """The headline numbers of an imaging dataset's pixel_selection.json, by macro name:

    * ``<Ds>UnetPixelFOne``, ``<Ds>NsigmaPixelFOne`` (the classical chain's nsigma; 95 %
      bootstrap interval), ``<Ds>SmartRandomPixelFOne`` (expected, exact): pixel F1 on the test
      frames;
    * per chain (``nsigma``, ``unet``, ``nsigma_talk``, ``unet_talk``, ``unet_relaxed``):
      ``<Ds><Method>Efficiency<E>keV`` (%, binomial error) and ``<Ds><Method>IntegralRatio<E>keV``
      (mean with its error) per energy line, ``<Ds><Method>FakesPerFrame`` (all test frames) and
      ``<Ds><Method>PedestalFakesPerFrame`` (frames without a recoil; Poisson error, 0 +- 0 when
      none was seen: the 95 % upper limit is in the JSON), ``<Ds><Method>PointsPerFrame`` (DBSCAN
      points, error of the mean).
    """
    out: dict[str, Number] = {}
    px = ps.get("pixels") or {}

    def f1(m: Mapping[str, Any], what: str) -> Number | None:
        lo, hi = (m.get("f1_ci") or [float("nan")] * 2)[:2]
        if not _finite(m.get("f1"), lo, hi):
            return None
        v = 100 * m["f1"]
        return Number(v, v - 100 * lo, 100 * hi - v, "%", f"{ds}: pixel F1 on test frames, {what}")

    if px.get("unet") and (n := f1(px["unet"], "U-Net")) is not None:
        out[macro_name(ds, "unet", "PixelFOne")] = n
    ns = f"{float((ps.get('clustering') or {}).get('methods', {}).get('nsigma', {}).get('reco', {}).get('nsigma', 0.6)):g}"
    if (px.get("nsigma") or {}).get(ns) and (n := f1(px["nsigma"][ns], f"nsigma {ns}")):
        out[macro_name(ds, "nsigma", "PixelFOne")] = n
    sr = (px.get("smart_random") or {}).get("f1_expected")
    if _finite(sr):
        out[macro_name(ds, "smart_random", "PixelFOne")] = Number(
            100 * sr, 0.0, 0.0, "%", f"{ds}: expected pixel F1 of smart_random (exact)"
        )
    for m, v in ((ps.get("clustering") or {}).get("methods") or {}).items():
        for energy, b in (v.get("per_energy") or {}).items():
            eff = b.get("efficiency") or {}
            if _finite(eff.get("value"), eff.get("err")):
                out[macro_name(ds, m, "Efficiency", f"{energy}keV")] = Number(
                    100 * eff["value"],
                    100 * eff["err"],
                    100 * eff["err"],
                    "%",
                    f"{ds}: detection efficiency at {energy} keV, {m}",
                )
            r = b.get("integral_ratio") or {}
            if _finite(r.get("mean"), r.get("mean_err")):
                out[macro_name(ds, m, "IntegralRatio", f"{energy}keV")] = Number(
                    r["mean"],
                    r["mean_err"],
                    r["mean_err"],
                    "",
                    f"{ds}: main-cluster integral / true light at {energy} keV, {m}",
                )
        for block, key, what in (
            ("all", "FakesPerFrame", "all test frames"),
            ("pedestal", "PedestalFakesPerFrame", "test frames without a recoil"),
        ):
            fk = (v.get(block) or {}).get("fakes_per_frame") or {}
            if _finite(fk.get("value"), fk.get("err")):
                out[macro_name(ds, m, key)] = Number(
                    fk["value"],
                    fk["err"],
                    fk["err"],
                    "",
                    f"{ds}: fake clusters per frame, {what}, {m}",
                )
        a = v.get("all") or {}
        if _finite(a.get("points_per_frame"), a.get("points_per_frame_err")):
            out[macro_name(ds, m, "PointsPerFrame")] = Number(
                a["points_per_frame"],
                a["points_per_frame_err"],
                a["points_per_frame_err"],
                "",
                f"{ds}: DBSCAN points (4 x 4 macro-pixels) per test frame, {m}",
            )
    return out
