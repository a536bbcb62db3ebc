"""Training figures: loss curves of the trained models."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from caloreco.plotting._common import annotate, as_paths, plain_log_ticks
from caloreco.plotting.names import MODEL_ESTIMATOR, color, dataset_label, label
from caloreco.plotting.style import figure, save, use_style

__all__ = ["loss_curves", "read_history"]

HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss")


def read_history(path: str | os.PathLike) -> pd.DataFrame:
    """A ``{model}.history.csv`` (epoch, train_loss, val_loss, lr, seconds, best)."""
    df = pd.read_csv(path)
    missing = [c for c in HISTORY_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"histories: {path} lacks columns {missing}; has {list(df.columns)}")
    return df


def _model_name(path: Path) -> str:
    return path.name.removesuffix(".history.csv")


def loss_curves(
    histories: str | os.PathLike | Sequence[str | os.PathLike],
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    dataset: str | None = None,
):
    """Training and validation loss per epoch for each model, the kept (best) epoch marked.

    Args:
        histories: ``results/{dataset}/models/{model}.history.csv`` files; the model name
            (``regressor``, ``pair_classifier``, ...) picks the legend name and colour.
        style: ``.mplstyle`` file.
        outputs: output files.
        dataset: dataset key, shown on the figure.

    Returns:
        the figure; one solid (validation) and one dashed (training) line per model.
    """
    paths = as_paths(histories, "histories")
    with use_style(style):
        fig, axes = figure(1, 1, panel_aspect=0.6)
        ax = axes[0, 0]
        spread = []
        for i, p in enumerate(paths):
            h = read_history(p)
            model = _model_name(p)
            key = MODEL_ESTIMATOR.get(model, model)
            c = color(key, i)
            ax.plot(h["epoch"], h["val_loss"], color=c, label=f"{label(key)}, validation")
            ax.plot(h["epoch"], h["train_loss"], color=c, ls="--", label=f"{label(key)}, training")
            best = int(np.nanargmin(h["val_loss"].to_numpy()))
            ax.plot(h["epoch"].iloc[best], h["val_loss"].iloc[best], "o", color=c, mfc="white")
            vals = h[["train_loss", "val_loss"]].to_numpy(np.float64)
            spread += [np.nanmin(vals), np.nanmax(vals)]
        if spread and min(spread) > 0 and max(spread) / min(spread) > 5:
            ax.set_yscale("log")
            plain_log_ticks(ax)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss per sample")
        ax.plot([], [], "o", color="0.3", mfc="white", label="kept model (lowest validation)")
        ax.legend(loc="upper right")
        annotate(ax, dataset_label(dataset) if dataset else None, "lower left")
    return save(fig, outputs)
