"""Rule ``pair_seed_study``: the pair classifier retrained with several seeds -> mean, spread."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from caloreco.io.files import write_json
from caloreco.io.tables import read_pairs
from caloreco.nn.training import select_device
from caloreco.pairs.settings import feature_list, pair_settings
from caloreco.pairs.training import seed_runs

log = logging.getLogger("caloreco.stages.pair_seed_study")

__all__ = ["run"]


def run(
    pairs_paths: Sequence[str | Path], settings: Mapping[str, Any], out_path: str | Path
) -> dict[str, Any]:
    """Train the pair classifier with several seeds; mean and spread of the test F1 and AUC."""
    s = pair_settings(settings)
    pairs = read_pairs(pairs_paths)
    base = int(s["training"]["seed"])
    seeds = [base + k for k in range(int(s["seeds"]))]
    out = seed_runs(
        pairs, s["model"], feature_list(s["features"]), s["training"], seeds, str(select_device())
    )
    log.info("F1 %.4f +- %.4f over seeds %s", out["f1_mean"], out["f1_std"], seeds)
    write_json(out_path, out)
    return out
