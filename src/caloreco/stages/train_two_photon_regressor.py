"""Rule ``train_two_photon_regressor``: (x1, y1, E1, x2, y2, E2) of the two photons of a window."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from caloreco.io.files import atomic_path
from caloreco.io.two_photon import read_pair_sample
from caloreco.nn.training import select_device, set_determinism
from caloreco.nn.two_photon import (
    fit_pair_regressor,
    network_inputs,
    regression_targets,
    save_pair_network,
)
from caloreco.regression.two_photon import select
from caloreco.regression.two_photon_settings import network_settings, two_photon_settings

log = logging.getLogger("caloreco.stages.train_two_photon_regressor")

__all__ = ["run"]


def run(
    window_paths: Sequence[str | Path],
    fit_paths: Sequence[str | Path],
    model_out: str | Path,
    history_out: str | Path,
    settings: Mapping[str, Any],
    config_hash: str,
) -> None:
    """Train on the two-photon ``train`` windows of the training sample (permutation-invariant
    loss), stop early on its ``val`` ones."""
    s = two_photon_settings(settings)
    seed = int(s["seed"])
    set_determinism(seed, threads=1)  # the rule's one thread
    win, fit = read_pair_sample(window_paths, fit_paths)
    pitch = float(win["pitch_mm"])
    data = {}
    for p in ("train", "val"):
        m = (win["split"] == p) & (win["label"] == 2)
        d = select(win, m)
        f = fit._make(v[m] for v in fit) if s["fit_inputs"] else None
        X, names = network_inputs(d["windows"], d["origin_x_mm"], d["origin_y_mm"], pitch, f)
        data[p] = (X, regression_targets(d["truth"], d["windows"], pitch))
    cfg = network_settings(s, "regressor")
    if cfg["residual"] and not s["fit_inputs"]:
        raise ValueError(
            "config keys two_photon.regressor.residual and two_photon.fit_inputs: a residual "
            "on the fit needs the fit inputs"
        )
    device = select_device("auto")
    log.info(
        "two-photon regressor (%s, residual %s) on %s: %d train, %d val windows",
        cfg["architecture"],
        cfg["residual"],
        device,
        len(data["train"][0]),
        len(data["val"][0]),
    )
    net = fit_pair_regressor(
        *data["train"], *data["val"], names, pitch, seed=seed, device=device, log=log.info, **cfg
    )
    meta = {"config_hash": config_hash, "seed": seed, "fit_inputs": bool(s["fit_inputs"])}
    save_pair_network(model_out, net, meta)
    with atomic_path(history_out) as tmp:
        net.history.to_csv(tmp, index=False)
