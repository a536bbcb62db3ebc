"""Rule ``train_segmenter``: the slot-attention set segmenter (clustering method ``slots``) on
the training events of a CALIFA dataset, early stopping on its validation events."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from caloreco.attribution.segmenter import train_segmenter
from caloreco.attribution.settings import segmenter_settings
from caloreco.io.files import atomic_path
from caloreco.io.raw import geometry_from_file
from caloreco.io.splits import read_split_events
from caloreco.nn.training import select_device

log = logging.getLogger("caloreco.stages.train_segmenter")

__all__ = ["run"]


def run(
    raw_paths: Sequence[str | Path],
    model_out: str | Path,
    history_out: str | Path,
    settings: Mapping[str, Any],
    split: Mapping[str, Any],
    config_hash: str,
) -> None:
    """Train on the ``train`` events, keep the best validation epoch; write the checkpoint and
    the per-epoch history (losses and validation TP, csv)."""
    s = segmenter_settings(settings)
    parts = read_split_events(raw_paths, split, ("train", "val"))
    geom = geometry_from_file(raw_paths[0])
    device = select_device("auto")
    log.info(
        "training the segmenter on %d events, validating on %d (%s), settings %s",
        parts["train"].n_events,
        parts["val"].n_events,
        device,
        s,
    )
    t0 = time.perf_counter()
    net = train_segmenter(parts["train"], parts["val"], geom, s, device, log=log.info)
    best = net.history[net.history["best"]].iloc[0]
    log.info(
        "trained in %.1f s; kept epoch %d, validation TP %.4f",
        time.perf_counter() - t0,
        int(best["epoch"]),
        float(best["val_TP"]),
    )
    net.save(model_out, config_hash=config_hash, split=dict(split))
    with atomic_path(history_out) as tmp:
        net.history.to_csv(tmp, index=False)
