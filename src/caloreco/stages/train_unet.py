"""Rule ``train_unet``: the U-Net pixel selection of an imaging dataset, trained on the training
frames, its thresholds and the ``unet_relaxed`` min_samples fixed on the validation frames ->
the checkpoint (with that information) and the loss history."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from caloreco.imaging.chunks import read_chunks
from caloreco.imaging.pixel_selection import (
    pixel_selection_settings_from_config,
    train_pixel_selection,
)
from caloreco.imaging.rawio import read_image_run_info
from caloreco.imaging.reco import reco_settings_from_config
from caloreco.io.files import atomic_path
from caloreco.nn.unet import save_unet

log = logging.getLogger("caloreco.stages.train_unet")

__all__ = ["run"]


def run(
    raw_paths: Sequence[str | Path],
    settings: Mapping[str, Any],
    reco: Mapping[str, Any] | None,
    seed: int,
    outputs: Mapping[str, str | Path],
    threads: int | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Train the U-Net (:func:`caloreco.imaging.pixel_selection.train_pixel_selection`).

    Args:
        raw_paths: the dataset's raw image chunks (simulated: the target is the truth light).
        settings: the training keys of ``clustering.unet`` with the dataset's split.
        reco: the ``clustering.cygno`` block (the DBSCAN the U-Net's points go to).
        seed: seed of the weights and the training crops.
        outputs: paths ``model`` (checkpoint; its meta holds the thresholds) and ``history``.
        threads: torch CPU threads (the rule's ``threads``).
        device: ``"auto"``: a GPU when present, else the CPU.
    """
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    s = pixel_selection_settings_from_config(settings)
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
    model, info = train_pixel_selection(
        frames, pedestal, s, r, pixel_mm, seed=int(seed), device=device, log=log.info
    )
    save_unet(outputs["model"], model, info)
    hist = pd.DataFrame(info["history"])
    with atomic_path(outputs["history"]) as tmp:
        hist.to_csv(tmp, index=False)
    log.info(
        "U-Net (%d parameters) on %s: pixel threshold %.4g, %d epochs in %.1f s",
        info["parameters"],
        info["device"],
        info["pixel_threshold"],
        len(info["history"]),
        info["train_seconds"],
    )
    return info
