"""Figures of the pixel-selection analysis (U-Net vs nsigma zero suppression before DBSCAN).

Inputs follow :func:`caloreco.imaging.pixel_selection.pixel_selection_analysis`:
``pixel_selection.json`` (the metrics dict) and ``examples.npz`` (``sub``, ``target``, ``zs``,
``prob``, ``points_nsigma``, ``labels_nsigma``, ``labels_unet``, ``energy``, ``kind``, ``event`` of
a few test frames). Every function takes its input paths, the style file and the output paths,
writes the outputs and returns the closed figure. Not registered in the figure index (yet).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from caloreco.plotting._common import annotate, as_paths, load_json, plain_log_ticks
from caloreco.plotting.names import PIXEL_SELECTION_METHODS, color, label
from caloreco.plotting.style import figure, save, use_style

__all__ = [
    "PIXEL_SELECTION_LABELS",
    "PIXEL_SELECTION_COLORS",
    "precision_recall",
    "efficiency_fakes",
    "integral_ratio",
    "dbscan_load",
    "selection_display",
    "all_figures",
]

#: legend names and colours of the chains (the one name of each: :mod:`caloreco.plotting.names`)
PIXEL_SELECTION_LABELS = {m: label(m) for m in PIXEL_SELECTION_METHODS}
PIXEL_SELECTION_COLORS = {m: color(m) for m in PIXEL_SELECTION_METHODS}
_MARKERS = {"nsigma": "o", "unet": "s", "unet_relaxed": "P", "nsigma_talk": "^", "unet_talk": "D"}
_KIND = {0: "empty", 1: "ER", 2: "NR", 3: "mixed"}


def _methods(m: dict, methods: Sequence[str] | None) -> list[str]:
    have = m.get("clustering", {}).get("methods", {})
    if not have:
        raise ValueError("metrics: no clustering methods")
    return [k for k in (methods or have) if k in have]


def _label(name: str) -> str:
    return PIXEL_SELECTION_LABELS.get(name, name)


def _title(fig, dataset: str | None) -> None:
    """Name the dataset above the panels (the workflow passes it)."""
    if dataset:
        fig.suptitle(dataset, fontsize="small")


def precision_recall(
    metrics: str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    methods: Sequence[str] | None = ("nsigma", "unet", "nsigma_talk"),
    dataset: str | None = None,
):
    """Pixel precision vs recall on the test frames: the U-Net's curve (probability threshold
    scanned) with its operating point, plain nsigma zero suppression at several nsigma, the pixels
    inside the final clusters of each chain, and smart_random (precision = recall = the signal
    pixel fraction).

    Returns:
        the figure (one panel, log precision axis).
    """
    m = load_json(metrics, "metrics")
    px = m.get("pixels")
    if not px:
        raise ValueError(f"metrics: {metrics} has no pixel metrics")
    with use_style(style):
        fig, axes = figure(1, 1)
        ax = axes[0, 0]
        c = px["pr_curve"]
        rec, prec = np.asarray(c["recall"]), np.asarray(c["precision"])
        keep = (rec > 0) & (prec > 0)
        ax.plot(rec[keep], prec[keep], color=PIXEL_SELECTION_COLORS["unet"], label="U-Net")
        u = px["unet"]
        ax.plot(
            u["recall"],
            u["precision"],
            "s",
            color=PIXEL_SELECTION_COLORS["unet"],
            label=f"U-Net at p > {u['threshold']:.2f} (validation F1)",
        )
        ns = px["nsigma"]
        keys = sorted(ns, key=float)
        ax.plot(
            [ns[k]["recall"] for k in keys],
            [ns[k]["precision"] for k in keys],
            "o--",
            color=PIXEL_SELECTION_COLORS["nsigma"],
            lw=0.8,
            label=r"$n\sigma$ zero suppression",
        )
        for k in keys:
            ax.annotate(
                k,
                (ns[k]["recall"], ns[k]["precision"]),
                textcoords="offset points",
                xytext=(4, -8),
                fontsize="x-small",
                color=PIXEL_SELECTION_COLORS["nsigma"],
            )
        for name in _methods(m, methods):
            p = m["clustering"]["methods"][name]["pixels"]
            ax.plot(
                p["recall"],
                p["precision"],
                _MARKERS.get(name, "o"),
                mfc="none",
                ms=7,
                color=PIXEL_SELECTION_COLORS.get(name),
                label=f"in clusters: {_label(name)}",
            )
        sr = px["smart_random"]["f1_expected"]
        ax.plot(sr, sr, "x", color="k", label="smart_random")
        ax.set_yscale("log")
        ax.set_xlim(0, 1.02)
        ax.set_ylim(max(min(sr, 1e-3) / 2, 1e-4), 1.2)
        ax.set_xlabel("pixel recall")
        ax.set_ylabel("pixel precision")
        ax.legend(loc="lower left", fontsize="x-small")
        annotate(
            ax,
            f"signal: truth > {m['target']['noise_fraction']:g} $\\sigma_{{ped}}$",
            "upper right",
        )
    _title(fig, dataset)
    return save(fig, outputs)


def _energy_axis(names: Sequence[str], extra_left: Sequence[str] = (), extra_right=()):
    cats = [*extra_left, *names, *extra_right]
    return cats, np.arange(len(cats), dtype=float)


def _block(v: dict, name: str) -> dict:
    return v[name] if name in ("multi_keV", "pedestal") else v["per_energy"][name]


def _cat_label(c: str) -> str:
    return {"multi_keV": "multi-keV", "pedestal": "no recoil"}.get(c, f"{c} keV")


def efficiency_fakes(
    metrics: str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    methods: Sequence[str] | None = None,
    dataset: str | None = None,
):
    """Left: detection efficiency per energy (and the multi-keV group); right: fake clusters per
    frame per energy, on frames without a recoil and in the multi-keV group; a bin without any
    fake shows its 95 % CL upper limit (open triangle down).

    Returns:
        the figure (two panels).
    """
    m = load_json(metrics, "metrics")
    meth = _methods(m, methods)
    names = m["energies"]
    with use_style(style):
        fig, axes = figure(1, 2, panel_aspect=0.9)
        cats_e, x_e = _energy_axis(names, (), ("multi_keV",))
        cats_f, x_f = _energy_axis(names, ("pedestal",), ("multi_keV",))
        n = len(meth)
        for i, name in enumerate(meth):
            v = m["clustering"]["methods"][name]
            dx = (i - (n - 1) / 2) * 0.12
            col = PIXEL_SELECTION_COLORS.get(name)
            eff = [_block(v, c)["efficiency"] for c in cats_e]
            axes[0, 0].errorbar(
                x_e + dx,
                [e["value"] for e in eff],
                yerr=[
                    [max(e["value"] - e["lo"], 0) for e in eff],
                    [max(e["hi"] - e["value"], 0) for e in eff],
                ],
                marker=_MARKERS.get(name, "o"),
                ls="none",
                color=col,
                label=_label(name),
            )
            fk = [_block(v, c)["fakes_per_frame"] for c in cats_f]
            has = np.array([f["count"] > 0 for f in fk])
            val = np.array([f["value"] for f in fk])
            err = np.array([f["err"] for f in fk])
            up = np.array([f["upper_95"] for f in fk])
            axes[0, 1].errorbar(
                (x_f + dx)[has],
                val[has],
                yerr=err[has],
                marker=_MARKERS.get(name, "o"),
                ls="none",
                color=col,
                label=_label(name),
            )
            axes[0, 1].plot((x_f + dx)[~has], up[~has], "v", mfc="none", color=col)
        axes[0, 0].axhline(0.99, color="0.6", lw=0.7, ls="--")
        axes[0, 0].set_ylabel("detection efficiency")
        axes[0, 0].set_ylim(None, 1.02)
        axes[0, 1].set_yscale("log")
        lo, hi = axes[0, 1].get_ylim()
        axes[0, 1].set_ylim(min(lo, 1e-3), max(hi, 1.0) * 2)
        plain_log_ticks(axes[0, 1])
        axes[0, 1].set_ylabel("fake clusters per frame")
        for ax, cats, x in ((axes[0, 0], cats_e, x_e), (axes[0, 1], cats_f, x_f)):
            ax.set_xticks(x)
            ax.set_xticklabels([_cat_label(c) for c in cats], rotation=45, fontsize="x-small")
            ax.minorticks_off()
        axes[0, 0].legend(loc="lower right", fontsize="x-small")
        annotate(axes[0, 1], "open: 95 % CL upper limit (no fake)", "upper left")
    _title(fig, dataset)
    return save(fig, outputs)


def integral_ratio(
    metrics: str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    methods: Sequence[str] | None = None,
    dataset: str | None = None,
):
    """Cluster integral / true integral of the main cluster of each detected recoil, per energy:
    the mean with its error (markers) and the spread (standard deviation, thin bars), with the
    +-2 % band around 1.

    Returns:
        the figure (one panel).
    """
    m = load_json(metrics, "metrics")
    meth = _methods(m, methods)
    cats, x = _energy_axis(m["energies"], (), ("multi_keV",))
    with use_style(style):
        fig, axes = figure(1, 1)
        ax = axes[0, 0]
        ax.axhspan(0.98, 1.02, color="0.9", lw=0)
        ax.axhline(1.0, color="0.5", lw=0.7)
        n = len(meth)
        for i, name in enumerate(meth):
            v = m["clustering"]["methods"][name]
            dx = (i - (n - 1) / 2) * 0.12
            r = [_block(v, c)["integral_ratio"] for c in cats]
            mean = np.array([q["mean"] for q in r])
            col = PIXEL_SELECTION_COLORS.get(name)
            ax.errorbar(
                x + dx, mean, yerr=[q["std"] for q in r], ls="none", color=col, lw=0.6, capsize=0
            )
            ax.errorbar(
                x + dx,
                mean,
                yerr=[q["mean_err"] for q in r],
                marker=_MARKERS.get(name, "o"),
                ls="none",
                color=col,
                capsize=2,
                label=_label(name),
            )
        ax.set_xticks(x)
        ax.set_xticklabels([_cat_label(c) for c in cats], rotation=45, fontsize="x-small")
        ax.minorticks_off()
        ax.set_ylabel("cluster integral / true integral")
        ax.legend(loc="upper right", fontsize="x-small")
        annotate(ax, "bars: spread; caps: error of the mean; band: $\\pm$2 %", "lower left")
    _title(fig, dataset)
    return save(fig, outputs)


def dbscan_load(
    metrics: str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    methods: Sequence[str] | None = None,
    dataset: str | None = None,
):
    """Left: points (macro-pixels) given to DBSCAN per frame; right: DBSCAN time per frame, per
    energy and on frames without a recoil with one call per frame (mostly scikit-learn's fixed
    cost), and over all test frames with 64 frames per call as the chain runs it; the U-Net's own
    inference time per frame as a dashed line.

    Returns:
        the figure (two panels).
    """
    m = load_json(metrics, "metrics")
    meth = _methods(m, methods)
    cats, x = _energy_axis(m["energies"], ("pedestal",), ())
    with use_style(style):
        fig, axes = figure(1, 2, panel_aspect=0.9)
        n = len(meth)
        for i, name in enumerate(meth):
            v = m["clustering"]["methods"][name]
            dx = (i - (n - 1) / 2) * 0.12
            col = PIXEL_SELECTION_COLORS.get(name)
            b = [_block(v, c) for c in cats]
            axes[0, 0].errorbar(
                x + dx,
                [q["points_per_frame"] for q in b],
                yerr=[q["points_per_frame_err"] for q in b],
                marker=_MARKERS.get(name, "o"),
                ls="none",
                color=col,
                label=_label(name),
            )
            axes[0, 1].plot(
                np.append(x, x[-1] + 1) + dx,
                [*(q["dbscan_ms_per_frame"] for q in b), v["dbscan_ms_per_frame_batched"]],
                _MARKERS.get(name, "o"),
                color=col,
                label=_label(name),
            )
        t_unet = m.get("timing", {}).get("unet_inference_ms_per_frame")
        if t_unet:
            axes[0, 1].axhline(t_unet, color=PIXEL_SELECTION_COLORS["unet"], ls="--", lw=0.8)
            axes[0, 1].annotate(
                f"U-Net inference {t_unet:.0f} ms",
                (x[0], t_unet),
                textcoords="offset points",
                xytext=(0, 3),
                fontsize="x-small",
                color=PIXEL_SELECTION_COLORS["unet"],
            )
        axes[0, 0].set_ylabel("DBSCAN points per frame")
        axes[0, 1].set_ylabel("DBSCAN time per frame [ms]")
        axes[0, 1].set_yscale("log")
        labels = [_cat_label(c) for c in cats]
        for ax, xs, lab in (
            (axes[0, 0], x, labels),
            (axes[0, 1], np.append(x, x[-1] + 1), [*labels, "all (64 / call)"]),
        ):
            ax.set_xticks(xs)
            ax.set_xticklabels(lab, rotation=45, fontsize="x-small")
            ax.minorticks_off()
        annotate(axes[0, 0], "1 point = one 4 x 4 macro-pixel", "lower right")
        annotate(axes[0, 1], "one DBSCAN call per frame", "lower right")
        axes[0, 0].legend(loc="upper left", fontsize="x-small")
    _title(fig, dataset)
    return save(fig, outputs)


def _load_examples(path) -> dict[str, np.ndarray]:
    (p,) = as_paths(path, "examples")
    with np.load(p, allow_pickle=False) as f:
        need = ("sub", "target", "zs", "prob", "points_nsigma", "labels_nsigma", "labels_unet")
        missing = [k for k in need if k not in f.files]
        if missing:
            raise ValueError(f"examples: {p} lacks arrays {missing}")
        return {k: f[k] for k in f.files}


def selection_display(
    examples: str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    pixel_mm: float = 0.152,
    n: int | None = None,
    threshold: float | None = None,
    zoom_px: int | None = 96,
    dataset: str | None = None,
    metrics: str | os.PathLike | None = None,
):
    """One row per example test frame, zoomed to ``zoom_px`` pixels around its signal (None: the
    whole frame): the pedestal-subtracted frame with the true signal pixels outlined (white);
    the classical selection (zero-suppressed pixels in grey, its DBSCAN points dotted orange, its
    clusters red); the U-Net probability with its DBSCAN points (macro-pixels above
    ``threshold``, dotted orange) and its clusters (blue). Without ``threshold`` the point
    threshold of ``metrics`` (pixel_selection.json) is shown, when given.

    Returns:
        the figure (3 columns of images, one row per frame).
    """
    if threshold is None and metrics is not None:
        threshold = load_json(metrics, "metrics").get("unet", {}).get("point_threshold")
    ex = _load_examples(examples)
    k = ex["sub"].shape[0] if n is None else min(n, ex["sub"].shape[0])
    if k == 0:
        raise ValueError("examples: no frames to show")
    H, W = ex["sub"].shape[1:]
    rb = H // ex["labels_unet"].shape[1]

    def up(a):
        return np.repeat(np.repeat(a, rb, axis=0), rb, axis=1)

    def window(i):
        """Rows / columns of a ``zoom_px`` window (macro-pixel aligned) around the signal."""
        if zoom_px is None or zoom_px >= min(H, W):
            return slice(0, H), slice(0, W)
        z = int(zoom_px) // rb * rb
        rr, cc = np.nonzero(ex["target"][i])
        cr, cc_ = (rr.mean(), cc.mean()) if rr.size else (H / 2, W / 2)
        r0 = int(np.clip(round((cr - z / 2) / rb) * rb, 0, H - z))
        c0 = int(np.clip(round((cc_ - z / 2) / rb) * rb, 0, W - z))
        return slice(r0, r0 + z), slice(c0, c0 + z)

    titles = ("pedestal-subtracted, truth", r"$n\sigma$: selected, points", "U-Net: p, points")
    with use_style(style):
        fig, axes = figure(k, 3, panel_aspect=1.0)
        for i in range(k):
            rs, cs = window(i)
            extent = (
                cs.start * pixel_mm,
                cs.stop * pixel_mm,
                rs.start * pixel_mm,
                rs.stop * pixel_mm,
            )
            sub = ex["sub"][i][rs, cs]
            noise = np.std(sub[np.abs(sub) < 20]) if np.any(np.abs(sub) < 20) else 1.0
            vmax = max(np.percentile(sub, 99.9), 5 * noise)
            panels = (
                (sub, dict(vmin=-3 * noise, vmax=vmax, cmap="viridis")),
                ((ex["zs"][i][rs, cs] > 0).astype(float), dict(vmin=0, vmax=1.6, cmap="Greys")),
                (ex["prob"][i][rs, cs], dict(vmin=0, vmax=1, cmap="magma")),
            )
            contours = (
                (ex["target"][i][rs, cs], "w"),
                (up(ex["labels_nsigma"][i] >= 0)[rs, cs], "#e42536"),
                (up(ex["labels_unet"][i] >= 0)[rs, cs], "#5790fc"),
            )
            pts = (None, up(ex["points_nsigma"][i])[rs, cs], None)
            if threshold is not None:
                pb = ex["prob"][i].reshape(H // rb, rb, W // rb, rb).max(axis=(1, 3))
                pts = (None, pts[1], up((pb > threshold).astype(np.uint8))[rs, cs])
            for j, (img, lim) in enumerate(panels):
                ax = axes[i, j]
                ax.imshow(img, origin="lower", extent=extent, interpolation="nearest", **lim)
                cimg, ccol = contours[j]
                if np.any(cimg):
                    ax.contour(
                        cimg.astype(float),
                        levels=[0.5],
                        colors=ccol,
                        linewidths=0.6,
                        extent=extent,
                        origin="lower",
                    )
                if pts[j] is not None and np.any(pts[j]):
                    ax.contour(
                        pts[j].astype(float),
                        levels=[0.5],
                        colors="#f89c20",
                        linewidths=0.5,
                        linestyles="dotted",
                        extent=extent,
                        origin="lower",
                    )
                if i == 0:
                    ax.set_title(titles[j], fontsize="small")
                ax.tick_params(labelsize="x-small")
                if j == 0:
                    ax.set_ylabel("y [mm]", fontsize="small")
                    e = str(ex["energy"][i]) if "energy" in ex else "?"
                    kind = _KIND.get(int(ex["kind"][i]), "?") if "kind" in ex else ""
                    annotate(ax, f"{kind} {e} keV" if e != "0" else "no recoil", "upper left")
                if i == k - 1:
                    ax.set_xlabel("x [mm]", fontsize="small")
    _title(fig, dataset)
    return save(fig, outputs)


def all_figures(
    metrics: str | os.PathLike,
    examples: str | os.PathLike,
    out_dir: str | os.PathLike,
    style: str | os.PathLike,
    fmt: str = "pdf",
) -> list[Path]:
    """Draw every figure of the analysis into ``out_dir`` (for the study script)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    m = load_json(metrics, "metrics")
    thr = m.get("unet", {}).get("point_threshold")
    px = float(m.get("pixel_mm", 0.152))
    made = []
    for name, call in (
        ("pixel_precision_recall", lambda p: precision_recall(metrics, style, [p])),
        ("pixel_selection_efficiency_fakes", lambda p: efficiency_fakes(metrics, style, [p])),
        ("pixel_selection_integral_ratio", lambda p: integral_ratio(metrics, style, [p])),
        ("pixel_selection_dbscan_load", lambda p: dbscan_load(metrics, style, [p])),
        (
            "pixel_selection_display",
            lambda p: selection_display(examples, style, [p], px, threshold=thr),
        ),
    ):
        path = out / f"{name}.{fmt}"
        call(path)
        made.append(path)
    return made
