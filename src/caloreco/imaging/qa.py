"""Quality assurance of camera frames: the numbers of an imaging dataset's simulation.json.

A dataset is summarised one chunk at a time: :func:`image_chunk_stats` reduces a chunk to small
per-frame and per-recoil arrays, :func:`combine_image_stats` concatenates them in chunk order and
:func:`summarize_images` turns them into the JSON numbers, so memory holds one chunk of frames.

What is checked (each against an independent expectation):

* the light yield: counts per keV of visible energy per recoil kind and energy (CYGNO: about 2000
  counts/keV, 2080 measured at LNGS Run 2);
* the pedestal: level, median per-pixel RMS, hot / bad pixels; for simulation the measured RMS map
  against the true one (the ratio scatters by 1 / sqrt(2 (n - 1)) for n pedestal frames);
* the noise of the data frames in pedestal sigmas: the robust spread (1.4826 x median absolute
  deviation) of (frame - pedestal mean) / RMS on the frames without a recoil (all frames of
  data), about 1 when the maps describe the frames (a little more with maps measured on few
  pedestal frames: their own scatter adds);
* the spot size of point-like recoils (<= 1 keV, shorter than the diffusion) against the
  diffusion law: sigma^2 - pitch^2 / 12 = t0 + t z[cm], fitted by least squares. A spot of N_e
  primary electrons with exponential GEM gains has a light-weighted variance around its own
  centroid smaller by 1 - 2 / N_e on average (about 15 % at 1 keV after 50 cm): each spot's is
  divided by that factor (N_e from the truth, spots of more than 4 electrons).

Units: counts, keV, mm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from caloreco.imaging.frames import KIND_CODES, ImageFrames
from caloreco.imaging.pedestal import PedestalMaps

__all__ = [
    "MAD_TO_SIGMA",
    "LIGHT_YIELD_REFERENCE",
    "recoil_spot_sigma",
    "spot_variance",
    "frame_noise",
    "image_chunk_stats",
    "combine_image_stats",
    "summarize_images",
]

#: a Gaussian's sigma is 1.4826 x its median absolute deviation
MAD_TO_SIGMA = 1.482602218505602
#: CYGNO's light yield (imaging.md): about 2000 counts/keV in their MC, 2080 in LNGS Run 2 data
LIGHT_YIELD_REFERENCE = {"mc_counts_per_kev": 2000.0, "lngs_run2_counts_per_kev": 2080.0}
#: recoils up to this visible energy are point-like against the diffusion (keV)
POINT_LIKE_KEV = 1.0
_KIND_NAMES = {v: k for k, v in KIND_CODES.items()} | {-1: "unknown"}


def recoil_spot_sigma(
    truth_light: np.ndarray,
    truth_recoil: np.ndarray,
    recoil_offsets: np.ndarray,
    pixel_mm: float,
) -> np.ndarray:
    """Light-weighted transverse sigma (mm, per axis: sqrt of half the summed x and y variances)
    of the pixels each recoil dominates; NaN for a recoil without light in the frame.

    Args:
        truth_light: (n, H, W) signal counts; truth_recoil: (n, H, W) int8 recoil index (-1 none).
        recoil_offsets: (n + 1,) frame ``i`` owns recoils ``offsets[i]:offsets[i+1]``.
        pixel_mm: pixel pitch.
    """
    tl = np.asarray(truth_light)
    tr = np.asarray(truth_recoil)
    off = np.asarray(recoil_offsets, np.int64)
    if tl.ndim != 3 or tr.shape != tl.shape:
        raise ValueError(
            f"truth_light, truth_recoil: expected equal (n, H, W) shapes, got {tl.shape}, "
            f"{tr.shape}"
        )
    if off.shape != (tl.shape[0] + 1,):
        raise ValueError(f"recoil_offsets: expected shape ({tl.shape[0] + 1},), got {off.shape}")
    n_rec = int(off[-1])
    if n_rec == 0:
        return np.zeros(0)
    f, r, c = np.nonzero(tr >= 0)
    gid = off[f] + tr[f, r, c].astype(np.int64)
    w = tl[f, r, c].astype(np.float64)
    x = (c + 0.5) * pixel_mm
    y = (r + 0.5) * pixel_mm
    s = np.bincount(gid, weights=w, minlength=n_rec)
    safe = np.where(s > 0, s, 1.0)
    mx = np.bincount(gid, weights=w * x, minlength=n_rec) / safe
    my = np.bincount(gid, weights=w * y, minlength=n_rec) / safe
    var = (
        np.bincount(gid, weights=w * ((x - mx[gid]) ** 2 + (y - my[gid]) ** 2), minlength=n_rec)
        / safe
    )
    return np.where(s > 0, np.sqrt(0.5 * var), np.nan)


def frame_noise(images: np.ndarray, pedestal: PedestalMaps) -> np.ndarray:
    """Per frame, the robust spread (1.4826 x MAD) of (frame - pedestal mean) / pedestal RMS, in
    pedestal sigmas; a track covers too few pixels to move a median."""
    img = np.asarray(images)
    if img.ndim != 3 or img.shape[1:] != pedestal.shape:
        raise ValueError(
            f"images: expected (n, H, W) frames of the pedestal's shape {pedestal.shape}, got "
            f"{img.shape}"
        )
    good = ~np.asarray(pedestal.hot, bool)
    z = (img.astype(np.float32) - pedestal.mean) / pedestal.rms
    z = z[:, good]
    med = np.median(z, axis=1)
    return MAD_TO_SIGMA * np.median(np.abs(z - med[:, None]), axis=1)


def image_chunk_stats(frames: ImageFrames, pedestal: PedestalMaps, pixel_mm: float) -> dict:
    """The small arrays of one chunk: per frame ``kind``, ``energy_kev``, ``noise`` (sigmas) and
    per recoil (simulation only) ``kind``, ``energy_kev``, ``light``, ``z_mm``, ``electrons``
    (primary electrons at GEM1), ``sigma_mm``."""
    out: dict[str, np.ndarray] = {
        "frame_kind": np.asarray(frames.kind, np.int8),
        "frame_energy_kev": np.asarray(frames.energy_kev, np.float64),
        "noise": frame_noise(frames.image, pedestal),
    }
    if frames.has_truth and frames.recoil_offsets is not None:
        rec = frames.recoils
        out |= {
            "kind": np.asarray(rec["recoil_kind"], np.int8),
            "energy_kev": np.asarray(rec["recoil_energy_kev"], np.float64),
            "light": np.asarray(rec["recoil_light"], np.float64),
            "z_mm": np.asarray(rec["recoil_z_mm"], np.float64),
            "electrons": np.asarray(rec["recoil_electrons"], np.float64),
            "sigma_mm": recoil_spot_sigma(
                frames.truth_light, frames.truth_recoil, frames.recoil_offsets, pixel_mm
            ),
        }
    return out


def combine_image_stats(parts: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays of several chunks, concatenated in order (all with or all without truth)."""
    if not parts:
        raise ValueError("parts: expected the statistics of at least one chunk")
    keys = set(parts[0])
    if any(set(p) != keys for p in parts):
        raise ValueError("parts: chunks with and without truth cannot be combined")
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}


def _mean(values: np.ndarray) -> dict[str, float]:
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"mean": float("nan"), "err": float("nan"), "n": 0}
    err = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan")
    return {"mean": float(v.mean()), "err": err, "n": int(v.size)}


def _noise(stats: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The frames' spread in pedestal sigmas, on the frames without a recoil where they are
    known (a track's pixels widen the spread of a small crop by a few percent)."""
    empty = stats["frame_kind"] == KIND_CODES["pedestal"]
    if empty.any():
        return _mean(stats["noise"][empty]) | {"frames": "without recoil"}
    return _mean(stats["noise"]) | {"frames": "all"}


def _light_yield(stats: Mapping[str, np.ndarray]) -> dict[str, Any]:
    e, light, kind = stats["energy_kev"], stats["light"], stats["kind"]
    ok = e > 0
    out: dict[str, Any] = {"per_energy": {}}
    for name in ("ER", "NR"):
        m = ok & (kind == KIND_CODES[name])
        if not m.any():
            continue
        out[name] = _mean(light[m] / e[m])
        vals = np.unique(np.round(e[m], 4))
        if vals.size <= 12:  # lines: one entry per energy
            out["per_energy"][name] = {
                f"{v:g}": _mean(light[m & (np.round(e, 4) == v)] / v) for v in vals
            }
    return out


def spot_variance(stats: Mapping[str, np.ndarray], pixel_mm: float) -> np.ndarray:
    """Per recoil, the diffusion variance its spot measures (mm^2): (sigma^2 - pitch^2 / 12) /
    (1 - 2 / N_e), NaN for a spot of 4 electrons or fewer or without light."""
    ne = stats["electrons"]
    with np.errstate(divide="ignore", invalid="ignore"):
        v = (stats["sigma_mm"] ** 2 - pixel_mm**2 / 12.0) / (1.0 - 2.0 / ne)
    return np.where((ne > 4) & np.isfinite(stats["sigma_mm"]), v, np.nan)


def _spot_law(
    stats: Mapping[str, np.ndarray], pixel_mm: float, law: Mapping[str, float]
) -> dict[str, Any]:
    """Least-squares line through the spot variance (:func:`spot_variance`) vs drift (cm) of
    the point-like recoils."""
    e, z = stats["energy_kev"], stats["z_mm"]
    var = spot_variance(stats, pixel_mm)
    m = (e > 0) & (e <= POINT_LIKE_KEV) & np.isfinite(var)
    out: dict[str, Any] = {
        "max_energy_kev": POINT_LIKE_KEV,
        "n": int(m.sum()),
        "law": {"t0_mm2": law["t0_mm2"], "t_mm2_per_cm": law["t_mm2_per_cm"]},
    }
    if m.sum() < 3:
        return out
    zc = z[m] / 10.0
    v = var[m]
    a = np.column_stack([np.ones_like(zc), zc])
    coef, *_ = np.linalg.lstsq(a, v, rcond=None)
    res = v - a @ coef
    cov = np.linalg.inv(a.T @ a) * (res @ res) / max(m.sum() - 2, 1)
    expected = law["t0_mm2"] + law["t_mm2_per_cm"] * zc
    out |= {
        "t0_mm2": float(coef[0]),
        "t0_mm2_err": float(np.sqrt(cov[0, 0])),
        "t_mm2_per_cm": float(coef[1]),
        "t_mm2_per_cm_err": float(np.sqrt(cov[1, 1])),
        "ratio_to_law": _mean(v / expected),
    }
    return out


def summarize_images(
    stats: Mapping[str, np.ndarray],
    infos: Sequence[Mapping[str, Any]],
    pedestal: PedestalMaps,
    true_pedestal: PedestalMaps | None = None,
) -> dict[str, Any]:
    """The numbers of simulation.json for an imaging dataset.

    Args:
        stats: :func:`combine_image_stats` of every chunk.
        infos: the run info of every chunk (:func:`caloreco.imaging.rawio.read_image_run_info`).
        pedestal: the measured pedestal maps; true_pedestal: the simulation's true maps.

    Returns:
        ``frames``, ``frames_by_kind``, ``shape``, ``pixel_mm``, ``pedestal`` (level, RMS
        quantiles, bad / hot pixels, the RMS recovery against the true map), ``noise_sigmas``
        (spread of the frames in pedestal sigmas), and with truth ``recoils``,
        ``recoils_by_kind``, ``counts_per_kev`` (per kind and energy), ``spot_sigma`` (the
        diffusion-law fit), plus ``frames_per_second`` of the simulation where it was timed.
    """
    if not infos:
        raise ValueError("infos: expected the run info of at least one chunk")
    first = infos[0]
    pixel_mm = float(first.get("pixel_mm", 0.152))
    kinds = stats["frame_kind"]
    rms = np.asarray(pedestal.rms, np.float64)
    ped: dict[str, Any] = {
        "n_frames": int(pedestal.n_frames),
        "mean_level": float(np.mean(pedestal.mean)),
        "rms_median": float(np.median(rms)),
        "rms_p16_p84": [float(np.quantile(rms, 0.16)), float(np.quantile(rms, 0.84))],
        "bad_pixels": int(np.asarray(pedestal.hot).sum()),
    }
    if true_pedestal is not None:
        ratio = rms / np.asarray(true_pedestal.rms, np.float64)
        n = max(int(pedestal.n_frames), 2)
        ped |= {
            "true_hot_pixels": int(np.asarray(true_pedestal.hot).sum()),
            "true_rms_median": float(np.median(true_pedestal.rms)),
            "rms_over_true": {
                "mean": float(ratio.mean()),
                "std": float(ratio.std(ddof=1)),
                "expected_std": float(1.0 / np.sqrt(2.0 * (n - 1))),
            },
            "mean_minus_true": {
                "mean": float(np.mean(pedestal.mean - true_pedestal.mean)),
                "std_in_rms": float(
                    np.std((pedestal.mean - true_pedestal.mean) / true_pedestal.rms, ddof=1)
                ),
                "expected_std_in_rms": float(1.0 / np.sqrt(n)),
            },
        }
    seconds = [i.get("simulation_seconds") for i in infos]
    out: dict[str, Any] = {
        "detector": first.get("detector", "camera_tpc"),
        "source": first.get("source"),
        "chunks": len(infos),
        "frames": int(kinds.size),
        "frames_by_kind": {
            _KIND_NAMES.get(int(k), str(int(k))): int((kinds == k).sum()) for k in np.unique(kinds)
        },
        "shape": [int(v) for v in pedestal.shape],
        "pixel_mm": pixel_mm,
        "pedestal": ped,
        "noise_sigmas": _noise(stats),
        "units": {"energy": "keV (visible)", "length": "mm", "light": "camera counts"},
    }
    if all(s is not None for s in seconds) and sum(seconds) > 0:
        out["simulation_seconds"] = float(sum(seconds))
        out["frames_per_second"] = float(kinds.size / sum(seconds))
    if "kind" in stats:
        rk = stats["kind"]
        cam = first.get("camera", {})
        law = {
            "t0_mm2": float(cam.get("diff_t0_mm2", 0.1225)),
            "t_mm2_per_cm": float(cam.get("diff_t_mm2_per_cm", 0.01232)),
        }
        out |= {
            "recoils": int(rk.size),
            "recoils_by_kind": {
                _KIND_NAMES.get(int(k), str(int(k))): int((rk == k).sum()) for k in np.unique(rk)
            },
            "counts_per_kev": _light_yield(stats),
            "light_yield_reference": LIGHT_YIELD_REFERENCE,
            "spot_sigma": _spot_law(stats, pixel_mm, law),
        }
    return out
