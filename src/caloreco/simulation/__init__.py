"""Built-in simulation: EM showers in a shashlik ECAL and gamma transport in CsI(Tl).

``simulate_events`` dispatches on the detector preset; the physics lives in :mod:`.ecal` and
:mod:`.califa`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

import numpy as np

from caloreco.events import RawEvents
from caloreco.geometry import Geometry

__all__ = ["simulate_events", "response_from_config"]


def response_from_config(preset: str, response: Mapping[str, Any] | None):
    """The preset's response dataclass from the ``detectors.<name>.response`` config block."""
    if preset == "ecal":
        from caloreco.simulation.ecal import EcalResponse as cls
    elif preset == "califa":
        from caloreco.simulation.califa import CalifaResponse as cls
    else:
        raise ValueError(f"no simulation for detector preset {preset!r}")
    response = dict(response or {})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(response) - known)
    if unknown:
        raise ValueError(f"response keys {unknown} are not known for {preset!r}; known: {known}")
    return cls(**response)


def simulate_events(
    geom: Geometry,
    preset: str,
    response: Mapping[str, Any] | None,
    sim: Mapping[str, Any],
    n_events: int,
    rng: np.random.Generator,
) -> RawEvents:
    """Simulate ``n_events`` events (numbered 0..n-1) for a detector preset.

    Args:
        geom: the detector geometry.
        preset: ``"ecal"`` or ``"califa"``.
        response: the detector response block (resolution, noise, threshold, ...).
        sim: the dataset's simulation block (primaries per event, energy spectrum, incidence).
        n_events: number of events (> 0).
        rng: the chunk's generator.
    """
    if n_events <= 0:
        raise ValueError(f"n_events must be positive, got {n_events}")
    resp = response_from_config(preset, response)
    if preset == "ecal":
        from caloreco.simulation.ecal import simulate_ecal

        return simulate_ecal(geom, n_events, dict(sim), resp, rng)
    from caloreco.simulation.califa import simulate_califa

    return simulate_califa(geom, n_events, dict(sim), resp, rng)
