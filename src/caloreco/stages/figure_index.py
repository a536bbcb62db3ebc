"""Rule ``figure_index``: results/figures/index.md, each figure with its caption and files."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from caloreco.report.captions import caption_from_rst
from caloreco.report.figure_index import write_figure_index

log = logging.getLogger("caloreco.stages.figure_index")

__all__ = ["run"]


def run(
    caption_paths: Sequence[str | os.PathLike],
    figures: Sequence[Mapping[str, Any]],
    styles: Sequence[str],
    out_path: str | os.PathLike,
) -> None:
    """The index of ``figures`` (``figure``, ``dataset``, ``kind`` each) with the captions of
    ``workflow/report/{kind}.rst`` and the files of every style."""
    out_dir = Path(out_path).parent
    captions = {Path(p).stem: p for p in caption_paths}
    entries = []
    for f in figures:
        entries.append(
            {
                "figure": f["figure"],
                "caption": caption_from_rst(captions[f["kind"]], dataset=f["dataset"]),
                "rule": f"figure_{f['kind']}",
                "files": [
                    out_dir / style / f"{f['figure']}.{ext}"
                    for style in styles
                    for ext in ("pdf", "png")
                ],
            }
        )
    write_figure_index(entries, out_path)
    log.info("%d figures indexed", len(entries))
