"""Regions of interest from a per-pixel score map, their features and their crops.

A region is a connected set (8-neighbourhood, within one frame) of pixels whose score exceeds
``t_low`` and that contains at least one pixel above ``t_high`` (hysteresis thresholding: seeds
at a high, pedestal-calibrated level grow into the faint tails of a track), with at least
``min_pixels`` pixels. Features come from :func:`caloreco.imaging.reco.cluster_table` applied at
full resolution (rebin 1). Units: counts, mm.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import ndimage

from caloreco.imaging.reco import cluster_table

__all__ = ["roi_labels", "region_table", "region_crops", "roi_mask_stats"]

_STRUCTURE = np.zeros((3, 3, 3), bool)
_STRUCTURE[1] = True  # 8-connectivity inside a frame, none across frames


def _stack(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 3:
        raise ValueError(f"{name}: expected (n, H, W), got shape {a.shape}")
    return a


def roi_labels(
    score: np.ndarray,
    t_low: float,
    t_high: float | None = None,
    min_pixels: int = 1,
) -> np.ndarray:
    """Regions of every frame as labels (n, H, W) int32: -1 outside, 0 .. k-1 inside (by frame).

    Args:
        score: (n, H, W) per-pixel scores.
        t_low: a pixel belongs to a region if its score is above this.
        t_high: a region needs one pixel above this (None: ``t_low``).
        min_pixels: smallest region kept.
    """
    s = _stack(score, "score")
    if t_high is not None and t_high < t_low:
        raise ValueError(f"t_high: expected >= t_low ({t_low}), got {t_high}")
    lab, n = ndimage.label(s > t_low, structure=_STRUCTURE)
    out = np.full(s.shape, -1, np.int32)
    if n == 0:
        return out
    keep = np.ones(n, bool)
    if t_high is not None and t_high > t_low:
        # a component is seeded if any of its pixels is above t_high
        seeded = np.zeros(n + 1, bool)
        seeded[np.unique(lab[s > t_high])] = True
        keep &= seeded[1:]
    if min_pixels > 1:
        keep &= np.bincount(lab.ravel(), minlength=n + 1)[1:] >= min_pixels
    # frame of each component and its rank inside the frame
    # ndimage.label numbers components in scan order, so the labels of frame f form one
    # contiguous range ending at the largest label met up to that frame
    last = np.maximum.accumulate(lab.reshape(lab.shape[0], -1).max(axis=1))
    f_of = np.searchsorted(last, np.arange(1, n + 1), side="left").astype(np.int64)
    kept = np.flatnonzero(keep)
    local = np.full(n + 1, -1, np.int64)
    if kept.size:
        fk = f_of[kept]
        start = np.concatenate([[True], fk[1:] != fk[:-1]])
        pos = np.arange(kept.size)
        local[kept + 1] = pos - np.maximum.accumulate(np.where(start, pos, 0))
    out[:] = local[lab]
    return out


def roi_mask_stats(
    mask: np.ndarray, light: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: selected pixels, truth light inside the selection, total truth light."""
    m = _stack(mask, "mask").astype(bool)
    lt = _stack(light, "light")
    if lt.shape != m.shape:
        raise ValueError(f"light: expected shape {m.shape}, got {lt.shape}")
    sel = m.sum(axis=(1, 2))
    kept = np.where(m, lt, 0).sum(axis=(1, 2), dtype=np.float64)
    return sel, kept, lt.sum(axis=(1, 2), dtype=np.float64)


def region_table(
    labels: np.ndarray,
    sub: np.ndarray,
    pixel_mm: float,
    events: np.ndarray | None = None,
    truth_light: np.ndarray | None = None,
    truth_recoil: np.ndarray | None = None,
    recoil_offsets: np.ndarray | None = None,
    recoils: Mapping[str, np.ndarray] | None = None,
    frame_offset: int = 0,
) -> pd.DataFrame:
    """One row per region: :func:`caloreco.imaging.reco.cluster_table` at full resolution."""
    sub = _stack(sub, "sub")
    return cluster_table(
        labels,
        sub,
        np.clip(sub, 0.0, None),
        pixel_mm,
        1,
        events=events,
        truth_light=truth_light,
        truth_recoil=truth_recoil,
        recoil_offsets=recoil_offsets,
        recoils=recoils,
        frame_offset=frame_offset,
    )


def region_crops(
    sub: np.ndarray,
    frame: np.ndarray,
    x_mm: np.ndarray,
    y_mm: np.ndarray,
    pixel_mm: float,
    size: int = 64,
    bin: int = 2,
    labels: np.ndarray | None = None,
    region: np.ndarray | None = None,
) -> np.ndarray:
    """Crops of ``size`` x ``size`` full-resolution pixels centred on each region, summed in
    ``bin`` x ``bin`` blocks: (n_regions, size / bin, size / bin) float32. Outside the image
    the crop is 0. With ``labels`` and ``region`` only the region's own pixels are kept (its
    neighbours' light and the noise around are zeroed).
    """
    sub = _stack(sub, "sub")
    if size % bin:
        raise ValueError(f"size: expected a multiple of bin ({bin}), got {size}")
    frame = np.asarray(frame, np.int64)
    n = frame.size
    col = np.floor(np.asarray(x_mm) / pixel_mm).astype(np.int64) - size // 2
    row = np.floor(np.asarray(y_mm) / pixel_mm).astype(np.int64) - size // 2
    rr = row[:, None] + np.arange(size)
    cc = col[:, None] + np.arange(size)
    inside = (
        (rr[:, :, None] >= 0)
        & (rr[:, :, None] < sub.shape[1])
        & (cc[:, None, :] >= 0)
        & (cc[:, None, :] < sub.shape[2])
    )
    rcl = np.clip(rr, 0, sub.shape[1] - 1)
    ccl = np.clip(cc, 0, sub.shape[2] - 1)
    crops = sub[frame[:, None, None], rcl[:, :, None], ccl[:, None, :]].astype(np.float32)
    if labels is not None:
        own = (
            labels[frame[:, None, None], rcl[:, :, None], ccl[:, None, :]]
            == np.asarray(region)[:, None, None]
        )
        inside &= own
    crops = np.where(inside, crops, np.float32(0.0))
    return crops.reshape(n, size // bin, bin, size // bin, bin).sum(axis=(2, 4))
