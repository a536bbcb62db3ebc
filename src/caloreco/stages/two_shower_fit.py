"""Rule ``two_shower_fit``: coral's one- and two-shower Lednev fit on every window of a chunk."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from caloreco.io.files import atomic_path
from caloreco.regression.two_photon_settings import two_photon_settings
from caloreco.regression.two_shower_fit import fit_settings, result_arrays, two_shower_fit

log = logging.getLogger("caloreco.stages.two_shower_fit")

__all__ = ["run"]


def run(windows_path: str | Path, out_path: str | Path, settings: Mapping[str, Any]) -> None:
    """Fit the chunk's windows (:func:`caloreco.regression.two_shower_fit.two_shower_fit`);
    the npz holds ``fit_<field>`` arrays in window order and ``fit_seconds``."""
    s = two_photon_settings(settings)
    with np.load(windows_path, allow_pickle=False) as z:
        windows, pitch = z["windows"], float(z["pitch_mm"])
    kwargs = fit_settings({**s["fit"], "seed_threshold_mev": s["seed_threshold_mev"]})
    t0 = time.perf_counter()
    result = two_shower_fit(windows, pitch, **kwargs)
    dt = time.perf_counter() - t0
    log.info(
        "%d windows fitted in %.1f s (%.0f/s); two showers kept in %d",
        len(windows),
        dt,
        len(windows) / max(dt, 1e-9),
        int(np.sum(result.n_showers == 2)),
    )
    with atomic_path(out_path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **result_arrays(result), fit_seconds=np.float64(dt))
