"""Rule ``export_cygno_pedestal``: the pedestal run of a simulated imaging dataset, and its map
file, in CYGNO's layout."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from caloreco.config import with_defaults
from caloreco.imaging.chunks import export_cygno_pedestal
from caloreco.imaging.settings import EXPORT_DEFAULTS

log = logging.getLogger("caloreco.stages.export_cygno_pedestal")

__all__ = ["run"]


def run(
    raw_path: str | Path,
    run_out: str | Path,
    pedmap_out: str | Path,
    settings: Mapping[str, Any],
) -> dict[str, Any]:
    """The pedestal frames the simulation measured its maps on, as a CYGNO run, and the maps as
    a TH2D ``pedmap`` file."""
    s = with_defaults(EXPORT_DEFAULTS, settings)
    summary = export_cygno_pedestal(
        raw_path, run_out, pedmap_out, int(s["pedestal_run"]), s["hist_type"], bool(s["pad_run"])
    )
    log.info("pedestal run of %s -> %s, %s: %s", raw_path, run_out, pedmap_out, summary)
    return summary
