"""Rule ``train_regressor``: the position/energy regressor (optionally with absolute position)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from caloreco.io.files import atomic_path
from caloreco.io.tables import read_windows
from caloreco.nn.training import save_checkpoint, select_device
from caloreco.regression.regressor import fit_regressor

log = logging.getLogger("caloreco.stages.train_regressor")

__all__ = ["run"]


def run(
    window_paths: Sequence[str | Path],
    model_out: str | Path,
    history_out: str | Path,
    settings: Mapping[str, Any],
    absolute_position: bool,
    config_hash: str,
) -> None:
    """Train the regressor on the train split (early stopping on validation) and save it."""
    data = read_windows(window_paths)
    device = str(select_device("auto"))
    fit, meta = fit_regressor(data, settings, absolute_position, device, log=log.info)
    features = meta.pop("features")
    save_checkpoint(
        model_out, fit.model, fit.checkpoint_meta(features, config_hash=config_hash, **meta)
    )
    with atomic_path(history_out) as tmp:
        fit.history.to_csv(tmp, index=False)
