"""Chunking: which entries of a user's files a chunk takes, and a file's chunk number."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["chunk_slice", "chunk_label"]


def chunk_slice(n_total: int, n_chunks: int, chunk: int) -> slice:
    """Contiguous, near-equal slice of ``n_total`` entries for chunk ``chunk`` of ``n_chunks``."""
    if not 0 <= chunk < n_chunks:
        raise ValueError(f"chunk {chunk} outside 0..{n_chunks - 1}")
    lo = n_total * chunk // n_chunks
    hi = n_total * (chunk + 1) // n_chunks
    return slice(lo, hi)


def chunk_label(path: str | Path) -> str:
    """The chunk label of a per-chunk file as written in its name: ``007`` of
    ``chunk-007.root`` or ``cells-007.parquet``."""
    m = re.search(r"(\d+)$", Path(path).stem)
    if m is None:
        raise ValueError(f"{path}: no chunk number at the end of the file name (e.g. chunk-000)")
    return m.group(1)
