"""Figures of the CALIFA case A/B pair classifiers: score distributions, ROC curves, F1."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from caloreco.plotting._common import annotate, as_paths, load_json
from caloreco.plotting.names import color, dataset_label, label
from caloreco.plotting.style import figure, save, use_style

__all__ = ["pair_scores", "roc_curves", "f1_comparison", "CLASSIFIER_ORDER"]

#: the order classifiers appear in legends and tables
CLASSIFIER_ORDER = ("nn", "nn_tiny", "gradient_boosting", "cut", "smart_random")

#: case labels of a pair (label 1: both clusters from the same gamma, to be merged)
CASE_LABELS = {1: r"case B: same $\gamma$ (merge)", 0: r"case A: different $\gamma$"}


def _read_scores(path) -> pd.DataFrame:
    (path,) = as_paths(path, "scores")
    df = pd.read_parquet(path)
    if "label" not in df.columns:
        raise ValueError(f"scores: {path} has no 'label' column; has {list(df.columns)}")
    return df


def _score_columns(df: pd.DataFrame, classifiers: Sequence[str] | None) -> list[str]:
    present = [c for c in df.columns if c not in ("event", "label", "pair", "split")]
    if classifiers is None:
        return [c for c in CLASSIFIER_ORDER if c in present] + [
            c for c in present if c not in CLASSIFIER_ORDER
        ]
    missing = [c for c in classifiers if c not in present]
    if missing:
        raise ValueError(f"classifiers: {missing} not in the score table (has {present})")
    return list(classifiers)


def pair_scores(
    scores: str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    metrics: str | os.PathLike | None = None,
    classifiers: Sequence[str] = ("nn", "nn_tiny", "gradient_boosting"),
    dataset: str | None = None,
):
    """Score distributions of the test pairs per class, one panel per classifier.

    Args:
        scores: ``results/{dataset}/tables/pair_scores.parquet`` (event, label, one score column
            per classifier in [0, 1]).
        style, outputs: style file and output files.
        metrics: ``pairs.json``; with it each panel marks the classifier's working threshold.
        classifiers: the score columns to show (those absent from the table are skipped).
        dataset: dataset key, shown on the figure.

    Returns:
        the figure: per panel two step histograms (case B, case A), log scale.
    """
    df = _read_scores(scores)
    names = [c for c in classifiers if c in df.columns]
    if not names:
        raise ValueError(f"classifiers: none of {list(classifiers)} in {scores}")
    thresholds = {}
    if metrics is not None:
        thresholds = {
            k: v.get("threshold")
            for k, v in load_json(metrics, "metrics").get("classifiers", {}).items()
        }
    label_ = df["label"].to_numpy()
    edges = np.linspace(0, 1, 41)
    with use_style(style):
        fig, axes = figure(1, len(names), panel_aspect=0.9, sharey=True)
        for ax, name in zip(axes[0], names, strict=True):
            s = df[name].to_numpy(np.float64)
            for cls, ls in ((1, "-"), (0, "--")):
                sel = label_ == cls
                ax.hist(
                    np.clip(s[sel], 0, 1),
                    bins=edges,
                    histtype="step",
                    color=color(name),
                    ls=ls,
                    weights=np.full(sel.sum(), 1.0 / max(sel.sum(), 1)),
                    label=CASE_LABELS[cls],
                )
            thr = thresholds.get(name)
            if thr is not None:
                ax.axvline(thr, color="0.3", lw=0.8, ls=":", label="threshold")
            ax.set_yscale("log")
            ax.set_title(label(name), fontsize="medium")
            ax.set_xlabel("score")
            ax.set_xlim(0, 1)
        axes[0, 0].set_ylabel("fraction of pairs / 0.025")
        # neutral legend entries: the colour names the classifier (panel title)
        from matplotlib.lines import Line2D

        texts = [CASE_LABELS[1], CASE_LABELS[0]]
        handles = [Line2D([], [], color="0.2"), Line2D([], [], color="0.2", ls="--")]
        if thresholds:
            texts.append("working threshold")
            handles.append(Line2D([], [], color="0.3", lw=0.8, ls=":"))
        fig.legend(
            handles,
            texts,
            loc="outside upper center",
            ncol=len(texts),
            title=dataset_label(dataset) if dataset else None,
        )
    return save(fig, outputs)


def roc_curves(
    scores: str | os.PathLike,
    metrics: str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    classifiers: Sequence[str] | None = None,
    dataset: str | None = None,
):
    """ROC curves on the test pairs (false positive rate on a log axis), the working point of
    each classifier marked, the AUC of pairs.json in the legend.

    Args:
        scores: ``pair_scores.parquet``.
        metrics: ``pairs.json`` (``classifiers.{name}.roc_auc``, ``threshold``, ``precision``,
            ``recall``).
        style, outputs: style file and output files.
        classifiers: score columns to draw (default: all, in :data:`CLASSIFIER_ORDER`).
            ``smart_random`` has 0/1 scores: it is drawn as its working point only.
        dataset: dataset key, shown on the figure.

    Returns:
        the figure: one line per classifier with a continuous score, the random diagonal, and
        one marker per working point.
    """
    from sklearn.metrics import roc_curve

    df = _read_scores(scores)
    info = load_json(metrics, "metrics").get("classifiers", {})
    names = _score_columns(df, classifiers)
    y = df["label"].to_numpy()
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"scores: {scores} needs pairs of both classes (has {n_pos}, {n_neg})")
    with use_style(style):
        fig, axes = figure(1, 1, panel_aspect=0.62)
        ax = axes[0, 0]
        fpr_min = 0.5 / n_neg
        grid = np.logspace(np.log10(fpr_min), 0, 100)
        ax.plot(grid, grid, color="0.6", lw=0.8, ls=":", label="random guess")
        for name in names:
            s = df[name].to_numpy(np.float64)
            c = color(name)
            auc = info.get(name, {}).get("roc_auc")
            text = label(name) + (f" (AUC {auc:.3f})" if auc is not None else "")
            continuous = np.unique(s).size > 2
            if continuous:
                fpr, tpr, _ = roc_curve(y, s)
                keep = fpr > 0
                ax.plot(fpr[keep], tpr[keep], color=c, label=text)
            thr = info.get(name, {}).get("threshold", 0.5)
            pred = s >= thr
            fp = np.sum(pred & (y == 0)) / n_neg
            tp = np.sum(pred & (y == 1)) / n_pos
            ax.plot(
                max(fp, fpr_min),
                tp,
                "o" if continuous else "s",
                color=c,
                mfc="white" if continuous else c,
                label=None if continuous else text,
            )
        ax.plot([], [], "o", color="0.3", mfc="white", label="working point")
        ax.set_xscale("log")
        ax.set_xlim(fpr_min, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("false positive rate (case A pairs merged)")
        ax.set_ylabel("true positive rate (case B merged)")
        ax.legend(loc="upper left", bbox_to_anchor=(0.0, 0.92), fontsize="small")
        annotate(ax, dataset_label(dataset) if dataset else None, "upper left")
    return save(fig, outputs)


def f1_comparison(
    metrics: str | os.PathLike,
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    seeds: str | os.PathLike | None = None,
    dataset: str | None = None,
):
    """F1 on the test pairs with its bootstrap 95 % interval for every classifier, the
    smart-random expectation (F1 = positive fraction) marked, and with ``seeds`` the spread of
    the network's F1 over training seeds.

    Args:
        metrics: ``pairs.json``.
        style, outputs: style file and output files.
        seeds: ``pairs_seeds.json`` (``f1_mean``, ``f1_std``, ``runs``), optional.
        dataset: dataset key, shown on the figure.

    Returns:
        the figure: one horizontal error bar per classifier (first line of ``ax.lines`` and so
        on), top to bottom in :data:`CLASSIFIER_ORDER`.
    """
    info = load_json(metrics, "metrics").get("classifiers", {})
    if not info:
        raise ValueError(f"metrics: {metrics} has no 'classifiers'")
    names = [c for c in CLASSIFIER_ORDER if c in info] + [
        c for c in info if c not in CLASSIFIER_ORDER
    ]
    seed_info = load_json(seeds, "seeds") if seeds is not None else None
    with use_style(style):
        fig, axes = figure(1, 1, panel_aspect=0.45)
        ax = axes[0, 0]
        ypos = np.arange(len(names))[::-1]
        for yy, name in zip(ypos, names, strict=True):
            m = info[name]
            f1 = float(m["f1"])
            lo, hi = m.get("f1_ci", [f1, f1])
            ax.errorbar(
                f1,
                yy,
                xerr=[[f1 - lo], [hi - f1]],
                fmt="o",
                color=color(name),
                capsize=3,
            )
            ax.annotate(
                f"{f1:.3f}",
                (f1, yy),
                xytext=(0, 5),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize="small",
            )
            if "f1_expected" in m:
                ax.plot(
                    m["f1_expected"],
                    yy,
                    "d",
                    color=color(name),
                    mfc="white",
                    label="smart random, expected ($F_1 = p$)",
                )
        if seed_info and "nn" in names and "f1_mean" in seed_info:
            yy = ypos[names.index("nn")]
            mu, sd = float(seed_info["f1_mean"]), float(seed_info.get("f1_std", 0.0))
            ax.fill_between(
                [mu - sd, mu + sd],
                yy - 0.12,  # thin: the F1 value is written just above the marker
                yy + 0.12,
                color=color("nn"),
                alpha=0.25,
                lw=0,
                zorder=0,
                label=f"NN, spread over {len(seed_info.get('runs', []))} training seeds",
            )
        ax.set_yticks(ypos, [label(n) for n in names])
        ax.tick_params(axis="y", which="minor", left=False, right=False)
        ax.set_xlim(0, 1.05)
        ax.set_ylim(-0.7, len(names) - 0.3)
        ax.set_xlabel(r"$F_1$ score (test pairs, 95 % interval)")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right", fontsize="small")
        if dataset:
            ax.set_title(dataset_label(dataset), loc="right", fontsize="small")
    return save(fig, outputs)
