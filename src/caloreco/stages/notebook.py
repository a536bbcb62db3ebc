"""Rule ``notebook``: execute one papermill notebook on a dataset, with its HTML export."""

from __future__ import annotations

import logging
import os
import tempfile

from caloreco.report.notebooks import execute_notebook

log = logging.getLogger("caloreco.stages.notebook")

__all__ = ["run"]


def run(
    notebook: str | os.PathLike,
    out_ipynb: str | os.PathLike,
    out_html: str | os.PathLike,
    dataset: str,
    style: str | os.PathLike,
    src_dir: str | os.PathLike,
) -> None:
    """Run ``notebook`` for ``dataset`` from the working directory (results under results/)."""
    with tempfile.TemporaryDirectory() as figures:
        execute_notebook(
            notebook,
            out_ipynb,
            out_html,
            parameters={
                "dataset": dataset,
                "results_dir": os.path.abspath("results"),
                "style": str(style),
                "figures_dir": figures,  # images are embedded in the notebook; the files go
            },
            cwd=os.getcwd(),
            src_dir=src_dir,
        )
