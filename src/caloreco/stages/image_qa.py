"""Rule ``image_qa``: simulation.json and the QA figure of an imaging dataset."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from caloreco.imaging.qa import combine_image_stats, image_chunk_stats, summarize_images
from caloreco.imaging.rawio import read_image_run_info, read_images, read_pedestal
from caloreco.io.files import write_json
from caloreco.plotting.imaging_qa import plot_image_qa

log = logging.getLogger("caloreco.stages.image_qa")

__all__ = ["run"]


def run(
    raw_paths: Sequence[str | Path], dataset: str, metrics_out: str | Path, png: str, pdf: str
) -> dict[str, Any]:
    """simulation.json (frames, light yield, pedestal and noise, diffusion) and the QA figure.

    Streams the chunks: one chunk of frames in memory; the example frame shown is the one of
    the brightest true signal (the brightest frame for data without truth).
    """
    if not raw_paths:
        raise ValueError(f"image_qa {dataset}: no raw files")
    parts, infos = [], []
    best: tuple[float, np.ndarray | None, str] = (-np.inf, None, "")
    for p in raw_paths:
        info = read_image_run_info(p)
        frames = read_images(p)
        pedestal = read_pedestal(p)
        parts.append(image_chunk_stats(frames, pedestal, float(info.get("pixel_mm", 0.152))))
        infos.append(info)
        if len(frames):
            if frames.has_truth:
                light = frames.truth_light.sum(axis=(1, 2), dtype=np.float64)
            else:
                light = (frames.image.astype(np.float32) - pedestal.mean).sum(axis=(1, 2))
            i = int(np.argmax(light))
            if light[i] > best[0]:
                kind = {0: "empty", 1: "ER", 2: "NR", 3: "ER + NR"}.get(int(frames.kind[i]), "")
                title = f"event {int(frames.event[i])} ({Path(p).name})"
                if frames.has_truth:
                    title += f": {kind}, {float(frames.energy_kev[i]):g} keV visible"
                best = (float(light[i]), frames.image[i].copy(), title)
        log.info("%s: %d frames", p, len(frames))
        del frames
    stats = combine_image_stats(parts)
    first = raw_paths[0]
    pedestal = read_pedestal(first)
    simulated = infos[0].get("source") == "simulate"  # imported data has no true maps
    true_ped = read_pedestal(first, true_maps=True) if simulated else None
    summary = summarize_images(stats, infos, pedestal, true_ped)
    summary["dataset"] = dataset
    log.info(
        "%s: %s; raw files %.1f MB", dataset, summary, sum(map(os.path.getsize, raw_paths)) / 1e6
    )
    if best[1] is None:
        raise ValueError(f"image_qa {dataset}: the raw files hold no frames")
    plot_image_qa(summary, stats, best[1], best[2], pedestal, dataset, [png, pdf], true_ped)
    write_json(metrics_out, summary)
    return summary
