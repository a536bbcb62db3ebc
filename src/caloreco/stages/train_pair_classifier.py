"""Rule ``train_pair_classifier``: the merge classifier (or the TinyModel reference)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from caloreco.io.files import atomic_path
from caloreco.io.tables import read_pairs
from caloreco.nn.training import save_checkpoint, select_device
from caloreco.pairs.features import FEATURES_PUBLISHED
from caloreco.pairs.settings import TINY, feature_list, pair_settings
from caloreco.pairs.training import fit_pair_classifier

log = logging.getLogger("caloreco.stages.train_pair_classifier")

__all__ = ["run"]


def run(
    pairs_paths: Sequence[str | Path],
    model_out: str | Path,
    history_out: str | Path,
    settings: Mapping[str, Any],
    which: str,
    config_hash: str,
) -> None:
    """Train ``pair_classifier`` (the configured model) or ``pair_tiny`` (the reference)."""
    s = pair_settings(settings)
    pairs = read_pairs(pairs_paths)
    if which == "pair_tiny":
        model_cfg, features = dict(TINY), list(FEATURES_PUBLISHED)
    elif which == "pair_classifier":
        model_cfg, features = dict(s["model"]), feature_list(s["features"])
    else:
        raise ValueError(f"unknown pair model {which!r}")
    device = str(select_device("auto"))
    log.info("training %s on %s with features %s", which, device, features)
    seed = int(s["training"]["seed"])
    fit, threshold = fit_pair_classifier(
        pairs, model_cfg, features, s["training"], seed, device, log=log.info
    )
    meta = fit.checkpoint_meta(
        features, threshold=float(threshold), config_hash=config_hash, seed=s["training"]["seed"]
    )
    save_checkpoint(model_out, fit.model, meta)
    with atomic_path(history_out) as tmp:
        fit.history.to_csv(tmp, index=False)
