"""Rule ``two_photon_windows``: one 9x9 pair window per event of one chunk (npz).

The windows of the dataset's own events (pi0s and single photons) or, for the training sample,
of pairs simulated here from parents of uniform mass (``two_photon.training_mass_mev``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from caloreco.geometry import make_geometry
from caloreco.io.files import atomic_path
from caloreco.io.raw import geometry_from_file, read_raw
from caloreco.regression.two_photon import pair_windows, select
from caloreco.regression.two_photon_settings import (
    training_simulation,
    two_photon_settings,
    window_settings,
)
from caloreco.seeds import chunk_rng
from caloreco.simulation import simulate_events
from caloreco.split import assign_split

log = logging.getLogger("caloreco.stages.two_photon_windows")

__all__ = ["run"]


def run(
    out_path: str | Path,
    settings: Mapping[str, Any],
    dataset_seed: int,
    split_fractions: Sequence[float],
    chunk: str | int,
    raw_path: str | Path | None = None,
    dataset_cfg: Mapping[str, Any] | None = None,
    detector_cfg: Mapping[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Usable pair windows of one chunk with their event split (``split``: train/val/test).

    With ``raw_path`` the chunk's raw events; without it (the training sample) ``dataset_cfg``
    and ``detector_cfg`` simulate the chunk's pairs (stream ``two_photon_training``, event
    numbers offset like the simulate rule's).
    """
    s = two_photon_settings(settings)
    c = int(chunk)
    if raw_path is not None:
        events = read_raw(raw_path, require_truth=True)
        geom = geometry_from_file(raw_path)
    else:
        if dataset_cfg is None or detector_cfg is None:
            raise ValueError(
                "two_photon_windows: the training sample needs dataset_cfg and detector_cfg"
            )
        geom = make_geometry(detector_cfg["preset"], **dict(detector_cfg.get("geometry", {})))
        sim = training_simulation(dataset_cfg["simulation"], s["training_mass_mev"])
        n = int(dataset_cfg["events_per_chunk"])
        rng = chunk_rng(int(dataset_seed), c, "two_photon_training")
        events = simulate_events(geom, "ecal", detector_cfg.get("response"), sim, n, rng)
        events.event = events.event + c * n
        log.info("simulated %d training events (parent mass %s MeV)", n, s["training_mass_mev"])
    win = pair_windows(events, geom, **window_settings(s))
    usable = win["usable"]
    out = select(win, usable)
    out["split"] = assign_split(out["event"], tuple(split_fractions), int(dataset_seed))
    out["n_windows"] = np.int64(usable.size)
    out["n_usable"] = np.int64(usable.sum())
    out["n_events"] = np.int64(events.n_events)
    log.info(
        "%d events -> %d windows, %d usable (%d with two photons)",
        events.n_events,
        usable.size,
        int(usable.sum()),
        int(np.sum(out["label"] == 2)),
    )
    with atomic_path(out_path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **out)
    return out
