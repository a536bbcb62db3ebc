"""Rule ``import_images``: one chunk of a CYGNO run (``pic_run*_ev*`` histograms) and its pedestal
-> raw image file."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from caloreco.imaging.cygno import import_cygno
from caloreco.imaging.settings import cygno_settings, import_plan

log = logging.getLogger("caloreco.stages.import_images")

__all__ = ["run"]


def run(
    files: Sequence[str | Path],
    out_path: str | Path,
    dataset: str,
    dataset_cfg: Mapping[str, Any],
    detector_cfg: Mapping[str, Any],
    chunk: str | int,
) -> dict[str, Any]:
    """Convert the frames of chunk ``chunk`` (:func:`caloreco.imaging.settings.import_plan`) and
    the pedestal maps of their run into the raw image contract."""
    c = int(chunk)
    opts = cygno_settings(dataset_cfg)
    plan = import_plan(
        [str(f) for f in files],
        opts["pedestal"],
        int(dataset_cfg["chunks"]),
        c,
        dataset_cfg.get("frames_per_chunk"),
        int(opts["first"]),
    )
    log.info(
        "importing %s chunk %03d: %s from frame %d (at most %s), pedestal %s",
        dataset,
        c,
        plan["data"],
        plan["first"],
        plan["max_frames"],
        plan["pedestal"],
    )
    info = import_cygno(
        plan["data"],
        plan["pedestal"],
        out_path,
        first=plan["first"],
        max_frames=plan["max_frames"],
        crop=opts["crop"],
        pixel_mm=float(dict(detector_cfg.get("camera") or {}).get("pixel_mm", 0.152)),
        max_pedestal_frames=int(opts["max_pedestal_frames"]),
        exclude=[int(e) for e in opts["exclude"]],
        extra_info={"dataset": dataset, "chunk": c, "detector_name": dataset_cfg["detector"]},
    )
    log.info(
        "imported %d frames of %d x %d pixels; pedestal from %d frames",
        info["frames"],
        *info["shape"],
        info["pedestal_frames"],
    )
    return info
