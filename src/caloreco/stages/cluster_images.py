"""Rule ``cluster_images``: CYGNO's classical reconstruction of one raw image chunk -> cluster
table (pedestal subtraction, zero suppression, filters, rebin, DBSCAN)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from caloreco.imaging.rawio import read_image_run_info, read_images, read_pedestal
from caloreco.imaging.reco import reco_settings_from_config, reconstruct
from caloreco.io.files import write_table

log = logging.getLogger("caloreco.stages.cluster_images")

__all__ = ["run"]


def run(
    raw_path: str | Path, method: str, settings: Mapping[str, Any], clusters_out: str | Path
) -> pd.DataFrame:
    """Reconstruct the frames of one chunk with the chain ``method`` (``cygno``) and write its
    cluster table (one row per cluster; truth columns for simulated frames)."""
    if method != "cygno":
        raise ValueError(f"method: the imaging reconstruction is 'cygno', got {method!r}")
    reco = reco_settings_from_config(settings)
    info = read_image_run_info(raw_path)
    frames = read_images(raw_path)
    pedestal = read_pedestal(raw_path)
    t0 = time.perf_counter()
    res = reconstruct(
        frames.image,
        pedestal,
        reco,
        float(info.get("pixel_mm", 0.152)),
        events=frames.event,
        truth_light=frames.truth_light,
        truth_recoil=frames.truth_recoil,
        recoil_offsets=frames.recoil_offsets,
        recoils=frames.recoils,
    )
    dt = time.perf_counter() - t0
    clusters = res.clusters
    log.info(
        "%s: %d frames (%d sparks vetoed) -> %d clusters in %.1f s (%.1f frames/s)",
        method,
        len(frames),
        int(res.spark.sum()),
        len(clusters),
        dt,
        len(frames) / max(dt, 1e-9),
    )
    write_table(clusters_out, clusters)
    return clusters
