"""Rule ``anomaly``: the pedestal-trained autoencoder analysis of an imaging dataset -> anomaly.json,
its tables (regions, frame scores, example frames) and the autoencoder."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from caloreco.imaging.anomaly import anomaly_analysis, anomaly_settings_from_config
from caloreco.imaging.chunks import read_chunks
from caloreco.imaging.rawio import read_image_run_info
from caloreco.imaging.reco import reco_settings_from_config
from caloreco.io.files import atomic_path, write_json, write_table
from caloreco.nn.autoencoder import save_autoencoder

log = logging.getLogger("caloreco.stages.anomaly")

__all__ = ["run"]


def run(
    raw_paths: Sequence[str | Path],
    settings: Mapping[str, Any],
    reco: Mapping[str, Any] | None,
    seed: int,
    outputs: Mapping[str, str | Path],
    threads: int | None = None,
) -> dict[str, Any]:
    """Train the autoencoder on the pedestal-like frames of the train split, evaluate every
    selection on the test split (:func:`caloreco.imaging.anomaly.anomaly_analysis`).

    Args:
        raw_paths: the dataset's raw image chunks (simulated: the metrics need truth).
        settings: ``AnomalySettings`` keys (the ``anomaly`` block with the dataset split).
        reco: the ``clustering.cygno`` block of the classical chain compared against.
        seed: seed of the networks and the bootstraps.
        outputs: paths ``metrics``, ``regions``, ``roc_scores``, ``examples``, ``model``,
            ``history``.
        threads: torch CPU threads (the rule's ``threads``).
    """
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    s = anomaly_settings_from_config(settings)
    r = reco_settings_from_config(reco)
    frames, pedestal = read_chunks(raw_paths, require_truth=True)
    pixel_mm = float(read_image_run_info(raw_paths[0]).get("pixel_mm", 0.152))
    log.info(
        "%d frames of %d x %d pixels from %d chunks; split %s",
        len(frames),
        *frames.image.shape[1:],
        len(raw_paths),
        s.split_fractions,
    )
    metrics, art = anomaly_analysis(
        frames, pedestal, s, r, pixel_mm, seed=int(seed), device="auto", log=log.info
    )
    write_table(outputs["regions"], art["regions"])
    write_table(outputs["roc_scores"], art["roc_scores"])
    with atomic_path(outputs["examples"]) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **art["examples"])
    history = metrics["autoencoder"]["history"]
    save_autoencoder(
        outputs["model"],
        art["model"],
        {
            "config": metrics["autoencoder"]["config"],
            "seed": int(seed),
            "pedestal_frames": metrics["autoencoder"]["pedestal_frames"],
            "best_val_loss": min(h["val_loss"] for h in history),
            "window_sigmas_px": metrics["window_sigmas_px"],
            "window_scales": metrics["window_scales"],
        },
    )
    best = int(np.argmin([h["val_loss"] for h in history]))
    hist = pd.DataFrame(history)
    hist["best"] = np.arange(len(hist)) == best
    with atomic_path(outputs["history"]) as tmp:
        hist.to_csv(tmp, index=False)
    write_json(outputs["metrics"], metrics)
    sel = metrics["selection"]
    log.info(
        "kept at 97.8 %% discarded: autoencoder %s, nsigma %s; ROC AUC (ae_local) %s",
        sel["goals"]["ae_kept_at_97.8"],
        sel["goals"]["nsigma_kept_at_97.8"],
        {e: round(v["auc"], 4) for e, v in metrics["roc"]["methods"]["ae_local"].items()},
    )
    return metrics
