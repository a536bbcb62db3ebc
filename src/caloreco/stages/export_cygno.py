"""Rule ``export_cygno``: one simulated raw image chunk -> a run file in CYGNO's layout."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from caloreco.config import with_defaults
from caloreco.imaging.chunks import export_cygno_chunk
from caloreco.imaging.settings import EXPORT_DEFAULTS

log = logging.getLogger("caloreco.stages.export_cygno")

__all__ = ["run"]


def run(raw_path: str | Path, out_path: str | Path, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Write the chunk's frames as ``pic_run{run}_ev{event}`` histograms (TH2I by default)."""
    s = with_defaults(EXPORT_DEFAULTS, settings)
    summary = export_cygno_chunk(raw_path, out_path, s["hist_type"], bool(s["pad_run"]))
    log.info("%s -> %s: %s", raw_path, out_path, summary)
    return summary
