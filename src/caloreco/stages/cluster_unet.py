"""Rule ``cluster_unet``: the ``unet`` clustering method of one raw image chunk -> cluster table
(the U-Net's selected macro-pixels given to CYGNO's DBSCAN; the table of ``cluster_images``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from caloreco.imaging.pixel_selection import pixel_selection_settings_from_config, unet_reconstruct
from caloreco.imaging.rawio import read_image_run_info, read_images, read_pedestal
from caloreco.imaging.reco import reco_settings_from_config
from caloreco.io.files import write_table
from caloreco.nn.unet import load_unet

log = logging.getLogger("caloreco.stages.cluster_unet")

__all__ = ["run"]


def run(
    raw_path: str | Path,
    model_path: str | Path,
    settings: Mapping[str, Any],
    reco: Mapping[str, Any] | None,
    clusters_out: str | Path,
    threads: int | None = None,
) -> pd.DataFrame:
    """Cluster the frames of one chunk with the U-Net's points and write the cluster table.

    Args:
        raw_path: one raw image chunk.
        model_path: the ``train_unet`` checkpoint (its meta holds the point threshold).
        settings: the ``integral_grow`` and ``batch`` keys of ``clustering.unet``.
        reco: the ``clustering.cygno`` block (DBSCAN, weights, spark veto).
        clusters_out: the cluster table (parquet; the columns of the cygno method's tables).
        threads: torch CPU threads.
    """
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    s = pixel_selection_settings_from_config(settings)
    r = reco_settings_from_config(reco)
    model, meta = load_unet(model_path)
    info = read_image_run_info(raw_path)
    frames = read_images(raw_path)
    pedestal = read_pedestal(raw_path)
    t0 = time.perf_counter()
    res, t_inf = unet_reconstruct(
        frames,
        pedestal,
        model,
        float(meta["point_threshold"]),
        r,
        float(info.get("pixel_mm", 0.152)),
        s.integral_grow,
        s.batch,
    )
    dt = time.perf_counter() - t0
    clusters = res.clusters
    if s.integral_grow == 0:  # integral_core is the integral itself: the cygno table's columns
        clusters = clusters.drop(columns=["integral_core"], errors="ignore")
    log.info(
        "unet: %d frames -> %d clusters in %.1f s (U-Net %.1f ms per frame, DBSCAN %.2f ms per "
        "frame on %.1f points per frame)",
        len(frames),
        len(clusters),
        dt,
        1e3 * t_inf / max(len(frames), 1),
        1e3 * res.dbscan_seconds / max(len(frames), 1),
        float(res.n_points.mean()) if len(frames) else 0.0,
    )
    write_table(clusters_out, clusters)
    return clusters
