"""CYGNO's classical camera reconstruction (reconstruction.py, snakes.py, tools_lib; LIME defaults).

Steps, each a function on a stack of frames (n, H, W):

1. :func:`spark_mask`: a frame whose raw sum exceeds ``spark_factor`` x the pedestal sum plus
   ``spark_margin_per_pixel`` x pixels is a spark and is not reconstructed (CYGNO: 2 x 100 counts
   x pixels + 9e6 on a 2304^2 frame, i.e. 1.695 counts per pixel);
2. :func:`pedestal_subtract`: raw pixels >= ``cimax`` (5000) are zeroed (hot pixels and leakage),
   then the per-pixel pedestal mean is subtracted;
3. :func:`zero_suppress`: keep pixels above ``nsigma`` x their pedestal RMS (0.6 at LNGS);
4. :func:`median_filter_frames` (size 2, full resolution) and :func:`rebin_frames` (4 x 4 block
   mean);
5. :func:`noise_filter` (tools_lib ``noisereductor``): borders of 2 macro-pixels to 0, then in
   raster order, in place: a macro-pixel more than ``noise_tpx`` (10) from the mean of its 8
   neighbours takes that mean; it is zeroed if that mean is below ``min_neighbors_average``
   (1.2) or if fewer than ``min_neighbors`` (3) pixels of its 3 x 3 frame (itself included) are
   non-zero;
6. :func:`dbscan_labels`: DBSCAN (scikit-learn, ``cityblock``, ``eps`` 12 and ``min_samples``
   20 in macro-pixels) on the macro-pixels whose filtered value rounds to non-zero, weighted by
   the rebinned zero-suppressed intensity (as an integer, at least 1), all frames of a batch in
   one call (each frame shifted far beyond ``eps``);
7. :func:`cluster_table`: per cluster the integral of the pedestal-subtracted full-resolution
   pixels (not zero-suppressed) of its macro-pixels (``sc_integral``), its size, the
   intensity-weighted centroid and the principal axes of the full-resolution pixels; with
   simulation truth the matched recoil, purity and completeness.

CYGNO's directional DDBSCAN / RANSAC stage for long tracks is not part of this chain.
Units: counts, mm (x = (col + 0.5) pixel_mm, y = (row + 0.5) pixel_mm).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numba
import numpy as np
import pandas as pd
from scipy.ndimage import median_filter

from caloreco.imaging.pedestal import PedestalMaps

__all__ = [
    "RecoSettings",
    "LIME_DEFAULTS",
    "reco_settings_from_config",
    "spark_mask",
    "pedestal_subtract",
    "zero_suppress",
    "median_filter_frames",
    "rebin_frames",
    "noise_filter",
    "preprocess",
    "dbscan_labels",
    "order_labels",
    "cluster_table",
    "full_resolution_mask",
    "RecoResult",
    "reconstruct",
    "CLUSTER_COLUMNS",
]


@dataclass(frozen=True)
class RecoSettings:
    """Settings of the classical chain (LIME at LNGS by default)."""

    nsigma: float = 0.6
    cimax: float = 5000.0
    rebin: int = 4
    median_size: int = 2
    noise_tpx: float = 10.0
    min_neighbors_average: float = 1.2
    min_neighbors: int = 3
    border: int = 2
    eps: float = 12.0
    min_samples: int = 20
    metric: str = "cityblock"
    spark_factor: float = 2.0
    spark_margin_per_pixel: float = 9.0e6 / 2304**2

    def __post_init__(self) -> None:
        if not self.nsigma >= 0:
            raise ValueError(f"nsigma: expected >= 0, got {self.nsigma}")
        if not (isinstance(self.rebin, int) and self.rebin >= 1):
            raise ValueError(f"rebin: expected an integer >= 1, got {self.rebin}")
        if not (isinstance(self.median_size, int) and self.median_size >= 1):
            raise ValueError(f"median_size: expected an integer >= 1, got {self.median_size}")
        if not (self.eps > 0 and self.min_samples > 0):
            raise ValueError(f"eps, min_samples: expected > 0, got {self.eps}, {self.min_samples}")
        if self.metric not in ("cityblock", "euclidean", "chebyshev"):
            raise ValueError(
                f"metric: expected cityblock, euclidean or chebyshev, got {self.metric!r}"
            )
        if self.border < 0 or self.min_neighbors < 0:
            raise ValueError("border, min_neighbors: expected >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: LIME at LNGS (configFile_LNGS.txt; eps / min_samples from imaging.md)
LIME_DEFAULTS = RecoSettings()


def reco_settings_from_config(block: Mapping[str, Any] | None) -> RecoSettings:
    """:class:`RecoSettings` from a config mapping; unknown keys raise ``ValueError``."""
    block = dict(block or {})
    known = {f.name for f in fields(RecoSettings)}
    unknown = sorted(set(block) - known)
    if unknown:
        raise ValueError(f"reco: unknown keys {unknown}; known: {sorted(known)}")
    for k in ("rebin", "median_size", "min_neighbors", "border", "min_samples"):
        if k in block and isinstance(block[k], float) and block[k].is_integer():
            block[k] = int(block[k])
    return RecoSettings(**block)


def _frames(images: np.ndarray, name: str = "images") -> np.ndarray:
    a = np.asarray(images)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[1] < 1 or a.shape[2] < 1:
        raise ValueError(f"{name}: expected frames (n, H, W), got shape {np.shape(images)}")
    return a


def _maps(pedestal: PedestalMaps, shape) -> None:
    if pedestal.shape != tuple(shape[-2:]):
        raise ValueError(
            f"pedestal: maps of shape {pedestal.shape} do not match frames {tuple(shape[-2:])}"
        )


def spark_mask(
    images: np.ndarray, pedestal: PedestalMaps, settings: RecoSettings = LIME_DEFAULTS
) -> np.ndarray:
    """True for frames that are sparks (raw sum far above the pedestal sum)."""
    img = _frames(images)
    _maps(pedestal, img.shape)
    total = img.reshape(img.shape[0], -1).sum(axis=1, dtype=np.float64)
    limit = settings.spark_factor * float(np.asarray(pedestal.mean, np.float64).sum()) + (
        settings.spark_margin_per_pixel * img.shape[1] * img.shape[2]
    )
    return total > limit


def pedestal_subtract(
    images: np.ndarray, pedestal: PedestalMaps, cimax: float = LIME_DEFAULTS.cimax
) -> np.ndarray:
    """Pedestal-subtracted frames (float32); raw pixels >= ``cimax`` are set to 0."""
    img = _frames(images)
    _maps(pedestal, img.shape)
    sub = img.astype(np.float32) - np.asarray(pedestal.mean, np.float32)
    sub[img >= cimax] = 0.0
    return sub


def zero_suppress(sub: np.ndarray, rms: np.ndarray, nsigma: float) -> np.ndarray:
    """Keep pixels strictly above ``nsigma`` x ``rms`` (others 0)."""
    sub = _frames(sub, "sub")
    rms = np.asarray(rms, np.float32)
    if rms.shape != sub.shape[1:]:
        raise ValueError(f"rms: expected shape {sub.shape[1:]}, got {rms.shape}")
    return np.where(sub > np.float32(nsigma) * rms, sub, np.float32(0.0))


def median_filter_frames(frames: np.ndarray, size: int = 2) -> np.ndarray:
    """scipy's median filter of ``size`` x ``size`` applied to every frame (reflecting borders)."""
    frames = _frames(frames, "frames")
    if size <= 1:
        return frames.copy()
    return median_filter(frames, size=(1, size, size), mode="reflect")


def rebin_frames(frames: np.ndarray, factor: int) -> np.ndarray:
    """Block mean over ``factor`` x ``factor`` pixels; H and W must be multiples of ``factor``."""
    frames = _frames(frames, "frames")
    n, h, w = frames.shape
    if h % factor or w % factor:
        raise ValueError(f"frames: {h} x {w} is not a multiple of the rebin factor {factor}")
    return frames.reshape(n, h // factor, factor, w // factor, factor).mean(axis=(2, 4))


@numba.njit(cache=True)
def _noise_filter_kernel(edges, tpx, meancut, min_nb, border):
    n, nr, nc = edges.shape
    for f in range(n):
        e = edges[f]
        for b in range(border):
            for j in range(nc):
                e[b, j] = 0.0
                e[nr - 1 - b, j] = 0.0
            for i in range(nr):
                e[i, b] = 0.0
                e[i, nc - 1 - b] = 0.0
        for i in range(1, nr - 2):
            for j in range(1, nc - 2):
                spx = e[i, j]
                s = 0.0
                for di in range(-1, 2):
                    for dj in range(-1, 2):
                        s += e[i + di, j + dj]
                mpx = (s - spx) / 8.0
                if abs(spx - mpx) > tpx:
                    e[i, j] = mpx
                if mpx < meancut:
                    e[i, j] = 0.0
                nb = 0
                for di in range(-1, 2):
                    for dj in range(-1, 2):
                        if e[i + di, j + dj] > 0:
                            nb += 1
                if nb < min_nb:
                    e[i, j] = 0.0
    return edges


def noise_filter(rebinned: np.ndarray, settings: RecoSettings = LIME_DEFAULTS) -> np.ndarray:
    """CYGNO's neighbour-average noise filter on rebinned frames (a filtered copy, float64).

    The pass runs in raster order and in place, as the original: a macro-pixel sees its upper and
    left neighbours already filtered.
    """
    e = np.array(_frames(rebinned, "rebinned"), dtype=np.float64, copy=True)
    return _noise_filter_kernel(
        e,
        float(settings.noise_tpx),
        float(settings.min_neighbors_average),
        int(settings.min_neighbors),
        int(settings.border),
    )


def preprocess(
    images: np.ndarray, pedestal: PedestalMaps, settings: RecoSettings = LIME_DEFAULTS
) -> dict[str, np.ndarray]:
    """Steps 1-5 for a stack of frames.

    Returns:
        ``spark`` (n,) bool; ``sub`` pedestal-subtracted (n, H, W); ``zs`` zero-suppressed;
        ``rebinned_zs`` (n, H/r, W/r) block mean of ``zs`` (the DBSCAN weights); ``filtered``
        the median-filtered, rebinned, noise-filtered frames (the DBSCAN points).
    """
    img = _frames(images)
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
        "rebinned_zs": rebin_frames(zs, settings.rebin),
        "filtered": filtered,
    }


def dbscan_labels(
    filtered: np.ndarray, weights_image: np.ndarray, settings: RecoSettings = LIME_DEFAULTS
) -> np.ndarray:
    """DBSCAN cluster labels per macro-pixel, (n, R, C) int32: -1 no cluster, else 0 .. k-1
    within each frame in DBSCAN's order (:func:`order_labels` renumbers them by integral)."""
    from sklearn.cluster import DBSCAN

    filtered = _frames(filtered, "filtered")
    weights_image = _frames(weights_image, "weights_image")
    if weights_image.shape != filtered.shape:
        raise ValueError(
            f"weights_image: expected shape {filtered.shape}, got {weights_image.shape}"
        )
    n, nr, nc = filtered.shape
    labels = np.full((n, nr, nc), -1, np.int32)
    f, r, c = np.nonzero(np.rint(filtered) != 0)
    if f.size == 0:
        return labels
    w = np.asarray(weights_image[f, r, c]).astype(np.int64)
    w[w == 0] = 1
    # one call for all frames: frame k is shifted by k x (C + 2 eps + 2) columns
    shift = nc + 2 * int(np.ceil(settings.eps)) + 2
    x = np.stack([r, c + f.astype(np.int64) * shift], axis=1).astype(np.float64)
    db = DBSCAN(eps=settings.eps, min_samples=settings.min_samples, metric=settings.metric)
    lab = db.fit(x, sample_weight=w).labels_
    good = lab >= 0
    if good.any():
        # renumber per frame 0..k-1 (labels are global across the shifted frames)
        gl = lab[good]
        gf = f[good]
        order = np.lexsort((gl, gf))
        key = gf[order].astype(np.int64) * (gl.max() + 1) + gl[order]
        first = np.concatenate([[True], key[1:] != key[:-1]])
        rank = np.cumsum(first) - 1
        frame_start = np.concatenate([[True], gf[order][1:] != gf[order][:-1]])
        base = np.maximum.accumulate(np.where(frame_start, rank, 0))
        local = np.empty_like(rank)
        local[order] = rank - base
        labels[f[good], r[good], c[good]] = local
    return labels


CLUSTER_COLUMNS = (
    "frame",
    "event",
    "cluster",
    "integral",
    "integral_zs",
    "n_macro",
    "n_pixels",
    "x_mm",
    "y_mm",
    "sigma_major_mm",
    "sigma_minor_mm",
    "length_mm",
    "width_mm",
    "peak",
    "density",
)
TRUTH_COLUMNS = (
    "recoil",
    "purity",
    "completeness",
    "truth_light",
    "true_kind",
    "true_energy_kev",
)


def full_resolution_mask(labels: np.ndarray, rebin: int) -> np.ndarray:
    """Full-resolution bool mask (n, R rebin, C rebin) of the pixels inside any cluster."""
    lab = _frames(labels, "labels")
    return np.repeat(np.repeat(lab >= 0, rebin, axis=1), rebin, axis=2)


def cluster_table(
    labels: np.ndarray,
    sub: np.ndarray,
    zs: np.ndarray,
    pixel_mm: float,
    rebin: int,
    events: np.ndarray | None = None,
    truth_light: np.ndarray | None = None,
    truth_recoil: np.ndarray | None = None,
    recoil_offsets: np.ndarray | None = None,
    recoils: Mapping[str, np.ndarray] | None = None,
    frame_offset: int = 0,
) -> pd.DataFrame:
    """One row per cluster (see :data:`CLUSTER_COLUMNS`, plus :data:`TRUTH_COLUMNS` with truth).

    ``cluster`` is the label (:func:`order_labels` numbers them by decreasing integral, as
    :func:`reconstruct` does). ``integral`` sums the
    pedestal-subtracted full-resolution pixels of the cluster's macro-pixels; ``integral_zs`` the
    zero-suppressed ones; centroid and principal axes use the positive part of ``sub`` as weights
    (``length_mm`` / ``width_mm`` = sqrt(12) x the major / minor sigma, the length of a uniform
    segment of that variance); ``peak`` is the largest full-resolution pixel, ``density``
    = integral / n_pixels. With truth: ``recoil`` (index within the frame of the recoil with most
    light in the cluster, -1 none), ``purity`` (its share of the truth light in the cluster),
    ``completeness`` (the share of that recoil's light inside the cluster), ``truth_light``,
    ``true_kind``, ``true_energy_kev``.
    """
    lab = _frames(labels, "labels")
    sub = _frames(sub, "sub")
    n, nr, nc = lab.shape
    if sub.shape != (n, nr * rebin, nc * rebin) or np.shape(zs) != sub.shape:
        raise ValueError(
            f"sub, zs: expected shape {(n, nr * rebin, nc * rebin)} for labels {lab.shape} and "
            f"rebin {rebin}, got {sub.shape}, {np.shape(zs)}"
        )
    events = np.arange(n) + frame_offset if events is None else np.asarray(events)
    with_truth = truth_light is not None
    cols = list(CLUSTER_COLUMNS) + (list(TRUTH_COLUMNS) if with_truth else [])
    f, r, c = np.nonzero(lab >= 0)
    if f.size == 0:
        return pd.DataFrame({k: np.zeros(0) for k in cols})
    local = lab[f, r, c].astype(np.int64)
    kmax = int(local.max()) + 1
    gid_raw = f.astype(np.int64) * kmax + local
    uniq, gid = np.unique(gid_raw, return_inverse=True)
    ncl = uniq.size
    cl_frame = uniq // kmax
    # full-resolution pixels of every macro-pixel
    dr, dc = np.divmod(np.arange(rebin * rebin), rebin)
    pf = np.repeat(f, rebin * rebin)
    pr = (np.repeat(r, rebin * rebin) * rebin + np.tile(dr, f.size)).astype(np.int64)
    pc = (np.repeat(c, rebin * rebin) * rebin + np.tile(dc, f.size)).astype(np.int64)
    pg = np.repeat(gid, rebin * rebin)
    v = sub[pf, pr, pc].astype(np.float64)
    vz = np.asarray(zs)[pf, pr, pc].astype(np.float64)
    integral = np.bincount(pg, weights=v, minlength=ncl)
    integral_zs = np.bincount(pg, weights=vz, minlength=ncl)
    n_macro = np.bincount(gid, minlength=ncl)
    wpos = np.clip(v, 0.0, None)
    sw = np.bincount(pg, weights=wpos, minlength=ncl)
    sw_safe = np.where(sw > 0, sw, 1.0)
    xs = (pc + 0.5) * pixel_mm
    ys = (pr + 0.5) * pixel_mm
    mx = np.bincount(pg, weights=wpos * xs, minlength=ncl) / sw_safe
    my = np.bincount(pg, weights=wpos * ys, minlength=ncl) / sw_safe
    dx = xs - mx[pg]
    dy = ys - my[pg]
    sxx = np.bincount(pg, weights=wpos * dx * dx, minlength=ncl) / sw_safe
    syy = np.bincount(pg, weights=wpos * dy * dy, minlength=ncl) / sw_safe
    sxy = np.bincount(pg, weights=wpos * dx * dy, minlength=ncl) / sw_safe
    tr = 0.5 * (sxx + syy)
    det = np.sqrt(np.maximum(0.25 * (sxx - syy) ** 2 + sxy**2, 0.0))
    l1 = np.maximum(tr + det, 0.0)
    l2 = np.maximum(tr - det, 0.0)
    peak = np.full(ncl, -np.inf)
    np.maximum.at(peak, pg, v)
    out: dict[str, np.ndarray] = {
        "frame": cl_frame + frame_offset,
        "event": events[cl_frame],
        "integral": integral,
        "integral_zs": integral_zs,
        "n_macro": n_macro,
        "n_pixels": n_macro * rebin * rebin,
        "x_mm": mx,
        "y_mm": my,
        "sigma_major_mm": np.sqrt(l1),
        "sigma_minor_mm": np.sqrt(l2),
        "length_mm": np.sqrt(12.0 * l1),
        "width_mm": np.sqrt(12.0 * l2),
        "peak": peak,
        "density": integral / (n_macro * rebin * rebin),
    }
    if with_truth:
        tl = np.asarray(truth_light)[pf, pr, pc].astype(np.float64)
        trec = np.asarray(truth_recoil)[pf, pr, pc].astype(np.int64)
        has = trec >= 0
        kr = int(np.asarray(truth_recoil).max(initial=-1)) + 1
        total = np.bincount(pg, weights=tl, minlength=ncl)
        matched = np.full(ncl, -1, np.int64)
        best = np.zeros(ncl)
        if kr > 0 and has.any():
            per = np.bincount(pg[has] * kr + trec[has], weights=tl[has], minlength=ncl * kr)
            per = per.reshape(ncl, kr)
            matched = np.where(per.max(axis=1) > 0, per.argmax(axis=1), -1)
            best = per.max(axis=1)
        purity = np.where(total > 0, best / np.where(total > 0, total, 1.0), 0.0)
        completeness = np.zeros(ncl)
        kind = np.full(ncl, -1, np.int64)
        energy = np.full(ncl, np.nan)
        if recoil_offsets is not None and recoils is not None:
            ok = matched >= 0
            ridx = np.asarray(recoil_offsets)[cl_frame[ok]] + matched[ok]
            rl = np.asarray(recoils["recoil_light"], np.float64)[ridx]
            completeness[ok] = np.where(rl > 0, best[ok] / np.where(rl > 0, rl, 1.0), 0.0)
            kind[ok] = np.asarray(recoils["recoil_kind"])[ridx]
            energy[ok] = np.asarray(recoils["recoil_energy_kev"])[ridx]
        out |= {
            "recoil": matched,
            "purity": purity,
            "completeness": completeness,
            "truth_light": total,
            "true_kind": kind,
            "true_energy_kev": energy,
        }
    out["cluster"] = uniq % kmax
    order = np.lexsort((out["cluster"], cl_frame))
    table = pd.DataFrame({k: np.asarray(v)[order] for k, v in out.items()})
    return table[cols].reset_index(drop=True)


def order_labels(labels: np.ndarray, sub: np.ndarray, rebin: int) -> np.ndarray:
    """Renumber the clusters of every frame 0 .. k-1 by decreasing integral of ``sub``."""
    lab = _frames(labels, "labels")
    out = np.full_like(lab, -1)
    ff, rr, cc = np.nonzero(lab >= 0)
    if ff.size == 0:
        return out
    n, nr, nc = lab.shape
    local = lab[ff, rr, cc].astype(np.int64)
    kmax = int(local.max()) + 1
    uniq, inv = np.unique(ff.astype(np.int64) * kmax + local, return_inverse=True)
    block = _frames(sub, "sub").reshape(n, nr, rebin, nc, rebin).sum(axis=(2, 4))
    integral = np.bincount(inv, weights=block[ff, rr, cc].astype(np.float64), minlength=uniq.size)
    frame = uniq // kmax
    order = np.lexsort((-integral, frame))
    fo = frame[order]
    start = np.concatenate([[True], fo[1:] != fo[:-1]])
    idx = np.arange(fo.size)
    rank = np.empty(uniq.size, np.int64)
    rank[order] = idx - np.maximum.accumulate(np.where(start, idx, 0))
    out[ff, rr, cc] = rank[inv]
    return out


@dataclass
class RecoResult:
    """Output of :func:`reconstruct`.

    Attributes:
        clusters: the cluster table (one row per cluster).
        labels: (n, H/rebin, W/rebin) int32 macro-pixel labels (-1 none), numbered like
            ``clusters.cluster``.
        spark: (n,) bool frames vetoed as sparks.
        n_points: (n,) macro-pixels given to DBSCAN per frame.
    """

    clusters: pd.DataFrame
    labels: np.ndarray
    spark: np.ndarray
    n_points: np.ndarray


def reconstruct(
    images: np.ndarray,
    pedestal: PedestalMaps,
    settings: RecoSettings = LIME_DEFAULTS,
    pixel_mm: float = 0.152,
    events: np.ndarray | None = None,
    truth_light: np.ndarray | None = None,
    truth_recoil: np.ndarray | None = None,
    recoil_offsets: np.ndarray | None = None,
    recoils: Mapping[str, np.ndarray] | None = None,
    batch: int = 64,
) -> RecoResult:
    """The whole chain on (n, H, W) raw frames, ``batch`` frames at a time.

    Args:
        images: raw frames (uint16 counts).
        pedestal: measured pedestal maps (mean, RMS).
        settings: the chain's settings (:data:`LIME_DEFAULTS`).
        pixel_mm: pixel pitch for the positions.
        events: event numbers (default 0..n-1).
        truth_light, truth_recoil, recoil_offsets, recoils: simulation truth (optional), as in
            :class:`~caloreco.imaging.frames.ImageFrames`.
    """
    img = _frames(images)
    _maps(pedestal, img.shape)
    n = img.shape[0]
    events = np.arange(n) if events is None else np.asarray(events)
    if events.shape != (n,):
        raise ValueError(f"events: expected shape ({n},), got {events.shape}")
    tables, labels, sparks, npts = [], [], [], []
    for s in range(0, n, batch):
        sl = slice(s, min(s + batch, n))
        pre = preprocess(img[sl], pedestal, settings)
        lab = dbscan_labels(pre["filtered"], pre["rebinned_zs"], settings)
        lab = order_labels(lab, pre["sub"], settings.rebin)
        tab = cluster_table(
            lab,
            pre["sub"],
            pre["zs"],
            pixel_mm,
            settings.rebin,
            events=events[sl],
            truth_light=None if truth_light is None else truth_light[sl],
            truth_recoil=None if truth_recoil is None else truth_recoil[sl],
            recoil_offsets=None if recoil_offsets is None else np.asarray(recoil_offsets)[s:],
            recoils=recoils,
            frame_offset=s,
        )
        tables.append(tab)
        labels.append(lab)
        sparks.append(pre["spark"])
        npts.append((np.rint(pre["filtered"]) != 0).sum(axis=(1, 2)))
    if tables:
        clusters = pd.concat(tables, ignore_index=True)
    else:
        z = np.zeros((0, settings.rebin, settings.rebin), np.float32)
        clusters = cluster_table(np.full((0, 1, 1), -1), z, z, pixel_mm, settings.rebin)
    return RecoResult(
        clusters=clusters,
        labels=np.concatenate(labels) if labels else np.zeros((0, 0, 0), np.int32),
        spark=np.concatenate(sparks) if sparks else np.zeros(0, bool),
        n_points=np.concatenate(npts) if npts else np.zeros(0, np.int64),
    )
