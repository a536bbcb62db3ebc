"""Reading the per-chunk tables of a dataset (pairs, windows) as one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["read_pairs", "read_windows"]


def read_pairs(paths: Sequence[str | Path]) -> pd.DataFrame:
    """The pair tables of a dataset, concatenated; ValueError if they carry no truth label."""
    if not paths:
        raise ValueError("read_pairs: no pair tables given")
    pairs = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    if "label" not in pairs:
        raise ValueError(
            f"{paths[0]}: pairs carry no truth label; the pair analysis needs Monte Carlo truth"
        )
    return pairs


def read_windows(paths: Sequence[str | Path]) -> dict[str, np.ndarray]:
    """Concatenate window chunks (npz) into one dict of arrays; ``pitch_mm`` (a scalar) is that
    of the first chunk."""
    parts = []
    for p in paths:
        with np.load(p, allow_pickle=False) as z:
            parts.append({k: z[k] for k in z.files})
    if not parts:
        raise ValueError("read_windows: no window files given")
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if parts[0][k].ndim > 0}
    out["pitch_mm"] = parts[0]["pitch_mm"]
    return out
