"""Rules ``figure_<kind>``: one thesis or talk figure in the style's .mplstyle.

Each figure kind has its own rule (its report caption is ``workflow/report/<kind>.rst``, which is
not an input, so editing a caption redraws nothing); the rules share this stage.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from caloreco.plotting.registry import draw

log = logging.getLogger("caloreco.stages.figure")

__all__ = ["run"]


def run(
    kind: str,
    inputs: Mapping[str, str | os.PathLike | Sequence[str | os.PathLike]],
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    params: Mapping[str, Any],
) -> None:
    """Draw figure ``kind`` from its input files into ``outputs`` (pdf, png)."""
    log.info("drawing %s in %s from %s", kind, style, dict(inputs))
    draw(kind, inputs, style, outputs, **params)
