"""Rule ``evaluate_regression``: resolution fits of nn, log_cog and profile_fit ->
resolution.json and the residual table."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from caloreco.io.files import write_json, write_table
from caloreco.io.tables import read_windows
from caloreco.nn.training import load_checkpoint
from caloreco.regression.evaluation import evaluate_estimators
from caloreco.regression.regressor import predict_regressor
from caloreco.regression.settings import regression_settings
from caloreco.seeds import chunk_rng

log = logging.getLogger("caloreco.stages.evaluate_regression")

__all__ = ["run"]


def run(
    window_paths: Sequence[str | Path],
    model_paths: Mapping[str, str | Path],
    settings: Mapping[str, Any],
    dataset_seed: int,
    metrics_out: str | Path,
    residuals_out: str | Path,
) -> dict[str, Any]:
    """resolution.json and the residual table: every estimator on the same test windows."""
    data = read_windows(window_paths)
    networks = {
        name: partial(predict_regressor, *load_checkpoint(path))
        for name, path in model_paths.items()
    }
    result, residuals = evaluate_estimators(
        data, networks, regression_settings(settings), chunk_rng(dataset_seed, 0, "evaluate")
    )
    write_json(metrics_out, result)
    write_table(residuals_out, residuals)
    return result
