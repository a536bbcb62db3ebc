"""Rule ``windows``: NxN cell windows around every cluster seed of one chunk (npz)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from caloreco.io.files import atomic_path
from caloreco.io.raw import geometry_from_file, read_raw
from caloreco.regression.settings import regression_settings
from caloreco.regression.windows import cluster_windows
from caloreco.seeds import chunk_rng

log = logging.getLogger("caloreco.stages.windows")

__all__ = ["run"]


def run(
    raw_path: str | Path,
    clusters_path: str | Path,
    out_path: str | Path,
    settings: Mapping[str, Any],
    dataset_seed: int,
    split_fractions: Sequence[float],
    chunk: str | int,
) -> dict[str, np.ndarray]:
    """Windows, targets and metadata of one chunk (:func:`caloreco.regression.windows.cluster_windows`)."""
    s = regression_settings(settings)
    events = read_raw(raw_path, require_truth=True)
    geom = geometry_from_file(raw_path)
    clusters = pd.read_parquet(clusters_path)
    out = cluster_windows(
        events,
        clusters,
        geom,
        int(s["size"]),
        s["placement"],
        float(s["purity_cut"]),
        chunk_rng(dataset_seed, int(chunk), "windows"),
        split_fractions,
        dataset_seed,
    )
    log.info(
        "%d clusters -> %d windows, %d usable for training (purity >= %.2f, inside)",
        len(clusters),
        len(out["windows"]),
        int(out["train_mask"].sum()),
        float(s["purity_cut"]),
    )
    with atomic_path(out_path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **out)
    return out
