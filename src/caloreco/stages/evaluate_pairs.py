"""Rule ``evaluate_pairs``: nn, TinyModel, smart_random, cut and boosting on the test pairs."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from caloreco.io.files import write_json, write_table
from caloreco.io.tables import read_pairs
from caloreco.nn.training import load_checkpoint
from caloreco.pairs.evaluation import evaluate_classifiers
from caloreco.pairs.settings import feature_list, pair_settings
from caloreco.seeds import chunk_rng

log = logging.getLogger("caloreco.stages.evaluate_pairs")

__all__ = ["run"]


def run(
    pairs_paths: Sequence[str | Path],
    model_paths: Mapping[str, str | Path],
    settings: Mapping[str, Any],
    seed: int,
    metrics_out: str | Path,
    scores_out: str | Path,
) -> dict[str, Any]:
    """pairs.json: every classifier on the same test pairs, thresholds from validation."""
    s = pair_settings(settings)
    pairs = read_pairs(pairs_paths)
    networks = {name: load_checkpoint(path) for name, path in model_paths.items()}
    result, scores = evaluate_classifiers(
        pairs,
        networks,
        feature_list(s["features"]),
        chunk_rng(seed, 0, "evaluate"),
        int(s["bootstrap"]),
        seed,
    )
    result["method"] = s["method"]
    write_json(metrics_out, result)
    write_table(scores_out, scores)
    return result
