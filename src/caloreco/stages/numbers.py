"""Rule ``numbers``: results/tex/numbers.tex, one \\newcommand per headline number."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from caloreco.report.numbers import write_numbers_tex

log = logging.getLogger("caloreco.stages.numbers")

__all__ = ["run"]


def run(metrics_paths: Sequence[str | os.PathLike], out_path: str | os.PathLike) -> dict[str, Any]:
    """numbers.tex from ``results/{dataset}/metrics/{kind}.json`` files (dataset and kind are
    read from the paths)."""
    metrics: dict[str, dict[str, Any]] = {}
    for f in map(Path, metrics_paths):
        metrics.setdefault(f.parent.parent.name, {})[f.stem] = json.loads(f.read_text())
    numbers = write_numbers_tex(metrics, out_path)
    log.info("%d numbers from %d metrics files", len(numbers), len(metrics_paths))
    return numbers
