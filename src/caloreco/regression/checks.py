"""Argument checks shared by the window estimators (windows of shape (n, N, N), pitch in mm)."""

from __future__ import annotations

import numpy as np

__all__ = ["check_windows", "check_pitch"]


def check_windows(windows: np.ndarray) -> np.ndarray:
    """``windows`` as float64 of shape (n, N, N); ValueError otherwise."""
    w = np.asarray(windows, dtype=np.float64)
    if w.ndim != 3 or w.shape[1] != w.shape[2] or w.shape[1] < 1:
        raise ValueError(f"windows: expected shape (n, N, N), got {w.shape}")
    return w


def check_pitch(pitch_mm: float) -> float:
    """``pitch_mm`` as a positive finite float (mm); ValueError otherwise."""
    if not np.isfinite(pitch_mm) or pitch_mm <= 0:
        raise ValueError(f"pitch_mm: expected a positive cell pitch in mm, got {pitch_mm!r}")
    return float(pitch_mm)
