"""Rule ``train_attribution``: the focal point-cloud network on the training events of a
CALIFA dataset, early stopping and the peeling threshold on its validation events."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from caloreco.attribution.settings import attribution_settings
from caloreco.attribution.training import train_attribution
from caloreco.io.files import atomic_path
from caloreco.io.raw import geometry_from_file
from caloreco.io.splits import read_split_events
from caloreco.nn.training import select_device

log = logging.getLogger("caloreco.stages.train_attribution")

__all__ = ["run"]


def run(
    raw_paths: Sequence[str | Path],
    model_out: str | Path,
    history_out: str | Path,
    settings: Mapping[str, Any],
    split: Mapping[str, Any],
    config_hash: str,
) -> None:
    """Train on the ``train`` events of ``raw_paths`` (the dataset's event split), choose the
    peeling threshold on ``val``; write the checkpoint and the per-epoch history (csv)."""
    s = attribution_settings(settings)
    parts = read_split_events(raw_paths, split, ("train", "val"))
    geom = geometry_from_file(raw_paths[0])
    device = select_device("auto")
    log.info(
        "training on %d events, validating on %d (%s), settings %s",
        parts["train"].n_events,
        parts["val"].n_events,
        device,
        {k: s[k] for k in ("model", "training", "peeling")},
    )
    t0 = time.perf_counter()
    net = train_attribution(parts["train"], parts["val"], geom, s, device, log=log.info)
    log.info("trained in %.1f s, peeling threshold %.2f", time.perf_counter() - t0, net.threshold)
    net.save(model_out, config_hash=config_hash, split=dict(split))
    with atomic_path(history_out) as tmp:
        net.history.to_csv(tmp, index=False)
