"""Execute the workflow's papermill notebooks and export them to HTML."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from caloreco.io.files import atomic_path

log = logging.getLogger("caloreco.report.notebooks")

__all__ = ["execute_notebook"]


def execute_notebook(
    notebook: str | os.PathLike,
    out_ipynb: str | os.PathLike,
    out_html: str | os.PathLike,
    parameters: Mapping[str, Any],
    cwd: str | os.PathLike | None = None,
    src_dir: str | os.PathLike | None = None,
    timeout_s: float = 1200.0,
) -> None:
    """Run ``notebook`` with papermill (``parameters`` injected after its ``parameters`` cell)
    and write the executed notebook and its HTML export; both appear only if both succeed.

    Args:
        notebook: the parameterised ``.ipynb``.
        out_ipynb, out_html: outputs.
        parameters: papermill parameters (names of the notebook's ``parameters`` cell).
        cwd: working directory of the kernel (relative paths in ``parameters`` resolve there).
        src_dir: put on the kernel's ``PYTHONPATH`` so that ``import caloreco`` works from a
            checkout without installation.
        timeout_s: limit for one cell (s).

    Raises:
        FileNotFoundError: the notebook does not exist.
        papermill.PapermillExecutionError: a cell failed (the message names the cell).
    """
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    notebook = Path(notebook)
    if not notebook.is_file():
        raise FileNotFoundError(f"notebook: no such file {notebook}")
    if src_dir is not None:  # the kernel is a child process: it inherits the environment
        paths = [str(src_dir), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    os.environ.setdefault("MPLBACKEND", "Agg")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="caloreco-nb-") as tmp:
        executed = Path(tmp) / notebook.name
        papermill.execute_notebook(
            str(notebook),
            str(executed),
            parameters=dict(parameters),
            cwd=str(cwd) if cwd is not None else None,
            kernel_name="python3",
            progress_bar=False,
            execution_timeout=timeout_s,
        )
        log.info("executed %s in %.1f s", notebook.name, time.perf_counter() - t0)
        node = nbformat.read(executed, as_version=4)
        html, _ = HTMLExporter().from_notebook_node(node)
        with atomic_path(out_ipynb) as tmp_nb, atomic_path(out_html) as tmp_html:
            tmp_nb.write_bytes(executed.read_bytes())
            tmp_html.write_text(html, encoding="utf-8")
    log.info("wrote %s and %s", out_ipynb, out_html)
