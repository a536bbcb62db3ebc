"""From ionisation deposits to camera counts: CYGNO's digitisation chain (MC_data_new.py).

Per recoil, with the numbers of :class:`~caloreco.imaging.camera.CameraTPC`:

1. primary electrons Poisson(E / W) per deposit; attachment: each survives the drift distance d
   with probability exp(-d / attachment_mm) (binomial);
2. drift diffusion of every surviving electron: Gaussian, sigma_T^2 = diff_t_mm2_per_cm d[cm]
   transverse and sigma_L^2 = diff_l_mm2_per_cm d[cm] along the drift;
3. GEM1: an exponential gain per electron times the extraction efficiency; GEM2: the sum of that
   many exponentials (a Gamma of that shape) times its extraction efficiency;
4. the constant diffusion terms of the amplification stage (0.1225 mm^2 transverse, 0.0676 mm^2
   longitudinal) as a Gaussian blur of the GEM2 electron density, on voxels of one pixel by one
   pixel by ``voxel_z_mm`` (coarser in z for very long tracks, so a box stays below 4e6 voxels);
5. GEM3 with space-charge saturation: light_scale G3 n / (1 + beta G3 n) per voxel (n the
   electrons entering it), summed along z;
6. photons = that x photons_per_electron x solid angle, Poisson; counts = photons x
   counts_per_photon.

The last two steps use the CYGNO formula literally (they saturate per voxel of GEM3 input).
The per-recoil work is vectorised over its electrons and voxels; recoils are visited in a short
Python loop (one numpy/scipy pass each), there is no per-electron or per-pixel Python loop.
Units: mm, keV, counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from caloreco.imaging.camera import CameraTPC
from caloreco.imaging.tracks import Deposits

__all__ = ["SignalImages", "digitise_recoils", "MAX_RECOILS_PER_FRAME"]

#: truth_recoil is int8: at most this many recoils per frame
MAX_RECOILS_PER_FRAME = 127
_MAX_VOXELS = 4_000_000


@dataclass(frozen=True)
class SignalImages:
    """Signal light of simulated frames, before the pedestal.

    Attributes:
        counts: float32 (n_frames, H, W) signal counts per pixel (integers stored as float).
        truth_recoil: int8 (n_frames, H, W): index, within its frame, of the recoil that gave a
            pixel most of its light; -1 where no light fell.
        light: float64 (n_recoils,) counts of each recoil that landed inside the image.
        light_total: float64 (n_recoils,) counts of each recoil including light outside the image.
        electrons: int64 (n_recoils,) primary electrons that reached GEM1.
    """

    counts: np.ndarray
    truth_recoil: np.ndarray
    light: np.ndarray
    light_total: np.ndarray
    electrons: np.ndarray


def _check_placement(name, values, n):
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},) (one per recoil), got {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError(f"{name}: expected finite values")
    return v


def digitise_recoils(
    deposits: Deposits,
    frame: np.ndarray,
    x0_mm: np.ndarray,
    y0_mm: np.ndarray,
    drift_mm: np.ndarray,
    n_frames: int,
    cam: CameraTPC,
    rng: np.random.Generator,
) -> SignalImages:
    """Signal counts of ``n_frames`` images holding the recoils of ``deposits``.

    Args:
        deposits: the recoils' deposits, positions relative to each recoil's start.
        frame: int (n_recoils,) frame of each recoil (0 .. n_frames - 1); a frame's recoils are
            numbered in the order they appear here.
        x0_mm, y0_mm: start of each recoil on the image, mm from the image corner (x along
            columns, y along rows).
        drift_mm: drift distance of each recoil's start (>= 0).
        n_frames: frames to make.
        cam: the camera and amplification parameters.
        rng: the random generator (the only source of randomness).
    """
    n_rec = deposits.n_recoils
    frame = np.asarray(frame)
    if frame.shape != (n_rec,) or (n_rec and not np.issubdtype(frame.dtype, np.integer)):
        raise ValueError(f"frame: expected {n_rec} integer frame indices, got {frame.shape}")
    if n_rec and (frame.min() < 0 or frame.max() >= n_frames):
        raise ValueError(
            f"frame: indices must lie in [0, {n_frames}), got {frame.min()}..{frame.max()}"
        )
    x0 = _check_placement("x0_mm", x0_mm, n_rec)
    y0 = _check_placement("y0_mm", y0_mm, n_rec)
    d0 = _check_placement("drift_mm", drift_mm, n_rec)
    if (d0 < 0).any():
        raise ValueError("drift_mm: expected drift distances >= 0 mm")
    h, w = cam.height, cam.width
    counts = np.zeros((n_frames, h, w), np.float32)
    best = np.zeros((n_frames, h, w), np.float32)
    truth = np.full((n_frames, h, w), -1, np.int8)
    light = np.zeros(n_rec)
    light_total = np.zeros(n_rec)
    electrons = np.zeros(n_rec, np.int64)
    within = np.zeros(n_frames, np.int64)

    g1, g2, g3 = cam.gains
    pitch = cam.pixel_mm
    sig_t0 = math.sqrt(cam.diff_t0_mm2)
    sig_l0 = math.sqrt(cam.diff_l0_mm2)
    pad_xy = int(math.ceil(4.0 * sig_t0 / pitch)) + 1
    photon_scale = cam.photons_per_electron * cam.solid_angle

    for i in range(n_rec):
        f = int(frame[i])
        index = within[f]
        within[f] += 1
        if index >= MAX_RECOILS_PER_FRAME:
            raise ValueError(f"frame {f}: more than {MAX_RECOILS_PER_FRAME} recoils")
        sl = slice(deposits.offsets[i], deposits.offsets[i + 1])
        e_dep = deposits.energy[sl]
        depth = np.maximum(d0[i] + deposits.z[sl], 0.0)
        n_e = rng.poisson(e_dep * 1000.0 / cam.w_ev)
        n_e = rng.binomial(n_e, np.exp(-depth / cam.attachment_mm))
        total_e = int(n_e.sum())
        electrons[i] = total_e
        if total_e == 0:
            continue
        xs = np.repeat(x0[i] + deposits.x[sl], n_e)
        ys = np.repeat(y0[i] + deposits.y[sl], n_e)
        zs = np.repeat(depth, n_e)
        sd_t = np.sqrt(cam.diff_t_mm2_per_cm * zs / 10.0)
        sd_l = np.sqrt(cam.diff_l_mm2_per_cm * zs / 10.0)
        xs = xs + sd_t * rng.standard_normal(total_e)
        ys = ys + sd_t * rng.standard_normal(total_e)
        zs = zs + sd_l * rng.standard_normal(total_e)
        n1 = rng.exponential(g1, total_e)
        n2 = rng.gamma(n1, g2)

        col = np.floor(xs / pitch).astype(np.int64)
        row = np.floor(ys / pitch).astype(np.int64)
        c_lo, r_lo = col.min() - pad_xy, row.min() - pad_xy
        nc = int(col.max() + pad_xy - c_lo + 1)
        nr = int(row.max() + pad_xy - r_lo + 1)
        z_lo = zs.min() - 4.0 * sig_l0 - cam.voxel_z_mm
        z_span = zs.max() + 4.0 * sig_l0 + cam.voxel_z_mm - z_lo
        vz = max(cam.voxel_z_mm, z_span * nr * nc / _MAX_VOXELS)
        nz = int(math.ceil(z_span / vz)) + 1
        iz = np.floor((zs - z_lo) / vz).astype(np.int64)
        flat = (iz * nr + (row - r_lo)) * nc + (col - c_lo)
        cloud = np.bincount(flat, weights=n2, minlength=nz * nr * nc).astype(np.float32)
        cloud = cloud.reshape(nz, nr, nc)
        cloud = gaussian_filter(
            cloud,
            sigma=(sig_l0 / vz, sig_t0 / pitch, sig_t0 / pitch),
            mode="constant",
            truncate=4.0,
        )
        np.clip(cloud, 0.0, None, out=cloud)
        sat = cam.light_scale * g3 * cloud / (1.0 + cam.saturation_beta * g3 * cloud)
        mean_photons = sat.sum(axis=0, dtype=np.float64) * photon_scale
        img = rng.poisson(mean_photons).astype(np.float32) * np.float32(cam.counts_per_photon)
        light_total[i] = float(img.sum())

        # paste the box into the frame, dropping what falls outside the image
        r0, c0 = int(r_lo), int(c_lo)
        rr0, cc0 = max(r0, 0), max(c0, 0)
        rr1, cc1 = min(r0 + nr, h), min(c0 + nc, w)
        if rr1 <= rr0 or cc1 <= cc0:
            continue
        part = img[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0]
        light[i] = float(part.sum())
        counts[f, rr0:rr1, cc0:cc1] += part
        b = best[f, rr0:rr1, cc0:cc1]
        t = truth[f, rr0:rr1, cc0:cc1]
        wins = part > b
        b[wins] = part[wins]
        t[wins] = index
    return SignalImages(counts, truth, light, light_total, electrons)
