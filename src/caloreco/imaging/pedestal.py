"""Camera pedestals: per-pixel offset and noise maps, pedestal frames, and maps measured from frames.

A pedestal frame is what the sCMOS camera records with the GEM high voltage off: every pixel
fluctuates around its own offset (about 100 counts) with its own RMS (a few counts), and a few
hot pixels sit higher and fluctuate more. The reconstruction measures the maps as the per-pixel
mean and RMS over up to 200 pedestal frames (CYGNO reconstruction.py ``calcPedestal``).
Units: counts (camera ADC units).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caloreco.imaging.camera import CameraTPC

__all__ = [
    "PedestalMaps",
    "camera_pedestal",
    "noise_frames",
    "pedestal_frames",
    "pedestal_from_frames",
    "digitise_frames",
]


@dataclass(frozen=True)
class PedestalMaps:
    """Per-pixel pedestal mean and RMS (counts), float32 (H, W).

    Attributes:
        mean: pedestal level per pixel.
        rms: noise RMS per pixel (> 0).
        hot: hot-pixel mask of the simulation; for measured maps the pixels of zero RMS (dead or
            stuck), whose RMS is set to the median.
        n_frames: frames the maps were measured on (0: the simulation's true maps).
    """

    mean: np.ndarray
    rms: np.ndarray
    hot: np.ndarray
    n_frames: int = 0

    def __post_init__(self) -> None:
        m, r, h = np.asarray(self.mean), np.asarray(self.rms), np.asarray(self.hot)
        if m.ndim != 2 or r.shape != m.shape or h.shape != m.shape:
            raise ValueError(
                f"PedestalMaps: mean, rms, hot must be 2-D of one shape, got {m.shape}, "
                f"{r.shape}, {h.shape}"
            )
        if not (np.isfinite(m).all() and np.isfinite(r).all()):
            raise ValueError("PedestalMaps: mean and rms must be finite")
        if (r <= 0).any():
            raise ValueError("PedestalMaps: rms must be > 0 in every pixel")

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(np.asarray(self.mean).shape)


def camera_pedestal(cam: CameraTPC, rng: np.random.Generator) -> PedestalMaps:
    """The true pedestal maps of a simulated camera (drawn once per camera).

    offset = ``pedestal_offset`` + N(0, ``pedestal_offset_spread``); RMS log-normal around
    ``noise_median`` with ``noise_log_spread``; a fraction ``hot_fraction`` of hot pixels get an
    exponential extra offset (mean ``hot_offset_mean``) and an RMS larger by a log-normal factor
    (median ``hot_noise_factor``, log spread 0.5).
    """
    shape = (cam.height, cam.width)
    mean = cam.pedestal_offset + cam.pedestal_offset_spread * rng.standard_normal(shape)
    rms = cam.noise_median * np.exp(cam.noise_log_spread * rng.standard_normal(shape))
    hot = rng.random(shape) < cam.hot_fraction
    n_hot = int(hot.sum())
    mean[hot] += rng.exponential(cam.hot_offset_mean, n_hot)
    rms[hot] *= cam.hot_noise_factor * np.exp(0.5 * rng.standard_normal(n_hot))
    return PedestalMaps(mean.astype(np.float32), rms.astype(np.float32), hot, 0)


def noise_frames(
    maps: PedestalMaps, n: int, rng: np.random.Generator, row_noise: float = 0.0
) -> np.ndarray:
    """``n`` frames of pedestal level plus noise (float32, (n, H, W), not yet digitised)."""
    if n < 0:
        raise ValueError(f"n: expected >= 0 frames, got {n}")
    h, w = maps.shape
    out = rng.standard_normal((n, h, w), dtype=np.float32)
    out *= maps.rms
    out += maps.mean
    if row_noise > 0:
        out += (row_noise * rng.standard_normal((n, h, 1))).astype(np.float32)
    return out


def digitise_frames(analog: np.ndarray, max_counts: int = 65535) -> np.ndarray:
    """Round to integer counts and clip to the ADC range: uint16 frames."""
    return np.clip(np.rint(analog), 0, max_counts).astype(np.uint16)


def pedestal_frames(
    maps: PedestalMaps,
    n: int,
    rng: np.random.Generator,
    row_noise: float = 0.0,
    max_counts: int = 65535,
) -> np.ndarray:
    """``n`` digitised pedestal frames (uint16, (n, H, W)) of a camera with true ``maps``."""
    return digitise_frames(noise_frames(maps, n, rng, row_noise), max_counts)


def pedestal_from_frames(frames: np.ndarray, max_frames: int = 200) -> PedestalMaps:
    """Per-pixel mean and RMS (ddof = 1) over the first ``max_frames`` pedestal frames.

    Args:
        frames: (n, H, W) pedestal frames (any numeric dtype), n >= 2.
        max_frames: at most this many frames are used (CYGNO: 200).

    Raises:
        ValueError: fewer than 2 frames, not 3-D, non-finite values, or no noise at all.
    """
    f = np.asarray(frames)
    if f.ndim != 3:
        raise ValueError(f"frames: expected (n, H, W), got shape {f.shape}")
    f = f[:max_frames]
    if f.shape[0] < 2:
        raise ValueError(f"frames: expected at least 2 pedestal frames, got {f.shape[0]}")
    mean = np.zeros(f.shape[1:], np.float64)
    for i in range(0, f.shape[0], 32):
        mean += f[i : i + 32].sum(axis=0, dtype=np.float64)
    mean /= f.shape[0]
    sq = np.zeros_like(mean)
    for i in range(0, f.shape[0], 32):
        sq += ((f[i : i + 32] - mean) ** 2).sum(axis=0)
    rms = np.sqrt(sq / (f.shape[0] - 1))
    if not (np.isfinite(mean).all() and np.isfinite(rms).all()):
        raise ValueError("frames: non-finite values")
    # a dead or stuck pixel (zero RMS) would divide by zero downstream: give it the median RMS
    # and flag it in ``hot`` (the bad-pixel mask of measured maps)
    dead = rms <= 0
    if dead.all():
        raise ValueError(f"frames: every pixel has zero RMS over {f.shape[0]} frames")
    rms[dead] = np.median(rms[~dead])
    return PedestalMaps(mean.astype(np.float32), rms.astype(np.float32), dead, f.shape[0])
