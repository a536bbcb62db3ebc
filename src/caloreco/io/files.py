"""Writing outputs atomically: a failed or killed job leaves no half-written file behind.

Every writer of the package goes through :func:`atomic_path`: it writes ``.<name>.tmp-<pid>``
beside the output and renames it only when the block succeeds. JSON is written by
:func:`write_json` (keys sorted, NaN as null, numpy scalars and arrays as plain numbers), tables
by :func:`write_table` (parquet).
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_path", "to_jsonable", "write_json", "write_table"]


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    Temporary files of earlier attempts (``.<name>.tmp-<pid>`` of a job that was killed, e.g.
    by SIGKILL, and so could not clean up) are removed first: one output is written by one job
    at a time, so any other temporary file of it is stale.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    for stale in path.parent.glob(f".{glob.escape(path.name)}.tmp-*"):
        stale.unlink(missing_ok=True)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def to_jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON types: numpy scalars and arrays as numbers and lists, tuples as
    lists, dict keys as strings, non-finite floats as None (JSON has no NaN)."""
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def write_json(path: str | os.PathLike, payload: Mapping[str, Any]) -> None:
    """Write JSON atomically: keys sorted, NaN as null, two-space indent."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(to_jsonable(dict(payload)), indent=2, sort_keys=True) + "\n")


def write_table(path: str | os.PathLike, table: Any) -> None:
    """Write a pandas DataFrame as parquet atomically (no index)."""
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)
