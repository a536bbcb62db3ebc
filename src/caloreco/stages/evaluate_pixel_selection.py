"""Rule ``evaluate_pixel_selection``: the U-Net and the classical pixel selections in front of the
same DBSCAN, compared on the same test frames -> pixel_selection.json, the per-cluster and
per-recoil tables and the example frames of the displays."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from caloreco.imaging.chunks import read_chunks
from caloreco.imaging.pixel_selection import (
    evaluate_pixel_selection,
    pixel_selection_settings_from_config,
)
from caloreco.imaging.rawio import read_image_run_info
from caloreco.imaging.reco import reco_settings_from_config
from caloreco.io.files import atomic_path, write_json, write_table
from caloreco.nn.unet import load_unet

log = logging.getLogger("caloreco.stages.evaluate_pixel_selection")

__all__ = ["run"]


def run(
    raw_paths: Sequence[str | Path],
    model_path: str | Path,
    settings: Mapping[str, Any],
    reco: Mapping[str, Any] | None,
    seed: int,
    outputs: Mapping[str, str | Path],
    threads: int | None = None,
) -> dict[str, Any]:
    """Evaluate (:func:`caloreco.imaging.pixel_selection.evaluate_pixel_selection`).

    Args:
        raw_paths: the dataset's raw image chunks (simulated, with truth).
        model_path: the ``train_unet`` checkpoint.
        settings: ``clustering.unet`` with the dataset's split.
        reco: the ``clustering.cygno`` block (the LIME chain; ``compare`` adds the talk's).
        seed: seed of the bootstraps.
        outputs: paths ``metrics``, ``clusters``, ``recoils``, ``examples``.
        threads: torch CPU threads.
    """
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    s = pixel_selection_settings_from_config(settings)
    r = reco_settings_from_config(reco)
    model, info = load_unet(model_path)
    frames, pedestal = read_chunks(raw_paths, require_truth=True)
    pixel_mm = float(read_image_run_info(raw_paths[0]).get("pixel_mm", 0.152))
    metrics, art = evaluate_pixel_selection(
        frames, pedestal, model, info, s, r, pixel_mm, seed=int(seed), log=log.info
    )
    write_table(outputs["clusters"], art["clusters"])
    write_table(outputs["recoils"], art["recoils"])
    with atomic_path(outputs["examples"]) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **art["examples"])
    write_json(outputs["metrics"], metrics)
    for name, goals in metrics["goals"].items():
        log.info(
            "%s: %s",
            name,
            {k: g["met"] for k, g in goals.items() if isinstance(g, Mapping) and "met" in g},
        )
    return metrics
