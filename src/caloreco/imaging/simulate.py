"""Simulated camera frames of a CYGNO-like TPC: pedestal frames and frames with ER / NR recoils.

A *run* is one camera: its true pedestal maps are drawn once from the run seed, a pedestal run of
``n_pedestal_frames`` frames (GEM off) measures the maps the reconstruction uses, and the data
frames are simulated chunk by chunk. Each frame holds ``recoils_per_frame`` recoils (fixed, or
Poisson with that mean) or, with probability ``empty_fraction``, none (a pedestal-like frame:
camera noise only). A recoil is an electron (ER) or a He nucleus (NR) with an energy from the
spectrum; with ``energy_scale: ee`` (default) the energy is the visible (electron-equivalent)
energy, and a nuclear recoil gets the kinetic energy whose Lindhard ionisation equals it, so ER
and NR of one energy give the same light on average and must be told apart by their shape.

Spectra (``energy``): ``lines`` (``values_kev``, optional ``weights``; ``balanced: true`` cycles
every (energy, kind) pair through the event numbers, so each appears equally often whatever the
chunking), ``uniform`` and ``loguniform`` (``min_kev``, ``max_kev``), ``exponential``
(``slope_kev``, ``min_kev``, ``max_kev``, e.g. a WIMP-like falling spectrum).

Determinism: the camera comes from ``SeedSequence([seed, 0])``, the pedestal run from
``[seed, 2]``, the frames of events ``first_event .. first_event + n - 1`` from
``[seed, 1, first_event]``: a chunk depends only on (config, seed, first_event).
Units: keV, mm, counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from caloreco.imaging.camera import CameraTPC
from caloreco.imaging.digitise import MAX_RECOILS_PER_FRAME, digitise_recoils
from caloreco.imaging.frames import KIND_CODES, ImageFrames
from caloreco.imaging.pedestal import (
    PedestalMaps,
    camera_pedestal,
    digitise_frames,
    noise_frames,
    pedestal_frames,
    pedestal_from_frames,
)
from caloreco.imaging.stopping import lindhard_quenching, recoil_energy_for_visible
from caloreco.imaging.tracks import Deposits, electron_tracks, helium_tracks

__all__ = [
    "RecoilSpec",
    "recoil_spec_from_config",
    "simulate_camera",
    "simulate_pedestal_run",
    "simulate_frames",
]


@dataclass(frozen=True)
class RecoilSpec:
    """What a signal frame holds (see the module docstring for the keys of ``energy``)."""

    energy: Mapping[str, Any] = field(
        default_factory=lambda: {
            "distribution": "lines",
            "values_kev": [0.25, 0.5, 1.0, 2.0, 6.0, 20.0],
            "balanced": True,
        }
    )
    kinds: Mapping[str, float] = field(default_factory=lambda: {"ER": 0.5, "NR": 0.5})
    energy_scale: str = "ee"
    recoils_per_frame: float = 1
    poisson: bool = False
    empty_fraction: float = 0.25
    drift_mm: tuple[float, float] = (0.0, 500.0)
    margin_mm: float = 5.0
    lindhard_k: float | None = None

    def __post_init__(self) -> None:
        kinds = dict(self.kinds)
        if not kinds or set(kinds) - {"ER", "NR"}:
            raise ValueError(f"kinds: expected weights for 'ER' and/or 'NR', got {kinds}")
        if any(not (np.isfinite(v) and v >= 0) for v in kinds.values()) or sum(kinds.values()) <= 0:
            raise ValueError(
                f"kinds: expected non-negative weights with a positive sum, got {kinds}"
            )
        if self.energy_scale not in ("ee", "kinetic"):
            raise ValueError(f"energy_scale: expected 'ee' or 'kinetic', got {self.energy_scale!r}")
        if not (0 <= self.empty_fraction <= 1):
            raise ValueError(
                f"empty_fraction: expected a fraction in [0, 1], got {self.empty_fraction}"
            )
        if not (self.recoils_per_frame >= 0) or (
            not self.poisson and float(self.recoils_per_frame) != int(self.recoils_per_frame)
        ):
            raise ValueError(
                "recoils_per_frame: expected a non-negative integer (or a mean with poisson: true), "
                f"got {self.recoils_per_frame}"
            )
        lo, hi = self.drift_mm
        if not (0 <= lo <= hi):
            raise ValueError(f"drift_mm: expected 0 <= min <= max, got {self.drift_mm}")
        if not self.margin_mm >= 0:
            raise ValueError(f"margin_mm: expected >= 0, got {self.margin_mm}")
        _check_energy_block(self.energy)

    @property
    def kind_names(self) -> list[str]:
        return [k for k in ("ER", "NR") if self.kinds.get(k, 0) > 0]


def _check_energy_block(e: Mapping[str, Any]) -> None:
    dist = e.get("distribution")
    allowed = {
        "lines": {"distribution", "values_kev", "weights", "balanced"},
        "uniform": {"distribution", "min_kev", "max_kev"},
        "loguniform": {"distribution", "min_kev", "max_kev"},
        "exponential": {"distribution", "slope_kev", "min_kev", "max_kev"},
    }
    if dist not in allowed:
        raise ValueError(f"energy.distribution: expected one of {sorted(allowed)}, got {dist!r}")
    extra = sorted(set(e) - allowed[dist])
    if extra:
        raise ValueError(f"energy: keys {extra} are not used by distribution {dist!r}")
    if dist == "lines":
        v = np.asarray(e.get("values_kev", []), float)
        if v.ndim != 1 or v.size == 0 or not np.all((v > 0) & (v <= 500)):
            raise ValueError(f"energy.values_kev: expected energies in (0, 500] keV, got {v}")
        if "weights" in e:
            wts = np.asarray(e["weights"], float)
            if wts.shape != v.shape or np.any(wts < 0) or wts.sum() <= 0:
                raise ValueError("energy.weights: expected one non-negative weight per line")
    else:
        lo, hi = float(e.get("min_kev", np.nan)), float(e.get("max_kev", np.nan))
        if not (0 < lo < hi <= 500):
            raise ValueError(f"energy: expected 0 < min_kev < max_kev <= 500, got {lo}, {hi}")
        if dist == "exponential" and not float(e.get("slope_kev", np.nan)) > 0:
            raise ValueError("energy.slope_kev: expected > 0")


def recoil_spec_from_config(block: Mapping[str, Any] | None) -> RecoilSpec:
    """A :class:`RecoilSpec` from a config mapping; unknown keys raise ``ValueError``."""
    from dataclasses import fields

    block = dict(block or {})
    known = {f.name for f in fields(RecoilSpec)}
    unknown = sorted(set(block) - known)
    if unknown:
        raise ValueError(f"recoils: unknown keys {unknown}; known: {sorted(known)}")
    if "drift_mm" in block:
        block["drift_mm"] = tuple(float(v) for v in block["drift_mm"])
    return RecoilSpec(**block)


def simulate_pedestal_run(
    cam: CameraTPC, seed: int, n_pedestal_frames: int = 100
) -> tuple[PedestalMaps, np.ndarray]:
    """The true pedestal maps of the run's camera and the frames of its pedestal run (GEM off).

    Returns:
        ``(true_maps, frames)``, frames uint16 (n_pedestal_frames, H, W): what
        :func:`simulate_camera` measures its maps on, and what a pedestal run file holds.
    """
    if n_pedestal_frames < 2:
        raise ValueError(f"n_pedestal_frames: expected >= 2, got {n_pedestal_frames}")
    true_maps = camera_pedestal(cam, np.random.default_rng(np.random.SeedSequence([seed, 0])))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    frames = pedestal_frames(true_maps, n_pedestal_frames, rng, cam.row_noise, cam.max_counts)
    return true_maps, frames


def simulate_camera(
    cam: CameraTPC, seed: int, n_pedestal_frames: int = 100
) -> tuple[PedestalMaps, PedestalMaps]:
    """The true pedestal maps of the run's camera and the maps measured on a pedestal run.

    Returns:
        ``(true_maps, measured_maps)``; the reconstruction uses the measured ones, as in data.
    """
    true_maps, frames = simulate_pedestal_run(cam, seed, n_pedestal_frames)
    return true_maps, pedestal_from_frames(frames, max_frames=n_pedestal_frames)


def _line_pairs(spec: RecoilSpec):
    values = np.asarray(spec.energy["values_kev"], float)
    kinds = spec.kind_names
    return [(e, k) for e in values for k in kinds]


def _sample_energies(spec: RecoilSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    e = spec.energy
    dist = e["distribution"]
    if dist == "lines":
        v = np.asarray(e["values_kev"], float)
        p = np.asarray(e.get("weights", np.ones(v.size)), float)
        return v[rng.choice(v.size, size=n, p=p / p.sum())]
    lo, hi = float(e["min_kev"]), float(e["max_kev"])
    if dist == "uniform":
        return rng.uniform(lo, hi, n)
    if dist == "loguniform":
        return np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    # exponential truncated to [lo, hi] by inverse transform
    s = float(e["slope_kev"])
    u = rng.random(n)
    a, b = np.exp(-lo / s), np.exp(-hi / s)
    return -s * np.log(a - u * (a - b))


def _sample_recoils(spec: RecoilSpec, events: np.ndarray, rng: np.random.Generator):
    """Per frame: number of recoils; per recoil: frame index, kind code, visible energy."""
    n = events.size
    empty = rng.random(n) < spec.empty_fraction
    if spec.poisson:
        per = rng.poisson(spec.recoils_per_frame, n)
    else:
        per = np.full(n, int(spec.recoils_per_frame))
    per = np.where(empty, 0, per)
    if per.max(initial=0) > MAX_RECOILS_PER_FRAME:
        raise ValueError(f"recoils_per_frame: more than {MAX_RECOILS_PER_FRAME} recoils in a frame")
    frame = np.repeat(np.arange(n), per)
    names = spec.kind_names
    w = np.array([spec.kinds[k] for k in names], float)
    if spec.energy["distribution"] == "lines" and spec.energy.get("balanced", False):
        pairs = _line_pairs(spec)
        # the j-th recoil of event ev takes pair (ev * max_per + j) mod n_pairs: balanced over events
        j = np.arange(frame.size) - np.repeat(np.cumsum(per) - per, per)
        slot = (
            events[frame].astype(np.int64) * max(int(np.ceil(spec.recoils_per_frame)), 1) + j
        ) % len(pairs)
        energy = np.array([pairs[s][0] for s in slot], float)
        kind = np.array([KIND_CODES[pairs[s][1]] for s in slot], np.int8)
    else:
        energy = _sample_energies(spec, frame.size, rng)
        kind = np.array([KIND_CODES[k] for k in names], np.int8)[
            rng.choice(len(names), size=frame.size, p=w / w.sum())
        ]
    return per, frame, kind, energy


def _recoil_extent(dep: Deposits) -> np.ndarray:
    """Projected (x-y) extent of each recoil: the largest distance of a deposit from its start."""
    n = dep.n_recoils
    extent = np.zeros(n)
    if n == 0:
        return extent
    owner = np.repeat(np.arange(n), np.diff(dep.offsets))
    np.maximum.at(extent, owner, np.hypot(dep.x, dep.y))
    return extent


def simulate_frames(
    cam: CameraTPC,
    spec: RecoilSpec,
    pedestal: PedestalMaps,
    n_frames: int,
    seed: int,
    first_event: int = 0,
    run: int = 1,
) -> ImageFrames:
    """Simulate events ``first_event .. first_event + n_frames - 1`` of a run.

    Args:
        cam: camera and amplification parameters (image size from ``cam.height, cam.width``).
        spec: the recoils per frame and their spectrum.
        pedestal: the camera's TRUE pedestal maps (:func:`simulate_camera`).
        n_frames: number of frames (>= 0).
        seed: the run seed.
        first_event: event number of the first frame (chunks continue the numbering).
        run: run number stored with every frame.

    Returns:
        :class:`ImageFrames` with truth (``truth_light`` = signal counts per pixel before noise,
        ``truth_recoil`` = index of the recoil that dominates a pixel) and per-recoil truth.
    """
    if n_frames < 0:
        raise ValueError(f"n_frames: expected >= 0, got {n_frames}")
    if pedestal.shape != (cam.height, cam.width):
        raise ValueError(
            f"pedestal: maps of shape {pedestal.shape} do not match the camera image "
            f"{cam.height} x {cam.width}"
        )
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1, first_event]))
    events = np.arange(first_event, first_event + n_frames, dtype=np.int64)
    per, frame, kind, visible = _sample_recoils(spec, events, rng)
    n_rec = frame.size
    ekin = visible.copy()
    is_nr = kind == KIND_CODES["NR"]
    if spec.energy_scale == "ee" and is_nr.any():
        ekin[is_nr] = recoil_energy_for_visible(visible[is_nr], k=spec.lindhard_k)
    elif is_nr.any():
        visible[is_nr] = lindhard_quenching(ekin[is_nr], k=spec.lindhard_k) * ekin[is_nr]

    # tracks: electrons and nuclei separately, then back in recoil order
    er_idx, nr_idx = np.flatnonzero(~is_nr), np.flatnonzero(is_nr)
    parts = [
        (er_idx, electron_tracks(ekin[er_idx], rng)),
        (nr_idx, helium_tracks(ekin[nr_idx], rng, lindhard_k=spec.lindhard_k)),
    ]
    dep = _merge_deposits(parts, n_rec)

    w_mm, h_mm = cam.width * cam.pixel_mm, cam.height * cam.pixel_mm
    m = min(spec.margin_mm, 0.49 * min(w_mm, h_mm))
    x0 = rng.uniform(m, w_mm - m, n_rec)
    y0 = rng.uniform(m, h_mm - m, n_rec)
    z0 = rng.uniform(spec.drift_mm[0], spec.drift_mm[1], n_rec)
    sig = digitise_recoils(dep, frame, x0, y0, z0, n_frames, cam, rng)

    analog = noise_frames(pedestal, n_frames, rng, cam.row_noise)
    analog += sig.counts
    image = digitise_frames(analog, cam.max_counts)

    offsets = np.concatenate([[0], np.cumsum(per)]).astype(np.int64)
    extent = _recoil_extent(dep)
    # light centroid of each recoil from its truth pixels
    cx, cy = _recoil_centroids(sig.counts, sig.truth_recoil, frame, offsets, cam.pixel_mm)
    frame_kind = np.zeros(n_frames, np.int8)
    if n_rec:
        kmin = np.full(n_frames, 127, np.int16)
        kmax = np.full(n_frames, -1, np.int16)
        np.minimum.at(kmin, frame, kind)
        np.maximum.at(kmax, frame, kind)
        has = per > 0
        frame_kind[has] = np.where(kmin[has] == kmax[has], kmax[has], KIND_CODES["mixed"])
    energy = np.bincount(frame, weights=visible, minlength=n_frames).astype(np.float32)
    recoils = {
        "recoil_kind": kind.astype(np.int8),
        "recoil_energy_kev": visible.astype(np.float32),
        "recoil_ekin_kev": ekin.astype(np.float32),
        "recoil_x_mm": x0.astype(np.float32),
        "recoil_y_mm": y0.astype(np.float32),
        "recoil_z_mm": z0.astype(np.float32),
        "recoil_path_mm": dep.path_mm.astype(np.float32),
        "recoil_extent_mm": extent.astype(np.float32),
        "recoil_cx_mm": cx.astype(np.float32),
        "recoil_cy_mm": cy.astype(np.float32),
        "recoil_light": sig.light.astype(np.float32),
        "recoil_electrons": sig.electrons.astype(np.int32),
    }
    return ImageFrames(
        event=events,
        run=np.full(n_frames, run, np.int32),
        image=image,
        kind=frame_kind,
        energy_kev=energy,
        truth_light=sig.counts,
        truth_recoil=sig.truth_recoil,
        recoil_offsets=offsets,
        recoils=recoils,
    )


def _merge_deposits(parts, n_rec: int) -> Deposits:
    """Deposits of recoil subsets (index arrays) back in the order of all recoils."""
    counts = np.zeros(n_rec, np.int64)
    for idx, d in parts:
        counts[idx] = np.diff(d.offsets)
    offsets = np.zeros(n_rec + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    out = {k: np.zeros(offsets[-1]) for k in ("x", "y", "z", "energy")}
    path = np.zeros(n_rec)
    for idx, d in parts:
        if idx.size == 0:
            continue
        path[idx] = d.path_mm
        # destination positions of every deposit of this subset
        dst = np.repeat(offsets[idx], np.diff(d.offsets)) + (
            np.arange(d.offsets[-1]) - np.repeat(d.offsets[:-1], np.diff(d.offsets))
        )
        for k in out:
            out[k][dst] = getattr(d, k)
    return Deposits(offsets, out["x"], out["y"], out["z"], out["energy"], path)


def _recoil_centroids(counts, truth, frame, offsets, pitch):
    """Light-weighted centroid (mm) of the pixels each recoil dominates (NaN if none)."""
    n_rec = frame.size
    if n_rec == 0:
        return np.zeros(0), np.zeros(0)
    f_idx, r_idx, c_idx = np.nonzero(truth >= 0)
    gid = offsets[f_idx] + truth[f_idx, r_idx, c_idx].astype(np.int64)
    wgt = counts[f_idx, r_idx, c_idx].astype(np.float64)
    s = np.bincount(gid, weights=wgt, minlength=n_rec)
    sx = np.bincount(gid, weights=wgt * (c_idx + 0.5) * pitch, minlength=n_rec)
    sy = np.bincount(gid, weights=wgt * (r_idx + 0.5) * pitch, minlength=n_rec)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s > 0, sx / s, np.nan), np.where(s > 0, sy / s, np.nan)
