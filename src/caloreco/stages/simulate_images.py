"""Rule ``simulate_images``: one chunk of camera frames of an imaging dataset -> raw image file."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from caloreco.imaging.chunks import simulate_chunk
from caloreco.imaging.settings import camera_block, images_settings

log = logging.getLogger("caloreco.stages.simulate_images")

__all__ = ["run"]


def run(
    out_path: str | Path,
    dataset: str,
    dataset_cfg: Mapping[str, Any],
    detector_cfg: Mapping[str, Any],
    chunk: str | int,
) -> dict[str, Any]:
    """Simulate chunk ``chunk`` of an imaging dataset (raw image contract, TTrees).

    Event numbers are ``chunk * frames_per_chunk + i``; every chunk shares the camera and the
    pedestal run of the dataset seed, so chunks can run in any order.
    """
    c = int(chunk)
    n = int(dataset_cfg["frames_per_chunk"])
    img = images_settings(dataset_cfg)
    cam = camera_block(detector_cfg, dataset_cfg)
    log.info(
        "simulating %s chunk %03d: %d frames of %d x %d pixels (pedestal run of %d frames)",
        dataset,
        c,
        n,
        cam["height"],
        cam["width"],
        img["pedestal_frames"],
    )
    summary = simulate_chunk(
        out_path,
        cam,
        img["recoils"],
        int(dataset_cfg["seed"]),
        c,
        n,
        n_pedestal_frames=int(img["pedestal_frames"]),
        run=int(img["run"]),
        extra_info={"dataset": dataset, "detector_name": dataset_cfg["detector"]},
    )
    log.info(
        "%d frames (%s), %d recoils in %.1f s (%.1f frames/s), pedestal run %.1f s, "
        "written in %.1f s, %.1f MB",
        summary["frames"],
        summary["frames_by_kind"],
        summary["recoils"],
        summary["simulation_seconds"],
        summary["frames_per_second"],
        summary["pedestal_seconds"],
        summary["write_seconds"],
        summary["file_bytes"] / 1e6,
    )
    return summary
