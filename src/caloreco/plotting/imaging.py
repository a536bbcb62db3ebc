"""Figures of the imaging (camera TPC) analysis: image displays, the intensity-kept vs
area-discarded curves with the CYGNO point, ROC curves and the ER / NR performance vs energy.

Inputs follow :func:`caloreco.imaging.anomaly.anomaly_analysis`: ``metrics.json`` (the metrics
dict), ``examples.npz`` (``raw``, ``sub``, ``error``, ``truth``, ``roi``, ``energy``, ``kind``,
``event`` of a few test frames) and ``roc_scores.parquet`` (frame scores per method). Every
function takes its input paths, the style file and the output paths, writes the outputs and
returns the closed figure.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from caloreco.plotting._common import annotate, as_paths, load_json
from caloreco.plotting.style import figure, save, use_style

__all__ = [
    "IMAGING_LABELS",
    "IMAGING_COLORS",
    "image_display",
    "intensity_area",
    "roc",
    "er_nr_performance",
    "all_figures",
]

#: legend names of the selections and classifiers of the imaging analysis
IMAGING_LABELS = {
    "nsigma": r"$n\sigma$ zero suppression",
    "ae_pixel": "AE error, pixel",
    "window": "window on z (no AE)",
    "ae_local": "AE error, localised",
    "ae_roi": "AE regions of interest",
    "classical_reco": "CYGNO reco (DBSCAN)",
    "cnn": "CNN on region crops",
    "gbdt": "gradient boosting (features)",
    "shape_cut": "length + density cut",
}
IMAGING_COLORS = {
    "nsigma": "#5790fc",
    "ae_pixel": "#9c9ca1",
    "window": "#f89c20",
    "ae_local": "#e42536",
    "ae_roi": "#964a8b",
    "classical_reco": "#7a21dd",
    "cnn": "#e42536",
    "gbdt": "#964a8b",
    "shape_cut": "#5790fc",
}
_KIND = {0: "empty", 1: "ER", 2: "NR", 3: "mixed"}


def _load_examples(path) -> dict[str, np.ndarray]:
    (p,) = as_paths(path, "examples")
    with np.load(p, allow_pickle=False) as f:
        need = ("raw", "sub", "error", "truth", "roi", "energy", "kind")
        missing = [k for k in need if k not in f.files]
        if missing:
            raise ValueError(f"examples: {p} lacks arrays {missing}")
        return {k: f[k] for k in f.files}


def image_display(
    examples: str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    pixel_mm: float = 0.152,
    n: int | None = None,
    dataset: str | None = None,
):
    """One row per example frame: raw counts, pedestal-subtracted counts, the localised
    autoencoder error with the regions of interest outlined, and the true signal light
    (``dataset``, if given, is named in the first panel's title).

    Returns:
        the figure (4 columns of images, one row per frame).
    """
    ex = _load_examples(examples)
    k = ex["raw"].shape[0] if n is None else min(n, ex["raw"].shape[0])
    if k == 0:
        raise ValueError("examples: no frames to show")
    h, w = ex["raw"].shape[1:]
    extent = (0, w * pixel_mm, 0, h * pixel_mm)
    titles = (
        "raw [counts]",
        "pedestal-subtracted",
        "AE error, localised [$\\sigma$]",
        "true signal [counts]",
    )
    with use_style(style):
        fig, axes = figure(k, 4, panel_aspect=1.0)
        for i in range(k):
            raw = ex["raw"][i].astype(float)
            sub = ex["sub"][i]
            panels = (
                (raw, dict(vmin=np.percentile(raw, 1), vmax=np.percentile(raw, 99.9))),
                (
                    sub,
                    dict(
                        vmin=-3 * np.std(sub[np.abs(sub) < 20]),
                        vmax=max(np.percentile(sub, 99.95), 1.0),
                    ),
                ),
                (
                    ex["error"][i],
                    dict(vmin=-2, vmax=max(np.percentile(ex["error"][i], 99.95), 6.0)),
                ),
                (ex["truth"][i], dict(vmin=0, vmax=max(ex["truth"][i].max(), 1.0))),
            )
            for j, (img, lim) in enumerate(panels):
                ax = axes[i, j]
                im = ax.imshow(
                    img,
                    origin="lower",
                    extent=extent,
                    cmap="viridis",
                    interpolation="nearest",
                    **lim,
                )
                if j == 2:
                    ax.contour(
                        (ex["roi"][i] >= 0).astype(float),
                        levels=[0.5],
                        colors="w",
                        linewidths=0.6,
                        extent=extent,
                        origin="lower",
                    )
                if i == 0:
                    title = titles[j] if (j or not dataset) else f"{dataset}: {titles[j]}"
                    ax.set_title(title, fontsize="small")
                ax.tick_params(labelsize="x-small")
                if j == 0:
                    ax.set_ylabel("y [mm]", fontsize="small")
                    annotate(
                        ax,
                        f"{_KIND.get(int(ex['kind'][i]), '?')} {ex['energy'][i]} keV",
                        "upper left",
                    )
                if i == k - 1:
                    ax.set_xlabel("x [mm]", fontsize="small")
                fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(
                    labelsize="xx-small"
                )
    return save(fig, outputs)


def intensity_area(
    metrics: str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    methods: Sequence[str] = ("nsigma", "window", "ae_local"),
    area_range: tuple[float, float] = (95.0, 100.0),
    dataset: str | None = None,
):
    """Signal intensity kept vs image area discarded (both in %) on the test signal frames:
    one curve per score map, the regions-of-interest curve and point, the classical chain's
    point and the published CYGNO point with its errors (``dataset`` named in the corner).

    Returns:
        the figure; one line per method in ``methods``, markers for the points.
    """
    m = load_json(metrics, "metrics")
    sel = m.get("selection", {})
    meth = sel.get("methods", {})
    if not meth:
        raise ValueError(f"metrics: {metrics} has no selection curves")
    with use_style(style):
        fig, axes = figure(1, 1)
        ax = axes[0, 0]
        for name in methods:
            c = meth.get(name, {}).get("curve")
            if not c:
                continue
            # the window control is dashed: where the network adds nothing it lies under ae_local
            ax.plot(
                100 * np.asarray(c["area_discarded"]),
                100 * np.asarray(c["intensity_kept"]),
                color=IMAGING_COLORS.get(name),
                ls="--" if name == "window" else "-",
                label=IMAGING_LABELS.get(name, name),
            )
        roi = meth.get("ae_roi")
        if roi:
            rc = roi.get("curve", {})
            if rc.get("area_discarded"):
                ax.plot(
                    100 * np.asarray(rc["area_discarded"]),
                    100 * np.asarray(rc["intensity_kept"]),
                    ls="--",
                    color=IMAGING_COLORS["ae_roi"],
                    lw=0.9,
                )
            p = roi["point"]
            ax.errorbar(
                100 * p["area_discarded"],
                100 * p["intensity_kept"],
                xerr=100 * p.get("area_discarded_err", 0),
                yerr=100 * p.get("intensity_kept_err", 0),
                marker="s",
                color=IMAGING_COLORS["ae_roi"],
                ls="none",
                label=IMAGING_LABELS["ae_roi"],
            )
        reco = meth.get("classical_reco")
        if reco:
            p = reco["point"]
            ax.errorbar(
                100 * p["area_discarded"],
                100 * p["intensity_kept"],
                xerr=100 * p.get("area_discarded_err", 0),
                yerr=100 * p.get("intensity_kept_err", 0),
                marker="D",
                color=IMAGING_COLORS["classical_reco"],
                ls="none",
                label=IMAGING_LABELS["classical_reco"],
            )
        ref = sel.get("reference")
        if ref:
            ax.errorbar(
                100 * ref["area_discarded"],
                100 * ref["intensity_kept"],
                xerr=100 * ref["area_discarded_err"],
                yerr=100 * ref["intensity_kept_err"],
                marker="*",
                ms=9,
                color="k",
                ls="none",
                label="CYGNO AE (LIME data)",
            )
        ax.set_xlim(*area_range)
        ax.set_ylim(50, 100.5)
        ax.set_xlabel("image area discarded [%]")
        ax.set_ylabel("signal intensity kept [%]")
        ax.legend(loc="lower left", fontsize="small")
        crops = f"{m.get('shape', ['?', '?'])[0]}$^2$ px crops, one recoil per frame"
        annotate(ax, f"{dataset}: {crops}" if dataset else crops, "upper right")
    return save(fig, outputs)


def roc(
    roc_scores: str | os.PathLike,
    metrics: str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    energy: str | None = None,
    methods: Sequence[str] = ("nsigma", "window", "ae_local", "classical_reco"),
    dataset: str | None = None,
):
    """Left: ROC curves of signal frames of one energy (default the lowest) against frames
    without a recoil; right: ROC AUC vs energy per method (from the metrics); ``dataset``
    named in the corner.

    Returns:
        the figure (two panels).
    """
    (p,) = as_paths(roc_scores, "roc_scores")
    t = pd.read_parquet(p)
    m = load_json(metrics, "metrics")
    aucs = m.get("roc", {}).get("methods", {})
    energies = m.get("energies") or sorted(set(t["energy"]) - {""}, key=float)
    e = energy or energies[0]
    bg = t[~t["signal"]]
    sg = t[t["signal"] & (t["energy"] == e)]
    if len(bg) == 0 or len(sg) == 0:
        raise ValueError(f"roc_scores: no frames for energy {e!r} or no empty frames")
    with use_style(style):
        fig, axes = figure(1, 2, panel_aspect=0.9)
        ax = axes[0, 0]
        for name in methods:
            if name not in t.columns:
                continue
            thr = np.unique(np.concatenate([sg[name], bg[name]]))[::-1]
            tpr = [(sg[name] >= x).mean() for x in thr]
            fpr = [(bg[name] >= x).mean() for x in thr]
            ax.plot(
                [0, *fpr],
                [0, *tpr],
                color=IMAGING_COLORS.get(name),
                label=IMAGING_LABELS.get(name, name),
                drawstyle="steps-post",
            )
        ax.plot([0, 1], [0, 1], color="0.7", lw=0.6, ls=":")
        ax.set_xlabel("false positive rate (empty frames)")
        ax.set_ylabel(f"efficiency ({e} keV frames)")
        ax.legend(loc="lower right", fontsize="x-small")
        ax = axes[0, 1]
        for name in methods:
            per = aucs.get(name, {})
            xs = [float(k) for k in energies if k in per]
            ys = [per[k]["auc"] for k in energies if k in per]
            es = [per[k]["auc_err"] for k in energies if k in per]
            ax.errorbar(
                xs,
                ys,
                yerr=es,
                marker="o",
                color=IMAGING_COLORS.get(name),
                label=IMAGING_LABELS.get(name, name),
            )
        ax.set_xscale("log")
        ax.set_xlabel("visible energy [keV]")
        ax.set_ylabel("ROC AUC")
        annotate(ax, dataset, "lower right")
    return save(fig, outputs)


def er_nr_performance(
    metrics: str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    classifiers: Sequence[str] = ("cnn", "gbdt", "shape_cut"),
    dataset: str | None = None,
):
    """ER / NR accuracy (left) and ROC AUC (right) vs visible energy, per classifier, on the
    test regions; the DEC purity per energy as open circles on the accuracy panel
    (``dataset`` named in the corner).

    Returns:
        the figure (two panels).
    """
    m = load_json(metrics, "metrics")
    per = m.get("er_nr", {}).get("per_energy")
    if not per:
        raise ValueError(f"metrics: {metrics} has no ER/NR results")
    energies = sorted(per, key=float)
    x = np.array([float(e) for e in energies])
    with use_style(style):
        fig, axes = figure(1, 2, panel_aspect=0.9)
        for name in classifiers:
            acc = np.array([per[e][name]["accuracy"] for e in energies])
            err = np.array([per[e][name]["accuracy_err"] for e in energies])
            axes[0, 0].errorbar(
                x,
                acc,
                yerr=err,
                marker="o",
                color=IMAGING_COLORS.get(name),
                label=IMAGING_LABELS.get(name, name),
            )
            key = "auc" if name != "shape_cut" else "auc_density_over_length"
            auc = np.array([per[e][name].get(key, np.nan) for e in energies])
            aerr = np.array([per[e][name].get("auc_err", 0.0) for e in energies])
            lab = IMAGING_LABELS.get(name, name) + (
                " (density / length)" if name == "shape_cut" else ""
            )
            axes[0, 1].errorbar(
                x, auc, yerr=aerr, marker="o", color=IMAGING_COLORS.get(name), label=lab
            )
        dec = m.get("dec", {}).get("per_energy", {})
        if dec:
            de = [e for e in energies if e in dec]
            axes[0, 0].plot(
                [float(e) for e in de],
                [dec[e]["purity"] for e in de],
                "o",
                mfc="none",
                color="k",
                label="DEC purity (no labels)",
            )
        for ax, yl in zip(axes[0], ("accuracy", "ROC AUC"), strict=True):
            ax.set_xscale("log")
            ax.set_xlabel("visible energy [keV]")
            ax.set_ylabel(f"ER / NR {yl}")
            ax.axhline(0.5, color="0.7", lw=0.6, ls=":")
            ax.set_ylim(0.3, 1.02)
        axes[0, 0].legend(loc="upper left", fontsize="x-small")
        annotate(axes[0, 1], dataset, "lower right")
    return save(fig, outputs)


def all_figures(
    metrics: str | os.PathLike,
    examples: str | os.PathLike,
    out_dir: str | os.PathLike,
    style: str | os.PathLike,
    roc_scores: str | os.PathLike | None = None,
    fmt: str = "pdf",
) -> list[Path]:
    """Draw every figure of the analysis into ``out_dir`` (for the study script)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    roc_scores = roc_scores or Path(metrics).with_name("roc_scores.parquet")
    made = []
    for name, call in (
        ("image_display", lambda p: image_display(examples, style, [p])),
        ("intensity_area", lambda p: intensity_area(metrics, style, [p])),
        ("roc", lambda p: roc(roc_scores, metrics, style, [p])),
        ("er_nr", lambda p: er_nr_performance(metrics, style, [p])),
    ):
        path = out / f"{name}.{fmt}"
        call(path)
        made.append(path)
    return made
