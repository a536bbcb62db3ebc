"""Logging for workflow jobs: one log file per job, progress lines with rates."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["job_logging"]


@contextmanager
def job_logging(path: str | Path | None, name: str = "caloreco") -> Iterator[logging.Logger]:
    """Send the package's log records to ``path`` (and stderr) for the duration of a job.

    An exception escaping the block is logged with its traceback before it propagates, so the
    rule's log file says why the job failed.
    """
    logger = logging.getLogger("caloreco")
    logger.setLevel(logging.INFO)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w"))
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    for h in handlers:
        h.setFormatter(fmt)
        logger.addHandler(h)
    try:
        yield logging.getLogger(name)
    except Exception:
        logger.exception("job failed")
        raise
    finally:
        for h in handlers:
            logger.removeHandler(h)
            h.close()
