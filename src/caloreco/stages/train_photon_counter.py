"""Rule ``train_photon_counter``: the 1-vs-2 photon classifier of the two-photon analysis."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from caloreco.io.files import atomic_path
from caloreco.io.two_photon import read_pair_sample
from caloreco.nn.training import select_device, set_determinism
from caloreco.nn.two_photon import fit_counter, network_inputs, save_pair_network
from caloreco.regression.two_photon import select
from caloreco.regression.two_photon_settings import network_settings, two_photon_settings

log = logging.getLogger("caloreco.stages.train_photon_counter")

__all__ = ["run"]


def run(
    window_paths: Sequence[str | Path],
    fit_paths: Sequence[str | Path],
    model_out: str | Path,
    history_out: str | Path,
    settings: Mapping[str, Any],
    config_hash: str,
) -> None:
    """Train on the ``train`` windows of the training sample, stop early on its ``val`` ones."""
    s = two_photon_settings(settings)
    seed = int(s["seed"])
    set_determinism(seed, threads=1)  # the rule's one thread
    win, fit = read_pair_sample(window_paths, fit_paths)
    pitch = float(win["pitch_mm"])
    parts = {}
    for p in ("train", "val"):
        m = win["split"] == p
        d = select(win, m)
        f = fit._make(v[m] for v in fit) if s["fit_inputs"] else None
        parts[p] = (network_inputs(d["windows"], d["origin_x_mm"], d["origin_y_mm"], pitch, f), d)
    (Xtr, names), tr = parts["train"]
    (Xva, _), va = parts["val"]
    cfg = network_settings(s, "counter")
    device = select_device("auto")
    log.info(
        "photon counter (%s) on %s: %d train, %d val windows",
        cfg["architecture"],
        device,
        len(Xtr),
        len(Xva),
    )
    net = fit_counter(
        Xtr,
        tr["label"],
        Xva,
        va["label"],
        names,
        pitch,
        seed=seed,
        device=device,
        log=log.info,
        **cfg,
    )
    meta = {"config_hash": config_hash, "seed": seed, "fit_inputs": bool(s["fit_inputs"])}
    save_pair_network(model_out, net, meta)
    with atomic_path(history_out) as tmp:
        net.history.to_csv(tmp, index=False)
