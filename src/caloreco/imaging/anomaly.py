"""The ``anomaly`` analysis: a pedestal-trained autoencoder finds the tracks of camera frames.

Steps (:func:`anomaly_analysis`), all on frames of the raw image contract:

1. split frames by event number (train / val / test, :func:`caloreco.split.assign_split`);
2. normalise: z = (frame - pedestal mean) / pedestal RMS (raw >= cimax zeroed);
3. train :class:`caloreco.nn.autoencoder.ConvAutoencoder` on the training frames WITHOUT a recoil
   only (pedestal-like frames; no label of any signal is used);
4. error map r = z - AE(z) (signed: light only adds); the *localised* error is the error map
   smoothed with Gaussian windows of ``window_sigmas_px``, each divided by its RMS on the
   training pedestal frames, the maximum over the windows taken per pixel (a matched filter for
   diffusion-blurred spots of several sizes). A pixel-wise threshold on z (nsigma zero
   suppression) cannot pool the light of neighbouring pixels; the window can;
5. selections compared on the same test frames, as curves of intensity kept vs area discarded:
   ``nsigma`` (threshold on z), ``ae_pixel`` (threshold on r), ``ae_local`` (threshold on the
   localised error) and the control ``window`` (the same windows on z, no network: what the
   network adds is ``ae_local`` minus ``window``); and two operating points: ``ae_roi`` (regions
   of interest: hysteresis on the localised error, seeds above the ``seed_quantile`` of the
   per-frame maximum on training pedestal frames, grown down to the level that discards
   ``roi_area_target`` of the training frames' area, at least ``roi_min_pixels`` pixels) and
   ``classical_reco`` (the DBSCAN clusters of :func:`caloreco.imaging.reco.reconstruct`);
6. ROC AUC of signal frames (per energy) against test frames without a recoil, frame score = the
   maximum of each score map (classical: the largest cluster integral, 0 without a cluster);
7. ER / NR from the regions: a CNN on region crops plus log(integral) (supervised, simulation
   labels), a gradient-boosted classifier on the region features, against the shape-cut baseline
   (track length and light density, a rectangular cut per energy tuned on the training regions);
   deep embedded clustering of the crops without labels, purity against ER / NR.

The metrics are a JSON-able dict (every rate with its uncertainty); the CYGNO reference point
(93.0 +- 0.2 % kept at 97.8 +- 0.1 % discarded, arXiv 2512.24290) is stored beside the curves.
Caveat in the numbers: the area discarded depends on the occupancy of a frame; a 256 x 256 crop
with one recoil is emptier than a LIME frame, which makes a given area target easier to meet.
Units: counts, mm, keV (visible energy).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter

from caloreco.imaging import metrics as M
from caloreco.imaging.frames import KIND_CODES, ImageFrames
from caloreco.imaging.pedestal import PedestalMaps
from caloreco.imaging.reco import (
    LIME_DEFAULTS,
    RecoSettings,
    full_resolution_mask,
    pedestal_subtract,
    reconstruct,
)
from caloreco.imaging.regions import region_crops, region_table, roi_labels, roi_mask_stats
from caloreco.nn.autoencoder import (
    AutoencoderConfig,
    config_dict,
    reconstruct_frames,
    train_autoencoder,
)
from caloreco.split import assign_split

__all__ = [
    "CYGNO_REFERENCE",
    "AnomalySettings",
    "anomaly_settings_from_config",
    "normalise",
    "localised_score",
    "anomaly_analysis",
    "SCORE_EDGES",
]

#: the published point of the CYGNO autoencoder (arXiv 2512.24290)
CYGNO_REFERENCE = {
    "name": "CYGNO pedestal-trained autoencoder (arXiv 2512.24290, LIME data)",
    "intensity_kept": 0.930,
    "intensity_kept_err": 0.002,
    "area_discarded": 0.978,
    "area_discarded_err": 0.001,
}

#: thresholds of the selection curves (score units: pedestal sigmas)
SCORE_EDGES = np.unique(
    np.concatenate([np.linspace(-1.0, 10.0, 441), np.geomspace(10.0, 3000.0, 160)])
)

SCORE_METHODS = ("nsigma", "ae_pixel", "window", "ae_local")


@dataclass(frozen=True)
class AnomalySettings:
    """Settings of the anomaly analysis (see the module docstring)."""

    split_fractions: tuple[float, float, float] = (0.5, 0.1, 0.4)
    split_seed: int = 0
    autoencoder: Mapping[str, Any] = field(default_factory=dict)
    window_sigmas_px: tuple[float, ...] = (1.0, 2.0, 4.0)
    seed_quantile: float = 0.99
    roi_area_target: float = 0.978
    roi_min_pixels: int = 4
    area_targets: tuple[float, ...] = (0.978, 0.99, 0.995)
    intensity_targets: tuple[float, ...] = (0.90, 0.93, 0.95)
    crop_size: int = 64
    crop_bin: int = 2
    classifier_epochs: int = 100
    dec_clusters: int = 2
    dec_steps: int = 200
    n_boot: int = 200
    energy_bins_kev: tuple[float, ...] | None = None
    n_examples: int = 4
    batch: int = 32

    def __post_init__(self) -> None:
        if not self.window_sigmas_px or min(self.window_sigmas_px) <= 0:
            raise ValueError("window_sigmas_px: expected positive window sizes")
        if not (0 < self.seed_quantile < 1) or not (0 < self.roi_area_target < 1):
            raise ValueError("seed_quantile, roi_area_target: expected fractions in (0, 1)")
        AutoencoderConfig(**dict(self.autoencoder))  # validates
        if self.crop_size % (8 * self.crop_bin):
            raise ValueError("crop_size: expected a multiple of 8 x crop_bin")


def anomaly_settings_from_config(block: Mapping[str, Any] | None) -> AnomalySettings:
    """:class:`AnomalySettings` from a config mapping; unknown keys raise ``ValueError``."""
    block = dict(block or {})
    known = {f.name for f in fields(AnomalySettings)}
    unknown = sorted(set(block) - known)
    if unknown:
        raise ValueError(f"anomaly: unknown keys {unknown}; known: {sorted(known)}")
    for k in (
        "split_fractions",
        "window_sigmas_px",
        "area_targets",
        "intensity_targets",
        "energy_bins_kev",
    ):
        if block.get(k) is not None:
            block[k] = tuple(float(v) for v in block[k])
    return AnomalySettings(**block)


def normalise(
    images: np.ndarray, pedestal: PedestalMaps, cimax: float = 5000.0
) -> tuple[np.ndarray, np.ndarray]:
    """``(sub, z)``: pedestal-subtracted counts and z = sub / RMS, float32 (n, H, W)."""
    sub = pedestal_subtract(images, pedestal, cimax)
    return sub, sub / np.asarray(pedestal.rms, np.float32)


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    return gaussian_filter(x, (0, sigma, sigma), mode="constant", truncate=3.0)


def localised_score(x: np.ndarray, sigmas: Sequence[float], scales: Sequence[float]) -> np.ndarray:
    """max over windows of (Gaussian window sigma_k * x) / scale_k, per pixel (float32)."""
    out = None
    for s, sc in zip(sigmas, scales, strict=True):
        v = _smooth(x, s) / np.float32(sc)
        out = v if out is None else np.maximum(out, v)
    return out.astype(np.float32)


def _energy_labels(
    energy: np.ndarray, bins: Sequence[float] | None
) -> tuple[np.ndarray, list[str]]:
    """A string label per frame / region ('' for no energy) and the ordered labels."""
    e = np.asarray(energy, float)
    lab = np.full(e.shape, "", dtype=object)
    pos = e > 0
    if bins is None:
        vals = np.unique(np.round(e[pos], 4))
        if vals.size <= 12:
            for v in vals:
                lab[pos & (np.round(e, 4) == v)] = f"{v:g}"
            return lab, [f"{v:g}" for v in vals]
        bins = np.quantile(e[pos], np.linspace(0, 1, 6))
    edges = np.asarray(bins, float)
    names = [f"{lo:g}-{hi:g}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    k = np.clip(np.searchsorted(edges, e, side="right") - 1, 0, len(names) - 1)
    lab[pos] = np.asarray(names, dtype=object)[k[pos]]
    return lab, names


def _curve_entry(sel, kept, total, npx, settings, rng, energy_lab, energy_names) -> dict[str, Any]:
    area, ik = M.curve_from_histograms(sel, kept, npx, total)
    # thin the curve for the JSON: points where it moves
    keep = np.concatenate([[True], (np.abs(np.diff(area)) > 1e-5) | (np.abs(np.diff(ik)) > 1e-5)])
    out: dict[str, Any] = {
        "curve": {"area_discarded": area[keep].tolist(), "intensity_kept": ik[keep].tolist()},
        "kept_at_area": {},
        "area_at_kept": {},
        "per_energy": {},
    }
    for t in settings.area_targets:
        out["kept_at_area"][f"{t:g}"] = {
            "value": M.kept_at_area(area, ik, t),
            "err": M.bootstrap_at_area(sel, kept, total, npx, t, rng, settings.n_boot),
        }
    for t in settings.intensity_targets:
        out["area_at_kept"][f"{t:g}"] = M.area_at_kept(area, ik, t)
    for name in energy_names:
        m = energy_lab == name
        if not m.any():
            continue
        a2, k2 = M.curve_from_histograms(sel[m], kept[m], npx, total[m])
        out["per_energy"][name] = {
            "frames": int(m.sum()),
            "kept_at_area": {f"{t:g}": M.kept_at_area(a2, k2, t) for t in settings.area_targets},
            "area_at_kept": {
                f"{t:g}": M.area_at_kept(a2, k2, t) for t in settings.intensity_targets
            },
        }
    return out


def _shape_cut(train: pd.DataFrame, test: pd.DataFrame) -> tuple[np.ndarray, dict[str, float]]:
    """NR if length < a and density > b, (a, b) maximising the training accuracy on a grid of
    quantiles. Returns predictions on ``test`` and the cut."""
    ln, dn = train["length_mm"].to_numpy(), train["density"].to_numpy()
    y = train["is_nr"].to_numpy().astype(bool)
    qa = np.concatenate([np.unique(np.quantile(ln, np.linspace(0, 1, 41))), [np.inf]])
    qb = np.concatenate([[-np.inf], np.unique(np.quantile(dn, np.linspace(0, 1, 41)))])
    pred = (ln[None, None] < qa[:, None, None]) & (dn[None, None] > qb[None, :, None])
    score = (pred == y[None, None]).mean(axis=2)
    i, j = np.unravel_index(np.argmax(score), score.shape)
    out = (test["length_mm"].to_numpy() < qa[i]) & (test["density"].to_numpy() > qb[j])
    cut = {
        "max_length_mm": float(qa[i]),
        "min_density": float(qb[j]),
        "train_accuracy": float(score[i, j]),
    }
    return out.astype(int), cut


FEATURES = (
    "integral",
    "n_pixels",
    "sigma_major_mm",
    "sigma_minor_mm",
    "length_mm",
    "width_mm",
    "peak",
    "density",
)


def anomaly_analysis(
    frames: ImageFrames,
    pedestal: PedestalMaps,
    settings: AnomalySettings = AnomalySettings(),
    reco_settings: RecoSettings = LIME_DEFAULTS,
    pixel_mm: float = 0.152,
    seed: int = 0,
    device: str = "auto",
    log: Callable[[str], Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the whole analysis on simulated frames (truth is needed for the metrics).

    Args:
        frames: frames with truth (``truth_light``, ``truth_recoil``, recoils).
        pedestal: the measured pedestal maps of the run.
        settings: analysis settings; reco_settings: the classical chain (LIME defaults).
        pixel_mm: pixel pitch.
        seed: seed of the networks and bootstraps.
        device: ``"auto"`` (GPU when present), ``"cpu"`` or ``"cuda"``.
        log: a callable for progress lines.

    Returns:
        ``(metrics, artefacts)``: the JSON-able metrics (module docstring) and
        ``{"regions": DataFrame (one row per region with truth and ER/NR predictions),
        "examples": dict of arrays for the image displays, "model": the autoencoder,
        "roc_scores": DataFrame of frame scores}``.
    """
    say = log or (lambda _m: None)
    if not frames.has_truth or frames.recoils is None:
        raise ValueError("frames: the anomaly metrics need simulated frames with truth")
    n, h, w = frames.image.shape
    npx = h * w
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 77]))
    part = assign_split(frames.event, settings.split_fractions, settings.split_seed)
    empty = frames.kind == KIND_CODES["pedestal"]
    signal = frames.recoil_offsets[1:] > frames.recoil_offsets[:-1]
    tr, te = part == "train", part == "test"
    if (empty & tr).sum() < 2:
        raise ValueError("frames: the training split needs at least 2 frames without a recoil")
    if not (signal & te).any() or not (empty & te).any():
        raise ValueError("frames: the test split needs frames with and without recoils")
    e_lab, e_names = _energy_labels(frames.energy_kev, settings.energy_bins_kev)
    clock = {"start": time.perf_counter()}

    def lap(name: str) -> None:
        clock[name] = time.perf_counter() - clock.pop("last", clock["start"])
        clock["last"] = time.perf_counter()

    sub, z = normalise(frames.image, pedestal, reco_settings.cimax)
    ae_cfg = AutoencoderConfig(**dict(settings.autoencoder))
    t0 = time.perf_counter()
    model, history = train_autoencoder(z[empty & tr], ae_cfg, seed=seed, device=device, log=say)
    t_train = time.perf_counter() - t0
    say(f"autoencoder trained on {int((empty & tr).sum())} pedestal frames in {t_train:.1f} s")
    lap("train_autoencoder")

    # calibration on the training pedestal frames
    zp = z[empty & tr]
    rp = zp - reconstruct_frames(model, zp, ae_cfg.clip)
    sig = tuple(settings.window_sigmas_px)
    scale_ae = [float(_smooth(rp, s).std()) for s in sig]
    scale_win = [float(_smooth(zp, s).std()) for s in sig]
    explained = float(1.0 - (rp**2).mean() / (zp**2).mean())
    ped_max = localised_score(rp, sig, scale_ae).max(axis=(1, 2))
    t_high = float(np.quantile(ped_max, settings.seed_quantile))
    del zp, rp

    # score maps of every frame, block by block
    frame_max = {m: np.zeros(n, np.float32) for m in SCORE_METHODS}
    m_edges = SCORE_EDGES.size
    hist = {m: (np.zeros((n, m_edges), np.int64), np.zeros((n, m_edges))) for m in SCORE_METHODS}
    s_ae = np.zeros((n, h, w), np.float16)
    absorbed = [0.0, 0.0]
    t_ae = 0.0
    for s in range(0, n, settings.batch):
        sl = slice(s, min(s + settings.batch, n))
        t1 = time.perf_counter()
        rec = reconstruct_frames(model, z[sl], ae_cfg.clip)
        r = z[sl] - rec
        loc = localised_score(r, sig, scale_ae)
        t_ae += time.perf_counter() - t1
        s_ae[sl] = loc
        frame_max["ae_local"][sl] = loc.max(axis=(1, 2))
        light = frames.truth_light[sl]
        absorbed[0] += float((rec * pedestal.rms)[light > 0].sum())
        absorbed[1] += float(light.sum())
        # the other maps and the curves are needed on the test frames only
        t_sel = np.flatnonzero(te[sl])
        if t_sel.size == 0:
            continue
        maps = {
            "nsigma": z[sl][t_sel],
            "ae_pixel": r[t_sel],
            "window": localised_score(z[sl][t_sel], sig, scale_win),
            "ae_local": loc[t_sel],
        }
        rows = s + t_sel
        for m, v in maps.items():
            frame_max[m][rows] = v.max(axis=(1, 2))
            hist[m][0][rows], hist[m][1][rows] = M.threshold_histograms(
                v, light[t_sel], SCORE_EDGES
            )
    say(f"score maps of {n} frames: autoencoder + windows {n / t_ae:.1f} frames/s")
    lap("score_maps")

    total = frames.truth_light.sum(axis=(1, 2), dtype=np.float64)
    sel_test = te & signal
    selection: dict[str, Any] = {"reference": CYGNO_REFERENCE, "methods": {}}
    for m in SCORE_METHODS:
        a, k = hist[m]
        selection["methods"][m] = _curve_entry(
            a[sel_test],
            k[sel_test],
            total[sel_test],
            npx,
            settings,
            rng,
            e_lab[sel_test],
            e_names,
        )
    lap("curves")

    # classical reconstruction on the test frames
    t1 = time.perf_counter()
    reco_res = reconstruct(
        frames.image[te], pedestal, reco_settings, pixel_mm, events=frames.event[te]
    )
    t_reco = time.perf_counter() - t1
    mask = full_resolution_mask(reco_res.labels, reco_settings.rebin)
    rs, rk, rt = roi_mask_stats(mask, frames.truth_light[te])
    sig_te = signal[te]
    selection["methods"]["classical_reco"] = {
        "point": M.selection_point(rs[sig_te], rk[sig_te], rt[sig_te], npx, rng, settings.n_boot)
    }
    reco_score = np.zeros(int(te.sum()))
    if len(reco_res.clusters):
        best = reco_res.clusters.groupby("frame")["integral"].max()
        reco_score[best.index.to_numpy()] = best.to_numpy()
    say(f"classical chain on {int(te.sum())} test frames: {te.sum() / t_reco:.1f} frames/s")
    lap("classical_reco")

    # regions of interest: t_low discarding roi_area_target of the area of the training frames
    # that hold a seed (no truth used: a seed is a pixel above t_high); bisection on at most
    # 160 of them, the area falls monotonically with t_low
    seeded = np.flatnonzero(tr & (frame_max["ae_local"] > t_high))[:160]
    if seeded.size == 0:
        seeded = np.flatnonzero(tr)[:160]
    s_tr = s_ae[seeded].astype(np.float32)

    def roi_area(tl: float) -> float:
        lab = roi_labels(s_tr, tl, max(t_high, tl), settings.roi_min_pixels)
        return 1.0 - float((lab >= 0).mean())

    lo, hi = 0.0, max(t_high, 1.0)
    if roi_area(lo) >= settings.roi_area_target:
        hi = lo
    for _ in range(9):
        if hi - lo < 0.02:
            break
        mid = 0.5 * (lo + hi)
        if roi_area(mid) >= settings.roi_area_target:
            hi = mid
        else:
            lo = mid
    t_low = float(hi)
    labels = np.full((n, h, w), -1, np.int32)
    for s in range(0, n, settings.batch):
        sl = slice(s, min(s + settings.batch, n))
        labels[sl] = roi_labels(
            s_ae[sl].astype(np.float32), t_low, max(t_high, t_low), settings.roi_min_pixels
        )
    rs, rk, rt = roi_mask_stats(labels[sel_test] >= 0, frames.truth_light[sel_test])
    roi_point = M.selection_point(rs, rk, rt, npx, rng, settings.n_boot)
    grid = np.array([0.5, 1.0, 2.0, 3.0, 5.0])
    roi_curve = {"t_low": grid.tolist(), "area_discarded": [], "intensity_kept": []}
    s_te = s_ae[sel_test].astype(np.float32)
    for tl in grid:
        lab = roi_labels(s_te, tl, max(t_high, tl), settings.roi_min_pixels)
        a, k, t = roi_mask_stats(lab >= 0, frames.truth_light[sel_test])
        roi_curve["area_discarded"].append(float(1 - a.sum() / (a.size * npx)))
        roi_curve["intensity_kept"].append(float(k.sum() / t.sum()))
    del s_te
    selection["methods"]["ae_roi"] = {
        "point": roi_point,
        "t_low": t_low,
        "t_high": t_high,
        "curve": roi_curve,
    }
    lap("regions_of_interest")

    ae = selection["methods"]["ae_local"]
    ns = selection["methods"]["nsigma"]
    at = f"{CYGNO_REFERENCE['area_discarded']:g}"
    selection["goals"] = {
        "ae_kept_at_97.8": ae["kept_at_area"].get(at),
        "nsigma_kept_at_97.8": ns["kept_at_area"].get(at),
        "ae_roi_point": roi_point,
        "met_93_at_97.8": (
            bool(ae["kept_at_area"][at]["value"] >= 0.93) if at in ae["kept_at_area"] else None
        ),
        "roi_met_93_at_97.8": bool(
            roi_point["intensity_kept"] >= 0.93 and roi_point["area_discarded"] >= 0.978
        ),
        "beats_nsigma_at_equal_area": {
            t: bool(ae["kept_at_area"][t]["value"] > ns["kept_at_area"][t]["value"])
            for t in ae["kept_at_area"]
        },
    }

    # ROC AUC per energy: signal test frames against test frames without a recoil
    roc: dict[str, Any] = {"methods": {}}
    bg = te & empty
    for m in SCORE_METHODS:
        roc["methods"][m] = {
            name: M.roc_auc(frame_max[m][te & signal & (e_lab == name)], frame_max[m][bg])
            for name in e_names
        }
    reco_full = np.zeros(n)
    reco_full[np.flatnonzero(te)] = reco_score
    roc["methods"]["classical_reco"] = {
        name: M.roc_auc(reco_full[te & signal & (e_lab == name)], reco_full[bg]) for name in e_names
    }
    roc_scores = pd.DataFrame(
        {"event": frames.event[te], "energy": e_lab[te].astype(str), "signal": signal[te]}
        | {m: frame_max[m][te] for m in SCORE_METHODS}
        | {"classical_reco": reco_score}
    )

    # regions: table with truth, the region of each recoil with most of its light
    tabs = []
    for s in range(0, n, settings.batch):
        sl = slice(s, min(s + settings.batch, n))
        tabs.append(
            region_table(
                labels[sl],
                sub[sl],
                pixel_mm,
                frames.event[sl],
                frames.truth_light[sl],
                frames.truth_recoil[sl],
                frames.recoil_offsets[s:],
                frames.recoils,
                frame_offset=s,
            )
        )
    regions = pd.concat(tabs, ignore_index=True)
    regions["split"] = part[regions["frame"].to_numpy()]
    # a region's energy is its matched recoil's (the frame's, when the frame has one recoil)
    r_lab, r_names = _energy_labels(
        np.nan_to_num(regions["true_energy_kev"].to_numpy(), nan=0.0), settings.energy_bins_kev
    )
    regions["energy"] = r_lab.astype(str)
    matched = regions[regions["recoil"] >= 0].sort_values("completeness", ascending=False)
    matched = matched.drop_duplicates(["frame", "recoil"]).sort_values(["frame", "recoil"])
    kinds = matched["true_kind"].to_numpy()
    matched = matched[np.isin(kinds, [KIND_CODES["ER"], KIND_CODES["NR"]])].copy()
    matched["is_nr"] = (matched["true_kind"] == KIND_CODES["NR"]).astype(int)
    regions["used_for_er_nr"] = False
    regions.loc[matched.index, "used_for_er_nr"] = True
    lap("region_table")
    er_nr, dec, regions = _er_nr(
        matched, regions, sub, labels, pixel_mm, settings, seed, device, say, r_names
    )
    lap("er_nr_and_dec")

    examples = _examples(frames, sub, s_ae, labels, te, signal, e_lab, e_names, settings.n_examples)
    clock.pop("last", None)
    clock.pop("start", None)
    metrics = {
        "frames": {p: int((part == p).sum()) for p in ("train", "val", "test")},
        "signal_frames_test": int(sel_test.sum()),
        "empty_frames_test": int(bg.sum()),
        "pixels_per_frame": int(npx),
        "shape": [int(h), int(w)],
        "pixel_mm": float(pixel_mm),
        "energies": e_names,
        "settings": settings_dict(settings),
        "autoencoder": {
            "config": config_dict(ae_cfg),
            "history": history,
            "pedestal_frames": int((empty & tr).sum()),
            "train_seconds": t_train,
            "pedestal_variance_explained": explained,
            "signal_absorbed_fraction": absorbed[0] / max(absorbed[1], 1.0),
        },
        "window_sigmas_px": list(sig),
        "window_scales": {"ae_local": scale_ae, "window": scale_win},
        "selection": selection,
        "roc": roc,
        "er_nr": er_nr,
        "dec": dec,
        "timing": {
            "autoencoder_frames_per_second": n / t_ae,
            "classical_frames_per_second": float(te.sum() / t_reco),
            "seconds": clock,
        },
    }
    artefacts = {"regions": regions, "examples": examples, "model": model, "roc_scores": roc_scores}
    return metrics, artefacts


def _er_nr(matched, regions, sub, labels, pixel_mm, settings, seed, device, say, e_names):
    from sklearn.ensemble import HistGradientBoostingClassifier

    from caloreco.nn.recoil_classifier import (
        deep_embedded_clustering,
        predict_crop_classifier,
        train_crop_classifier,
    )

    parts = {p: matched[matched["split"] == p] for p in ("train", "val", "test")}
    if min(len(v) for v in parts.values()) == 0 or parts["train"]["is_nr"].nunique() < 2:
        return {"error": "not enough matched regions of both kinds in every split"}, {}, regions

    def crops(t):
        c = region_crops(
            sub,
            t["frame"].to_numpy(),
            t["x_mm"].to_numpy(),
            t["y_mm"].to_numpy(),
            pixel_mm,
            settings.crop_size,
            settings.crop_bin,
            labels=labels,
            region=t["cluster"].to_numpy(),
        )
        tot = np.clip(c.sum(axis=(1, 2)), 1.0, None)
        return (c / tot[:, None, None] * 100.0).astype(np.float32)

    def scalars(t):
        integral = np.clip(t[["integral"]].to_numpy(np.float64), 1.0, None)
        return (np.log10(integral) - 3.0).astype(np.float32)

    X = {p: crops(t) for p, t in parts.items()}
    S = {p: scalars(t) for p, t in parts.items()}
    Y = {p: t["is_nr"].to_numpy() for p, t in parts.items()}
    model, _ = train_crop_classifier(
        X["train"],
        S["train"],
        Y["train"],
        X["val"],
        S["val"],
        Y["val"],
        epochs=settings.classifier_epochs,
        patience=30,
        seed=seed,
        device=device,
        log=say,
    )
    p_cnn = predict_crop_classifier(model, X["test"], S["test"])
    feats = {
        p: np.log(np.clip(t[list(FEATURES)].to_numpy(np.float64), 1e-3, None))
        for p, t in parts.items()
    }
    gb = HistGradientBoostingClassifier(
        max_iter=200, learning_rate=0.1, random_state=int(seed) % 2**31
    )
    gb.fit(np.concatenate([feats["train"], feats["val"]]), np.concatenate([Y["train"], Y["val"]]))
    p_gb = gb.predict_proba(feats["test"])[:, 1]
    test = parts["test"]
    out: dict[str, Any] = {
        "regions": {p: int(len(t)) for p, t in parts.items()},
        "per_energy": {},
        "cuts": {},
    }
    pred_cut = np.zeros(len(test), int)
    for name in e_names:
        mtr = (parts["train"]["energy"] == name).to_numpy()
        mte = (test["energy"] == name).to_numpy()
        if not mte.any():
            continue
        if mtr.any() and parts["train"]["is_nr"][mtr].nunique() == 2:
            pred_cut[mte], out["cuts"][name] = _shape_cut(parts["train"][mtr], test[mte])
        y = Y["test"][mte]
        nr, er = y == 1, y == 0
        fisher = np.log(np.clip(test["density"].to_numpy()[mte], 1e-3, None)) - np.log(
            test["length_mm"].to_numpy()[mte]
        )
        out["per_energy"][name] = {
            "n_er": int(er.sum()),
            "n_nr": int(nr.sum()),
            "cnn": M.accuracy(y, (p_cnn[mte] > 0.5).astype(int))
            | M.roc_auc(p_cnn[mte][nr], p_cnn[mte][er])
            | {"nr_eff_at_96_er_rej": M.efficiency_at_rejection(p_cnn[mte][nr], p_cnn[mte][er])},
            "gbdt": M.accuracy(y, (p_gb[mte] > 0.5).astype(int))
            | M.roc_auc(p_gb[mte][nr], p_gb[mte][er])
            | {"nr_eff_at_96_er_rej": M.efficiency_at_rejection(p_gb[mte][nr], p_gb[mte][er])},
            "shape_cut": M.accuracy(y, pred_cut[mte])
            | {
                "auc_density_over_length": M.roc_auc(fisher[nr], fisher[er])["auc"],
                "nr_eff_at_96_er_rej": M.efficiency_at_rejection(fisher[nr], fisher[er]),
            },
        }
    y = Y["test"]
    out["overall"] = {
        "cnn": M.accuracy(y, (p_cnn > 0.5).astype(int)) | M.roc_auc(p_cnn[y == 1], p_cnn[y == 0]),
        "gbdt": M.accuracy(y, (p_gb > 0.5).astype(int)) | M.roc_auc(p_gb[y == 1], p_gb[y == 0]),
        "shape_cut": M.accuracy(y, pred_cut),
    }
    regions.loc[test.index, "p_nr_cnn"] = p_cnn
    regions.loc[test.index, "p_nr_gbdt"] = p_gb
    regions.loc[test.index, "nr_shape_cut"] = pred_cut

    # deep embedded clustering without labels: fit on the training crops, evaluate on the test
    dec_res = deep_embedded_clustering(
        np.concatenate([X["train"], X["val"]]),
        X["test"],
        settings.dec_clusters,
        dec_steps=settings.dec_steps,
        seed=seed,
        device=device,
        log=say,
    )
    dec = {"n_clusters": settings.dec_clusters} | M.cluster_purity(dec_res["eval"], Y["test"])
    dec["per_energy"] = {}
    for name in e_names:
        m = (test["energy"] == name).to_numpy()
        if m.any():
            dec["per_energy"][name] = M.cluster_purity(dec_res["eval"][m], Y["test"][m])
    regions.loc[test.index, "dec_cluster"] = dec_res["eval"]
    return out, dec, regions


def _examples(frames, sub, s_ae, labels, te, signal, e_lab, e_names, k):
    """A few test frames for the displays: raw, pedestal-subtracted, localised error, truth, ROIs."""
    pick = []
    chosen = [
        e_names[i] for i in np.unique(np.linspace(0, len(e_names) - 1, k).round().astype(int))
    ]
    for name in chosen if e_names else []:
        idx = np.flatnonzero(te & signal & (e_lab == name))
        if idx.size:
            pick.append(int(idx[0]))
    idx = np.asarray(pick, np.int64)
    return {
        "event": frames.event[idx],
        "energy": np.asarray([e_lab[i] for i in idx], dtype=str),
        "kind": frames.kind[idx],
        "raw": frames.image[idx],
        "sub": sub[idx],
        "error": s_ae[idx].astype(np.float32),
        "truth": frames.truth_light[idx],
        "roi": labels[idx],
    }


def settings_dict(settings: AnomalySettings) -> dict[str, Any]:
    """Plain values of the settings (for metrics files)."""
    d = asdict(settings)
    d["autoencoder"] = dict(settings.autoencoder)
    return d
