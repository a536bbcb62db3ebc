"""Pixel selection in front of DBSCAN: a U-Net against CYGNO's nsigma zero suppression.

The CYGNO talk (seeds/003) replaces the hand-tuned pixel selection of the classical chain
(:mod:`caloreco.imaging.reco`: zero suppression at nsigma x pixel RMS, median filter, 4 x 4 rebin,
noise filter) with a U-Net trained for semantic segmentation (signal pixel or not) with a focal
loss, and gives the selected pixels to the same DBSCAN. This module holds both chains and the
metrics that compare them on the same frames.

Pieces (all pure functions on arrays):

* :func:`pixel_target`: the per-pixel truth, signal light above ``fraction`` x the pixel's
  pedestal RMS (``truth_light`` of the simulation is in whole photons, 2 counts each, so any
  fraction below 2 counts / RMS marks every pixel that received a photon);
* :func:`unet_input`: asinh of the pedestal-subtracted frame in units of the pixel RMS (linear
  in the noise, logarithmic in bright tracks);
* :func:`focal_loss_numpy`: the focal loss of :func:`caloreco.nn.unet.focal_loss` in numpy terms
  (the tests' reference, and the validation loss of any score map);
* :func:`unet_points`: macro-pixels (``rebin`` x ``rebin`` blocks, the points of the classical
  DBSCAN) whose largest pixel probability is above a threshold;
* :func:`cluster_chain`: :func:`caloreco.imaging.reco.cluster_points` (the classical chain's
  DBSCAN, same eps / min_samples / metric, the same weights: the rebinned zero-suppressed
  intensity, and its cluster table) on a given set of points, batch by batch, with the DBSCAN
  time measured alone;
  :func:`classical_points` gives the classical chain's points, so ``nsigma`` (the classical
  chain, identical to :func:`caloreco.imaging.reco.reconstruct`) and ``unet`` differ only in the
  points;
* :func:`~caloreco.imaging.reco.grow_labels`: the footprint of every cluster grown by ``n``
  macro-pixels, for the integral (the U-Net gives DBSCAN the core of a spot);
* :func:`cluster_outcomes`: per recoil detected or not, its main cluster and integral ratio; per
  cluster signal, split or fake;
* :func:`choose_min_samples`: the ``unet_relaxed`` method's DBSCAN ``min_samples``, from the
  validation frames (the U-Net has already removed the noise that min_samples guards against;
  the classical chain's fake rate on the same frames is the ceiling);
* :func:`pixel_selection_analysis`: the analysis (split by frame, U-Net training, thresholds on
  validation frames, both chains on the test frames, the metrics dict of
  ``results/{dataset}/metrics/pixel_selection.json``).

Methods on the test frames: ``nsigma`` (the classical chain, LIME defaults), ``unet`` (the
U-Net's points, the same DBSCAN and weights), ``unet_relaxed`` (the same with the validation
``min_samples``), and per ``compare`` entry (default ``talk``: nsigma 0.2, eps 18, the U-Net
talk's chain) ``nsigma_talk`` and ``unet_talk``.

Definitions used by the metrics (per test frame, one recoil per frame or more):

* a cluster is *signal* when the truth light inside its macro-pixels is at least
  ``signal_share`` of its pedestal-subtracted integral, otherwise *fake* (noise, or a noise
  blob that grazes a tail); among the signal clusters of a recoil (matched by the dominant truth
  light) the one with most of its light is the *main* cluster, the others are *splits*;
* a recoil is *detected* when it has a main cluster;
* the *integral ratio* is the main cluster's integral (CYGNO's ``sc_integral``: the sum of the
  pedestal-subtracted, not zero-suppressed, full-resolution pixels of its macro-pixels) over the
  recoil's true light in the image;
* DBSCAN *points* are macro-pixels (1 point = ``rebin``^2 pixels); the time is that of
  :func:`caloreco.imaging.reco.dbscan_labels` alone, per frame, the frames of a batch in one call.

Units: counts, mm, keV (visible energy), seconds.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from caloreco.classification import bootstrap_f1_interval, smart_random_expected
from caloreco.imaging.frames import ImageFrames
from caloreco.imaging.metrics import energy_labels
from caloreco.imaging.pedestal import PedestalMaps
from caloreco.imaging.reco import (
    LIME_DEFAULTS,
    RecoSettings,
    cluster_points,
    dbscan_labels,
    full_resolution_mask,
    grow_labels,
    median_filter_frames,
    noise_filter,
    pedestal_subtract,
    rebin_frames,
    spark_mask,
    zero_suppress,
)
from caloreco.nn.unet import UNetConfig, predict_unet, train_unet, unet_config_dict
from caloreco.split import assign_split

__all__ = [
    "PixelSelectionSettings",
    "pixel_selection_settings_from_config",
    "pixel_target",
    "unet_input",
    "focal_loss_numpy",
    "selection_counts",
    "pixel_metrics",
    "threshold_counts",
    "pr_from_counts",
    "classical_points",
    "unet_points",
    "grow_labels",
    "ChainResult",
    "cluster_chain",
    "cluster_outcomes",
    "energy_labels",
    "outcome_metrics",
    "dbscan_frame_ms",
    "choose_min_samples",
    "split_indices",
    "unet_probabilities",
    "unet_reconstruct",
    "train_pixel_selection",
    "evaluate_pixel_selection",
    "pixel_selection_analysis",
    "PROB_EDGES",
]

#: probability thresholds of the precision-recall curve
PROB_EDGES = np.unique(
    np.concatenate([np.linspace(0.0, 1.0, 201)[1:-1], 1 - np.geomspace(1e-5, 5e-3, 12)])
)


def _stack(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or min(a.shape[1:]) < 1:
        raise ValueError(f"{name}: expected frames (n, H, W), got shape {np.shape(a)}")
    return a


def pixel_target(truth_light: np.ndarray, rms: np.ndarray, fraction: float = 0.5) -> np.ndarray:
    """Signal pixels: truth light strictly above ``fraction`` x the pixel's pedestal RMS.

    Args:
        truth_light: (n, H, W) signal counts per pixel before noise (the simulation's truth).
        rms: (H, W) pedestal RMS map, counts.
        fraction: a small fraction of the noise (>= 0).

    Returns:
        bool (n, H, W).
    """
    tl = _stack(truth_light, "truth_light")
    rms = np.asarray(rms, np.float32)
    if rms.shape != tl.shape[1:]:
        raise ValueError(f"rms: expected shape {tl.shape[1:]}, got {rms.shape}")
    if not (np.isfinite(fraction) and fraction >= 0):
        raise ValueError(f"fraction: expected a finite number >= 0, got {fraction}")
    if not np.isfinite(tl).all():
        raise ValueError("truth_light: non-finite values")
    return tl > np.float32(fraction) * rms


def unet_input(sub: np.ndarray, rms: np.ndarray) -> np.ndarray:
    """asinh(sub / rms) as float32 (n, H, W): the U-Net's input."""
    sub = _stack(sub, "sub")
    rms = np.asarray(rms, np.float32)
    if rms.shape != sub.shape[1:]:
        raise ValueError(f"rms: expected shape {sub.shape[1:]}, got {rms.shape}")
    if not (rms > 0).all():
        raise ValueError("rms: expected > 0 in every pixel")
    return np.arcsinh(sub.astype(np.float32) / rms).astype(np.float32)


def focal_loss_numpy(
    p: np.ndarray, y: np.ndarray, alpha: float = 0.8, gamma: float = 2.0
) -> np.ndarray:
    """Per-pixel focal loss -alpha_t (1 - p_t)^gamma ln p_t of probabilities ``p`` and 0 / 1
    targets ``y`` (alpha_t = alpha for y = 1, 1 - alpha for y = 0); p is clipped to
    [1e-12, 1 - 1e-12]. At gamma = 0 and alpha = 0.5 it is half the binary cross-entropy."""
    p = np.asarray(p, np.float64)
    y = np.asarray(y)
    if p.shape != y.shape:
        raise ValueError(f"y: expected shape {p.shape} like p, got {y.shape}")
    if not np.isin(np.unique(y), (0, 1)).all():
        raise ValueError("y: expected 0 / 1 targets")
    if not (0 < alpha < 1) or not gamma >= 0:
        raise ValueError(f"alpha in (0, 1) and gamma >= 0 expected, got {alpha}, {gamma}")
    p = np.clip(p, 1e-12, 1 - 1e-12)
    pt = np.where(y == 1, p, 1 - p)
    at = np.where(y == 1, alpha, 1 - alpha)
    return -at * (1 - pt) ** gamma * np.log(pt)


def selection_counts(selected: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per frame true positives, false positives and false negatives: int64 (n, 3)."""
    s = _stack(selected, "selected").astype(bool)
    t = _stack(target, "target").astype(bool)
    if s.shape != t.shape:
        raise ValueError(f"target: expected shape {s.shape} like selected, got {t.shape}")
    tp = (s & t).sum(axis=(1, 2))
    fp = (s & ~t).sum(axis=(1, 2))
    fn = (~s & t).sum(axis=(1, 2))
    return np.stack([tp, fp, fn], axis=1).astype(np.int64)


def pixel_metrics(
    counts: np.ndarray,
    rng: np.random.Generator | None = None,
    n_boot: int = 200,
    ci: float = 0.95,
) -> dict[str, Any]:
    """Pooled pixel precision, recall and F1 of per-frame (TP, FP, FN) counts, with the
    percentile bootstrap interval of F1 over frames (the frame is the resampling unit).

    Precision (recall) is 0 when nothing is selected (nothing is signal)."""
    c = np.asarray(counts, np.int64)
    if c.ndim != 2 or c.shape[1] != 3 or c.shape[0] == 0:
        raise ValueError(f"counts: expected (n_frames >= 1, 3) TP / FP / FN, got {c.shape}")
    tp, fp, fn = (int(v) for v in c.sum(axis=0))
    out: dict[str, Any] = {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        "f1_ci": [float("nan"), float("nan")],
        "selected_per_frame": (tp + fp) / c.shape[0],
        "frames": int(c.shape[0]),
    }
    if rng is not None and n_boot > 0 and c.shape[0] > 1:
        # one resampling unit per frame: the per-frame counts are the indicators summed
        out["f1_ci"] = bootstrap_f1_interval(c[:, 0], c[:, 1], c[:, 2], rng, n_boot, None, ci)
    return out


def threshold_counts(
    score: np.ndarray, target: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame and threshold ``edges[k]``: selected pixels (score > edges[k]), true positives
    among them, and the number of target pixels.

    Returns:
        ``(selected, tp, positives)`` with shapes (n, m), (n, m), (n,).
    """
    s = _stack(score, "score")
    t = _stack(target, "target").astype(bool)
    if s.shape != t.shape:
        raise ValueError(f"target: expected shape {s.shape} like score, got {t.shape}")
    edges = np.asarray(edges, np.float64)
    if edges.ndim != 1 or edges.size < 1 or np.any(np.diff(edges) <= 0):
        raise ValueError("edges: expected increasing thresholds")
    n, m = s.shape[0], edges.size
    # bin k holds edges[k-1] < s <= edges[k]; "above edges[k]" is bins k+1 .. m
    b = np.searchsorted(edges, s.reshape(n, -1), side="left").astype(np.int64)
    key = (np.arange(n)[:, None] * (m + 1) + b).ravel()
    cnt = np.bincount(key, minlength=n * (m + 1)).reshape(n, m + 1)
    pos = np.bincount(key[t.reshape(-1)], minlength=n * (m + 1)).reshape(n, m + 1)
    sel = np.cumsum(cnt[:, ::-1], axis=1)[:, ::-1][:, 1:]
    tp = np.cumsum(pos[:, ::-1], axis=1)[:, ::-1][:, 1:]
    return sel, tp, t.sum(axis=(1, 2))


def pr_from_counts(
    selected: np.ndarray, tp: np.ndarray, positives: np.ndarray
) -> dict[str, np.ndarray]:
    """Pooled precision, recall and F1 per threshold from :func:`threshold_counts`."""
    sel = np.asarray(selected, np.float64).sum(axis=0)
    t = np.asarray(tp, np.float64).sum(axis=0)
    p = float(np.sum(positives))
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.where(sel > 0, t / np.where(sel > 0, sel, 1), 1.0)
        rec = t / p if p > 0 else np.zeros_like(t)
        f1 = np.where(sel + p > 0, 2 * t / (sel + p), 0.0)
    return {"precision": prec, "recall": rec, "f1": f1}


def classical_points(
    images: np.ndarray, pedestal: PedestalMaps, settings: RecoSettings = LIME_DEFAULTS
) -> dict[str, np.ndarray]:
    """The classical chain's steps 1-5 (:func:`caloreco.imaging.reco.preprocess`, in the same
    order), keeping what both chains need.

    Returns:
        ``spark`` (n,), ``sub`` (n, H, W) pedestal-subtracted, ``zs`` zero-suppressed,
        ``weights`` (n, H/r, W/r) the rebinned zero-suppressed intensity (DBSCAN's sample
        weights), ``points`` the filtered macro-pixels (a point where it rounds to non-zero).
    """
    img = _stack(images, "images")
    spark = spark_mask(img, pedestal, settings)
    sub = pedestal_subtract(img, pedestal, settings.cimax)
    zs = zero_suppress(sub, pedestal.rms, settings.nsigma)
    zs[spark] = 0.0
    med = median_filter_frames(zs, settings.median_size)
    filtered = noise_filter(rebin_frames(med, settings.rebin), settings)
    return {
        "spark": spark,
        "sub": sub,
        "zs": zs,
        "weights": rebin_frames(zs, settings.rebin),
        "points": filtered,
    }


def unet_points(
    prob: np.ndarray,
    threshold: float,
    rebin: int = LIME_DEFAULTS.rebin,
    spark: np.ndarray | None = None,
) -> np.ndarray:
    """Macro-pixels (``rebin`` x ``rebin`` blocks) holding a pixel of probability above
    ``threshold``: float32 (n, H/r, W/r), 1 for a point, 0 otherwise; sparks give no points."""
    p = _stack(prob, "prob")
    if not (0 <= threshold < 1):
        raise ValueError(f"threshold: expected a probability in [0, 1), got {threshold}")
    n, h, w = p.shape
    if h % rebin or w % rebin:
        raise ValueError(f"prob: {h} x {w} is not a multiple of the rebin factor {rebin}")
    block = p.reshape(n, h // rebin, rebin, w // rebin, rebin).max(axis=(2, 4))
    pts = (block > threshold).astype(np.float32)
    if spark is not None:
        pts[np.asarray(spark, bool)] = 0.0
    return pts


@dataclass
class ChainResult:
    """Clusters of one chain on a stack of frames.

    Attributes:
        clusters: :func:`caloreco.imaging.reco.cluster_table` rows (integral over the grown
            footprint when ``grow`` > 0; ``integral_core`` the DBSCAN macro-pixels' own).
        labels: (n, H/r, W/r) macro-pixel labels (DBSCAN's, renumbered by integral).
        n_points: (n,) macro-pixels given to DBSCAN.
        dbscan_seconds: wall time of the DBSCAN calls alone.
    """

    clusters: pd.DataFrame
    labels: np.ndarray
    n_points: np.ndarray
    dbscan_seconds: float


def cluster_chain(
    points: np.ndarray,
    weights: np.ndarray,
    sub: np.ndarray,
    zs: np.ndarray,
    settings: RecoSettings = LIME_DEFAULTS,
    pixel_mm: float = 0.152,
    grow: int = 0,
    events: np.ndarray | None = None,
    truth_light: np.ndarray | None = None,
    truth_recoil: np.ndarray | None = None,
    recoil_offsets: np.ndarray | None = None,
    recoils: Mapping[str, np.ndarray] | None = None,
    batch: int = 64,
) -> ChainResult:
    """DBSCAN on ``points`` (macro-pixels that round to non-zero) weighted by ``weights``, then
    the cluster table, ``batch`` frames per DBSCAN call (as
    :func:`caloreco.imaging.reco.reconstruct`, which this reproduces exactly for the classical
    points and ``grow`` = 0).

    Args:
        points, weights: (n, R, C) macro-pixel images (see :func:`classical_points`,
            :func:`unet_points`).
        sub, zs: (n, R r, C r) pedestal-subtracted and zero-suppressed full-resolution frames.
        settings: DBSCAN's eps, min_samples, metric and the rebin factor.
        pixel_mm: pixel pitch.
        grow: rings of macro-pixels added around each cluster for its integral and truth
            matching (:func:`grow_labels`).
        events, truth_light, truth_recoil, recoil_offsets, recoils: as in
            :func:`caloreco.imaging.reco.reconstruct`.
    """
    pts = _stack(points, "points")
    wts = _stack(weights, "weights")
    sub = _stack(sub, "sub")
    n = pts.shape[0]
    if wts.shape != pts.shape:
        raise ValueError(f"weights: expected shape {pts.shape} like points, got {wts.shape}")
    r = settings.rebin
    if sub.shape != (n, pts.shape[1] * r, pts.shape[2] * r) or np.shape(zs) != sub.shape:
        raise ValueError(
            f"sub, zs: expected shape {(n, pts.shape[1] * r, pts.shape[2] * r)}, got "
            f"{sub.shape}, {np.shape(zs)}"
        )
    events = np.arange(n) if events is None else np.asarray(events)
    tables, labels = [], []
    t_db = 0.0
    for s in range(0, n, batch):
        sl = slice(s, min(s + batch, n))
        tab, core, dt = cluster_points(
            pts[sl],
            wts[sl],
            sub[sl],
            zs[sl],
            settings,
            pixel_mm,
            grow,
            events=events[sl],
            truth_light=None if truth_light is None else truth_light[sl],
            truth_recoil=None if truth_recoil is None else truth_recoil[sl],
            recoil_offsets=None if recoil_offsets is None else np.asarray(recoil_offsets)[s:],
            recoils=recoils,
            frame_offset=s,
        )
        t_db += dt
        if grow > 0 and len(tab):
            # the DBSCAN footprint's own integral beside the grown one
            block = sub[sl].reshape(-1, core.shape[1], r, core.shape[2], r).sum(axis=(2, 4))
            f, rr, cc = np.nonzero(core >= 0)
            kmax = int(core.max()) + 1
            key = f.astype(np.int64) * kmax + core[f, rr, cc]
            sums = np.bincount(key, weights=block[f, rr, cc], minlength=(sl.stop - s) * kmax)
            tab["integral_core"] = sums[(tab["frame"].to_numpy() - s) * kmax + tab["cluster"]]
        else:
            tab["integral_core"] = tab["integral"].to_numpy()
        tables.append(tab)
        labels.append(core)
    clusters = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    return ChainResult(
        clusters=clusters,
        labels=np.concatenate(labels) if labels else np.zeros((0,) + pts.shape[1:], np.int32),
        n_points=(np.rint(pts) != 0).sum(axis=(1, 2)),
        dbscan_seconds=t_db,
    )


def cluster_outcomes(
    clusters: pd.DataFrame,
    recoil_offsets: np.ndarray,
    recoils: Mapping[str, np.ndarray],
    signal_share: float = 0.5,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Classify clusters and find each recoil's main cluster.

    Args:
        clusters: a cluster table with truth (``frame`` counted from 0 in the frames that
            ``recoil_offsets`` describes, ``recoil``, ``truth_light``, ``integral``).
        recoil_offsets: (n_frames + 1,) recoil offsets of the frames.
        recoils: per-recoil truth (``recoil_light``, ``recoil_energy_kev``, ``recoil_kind``).
        signal_share: a cluster is signal when its truth light >= this x its integral.

    Returns:
        ``(status, recoil_table)``: per cluster ``"main"``, ``"split"`` or ``"fake"`` (object
        array in the table's order); per recoil ``frame``, ``energy_kev``, ``kind``, ``light``,
        ``detected``, ``integral`` (main cluster's, NaN if none), ``integral_core``, ``ratio``
        (integral / light), ``completeness`` and ``splits`` (its other signal clusters).
    """
    off = np.asarray(recoil_offsets, np.int64)
    if off.ndim != 1 or off.size < 1 or np.any(np.diff(off) < 0):
        raise ValueError("recoil_offsets: expected non-decreasing offsets (n_frames + 1,)")
    n_rec = int(off[-1])
    frame_of = np.repeat(np.arange(off.size - 1), np.diff(off))
    light = np.asarray(recoils["recoil_light"], np.float64)[:n_rec]
    table = pd.DataFrame(
        {
            "frame": frame_of,
            "energy_kev": np.asarray(recoils["recoil_energy_kev"], np.float64)[:n_rec],
            "kind": np.asarray(recoils["recoil_kind"])[:n_rec],
            "light": light,
            "detected": np.zeros(n_rec, bool),
            "integral": np.full(n_rec, np.nan),
            "integral_core": np.full(n_rec, np.nan),
            "ratio": np.full(n_rec, np.nan),
            "completeness": np.zeros(n_rec),
            "splits": np.zeros(n_rec, np.int64),
        }
    )
    status = np.full(len(clusters), "fake", dtype=object)
    if len(clusters) == 0:
        return status, table
    rec = clusters["recoil"].to_numpy(np.int64)
    fr = clusters["frame"].to_numpy(np.int64)
    if fr.max() >= off.size - 1:
        raise ValueError("clusters: frame indices beyond the recoil offsets")
    tl = clusters["truth_light"].to_numpy(np.float64)
    integ = clusters["integral"].to_numpy(np.float64)
    signal = (rec >= 0) & (tl > 0) & (tl >= signal_share * integ)
    gid = np.where(signal, off[fr] + np.maximum(rec, 0), -1)
    idx = np.flatnonzero(signal)
    if idx.size:
        # main = the signal cluster of a recoil with most truth light
        order = idx[np.lexsort((-tl[idx], gid[idx]))]
        first = np.concatenate([[True], gid[order][1:] != gid[order][:-1]])
        main = order[first]
        status[idx] = "split"
        status[main] = "main"
        g = gid[main]
        table.loc[g, "detected"] = True
        table.loc[g, "integral"] = integ[main]
        core = clusters["integral_core"] if "integral_core" in clusters else clusters["integral"]
        table.loc[g, "integral_core"] = core.to_numpy(np.float64)[main]
        table.loc[g, "completeness"] = clusters["completeness"].to_numpy(np.float64)[main]
        table["splits"] = np.bincount(gid[idx], minlength=n_rec)[:n_rec] - table["detected"]
        with np.errstate(invalid="ignore", divide="ignore"):
            table["ratio"] = np.where(light > 0, table["integral"] / light, np.nan)
    return status, table


def _poisson_rate(k: int, n: int) -> dict[str, float]:
    """k events in n frames: rate, its error, and the 95 % CL upper limit (3 / n when k = 0)."""
    from scipy.stats import chi2

    if n == 0:
        return {"value": float("nan"), "err": float("nan"), "upper_95": float("nan"), "count": 0}
    return {
        "value": k / n,
        "err": float(np.sqrt(max(k, 1))) / n if k else 0.0,
        "upper_95": float(chi2.ppf(0.95, 2 * (k + 1)) / 2) / n,
        "count": int(k),
    }


def _efficiency(k: int, n: int) -> dict[str, float]:
    """k of n: fraction with its binomial error and the Wilson 68 % interval."""
    if n == 0:
        return {"value": float("nan"), "err": float("nan"), "lo": float("nan"), "hi": float("nan")}
    p = k / n
    z = 1.0
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return {
        "value": p,
        "err": float(np.sqrt(p * (1 - p) / n)),
        "lo": float(centre - half),
        "hi": float(centre + half),
        "passed": int(k),
        "total": int(n),
    }


def _ratio_stats(r: np.ndarray) -> dict[str, float]:
    r = np.asarray(r, np.float64)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return {"n": 0, "mean": float("nan"), "mean_err": float("nan"), "std": float("nan")}
    q16, q50, q84 = np.quantile(r, [0.16, 0.5, 0.84])
    std = float(r.std(ddof=1)) if r.size > 1 else float("nan")
    return {
        "n": int(r.size),
        "mean": float(r.mean()),
        "mean_err": std / np.sqrt(r.size) if r.size > 1 else float("nan"),
        "std": std,
        "median": float(q50),
        "sigma68": float(0.5 * (q84 - q16)),
    }


def outcome_metrics(
    status: np.ndarray,
    cluster_frame: np.ndarray,
    recoil_table: pd.DataFrame,
    frame_energy: np.ndarray,
    n_points: np.ndarray,
    dbscan_ms: np.ndarray,
    energy_bins: Sequence[float] | None = None,
    multi_kev: float = 2.0,
) -> dict[str, Any]:
    """Per energy label, the multi-keV group, pedestal-only frames and all frames: detection
    efficiency, fake and split clusters per frame, integral ratio, DBSCAN points and time.

    Args:
        status: per cluster ``"main"``, ``"split"`` or ``"fake"`` (:func:`cluster_outcomes`).
        cluster_frame: per cluster its frame (0 .. n_frames - 1).
        recoil_table: per recoil (:func:`cluster_outcomes`).
        frame_energy: (n_frames,) visible energy of each frame (0: no recoil).
        n_points: (n_frames,) DBSCAN points; dbscan_ms: (n_frames,) DBSCAN time per frame, ms.
        energy_bins: see :func:`energy_labels`; multi_kev: lower edge of the multi-keV group.
    """
    status = np.asarray(status, dtype=object)
    cf = np.asarray(cluster_frame, np.int64)
    fe = np.asarray(frame_energy, np.float64)
    n_frames = fe.size
    fake_per_frame = np.bincount(cf[status == "fake"], minlength=n_frames)
    split_per_frame = np.bincount(cf[status == "split"], minlength=n_frames)
    f_lab, names = energy_labels(fe, energy_bins)
    r_lab, _ = energy_labels(recoil_table["energy_kev"].to_numpy(), energy_bins)
    npts = np.asarray(n_points, np.float64)
    dbt = np.asarray(dbscan_ms, np.float64)

    def block(fmask: np.ndarray, rmask: np.ndarray | None) -> dict[str, Any]:
        nf = int(fmask.sum())
        out: dict[str, Any] = {
            "frames": nf,
            "fakes_per_frame": _poisson_rate(int(fake_per_frame[fmask].sum()), nf),
            "splits_per_frame": _poisson_rate(int(split_per_frame[fmask].sum()), nf),
            "points_per_frame": float(npts[fmask].mean()) if nf else float("nan"),
            "points_per_frame_err": float(npts[fmask].std(ddof=1) / np.sqrt(nf))
            if nf > 1
            else float("nan"),
            "dbscan_ms_per_frame": float(dbt[fmask].mean()) if nf else float("nan"),
        }
        if rmask is not None:
            rt = recoil_table[rmask]
            out["recoils"] = int(len(rt))
            out["efficiency"] = _efficiency(int(rt["detected"].sum()), int(len(rt)))
            out["integral_ratio"] = _ratio_stats(rt["ratio"].to_numpy())
            out["integral_core_ratio"] = _ratio_stats(
                (rt["integral_core"] / rt["light"].where(rt["light"] > 0)).to_numpy()
            )
        return out

    per = {name: block(f_lab == name, r_lab == name) for name in names}
    e_rec = recoil_table["energy_kev"].to_numpy()
    out = {
        "energies": names,
        "per_energy": per,
        "multi_keV": block(fe >= multi_kev, e_rec >= multi_kev),
        "pedestal": block(fe <= 0, None),
        "all": block(np.ones(n_frames, bool), np.ones(len(recoil_table), bool)),
    }
    out["multi_keV"]["min_kev"] = multi_kev
    return out


def dbscan_frame_ms(
    points: np.ndarray, weights: np.ndarray, settings: RecoSettings = LIME_DEFAULTS
) -> np.ndarray:
    """Wall time (ms) of :func:`caloreco.imaging.reco.dbscan_labels` on each frame alone."""
    pts = _stack(points, "points")
    wts = _stack(weights, "weights")
    out = np.zeros(pts.shape[0])
    for i in range(pts.shape[0]):
        t0 = time.perf_counter()
        dbscan_labels(pts[i : i + 1], wts[i : i + 1], settings)
        out[i] = 1e3 * (time.perf_counter() - t0)
    return out


@dataclass(frozen=True)
class PixelSelectionSettings:
    """Settings of :func:`pixel_selection_analysis` (keys of the ``pixel_selection`` config block).

    Attributes:
        split_fractions, split_seed: train / val / test split of the frames by event number.
        target_noise_fraction: a pixel is signal when its truth light > this x its pedestal RMS.
        unet: :class:`caloreco.nn.unet.UNetConfig` keys.
        max_train_frames: at most this many training frames (None: all).
        pixel_threshold: U-Net probability threshold of the pixel selection (None: the F1
            optimum on the validation frames).
        point_threshold: threshold of a macro-pixel's largest probability for a DBSCAN point
            (None: ``pixel_threshold``).
        integral_grow: rings of macro-pixels added to every cluster for its integral, both
            chains (0: CYGNO's sc_integral over the DBSCAN macro-pixels).
        signal_share: a cluster is signal when its truth light >= this x its integral.
        nsigma_points: zero-suppression levels shown as points beside the U-Net's PR curve.
        compare: further classical chains, name -> :class:`RecoSettings` overrides; each gives
            methods ``nsigma_{name}`` and ``unet_{name}`` (the U-Net's points with that DBSCAN).
        relaxed_min_samples: candidates for the ``unet_relaxed`` method (the U-Net's points,
            the classical DBSCAN with a lower ``min_samples``: the U-Net has removed the noise
            that min_samples guards against); chosen on the VALIDATION frames as the one with the
            highest detection efficiency whose fakes per frame do not exceed the classical
            chain's on the same validation frames (ties: the largest).
        energy_bins_kev, multi_kev: energy labels (see :func:`energy_labels`) and the lower edge
            of the multi-keV group.
        n_boot: bootstrap replicates; batch: frames per DBSCAN call and per cluster table.
        n_examples: test frames kept for the displays.
    """

    split_fractions: tuple[float, float, float] = (0.5, 0.1, 0.4)
    split_seed: int = 0
    target_noise_fraction: float = 0.5
    unet: Mapping[str, Any] = field(default_factory=dict)
    max_train_frames: int | None = None
    pixel_threshold: float | None = None
    point_threshold: float | None = None
    integral_grow: int = 0
    signal_share: float = 0.5
    nsigma_points: tuple[float, ...] = (0.2, 0.4, 0.6, 1.0, 1.5, 2.0, 3.0, 4.0)
    compare: Mapping[str, Mapping[str, Any]] = field(
        default_factory=lambda: {"talk": {"nsigma": 0.2, "eps": 18.0, "min_samples": 20}}
    )
    relaxed_min_samples: tuple[int, ...] = (20, 15, 10, 7, 5, 3)
    energy_bins_kev: tuple[float, ...] | None = None
    multi_kev: float = 2.0
    n_boot: int = 200
    batch: int = 64
    n_examples: int = 4

    def __post_init__(self) -> None:
        UNetConfig(**dict(self.unet))  # validates
        if not (self.target_noise_fraction >= 0):
            raise ValueError(
                f"target_noise_fraction: expected >= 0, got {self.target_noise_fraction}"
            )
        for name in ("pixel_threshold", "point_threshold"):
            v = getattr(self, name)
            if v is not None and not (0 <= v < 1):
                raise ValueError(f"{name}: expected a probability in [0, 1) or null, got {v}")
        if self.integral_grow < 0 or not (0 < self.signal_share <= 1):
            raise ValueError("integral_grow >= 0 and signal_share in (0, 1] expected")
        if self.max_train_frames is not None and self.max_train_frames < 1:
            raise ValueError(f"max_train_frames: expected >= 1, got {self.max_train_frames}")
        for name, block in dict(self.compare).items():
            if not str(name).isidentifier():
                raise ValueError(f"compare: {name!r} is not a plain name")
            _reco_variant(LIME_DEFAULTS, block)
        if self.batch < 1 or self.n_boot < 0:
            raise ValueError("batch >= 1 and n_boot >= 0 expected")
        ms = tuple(self.relaxed_min_samples)
        if any(int(v) != v or v < 1 for v in ms):
            raise ValueError(f"relaxed_min_samples: expected positive integers, got {ms}")


def _reco_variant(base: RecoSettings, overrides: Mapping[str, Any]) -> RecoSettings:
    known = {f.name for f in fields(RecoSettings)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"compare: unknown reco keys {unknown}; known: {sorted(known)}")
    block = dict(overrides)
    for k in ("rebin", "median_size", "min_neighbors", "border", "min_samples"):
        if k in block and isinstance(block[k], float) and block[k].is_integer():
            block[k] = int(block[k])
    return dataclasses.replace(base, **block)


def pixel_selection_settings_from_config(
    block: Mapping[str, Any] | None,
) -> PixelSelectionSettings:
    """:class:`PixelSelectionSettings` from a config mapping; unknown keys raise ``ValueError``."""
    block = dict(block or {})
    known = {f.name for f in fields(PixelSelectionSettings)}
    unknown = sorted(set(block) - known)
    if unknown:
        raise ValueError(f"pixel_selection: unknown keys {unknown}; known: {sorted(known)}")
    for k in ("split_fractions", "nsigma_points", "energy_bins_kev"):
        if block.get(k) is not None:
            block[k] = tuple(float(v) for v in block[k])
    if block.get("relaxed_min_samples") is not None:
        block["relaxed_min_samples"] = tuple(int(v) for v in block["relaxed_min_samples"])
    if "unet" in block and "channels" in (block["unet"] or {}):
        block["unet"] = dict(block["unet"]) | {
            "channels": tuple(int(c) for c in block["unet"]["channels"])
        }
    return PixelSelectionSettings(**block)


def settings_dict(settings: PixelSelectionSettings) -> dict[str, Any]:
    """Plain values of the settings (for metrics files)."""
    d = asdict(settings)
    d["unet"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.unet.items()}
    d["compare"] = {k: dict(v) for k, v in settings.compare.items()}
    return d


def choose_min_samples(
    val: ImageFrames,
    pedestal: PedestalMaps,
    prob: np.ndarray,
    point_threshold: float,
    reco_settings: RecoSettings,
    candidates: Sequence[int],
    pixel_mm: float = 0.152,
    signal_share: float = 0.5,
) -> tuple[int, list[dict[str, float]]]:
    """DBSCAN ``min_samples`` for the U-Net's points, from validation frames only.

    The classical chain (``reco_settings``) sets the reference fake rate on the same frames;
    among ``candidates`` the one with the highest detection efficiency whose fakes per frame do
    not exceed it is returned (ties: the largest; none allowed: the classical ``min_samples``).

    Returns:
        ``(min_samples, rows)``: the choice and per candidate (and the reference, ``"nsigma"``)
        ``min_samples``, ``efficiency``, ``fakes_per_frame``, ``points_per_frame``.
    """
    truth = {
        "events": val.event,
        "truth_light": val.truth_light,
        "truth_recoil": val.truth_recoil,
        "recoil_offsets": val.recoil_offsets,
        "recoils": val.recoils,
    }
    cp = classical_points(val.image, pedestal, reco_settings)
    pts = unet_points(prob, point_threshold, reco_settings.rebin, cp["spark"])

    def outcome(points, rs):
        res = cluster_chain(points, cp["weights"], cp["sub"], cp["zs"], rs, pixel_mm, **truth)
        status, rt = cluster_outcomes(res.clusters, val.recoil_offsets, val.recoils, signal_share)
        return {
            "min_samples": int(rs.min_samples),
            "efficiency": float(rt["detected"].mean()) if len(rt) else float("nan"),
            "fakes_per_frame": float(np.sum(status == "fake")) / max(len(val), 1),
            "points_per_frame": float(res.n_points.mean()) if len(val) else float("nan"),
        }

    ref = outcome(cp["points"], reco_settings) | {"method": "nsigma"}
    rows = [ref]
    best = None
    for c in sorted({int(v) for v in candidates}, reverse=True):
        row = outcome(pts, dataclasses.replace(reco_settings, min_samples=c)) | {"method": "unet"}
        rows.append(row)
        if row["fakes_per_frame"] <= ref["fakes_per_frame"] and (
            best is None or row["efficiency"] > best["efficiency"]
        ):
            best = row
    return (best["min_samples"] if best else int(reco_settings.min_samples)), rows


def _preprocess_key(rs: RecoSettings) -> tuple:
    """The settings that steps 1-5 of the classical chain depend on."""
    skip = {"eps", "min_samples", "metric"}
    return tuple((k, v) for k, v in sorted(rs.to_dict().items()) if k not in skip)


def _is_value(label: str, value: float) -> bool:
    try:
        return abs(float(label) - value) < 1e-6
    except ValueError:
        return False


def _choose_threshold(sel: np.ndarray, tp: np.ndarray, pos: np.ndarray) -> float:
    """The threshold of :data:`PROB_EDGES` with the largest pooled F1 (validation frames)."""
    f1 = pr_from_counts(sel, tp, pos)["f1"]
    return float(PROB_EDGES[int(np.argmax(f1))])


def _goal_pair(
    unet: Mapping[str, Any], ref: Mapping[str, Any], key_1kev: str | None
) -> dict[str, Any]:
    """The issue's goals for the U-Net chain against one classical chain (same test frames)."""
    goals: dict[str, Any] = {}
    if key_1kev is not None:
        eff = unet["per_energy"][key_1kev]["efficiency"]
        goals["efficiency_1kev"] = {
            "value": eff["value"],
            "err": eff["err"],
            "reference": ref["per_energy"][key_1kev]["efficiency"]["value"],
            "target": 0.99,
            "met": bool(eff["value"] >= 0.99),
        }
        r = unet["per_energy"][key_1kev]["integral_ratio"]
        goals["integral_ratio_1kev"] = {
            "value": r["mean"],
            "err": r["mean_err"],
            "std": r["std"],
            "reference": ref["per_energy"][key_1kev]["integral_ratio"]["mean"],
            "reference_std": ref["per_energy"][key_1kev]["integral_ratio"]["std"],
            "target": 0.02,
            "met": bool(abs(r["mean"] - 1.0) <= 0.02),
        }
    bins: dict[str, Any] = {}
    for name in [*unet["energies"], "multi_keV", "pedestal"]:
        u = unet[name] if name in ("multi_keV", "pedestal") else unet["per_energy"][name]
        c = ref[name] if name in ("multi_keV", "pedestal") else ref["per_energy"][name]
        fu, fc = u["fakes_per_frame"], c["fakes_per_frame"]
        row = {
            "fakes_unet": fu["value"],
            "fakes_unet_err": fu["err"],
            "fakes_unet_upper_95": fu["upper_95"],
            "fakes_ref": fc["value"],
            "fakes_ref_err": fc["err"],
            "fakes_ref_upper_95": fc["upper_95"],
            "fewer_fakes": bool(fu["value"] < fc["value"]),
        }
        if "efficiency" in u:
            row["efficiency_unet"] = u["efficiency"]["value"]
            row["efficiency_ref"] = c["efficiency"]["value"]
            row["equal_or_better_efficiency"] = bool(
                u["efficiency"]["value"] >= c["efficiency"]["value"]
            )
        row["met"] = bool(row["fewer_fakes"] and row.get("equal_or_better_efficiency", True))
        bins[name] = row
    goals["fewer_fakes_every_bin"] = {"met": all(b["met"] for b in bins.values()), "bins": bins}
    pu, pc = unet["all"]["points_per_frame"], ref["all"]["points_per_frame"]
    goals["points_reduction"] = {
        "value": pc / pu if pu > 0 else float("inf"),
        "unet_points_per_frame": pu,
        "ref_points_per_frame": pc,
        "target": 5.0,
        "met": bool(pu > 0 and pc / pu >= 5.0 or (pu == 0 and pc > 0)),
    }
    tu, tc = unet["dbscan_ms_per_frame_batched"], ref["dbscan_ms_per_frame_batched"]
    goals["dbscan_time_reduction"] = {
        "value": tc / tu if tu > 0 else float("inf"),
        "unet_ms_per_frame": tu,
        "ref_ms_per_frame": tc,
        "target": 5.0,
        "met": bool(tu > 0 and tc / tu >= 5.0),
        "note": "measured inside the analysis; benchmarks/bench_pixel_selection.py repeats it",
    }
    return goals


def split_indices(
    frames: ImageFrames, settings: PixelSelectionSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train (at most ``max_train_frames``), validation and test frame indices of the split by
    event number (:func:`caloreco.split.assign_split`); every part must hold a frame."""
    part = assign_split(frames.event, settings.split_fractions, settings.split_seed)
    tr_idx = np.flatnonzero(part == "train")
    if settings.max_train_frames is not None:
        tr_idx = tr_idx[: settings.max_train_frames]
    va_idx, te_idx = np.flatnonzero(part == "val"), np.flatnonzero(part == "test")
    if min(tr_idx.size, va_idx.size, te_idx.size) == 0:
        raise ValueError(
            f"frames: every split needs frames (train {tr_idx.size}, val {va_idx.size}, "
            f"test {te_idx.size})"
        )
    return tr_idx, va_idx, te_idx


def _check_truth(frames: ImageFrames, rebin: int) -> None:
    if not frames.has_truth or frames.recoils is None or frames.recoil_offsets is None:
        raise ValueError("frames: the pixel-selection metrics need simulated frames with truth")
    h, w = frames.image.shape[1:]
    if h % rebin or w % rebin:
        raise ValueError(f"frames: {h} x {w} is not a multiple of the rebin factor {rebin}")


def unet_probabilities(
    images: np.ndarray,
    pedestal: PedestalMaps,
    model: Any,
    reco_settings: RecoSettings = LIME_DEFAULTS,
    batch_size: int = 1,
) -> np.ndarray:
    """The U-Net's signal probability of every pixel of raw frames (float32 (n, H, W)): the
    pedestal subtraction of the classical chain, :func:`unet_input`, then the network."""
    sub = pedestal_subtract(_stack(images, "images"), pedestal, reco_settings.cimax)
    return predict_unet(model, unet_input(sub, pedestal.rms), batch_size)


def unet_reconstruct(
    frames: ImageFrames,
    pedestal: PedestalMaps,
    model: Any,
    point_threshold: float,
    reco_settings: RecoSettings = LIME_DEFAULTS,
    pixel_mm: float = 0.152,
    grow: int = 0,
    batch: int = 64,
) -> tuple[ChainResult, float]:
    """The ``unet`` clustering method on raw frames: the U-Net's points (:func:`unet_points`,
    sparks vetoed as in the classical chain) given to the classical chain's DBSCAN with its
    weights (:func:`cluster_chain`). Truth columns when the frames carry truth.

    Returns:
        ``(result, inference_seconds)``; ``result.clusters`` has the columns of
        :func:`caloreco.imaging.reco.reconstruct` plus ``integral_core``.
    """
    t0 = time.perf_counter()
    prob = unet_probabilities(frames.image, pedestal, model, reco_settings)
    t_inf = time.perf_counter() - t0
    cp = classical_points(frames.image, pedestal, reco_settings)
    pts = unet_points(prob, point_threshold, reco_settings.rebin, cp["spark"])
    del prob
    truth = (
        {
            "truth_light": frames.truth_light,
            "truth_recoil": frames.truth_recoil,
            "recoil_offsets": frames.recoil_offsets,
            "recoils": frames.recoils,
        }
        if frames.has_truth
        else {}
    )
    res = cluster_chain(
        pts,
        cp["weights"],
        cp["sub"],
        cp["zs"],
        reco_settings,
        pixel_mm,
        grow,
        events=frames.event,
        batch=batch,
        **truth,
    )
    return res, t_inf


def train_pixel_selection(
    frames: ImageFrames,
    pedestal: PedestalMaps,
    settings: PixelSelectionSettings = PixelSelectionSettings(),
    reco_settings: RecoSettings = LIME_DEFAULTS,
    pixel_mm: float = 0.152,
    seed: int = 0,
    device: str = "cpu",
    log: Callable[[str], Any] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Train the U-Net on the training frames and fix its thresholds on the validation frames.

    Args:
        frames: simulated frames with truth (all splits; :func:`split_indices` picks).
        pedestal: the run's measured pedestal maps.
        settings: the analysis settings (``unet``, target, thresholds, relaxed candidates).
        reco_settings: the classical chain whose DBSCAN the U-Net's points go to.
        pixel_mm: pixel pitch, mm.
        seed: seeds the U-Net's weights and crops.
        device: ``"cpu"`` (default), ``"auto"`` (GPU when present) or ``"cuda[:N]"``.
        log: a callable for progress lines.

    Returns:
        ``(model, info)``: the trained U-Net and JSON-able ``info`` (``config``, ``parameters``,
        ``history``, ``train_frames``, ``val_frames``, ``train_seconds``, ``pixel_threshold``,
        ``point_threshold``, ``threshold_from``, ``relaxed_min_samples``,
        ``relaxed_min_samples_validation``, ``signal_pixel_fraction_train``, ``device``, the
        split). :func:`evaluate_pixel_selection` and the ``unet`` clustering method use it.
    """
    say = log or (lambda _m: None)
    _check_truth(frames, reco_settings.rebin)
    tr_idx, va_idx, _ = split_indices(frames, settings)
    sub = pedestal_subtract(frames.image[tr_idx], pedestal, reco_settings.cimax)
    x_tr = unet_input(sub, pedestal.rms)
    sub = pedestal_subtract(frames.image[va_idx], pedestal, reco_settings.cimax)
    x_va = unet_input(sub, pedestal.rms)
    del sub
    frac = settings.target_noise_fraction
    y_tr = pixel_target(frames.truth_light[tr_idx], pedestal.rms, frac)
    y_va = pixel_target(frames.truth_light[va_idx], pedestal.rms, frac)
    if not y_tr.any():
        raise ValueError("frames: the training frames hold no signal pixel")
    cfg = UNetConfig(**dict(settings.unet))
    t0 = time.perf_counter()
    model, history = train_unet(x_tr, y_tr, x_va, y_va, cfg, seed, device, say)
    t_train = time.perf_counter() - t0
    say(f"U-Net trained on {tr_idx.size} frames in {t_train:.1f} s")
    del x_tr
    p_val = predict_unet(model, x_va)
    del x_va
    # thresholds from the validation frames only
    sv, tv, pv = threshold_counts(p_val, y_va, PROB_EDGES)
    t_pix = (
        settings.pixel_threshold
        if settings.pixel_threshold is not None
        else _choose_threshold(sv, tv, pv)
    )
    t_pts = settings.point_threshold if settings.point_threshold is not None else t_pix
    relaxed_ms, relaxed_scan = choose_min_samples(
        frames.select(np.isin(np.arange(len(frames)), va_idx)),
        pedestal,
        p_val,
        t_pts,
        reco_settings,
        settings.relaxed_min_samples,
        pixel_mm,
        settings.signal_share,
    )
    say(f"thresholds: pixel {t_pix:.4g}, point {t_pts:.4g}; unet_relaxed min_samples {relaxed_ms}")
    info = {
        "config": unet_config_dict(cfg),
        "parameters": int(sum(q.numel() for q in model.parameters())),
        "history": history,
        "train_frames": int(tr_idx.size),
        "val_frames": int(va_idx.size),
        "train_seconds": t_train,
        "pixel_threshold": float(t_pix),
        "point_threshold": float(t_pts),
        "threshold_from": "validation F1" if settings.pixel_threshold is None else "config",
        "relaxed_min_samples": int(relaxed_ms),
        "relaxed_min_samples_validation": relaxed_scan,
        "signal_pixel_fraction_train": float(y_tr.mean()),
        "target_noise_fraction": float(frac),
        "split_fractions": [float(f) for f in settings.split_fractions],
        "split_seed": int(settings.split_seed),
        "seed": int(seed),
        "device": str(next(model.parameters()).device),
    }
    return model, info


def evaluate_pixel_selection(
    frames: ImageFrames,
    pedestal: PedestalMaps,
    model: Any,
    info: Mapping[str, Any],
    settings: PixelSelectionSettings = PixelSelectionSettings(),
    reco_settings: RecoSettings = LIME_DEFAULTS,
    pixel_mm: float = 0.152,
    seed: int = 0,
    log: Callable[[str], Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the classical and the U-Net chains on the same test frames and compare them.

    Args:
        frames: simulated frames with truth (all splits; the test split is scored).
        pedestal: the run's measured pedestal maps.
        model, info: from :func:`train_pixel_selection` (thresholds, relaxed min_samples).
        settings: the analysis settings (must give the split the model was trained with).
        reco_settings: the classical chain (its DBSCAN is the U-Net chain's DBSCAN).
        pixel_mm: pixel pitch, mm.
        seed: seeds the bootstraps.
        log: a callable for progress lines.

    Returns:
        ``(metrics, artefacts)``: the JSON-able metrics (``pixel_selection.json``: ``frames``,
        ``energies``, ``settings``, ``target``, ``unet``, ``pixels``, ``clustering``, ``goals``,
        ``timing``) and ``{"clusters": DataFrame (one row per test cluster, column
        ``method``), "recoils": DataFrame (one row per test recoil and method), "examples":
        dict of arrays for the displays, "prob_test": float16 (n_test, H, W) probabilities,
        "test_events": their event numbers}``.
    """
    say = log or (lambda _m: None)
    r = reco_settings.rebin
    _check_truth(frames, r)
    split = [float(f) for f in settings.split_fractions], int(settings.split_seed)
    if (list(info["split_fractions"]), int(info["split_seed"])) != split:
        raise ValueError(
            f"info: the U-Net was trained with split {info['split_fractions']} (seed "
            f"{info['split_seed']}), the settings give {split[0]} (seed {split[1]})"
        )
    tr_idx, va_idx, te_idx = split_indices(frames, settings)
    h, w = frames.image.shape[1:]
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 14]))
    clock: dict[str, float] = {}
    t_all = time.perf_counter()

    def lap(name: str, t0: float) -> None:
        clock[name] = time.perf_counter() - t0

    t_pix, t_pts = float(info["pixel_threshold"]), float(info["point_threshold"])
    relaxed_ms = int(info["relaxed_min_samples"])
    test = frames.select(np.isin(np.arange(len(frames)), te_idx))
    y_test = pixel_target(test.truth_light, pedestal.rms, settings.target_noise_fraction)
    t0 = time.perf_counter()
    p_test = unet_probabilities(test.image, pedestal, model, reco_settings)
    t_inf = time.perf_counter() - t0
    lap("predict_test", t0)
    say(f"U-Net inference: {1e3 * t_inf / te_idx.size:.1f} ms per frame")
    f_lab, names = energy_labels(test.energy_kev, settings.energy_bins_kev)
    signal_frame = np.diff(test.recoil_offsets) > 0
    # pixel metrics on the test frames
    t0 = time.perf_counter()
    st, tt, pt = threshold_counts(p_test, y_test, PROB_EDGES)
    curve = pr_from_counts(st, tt, pt)
    classical = classical_points(test.image, pedestal, reco_settings)
    z = classical["sub"] / np.asarray(pedestal.rms, np.float32)
    pixels: dict[str, Any] = {
        "unet": pixel_metrics(selection_counts(p_test > t_pix, y_test), rng, settings.n_boot)
        | {"threshold": t_pix},
        "nsigma": {},
        "pr_curve": {
            "threshold": PROB_EDGES.tolist(),
            "precision": curve["precision"].tolist(),
            "recall": curve["recall"].tolist(),
            "f1": curve["f1"].tolist(),
        },
        "per_energy": {},
    }
    for ns in settings.nsigma_points:
        pixels["nsigma"][f"{ns:g}"] = pixel_metrics(
            selection_counts(z > ns, y_test), rng, settings.n_boot
        ) | {"nsigma": float(ns)}
    ns_key = f"{reco_settings.nsigma:g}"
    if ns_key not in pixels["nsigma"]:
        pixels["nsigma"][ns_key] = pixel_metrics(
            selection_counts(z > reco_settings.nsigma, y_test), rng, settings.n_boot
        ) | {"nsigma": float(reco_settings.nsigma)}
    del z
    lap("pixel_metrics", t0)

    # the clustering methods on the same test frames
    truth = {
        "events": test.event,
        "truth_light": test.truth_light,
        "truth_recoil": test.truth_recoil,
        "recoil_offsets": test.recoil_offsets,
        "recoils": test.recoils,
    }
    variants = {"": (reco_settings, classical)}
    cache = {_preprocess_key(reco_settings): classical}
    for name, over in dict(settings.compare).items():
        rs = _reco_variant(reco_settings, over)
        key = _preprocess_key(rs)
        if key not in cache:  # a DBSCAN-only variant reuses the zero suppression and filters
            cache[key] = classical_points(test.image, pedestal, rs)
        variants[f"_{name}"] = (rs, cache[key])
    unet_pts = unet_points(p_test, t_pts, r, classical["spark"])
    # import and warm up scikit-learn outside the clock: the first chain timed would pay for it
    dbscan_labels(classical["points"][:1], classical["weights"][:1], reco_settings)
    results: dict[str, ChainResult] = {}
    reco_used: dict[str, Any] = {}
    t0 = time.perf_counter()
    for suffix, (rs, cp) in variants.items():
        for method, pts in (("nsigma" + suffix, cp["points"]), ("unet" + suffix, unet_pts)):
            results[method] = cluster_chain(
                pts,
                cp["weights"],
                cp["sub"],
                cp["zs"],
                rs,
                pixel_mm,
                settings.integral_grow,
                batch=settings.batch,
                **truth,
            )
            results[method].frame_ms = dbscan_frame_ms(pts, cp["weights"], rs)
            reco_used[method] = rs.to_dict()
    rs = dataclasses.replace(reco_settings, min_samples=relaxed_ms)
    results["unet_relaxed"] = cluster_chain(
        unet_pts,
        classical["weights"],
        classical["sub"],
        classical["zs"],
        rs,
        pixel_mm,
        settings.integral_grow,
        batch=settings.batch,
        **truth,
    )
    results["unet_relaxed"].frame_ms = dbscan_frame_ms(unet_pts, classical["weights"], rs)
    reco_used["unet_relaxed"] = rs.to_dict()
    lap("clustering", t0)

    t0 = time.perf_counter()
    clustering: dict[str, Any] = {"methods": {}}
    tables, recoil_tables = [], []
    for method, res in results.items():
        status, rtab = cluster_outcomes(
            res.clusters, test.recoil_offsets, test.recoils, settings.signal_share
        )
        cf = res.clusters["frame"].to_numpy(np.int64) if len(res.clusters) else np.zeros(0, int)
        m = outcome_metrics(
            status,
            cf,
            rtab,
            test.energy_kev,
            res.n_points,
            res.frame_ms,
            settings.energy_bins_kev,
            settings.multi_kev,
        )
        m["dbscan_ms_per_frame_batched"] = 1e3 * res.dbscan_seconds / len(test)
        m["reco"] = reco_used[method]
        fr_mask = full_resolution_mask(res.labels, r)
        m["pixels"] = pixel_metrics(selection_counts(fr_mask, y_test), rng, settings.n_boot)
        clustering["methods"][method] = m
        tab = res.clusters.copy()
        tab["status"] = status
        tab["method"] = method
        tab["event"] = test.event[cf] if len(tab) else tab.get("event")
        tables.append(tab)
        rtab = rtab.copy()
        rtab["event"] = test.event[rtab["frame"].to_numpy()]
        rtab["method"] = method
        recoil_tables.append(rtab)
    for name in names:
        fm = f_lab == name
        pixels["per_energy"][name] = {
            "unet": pixel_metrics(selection_counts(p_test[fm] > t_pix, y_test[fm])),
            f"nsigma_{ns_key}": pixel_metrics(
                selection_counts(classical["zs"][fm] > 0, y_test[fm])
            ),
        }
    lap("metrics", t0)

    p_train = float(info["signal_pixel_fraction_train"])
    p_test_frac = float(y_test.mean())
    pixels["smart_random"] = smart_random_expected(p_train) | {
        "f1_expected": p_train,
        "note": "each pixel selected with the training split's signal fraction p: "
        "E[precision] = test fraction, E[recall] = p",
        "precision_expected_test": p_test_frac,
    }

    key_1kev = next((k for k in names if _is_value(k, 1.0)), None)
    goals = {
        f"unet{suffix}_vs_nsigma{suffix}": _goal_pair(
            clustering["methods"]["unet" + suffix],
            clustering["methods"]["nsigma" + suffix],
            key_1kev,
        )
        for suffix in variants
    }
    goals["unet_relaxed_vs_nsigma"] = _goal_pair(
        clustering["methods"]["unet_relaxed"], clustering["methods"]["nsigma"], key_1kev
    )

    examples = _examples(test, classical, p_test, results, y_test, f_lab, names, settings)
    clock["total"] = time.perf_counter() - t_all
    metrics = {
        "frames": {
            "train": int(tr_idx.size),
            "val": int(va_idx.size),
            "test": int(te_idx.size),
        },
        "test_signal_frames": int(signal_frame.sum()),
        "test_empty_frames": int((~signal_frame).sum()),
        "shape": [int(h), int(w)],
        "pixel_mm": float(pixel_mm),
        "rebin": int(r),
        "energies": names,
        "settings": settings_dict(settings),
        "target": {
            "noise_fraction": settings.target_noise_fraction,
            "signal_pixel_fraction_train": p_train,
            "signal_pixel_fraction_test": p_test_frac,
        },
        "unet": dict(info),
        "pixels": pixels,
        "clustering": clustering,
        "goals": goals,
        "timing": {
            "unet_inference_ms_per_frame": 1e3 * t_inf / te_idx.size,
            "device": str(next(model.parameters()).device),
            "train_device": info.get("device"),
            "seconds": clock,
        },
    }
    cl = pd.concat(tables, ignore_index=True)
    rec = pd.concat(recoil_tables, ignore_index=True)
    artefacts = {
        "clusters": cl,
        "recoils": rec,
        "examples": examples,
        "prob_test": p_test.astype(np.float16),
        "test_events": test.event,
    }
    return metrics, artefacts


def pixel_selection_analysis(
    frames: ImageFrames,
    pedestal: PedestalMaps,
    settings: PixelSelectionSettings = PixelSelectionSettings(),
    reco_settings: RecoSettings = LIME_DEFAULTS,
    pixel_mm: float = 0.152,
    seed: int = 0,
    device: str = "cpu",
    log: Callable[[str], Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`train_pixel_selection` then :func:`evaluate_pixel_selection` in one call (the
    workflow runs them as two rules); the artefacts also hold ``"model"``."""
    t0 = time.perf_counter()
    model, info = train_pixel_selection(
        frames, pedestal, settings, reco_settings, pixel_mm, seed, device, log
    )
    t_train = time.perf_counter() - t0
    metrics, art = evaluate_pixel_selection(
        frames, pedestal, model, info, settings, reco_settings, pixel_mm, seed, log
    )
    metrics["timing"]["seconds"]["train_pixel_selection"] = t_train
    art["model"] = model
    return metrics, art


def _examples(test, classical, p_test, results, y_test, f_lab, names, settings):
    """A few test frames for the displays: one per energy label (spread over the labels) and
    one pedestal-only frame when there is one."""
    pick: list[int] = []
    step = max(1, len(names) // max(settings.n_examples - 1, 1))
    for name in names[::step]:
        idx = np.flatnonzero(f_lab == name)
        if idx.size:
            pick.append(int(idx[0]))
    pick = pick[: max(settings.n_examples - 1, 1)]
    empty = np.flatnonzero(np.diff(test.recoil_offsets) == 0)
    if empty.size:
        pick.append(int(empty[0]))
    idx = np.asarray(pick, np.int64)
    out = {
        "event": test.event[idx],
        "energy": np.asarray([f_lab[i] or "0" for i in idx], dtype=str),
        "kind": test.kind[idx],
        "sub": classical["sub"][idx],
        "target": y_test[idx].astype(np.uint8),
        "zs": classical["zs"][idx],
        "prob": p_test[idx].astype(np.float32),
    }
    for method, res in results.items():
        if method in ("nsigma", "unet"):
            out[f"labels_{method}"] = res.labels[idx]
    out["points_nsigma"] = (np.rint(classical["points"][idx]) != 0).astype(np.uint8)
    return out
