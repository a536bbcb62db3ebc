"""Photon showers in a COMPASS-like shashlik ECAL: GFlash parametrisation with sampling corrections.

The physics follows physics.md section 1 (Grindhammer and Peters, hep-ex/0001020; Geant4 gflash).

Longitudinal profile
    Each shower draws its own (ln T, ln alpha) from the correlated Gaussian of GFlash with the
    sampling-calorimeter corrections (means shifted by Fs and e-hat, sampling sigmas and
    correlation), clamped as Geant4 does (sigma <= 0.5, T >= 1 X0, alpha >= 1.1). The depth
    0 .. ``depth_x0`` is cut into ``n_slices`` equal slices; slice k receives
    E [P(alpha, beta t_k+1) - P(alpha, beta t_k)] (P the regularised incomplete gamma function),
    so longitudinal leakage behind the module is lost, shower by shower. The slice's radial shape is
    evaluated at its energy-weighted mean depth.

Radial profile
    Per slice, f(r) = p 2 r R_C^2/(r^2+R_C^2)^2 + (1-p) 2 r R_T^2/(r^2+R_T^2)^2 with the GFlash
    R_C(tau), R_T(tau), p(tau) (tau = t / T of the shower itself, sampling corrections included)
    in units of an *effective* Moliere radius ``moliere_radius_mm`` (the tail radius R_T) and
    ``core_radius_scale`` x that for the core R_C. Both are tuned, not material constants: with the
    material's R_M = 35 mm alone the GFlash core is too narrow (central cell 0.86 instead of 0.80)
    and its tail too wide (5x5 0.986). R_M,eff = 21 mm and a core scale 3.1 reproduce the Lednev
    reference containment (NIM A366 (1995) 292, coral's shashlik parameters) of a photon at a cell
    centre (0.80 / 0.974 / 0.994 in 1x1 / 3x3 / 5x5) and at a corner (highest cell 0.23, 3x3
    0.961, 5x5 0.992) within 0.015 at 20-200 GeV and 0.025 at 2 GeV (the GFlash profile widens at
    low energy, Lednev's does not). Each component's density
    R^2 / [pi (r^2+R^2)^2] is integrated over the cell rectangles in closed form, so the mean
    cell energies of a slice need no spot sampling. Cells within +-``window_half_cells`` of the
    shower axis are filled; energy beyond (about 0.1 % for the default 9 x 9) is dropped.

Lateral fluctuations (a Gaussian moment approximation of GFlash spot sampling)
    GFlash deposits a shower as N = 10.3 / sigma_samp E^0.959 (E in GeV) independent spots.
    Instead of placing them, each slice with N_k = N E_k / E spots gets the fluctuations of the
    low moments of its N_k-spot sample: the core weight p becomes binomial,
    p + sqrt(p (1 - p) / N_k) z; each radius scales by exp(z / sqrt(N_c)) (the relative spread of
    the sample median radius of N_c = p N_k or (1 - p) N_k spots, exact for this profile); and the
    slice centroid moves by a Gaussian of variance <r^2> / (2 N_k) per axis (<r^2> of the profile
    truncated at the window edge). Showers therefore differ in shape, depth, width and centroid
    (correlated over the cells of a slice), not only by independent cell noise. The remaining
    spot-to-spot (Poisson) fluctuation of single cells is folded into the sampling term below.

Inclined incidence
    The axis of a photon with polar angle theta and azimuth phi moves by tan(theta) x depth in the
    direction phi: slice k is centred at (x, y) + tan(theta) (cos phi, sin phi) t_k X0.

Detector response (``simulate_ecal``)
    * Sampling fluctuations: the measured energy of a cell with true deposit E is Gamma-distributed
      with mean E and variance a^2 E (a = ``stochastic``, E in GeV); it is positive and realises
      sigma/E = a / sqrt(E) for any sum of cells (a compound-Poisson of quanta a^2 GeV = 4.9 MeV).
    * Constant term: a fixed per-cell calibration map (drawn once from ``calibration_seed``) with a
      relative spread b_cell chosen such that a 5x5 sum, averaged over impact points in a cell,
      has the constant term b = ``constant``: b_cell = b / sqrt(<sum_i w_i^2>) with w_i the 5x5
      energy weights of the Lednev profile (<sum w^2> = 0.475, so b_cell = 1.5 % / 0.69 = 2.2 %).
    * Noise: incoherent Gaussian ``noise_mev`` per cell, added to every cell of the +-4 window of
      each photon of the event (cells farther away are never above threshold: 100 MeV is 6.7 sigma).
    * Threshold: a hit is a cell whose measured energy exceeds ``threshold_mev``.
    * Time: the true time is 0 ns (photons are in time); the measured time is Gaussian with sigma =
      ``time_resolution_ns`` / sqrt(E_measured / GeV).

pi0 source (``process: pi0``, :func:`simulate_pi0`)
    One pi0 -> gamma gamma decay per event at the target, isotropic in the pi0 rest frame, both
    photons showering with inclined incidence; optionally a fraction of single photons of the
    same energy spectrum (the other class of photon counting).

Units: MeV, mm, ns, rad.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.special import gammainc

from caloreco.constants import LEDNEV_SHASHLIK_A, LEDNEV_SHASHLIK_B
from caloreco.constants import PI0_MASS_MEV as PI0_MASS
from caloreco.events import RawEvents, event_index, offsets_from_counts
from caloreco.geometry import Geometry
from caloreco.simulation._ecal_kernels import window_deposits

__all__ = [
    "EcalResponse",
    "shower_deposits",
    "simulate_ecal",
    "validate_sim",
    "lednev_cell_fractions",
    "LEDNEV_SHASHLIK",
    "PI0_MASS_MEV",
    "pi0_decay_photons",
    "draw_pi0_decays",
    "simulate_pi0",
]

#: Lednev profile parameters of coral for the shashlik cells: (a_i), (b_i in mm).
LEDNEV_SHASHLIK = (LEDNEV_SHASHLIK_A, LEDNEV_SHASHLIK_B)

#: Lowest photon energy the GFlash parametrisation is asked for (MeV).
MIN_ENERGY_MEV = 100.0

#: Neutral pion mass (MeV, PDG 2024).
PI0_MASS_MEV = PI0_MASS  # re-exported: the simulation's pi0 source uses it


@dataclass(frozen=True)
class EcalResponse:
    """Shashlik ECAL material and detector response (config ``detectors.<name>.response``).

    Attributes:
        stochastic: a in sigma/E = a / sqrt(E/GeV) (+) b of a 5x5 sum (sampling fluctuations).
        constant: b, the constant term of a 5x5 sum (realised as a per-cell calibration map).
        noise_mev: incoherent per-cell noise sigma in MeV. 15 MeV default: coral's cell error
            model has 50 MeV for the electronic + pile-up term; 15 MeV is a quiet-run assumption.
        threshold_mev: cell readout threshold on the measured energy in MeV (coral: 100-200).
        time_resolution_ns: cell time sigma in ns at 1 GeV, scaling as 1/sqrt(E).
        moliere_radius_mm: *effective* Moliere radius in mm that scales the GFlash radial profile
            (tail radius); tuned with ``core_radius_scale`` so that the mean containment
            reproduces the Lednev reference (the material's own R_M is 35 mm).
        core_radius_scale: extra factor on the GFlash core radius R_C (tuned, see above).
        x0_mm: radiation length in mm. critical_energy_mev: E_c in MeV. z_eff: effective Z.
        depth_x0: module depth in X0 (energy behind it leaks out).
        sampling_fs: GFlash sampling factor Fs. e_hat: e/mip ratio.
        spot_sigma_samp: sigma_samp of GFlash's spot count N = 10.3/sigma_samp E^0.959
            (physics.md), which sets the size of the lateral fluctuations.
        n_slices: longitudinal slices over the depth (numerical).
        window_half_cells: cells filled around the shower axis: +-this many (numerical).
        calibration_seed: seed of the fixed per-cell calibration map (part of the detector).
    """

    stochastic: float = 0.07
    constant: float = 0.015
    noise_mev: float = 15.0
    threshold_mev: float = 100.0
    time_resolution_ns: float = 1.0
    moliere_radius_mm: float = 21.0
    x0_mm: float = 15.7
    critical_energy_mev: float = 9.6
    z_eff: float = 70.0
    depth_x0: float = 22.5
    sampling_fs: float = 6.8
    e_hat: float = 0.645
    spot_sigma_samp: float = 0.11
    core_radius_scale: float = 3.1
    n_slices: int = 12
    window_half_cells: int = 4
    calibration_seed: int = 0

    def __post_init__(self) -> None:
        nonneg = ("stochastic", "constant", "noise_mev", "threshold_mev", "time_resolution_ns")
        for name in nonneg:
            if not float(getattr(self, name)) >= 0:
                raise ValueError(f"response.{name} must be >= 0, got {getattr(self, name)!r}")
        positive = (
            "moliere_radius_mm",
            "x0_mm",
            "critical_energy_mev",
            "z_eff",
            "depth_x0",
            "sampling_fs",
            "e_hat",
            "spot_sigma_samp",
            "core_radius_scale",
        )
        for name in positive:
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"response.{name} must be > 0, got {getattr(self, name)!r}")
        if int(self.n_slices) != self.n_slices or self.n_slices < 1:
            raise ValueError(f"response.n_slices must be an integer >= 1, got {self.n_slices!r}")
        if int(self.window_half_cells) != self.window_half_cells or self.window_half_cells < 2:
            raise ValueError(
                f"response.window_half_cells must be an integer >= 2, got {self.window_half_cells!r}"
            )


# --------------------------------------------------------------------------------------------
# GFlash parametrisation
# --------------------------------------------------------------------------------------------


def _longitudinal_parameters(
    energy_mev: np.ndarray, resp: EcalResponse, z: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-shower (T in X0, alpha) of the sampling-corrected GFlash profile.

    ``z`` is an (n, 2) array of standard normals for the correlated draw, or None for the mean.
    """
    ln_y = np.log(energy_mev / resp.critical_energy_mev)
    t_hom = ln_y - 0.812  # <ln T> = ln(ln y - 0.812) in a homogeneous medium
    alpha_hom = 0.81 + (0.458 + 2.26 / resp.z_eff) * ln_y
    t_mean = t_hom - 0.55 / resp.sampling_fs - 0.69 * (1.0 - resp.e_hat)
    alpha_mean = alpha_hom - 0.476 / resp.sampling_fs
    ln_t = np.log(np.maximum(t_mean, 1.0))
    ln_a = np.log(np.maximum(alpha_mean, 1.1))
    if z is not None:
        den_t = -2.5 + 1.25 * ln_y
        den_a = -0.82 + 0.79 * ln_y
        sig_t = np.where(den_t > 2.0, 1.0 / np.maximum(den_t, 2.0), 0.5)
        sig_a = np.where(den_a > 2.0, 1.0 / np.maximum(den_a, 2.0), 0.5)
        rho = np.clip(0.784 - 0.023 * ln_y, -1.0, 1.0)
        c1 = np.sqrt((1.0 + rho) / 2.0)
        c2 = np.sqrt((1.0 - rho) / 2.0)
        ln_t = ln_t + sig_t * (c1 * z[:, 0] + c2 * z[:, 1])
        ln_a = ln_a + sig_a * (c1 * z[:, 0] - c2 * z[:, 1])
    return np.maximum(np.exp(ln_t), 1.0), np.maximum(np.exp(ln_a), 1.1)


def _slices(
    t_max: np.ndarray, alpha: np.ndarray, resp: EcalResponse
) -> tuple[np.ndarray, np.ndarray]:
    """Energy fraction and energy-weighted mean depth (X0) of each longitudinal slice, (n, S)."""
    beta = (alpha - 1.0) / t_max
    edges = np.linspace(0.0, resp.depth_x0, resp.n_slices + 1)
    bt = beta[:, None] * edges[None, :]
    p0 = gammainc(alpha[:, None], bt)
    p1 = gammainc(alpha[:, None] + 1.0, bt)
    frac = np.diff(p0, axis=1)
    first = (alpha / beta)[:, None] * np.diff(p1, axis=1)
    mid = 0.5 * (edges[1:] + edges[:-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        t_mean = np.where(frac > 1e-12, first / frac, mid[None, :])
    t_mean = np.clip(t_mean, edges[:-1][None, :], edges[1:][None, :])
    return np.maximum(frac, 0.0), t_mean


def _radial_parameters(
    tau: np.ndarray, energy_gev: np.ndarray, resp: EcalResponse
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GFlash R_C, R_T (in Moliere radii) and core weight p at reduced depth ``tau``."""
    z_ = resp.z_eff
    ln_e = np.log(energy_gev)
    fs, eh = resp.sampling_fs, resp.e_hat
    e_tau = np.exp(-tau)
    r_c = (0.0251 + 0.00319 * ln_e) + (0.1162 - 0.000381 * z_) * tau
    r_c = r_c - 0.0203 * (1.0 - eh) + 0.0397 * e_tau / fs
    k1, k2, k3 = 0.659 - 0.00309 * z_, 0.645, -2.59
    k4 = 0.3585 + 0.0412 * ln_e
    r_t = k1 * (np.exp(k3 * (tau - k2)) + np.exp(k4 * (tau - k2)))
    r_t = r_t - 0.14 * (1.0 - eh) - 0.495 * e_tau / fs
    p1, p2 = 2.632 - 0.00094 * z_, 0.401 + 0.00187 * z_
    p3 = 1.313 - 0.0686 * ln_e
    arg = (p2 - tau) / p3
    p = p1 * np.exp(arg - np.exp(arg))
    p = p + (1.0 - eh) * (0.348 - 0.642 * np.exp(-((tau - 1.0) ** 2)) / fs)
    return np.maximum(r_c, 1e-3), np.maximum(r_t, 1e-2), np.clip(p, 0.0, 1.0)


def _truncated_r2(radius: np.ndarray, r_max: float) -> np.ndarray:
    """<r^2> of f(r) = 2 r R^2/(r^2+R^2)^2 truncated at r_max (mm^2), normalised to the full f."""
    u = (r_max / radius) ** 2
    return radius**2 * (np.log1p(u) - u / (1.0 + u))


@dataclass
class _Showers:
    """Dense shower windows (internal)."""

    deposits: np.ndarray  # (n, W, W) MeV, [row offset, col offset]
    row0: np.ndarray  # (n,) grid row of the window's first row
    col0: np.ndarray  # (n,) grid col of the window's first col
    e_depth: np.ndarray  # (n,) MeV deposited within the module depth (laterally unbounded)


def _slice_parameters(
    geom: Geometry,
    energy_mev: np.ndarray,
    x_mm: np.ndarray,
    y_mm: np.ndarray,
    theta: np.ndarray,
    phi: np.ndarray,
    resp: EcalResponse,
    rng: np.random.Generator | None,
) -> dict[str, np.ndarray]:
    """Per-shower, per-slice parameters of the lateral integration (``rng=None``: mean shower).

    Returns a dict with (n, S) arrays ``cx, cy`` (mm), ``e_slice`` (MeV), ``r_core, r_tail`` (mm),
    ``p_core``, ``n_spots`` (GFlash spot count of the slice) and (n,) arrays ``x_edge0, y_edge0``
    (mm, low edges of the window), ``row0, col0`` (grid index of the window's first row/col).
    """
    n = energy_mev.size
    pitch = geom.pitch
    h = int(resp.window_half_cells)
    z = None if rng is None else rng.standard_normal((n, 2))
    t_max, alpha = _longitudinal_parameters(energy_mev, resp, z)
    frac, t_slice = _slices(t_max, alpha, resp)
    e_gev = energy_mev / 1000.0
    r_c, r_t, p = _radial_parameters(t_slice / t_max[:, None], e_gev[:, None], resp)
    r_c = r_c * (resp.moliere_radius_mm * resp.core_radius_scale)
    r_t = r_t * resp.moliere_radius_mm
    slope_x = np.tan(theta) * np.cos(phi) * resp.x0_mm
    slope_y = np.tan(theta) * np.sin(phi) * resp.x0_mm
    cx = x_mm[:, None] + slope_x[:, None] * t_slice
    cy = y_mm[:, None] + slope_y[:, None] * t_slice
    if rng is not None:
        # Gaussian moment approximation of the N_k-spot sample of each slice (module docstring)
        n_spots = 10.3 / resp.spot_sigma_samp * e_gev**0.959
        n_k = np.maximum(n_spots[:, None] * frac, 1.0)
        zz = rng.standard_normal((5, n, resp.n_slices))
        r_max = (h + 0.5) * pitch
        r2 = p * _truncated_r2(r_c, r_max) + (1.0 - p) * _truncated_r2(r_t, r_max)
        shift = np.sqrt(r2 / (2.0 * n_k))
        cx = cx + shift * zz[0]
        cy = cy + shift * zz[1]
        r_c = r_c * np.exp(zz[2] / np.sqrt(np.maximum(p * n_k, 1.0)))
        r_t = r_t * np.exp(zz[3] / np.sqrt(np.maximum((1.0 - p) * n_k, 1.0)))
        p = np.clip(p + np.sqrt(p * (1.0 - p) / n_k) * zz[4], 0.0, 1.0)
    # window centred on the cell that holds the axis at shower maximum
    x_low = float(geom.x.min()) - 0.5 * pitch
    y_low = float(geom.y.min()) - 0.5 * pitch
    ax = x_mm + slope_x * t_max
    ay = y_mm + slope_y * t_max
    col0 = np.floor((ax - x_low) / pitch).astype(np.int64) - h
    row0 = np.floor((ay - y_low) / pitch).astype(np.int64) - h
    n_spots = 10.3 / resp.spot_sigma_samp * e_gev**0.959
    return {
        "cx": np.ascontiguousarray(cx),
        "cy": np.ascontiguousarray(cy),
        "e_slice": np.ascontiguousarray(energy_mev[:, None] * frac),
        "r_core": np.ascontiguousarray(r_c),
        "r_tail": np.ascontiguousarray(r_t),
        "p_core": np.ascontiguousarray(p),
        "n_spots": n_spots[:, None] * frac,
        "x_edge0": x_low + col0 * pitch,
        "y_edge0": y_low + row0 * pitch,
        "row0": row0,
        "col0": col0,
    }


def _simulate_showers(
    geom: Geometry,
    energy_mev: np.ndarray,
    x_mm: np.ndarray,
    y_mm: np.ndarray,
    theta: np.ndarray,
    phi: np.ndarray,
    resp: EcalResponse,
    rng: np.random.Generator | None,
) -> _Showers:
    """All showers' true deposits on (W x W) windows; ``rng=None`` gives the mean shower."""
    par = _slice_parameters(geom, energy_mev, x_mm, y_mm, theta, phi, resp, rng)
    names = ("cx", "cy", "e_slice", "r_core", "r_tail", "p_core", "x_edge0", "y_edge0")
    width = 2 * int(resp.window_half_cells) + 1
    dep = window_deposits(*(par[k] for k in names), geom.pitch, width)
    return _Showers(dep, par["row0"], par["col0"], par["e_slice"].sum(axis=1))


def _check_planar(geom: Geometry) -> None:
    if geom.kind != "planar":
        raise ValueError(f"geom must be a planar detector (ecal preset), got kind {geom.kind!r}")


def _sparse(geom: Geometry, sh: _Showers) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Window cells inside the detector as (shower index, cell id, energy)."""
    n, width, _ = sh.deposits.shape
    off = np.arange(width)
    rows = sh.row0[:, None, None] + off[None, :, None]
    cols = sh.col0[:, None, None] + off[None, None, :]
    inside = (rows >= 0) & (rows < geom.n_rows) & (cols >= 0) & (cols < geom.n_cols)
    inside &= sh.deposits > 0.0
    idx = np.nonzero(inside)
    cell = rows[idx[0], idx[1], 0] * geom.n_cols + cols[idx[0], 0, idx[2]]
    return idx[0].astype(np.int64), cell.astype(np.int64), sh.deposits[inside]


def shower_deposits(
    geom: Geometry,
    energy_mev: np.ndarray,
    x_mm: np.ndarray,
    y_mm: np.ndarray,
    theta: np.ndarray,
    phi: np.ndarray,
    response: EcalResponse,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-photon true deposits (sparse): the energy each photon deposits per cell.

    The deposits include the shower's own fluctuations (longitudinal shape and leakage, lateral
    width, core weight and centroid) but no detector smearing (sampling, calibration, noise).

    Args:
        geom: planar ECAL geometry.
        energy_mev: (n,) photon energies in MeV (>= 100 MeV).
        x_mm, y_mm: (n,) impact points on the front face in mm.
        theta, phi: (n,) photon direction in rad (polar angle w.r.t. the beam axis, azimuth).
        response: the detector description.
        rng: random generator.

    Returns:
        ``(prim_index, cell_id, e_true)``: int64 photon index (0..n-1), int64 cell id and float64
        deposit in MeV, one entry per cell of each photon's window inside the detector, sorted by
        photon.
    """
    _check_planar(geom)
    arrays = [np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (energy_mev, x_mm, y_mm)]
    arrays += [np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (theta, phi)]
    energy, x, y, th, ph = np.broadcast_arrays(*arrays)
    if energy.ndim != 1:
        raise ValueError("energy_mev, x_mm, y_mm, theta, phi must be 1-D (one entry per photon)")
    if energy.size and not np.all(energy >= MIN_ENERGY_MEV):
        raise ValueError(f"energy_mev must be >= {MIN_ENERGY_MEV} MeV (GFlash range)")
    if not np.all(np.isfinite(x) & np.isfinite(y) & np.isfinite(th) & np.isfinite(ph)):
        raise ValueError("x_mm, y_mm, theta, phi must be finite")
    if np.any((th < 0) | (th >= np.pi / 2)):
        raise ValueError("theta must be in [0, pi/2) rad")
    sh = _simulate_showers(geom, energy, x, y, th, ph, response, rng)
    return _sparse(geom, sh)


# --------------------------------------------------------------------------------------------
# Lednev reference profile and the calibration map
# --------------------------------------------------------------------------------------------


def lednev_cell_fractions(
    dx_mm: np.ndarray, dy_mm: np.ndarray, pitch_mm: float, half_cells: int = 2
) -> np.ndarray:
    """Lednev (coral shashlik) energy fractions of the cells around an impact point.

    Args:
        dx_mm, dy_mm: (n,) impact point relative to the centre of the central cell, in mm.
        pitch_mm: cell pitch in mm.
        half_cells: the window is (2 half_cells + 1)^2 cells centred on the central cell.

    Returns:
        (n, W, W) fractions of the photon energy, indexed [row offset, col offset].
    """
    a, b = (np.asarray(v) for v in LEDNEV_SHASHLIK)
    dx = np.atleast_1d(np.asarray(dx_mm, dtype=np.float64))
    dy = np.atleast_1d(np.asarray(dy_mm, dtype=np.float64))
    edges = (np.arange(2 * half_cells + 2) - half_cells - 0.5) * pitch_mm
    x = edges[None, None, :, None] - dx[:, None, None, None]
    y = edges[None, :, None, None] - dy[:, None, None, None]
    s = np.sqrt(b**2 + x**2 + y**2)
    big_f = 0.25 + np.sum(
        a * (np.arctan(x / b) + np.arctan(y / b) + np.arctan(x * y / (b * s))), axis=-1
    ) / (2 * np.pi)
    return big_f[:, 1:, 1:] - big_f[:, :-1, 1:] - big_f[:, 1:, :-1] + big_f[:, :-1, :-1]


@lru_cache(maxsize=8)
def _mean_sum_w2(pitch_mm: float) -> float:
    """<sum_i w_i^2> of the 5x5 energy weights, averaged over impact points in a cell (Lednev)."""
    g = (np.arange(16) + 0.5) / 16 - 0.5
    dx, dy = np.meshgrid(g * pitch_mm, g * pitch_mm)
    f = lednev_cell_fractions(dx.ravel(), dy.ravel(), pitch_mm)
    w = f / f.sum(axis=(1, 2), keepdims=True)
    return float(np.mean(np.sum(w**2, axis=(1, 2))))


def calibration_map(geom: Geometry, response: EcalResponse) -> np.ndarray:
    """The detector's fixed relative cell gains (mean 1), drawn from ``calibration_seed``."""
    _check_planar(geom)
    b_cell = response.constant / math.sqrt(_mean_sum_w2(geom.pitch))
    gen = np.random.default_rng(response.calibration_seed)
    return 1.0 + b_cell * gen.standard_normal(geom.n_cells)


# --------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------

_SIM_KEYS = {
    "n_primaries",
    "energy",
    "incidence",
    "max_angle_rad",
    "margin_cells",
    "min_separation_mm",
    "process",
    "single_photon_fraction",
    "parent_mass_mev",
}
_PROCESSES = ("photons", "pi0")
_ENERGY_KEYS = {
    "fixed": {"distribution", "value_mev"},
    "uniform": {"distribution", "min_mev", "max_mev"},
    "log_uniform": {"distribution", "min_mev", "max_mev"},
}


def _number(d: Mapping[str, Any], key: str, where: str) -> float:
    value = d[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where}.{key} must be a finite number, got {value!r}")
    return float(value)


def validate_sim(sim: Mapping[str, Any]) -> dict[str, Any]:
    """Check a dataset's ``simulation`` block and fill defaults.

    Keys: ``n_primaries`` (int >= 1, default 1); ``energy`` (required): ``{distribution: fixed,
    value_mev}`` or ``{distribution: uniform | log_uniform, min_mev, max_mev}`` in MeV (>= 100);
    ``incidence``: ``perpendicular`` (default) or ``target``; ``max_angle_rad`` (target, default
    0.027); ``margin_cells`` (int >= 0, default 3); ``min_separation_mm`` (>= 0, default 40);
    ``process``: ``photons`` (default: ``n_primaries`` independent photons) or ``pi0`` (one
    pi0 -> gamma gamma decay per event, see :func:`simulate_pi0`; needs ``incidence: target``,
    ``n_primaries: 1``, no ``min_separation_mm``, and ``energy`` above the pi0 mass: it is the
    pi0 energy); ``single_photon_fraction`` (pi0 only, in [0, 1], default 0): the fraction of
    events that hold one photon of the same energy spectrum instead of a pi0;
    ``parent_mass_mev`` (pi0 only): the decaying parent's mass, default the pi0's, or
    ``{distribution: uniform, min_mev, max_mev}`` for a mass-agnostic training sample (a network
    trained on pi0s alone learns the pi0 mass and pulls every pair towards it).

    Raises:
        ValueError: naming the offending key (``simulation.<key>``).
    """
    if not isinstance(sim, Mapping):
        raise ValueError(f"simulation must be a mapping, got {type(sim).__name__}")
    unknown = sorted(set(sim) - _SIM_KEYS)
    if unknown:
        raise ValueError(f"simulation keys {unknown} are not known; known: {sorted(_SIM_KEYS)}")
    out: dict[str, Any] = {
        "n_primaries": 1,
        "incidence": "perpendicular",
        "max_angle_rad": 0.027,
        "margin_cells": 3,
        "min_separation_mm": 40.0,
        "process": "photons",
    }
    out.update(sim)
    n_prim = out["n_primaries"]
    if isinstance(n_prim, bool) or not isinstance(n_prim, int | np.integer) or n_prim < 1:
        raise ValueError(f"simulation.n_primaries must be an integer >= 1, got {n_prim!r}")
    if out["incidence"] not in ("perpendicular", "target"):
        raise ValueError(
            f"simulation.incidence must be 'perpendicular' or 'target', got {out['incidence']!r}"
        )
    angle = _number(out, "max_angle_rad", "simulation")
    if not 0 < angle < np.pi / 2:
        raise ValueError(f"simulation.max_angle_rad must be in (0, pi/2), got {angle}")
    margin = out["margin_cells"]
    if isinstance(margin, bool) or not isinstance(margin, int | np.integer) or margin < 0:
        raise ValueError(f"simulation.margin_cells must be an integer >= 0, got {margin!r}")
    if _number(out, "min_separation_mm", "simulation") < 0:
        raise ValueError("simulation.min_separation_mm must be >= 0")
    if "energy" not in sim:
        raise ValueError("simulation.energy is required")
    energy = out["energy"]
    if not isinstance(energy, Mapping):
        raise ValueError(f"simulation.energy must be a mapping, got {energy!r}")
    dist = energy.get("distribution")
    if dist not in _ENERGY_KEYS:
        raise ValueError(
            f"simulation.energy.distribution must be one of {sorted(_ENERGY_KEYS)}, got {dist!r}"
        )
    keys = _ENERGY_KEYS[dist]
    bad = sorted(set(energy) - keys)
    if bad:
        raise ValueError(f"simulation.energy keys {bad} are not known for {dist!r}")
    for key in sorted(keys - {"distribution"}):
        if key not in energy:
            raise ValueError(f"simulation.energy.{key} is required for {dist!r}")
        if _number(energy, key, "simulation.energy") < MIN_ENERGY_MEV:
            raise ValueError(f"simulation.energy.{key} must be >= {MIN_ENERGY_MEV} MeV")
    if dist != "fixed" and not energy["min_mev"] < energy["max_mev"]:
        raise ValueError("simulation.energy.min_mev must be < simulation.energy.max_mev")
    out["energy"] = dict(energy)
    if out["process"] not in _PROCESSES:
        raise ValueError(f"simulation.process must be one of {_PROCESSES}, got {out['process']!r}")
    if out["process"] == "pi0":
        _validate_pi0(sim, out)
    else:
        for key in ("single_photon_fraction", "parent_mass_mev"):
            if key in sim:
                raise ValueError(f"simulation.{key} needs simulation.process: pi0")
    return out


def _validate_pi0(sim: Mapping[str, Any], out: dict[str, Any]) -> None:
    """The pi0 -> gamma gamma source: one pi0 (or one photon) per event from the target."""
    if out["n_primaries"] != 1:
        raise ValueError(
            "simulation.n_primaries must be 1 with process pi0 (one pi0 or one photon per event), "
            f"got {out['n_primaries']!r}"
        )
    if out["incidence"] != "target":
        raise ValueError("simulation.incidence must be 'target' with process pi0 (decays at z = 0)")
    if "min_separation_mm" in sim:
        raise ValueError(
            "simulation.min_separation_mm is not used with process pi0: the decay sets the "
            "separation; remove the key"
        )
    frac = 0.0
    if "single_photon_fraction" in out:
        frac = _number(out, "single_photon_fraction", "simulation")
    if not 0.0 <= frac <= 1.0:
        raise ValueError(f"simulation.single_photon_fraction must be in [0, 1], got {frac}")
    out["single_photon_fraction"] = frac
    mass = out.get("parent_mass_mev", PI0_MASS_MEV)
    if isinstance(mass, Mapping):
        bad = sorted(set(mass) - {"distribution", "min_mev", "max_mev"})
        if bad or mass.get("distribution") != "uniform":
            raise ValueError(
                "simulation.parent_mass_mev must be a mass in MeV or {distribution: uniform, "
                f"min_mev, max_mev}}, got {dict(mass)!r}"
            )
        lo_m = _number(mass, "min_mev", "simulation.parent_mass_mev")
        hi_m = _number(mass, "max_mev", "simulation.parent_mass_mev")
        if not 0 < lo_m < hi_m:
            raise ValueError("simulation.parent_mass_mev: expected 0 < min_mev < max_mev")
        out["parent_mass_mev"] = {"distribution": "uniform", "min_mev": lo_m, "max_mev": hi_m}
    else:
        hi_m = _number({"parent_mass_mev": mass}, "parent_mass_mev", "simulation")
        if not hi_m > 0:
            raise ValueError("simulation.parent_mass_mev must be > 0")
        out["parent_mass_mev"] = hi_m
    lo = out["energy"].get("min_mev", out["energy"].get("value_mev"))
    if not lo > hi_m:
        raise ValueError(
            f"simulation.energy must lie above the parent mass ({hi_m} MeV) with process pi0"
        )


def _draw_energies(energy: Mapping[str, Any], n: int, rng: np.random.Generator) -> np.ndarray:
    dist = energy["distribution"]
    if dist == "fixed":
        return np.full(n, float(energy["value_mev"]))
    lo, hi = float(energy["min_mev"]), float(energy["max_mev"])
    if dist == "uniform":
        return rng.uniform(lo, hi, n)
    return np.exp(rng.uniform(math.log(lo), math.log(hi), n))


def _draw_impacts(
    geom: Geometry, sim: Mapping[str, Any], n_events: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Impact points (mm) and directions (rad), shape (n_events, n_primaries), by rejection."""
    k = int(sim["n_primaries"])
    pitch = geom.pitch
    half_x = 0.5 * geom.n_cols * pitch
    half_y = 0.5 * geom.n_rows * pitch
    x_c = 0.5 * (geom.x.min() + geom.x.max())
    y_c = 0.5 * (geom.y.min() + geom.y.max())
    lim_x = half_x - sim["margin_cells"] * pitch
    lim_y = half_y - sim["margin_cells"] * pitch
    if lim_x <= 0 or lim_y <= 0:
        raise ValueError(
            f"simulation.margin_cells={sim['margin_cells']} leaves no room on a "
            f"{geom.n_rows}x{geom.n_cols} detector"
        )
    z_front = float(geom.z.min())
    target = sim["incidence"] == "target"
    cos_min = math.cos(sim["max_angle_rad"])
    sep2 = float(sim["min_separation_mm"]) ** 2
    x = np.empty((n_events, k))
    y = np.empty((n_events, k))
    th = np.zeros((n_events, k))
    ph = np.zeros((n_events, k))
    todo = np.arange(n_events)
    for _ in range(10_000):
        m = todo.size
        if m == 0:
            break
        if target:
            ct = rng.uniform(cos_min, 1.0, (m, k))
            t = np.arccos(ct)
            p = rng.uniform(0.0, 2 * np.pi, (m, k))
            xx = z_front * np.tan(t) * np.cos(p)
            yy = z_front * np.tan(t) * np.sin(p)
            ok = np.all((np.abs(xx - x_c) <= lim_x) & (np.abs(yy - y_c) <= lim_y), axis=1)
        else:
            xx = x_c + rng.uniform(-lim_x, lim_x, (m, k))
            yy = y_c + rng.uniform(-lim_y, lim_y, (m, k))
            t = p = np.zeros((m, k))
            ok = np.ones(m, dtype=bool)
        if k > 1 and sep2 > 0:
            d2 = (xx[:, :, None] - xx[:, None, :]) ** 2 + (yy[:, :, None] - yy[:, None, :]) ** 2
            d2[:, np.arange(k), np.arange(k)] = np.inf
            ok &= np.all(d2 >= sep2, axis=(1, 2))
        sel = todo[ok]
        x[sel], y[sel], th[sel], ph[sel] = xx[ok], yy[ok], t[ok], p[ok]
        todo = todo[~ok]
    else:
        raise ValueError(
            "could not place the primaries: simulation.min_separation_mm / margin_cells / "
            "max_angle_rad leave (almost) no room on the detector face"
        )
    return x, y, th, ph


def simulate_ecal(
    geom: Geometry,
    n_events: int,
    sim: Mapping[str, Any],
    response: EcalResponse,
    rng: np.random.Generator,
) -> RawEvents:
    """Simulate ``n_events`` photon events in the planar ECAL.

    Args:
        geom: planar ECAL geometry.
        n_events: number of events (> 0), numbered 0..n_events-1.
        sim: the dataset's simulation block (see :func:`validate_sim`).
        response: detector response.
        rng: random generator (the chunk's).

    Returns:
        RawEvents with hits above threshold (measured energy in MeV, time in ns), the primaries
        (energy MeV, theta/phi rad, time 0 ns, impact point on the front face in mm) and the
        truth: for every hit and every photon with a deposit in it, the true deposit (MeV).
        With ``process: pi0`` the primaries are the decay photons (:func:`simulate_pi0`).
    """
    _check_planar(geom)
    if isinstance(n_events, bool) or not isinstance(n_events, int | np.integer) or n_events < 1:
        raise ValueError(f"n_events must be a positive integer, got {n_events!r}")
    cfg = validate_sim(sim)
    if cfg["process"] == "pi0":
        return simulate_pi0(geom, int(n_events), sim, response, rng)[0]
    k = int(cfg["n_primaries"])
    n_events = int(n_events)
    energy = _draw_energies(cfg["energy"], n_events * k, rng)
    x, y, th, ph = (a.ravel() for a in _draw_impacts(geom, cfg, n_events, rng))
    prim, cell, e_true = shower_deposits(geom, energy, x, y, th, ph, response, rng)
    primary_offsets = np.arange(n_events + 1, dtype=np.int64) * k
    return _detector_response(
        geom, n_events, primary_offsets, (energy, th, ph, x, y), prim, cell, e_true, response, rng
    )


def _detector_response(
    geom: Geometry,
    n_events: int,
    primary_offsets: np.ndarray,
    primaries: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    prim: np.ndarray,
    cell: np.ndarray,
    e_true: np.ndarray,
    response: EcalResponse,
    rng: np.random.Generator,
) -> RawEvents:
    """Measured hits and sparse truth of an event chunk from the photons' true deposits.

    Args:
        geom: planar geometry.
        n_events: events in the chunk.
        primary_offsets: (n_events + 1,) CSR offsets of the photons (primaries) per event.
        primaries: flat (energy MeV, theta rad, phi rad, x mm, y mm) of every photon.
        prim, cell, e_true: :func:`shower_deposits` output (global photon index, cell id, MeV).
        response: the detector response. rng: the chunk's generator (sampling, noise, time).
    """
    energy, th, ph, x, y = primaries
    prim_event = event_index(primary_offsets)
    # true energy per (event, cell); the union of the photons' windows gets the noise
    n_cells = geom.n_cells
    ev = prim_event[prim]
    key = ev * n_cells + cell
    ukey, inv = np.unique(key, return_inverse=True)
    true_cell = np.bincount(inv, weights=e_true, minlength=ukey.size)
    u_ev, u_cell = np.divmod(ukey, n_cells)

    # detector response: sampling (Gamma, variance a^2 E), calibration map, noise, threshold
    quantum = response.stochastic**2 * 1000.0  # MeV
    if quantum > 0:
        measured = rng.gamma(true_cell / quantum, quantum)
    else:
        measured = true_cell.copy()
    measured *= calibration_map(geom, response)[u_cell]
    if response.noise_mev > 0:
        measured += response.noise_mev * rng.standard_normal(measured.size)
    hit = measured > response.threshold_mev
    h_ev, h_cell, h_e = u_ev[hit], u_cell[hit], measured[hit]
    sigma_t = response.time_resolution_ns / np.sqrt(np.maximum(h_e, 1e-3) / 1000.0)
    h_t = sigma_t * rng.standard_normal(h_e.size)
    hit_off = offsets_from_counts(np.bincount(h_ev, minlength=n_events))

    # truth: per (hit, photon) deposit; hit index within its event's list
    hit_pos = np.full(ukey.size, -1, dtype=np.int64)
    hit_pos[hit] = np.arange(h_e.size) - hit_off[h_ev]
    t_pos = hit_pos[inv]
    keep = t_pos >= 0
    t_ev = ev[keep]
    order = np.lexsort((prim[keep], t_pos[keep], t_ev))
    t_ev = t_ev[order]
    truth_off = offsets_from_counts(np.bincount(t_ev, minlength=n_events))
    local = prim - primary_offsets[ev]  # photon index within its event
    return RawEvents(
        event=np.arange(n_events, dtype=np.int64),
        hit_offsets=hit_off,
        cell_id=h_cell,
        cell_energy=h_e,
        cell_time=h_t,
        primary_offsets=primary_offsets,
        primary_energy=energy,
        primary_theta=th,
        primary_phi=ph,
        primary_time=np.zeros(energy.size),
        primary_x=x,
        primary_y=y,
        truth_offsets=truth_off,
        truth_cell=t_pos[keep][order],
        truth_primary=local[keep][order],
        truth_energy=e_true[keep][order],
    )


# --------------------------------------------------------------------------------------------
# pi0 -> gamma gamma from the target


def pi0_decay_photons(
    energy_mev: np.ndarray,
    theta: np.ndarray,
    phi: np.ndarray,
    cos_theta_star: np.ndarray,
    phi_star: np.ndarray,
    mass_mev: float | np.ndarray = PI0_MASS_MEV,
) -> tuple[np.ndarray, np.ndarray]:
    """Lab energies and unit directions of the two photons of pi0 -> gamma gamma decays.

    In the pi0 rest frame each photon carries m/2; photon a flies along the rest-frame direction
    (theta*, phi*) about the pi0 flight axis, photon b opposite. The boost along the flight axis
    gives E_a,b = gamma m/2 (1 +- beta cos theta*), p_par = gamma m/2 (+-cos theta* + beta),
    p_perp = +-m/2 sin theta*; an isotropic decay (cos theta* uniform) makes the energy asymmetry
    A = beta cos theta* uniform.

    Args:
        energy_mev: (n,) pi0 energies (MeV, > m_pi0).
        theta, phi: (n,) pi0 direction (rad).
        cos_theta_star, phi_star: (n,) decay angles of photon a in the rest frame.
        mass_mev: parent mass (MeV; default the pi0's; another value makes, e.g., the pairs of
            a mass-linearity check).

    Returns:
        ``(energies, directions)``: (n, 2) MeV (photon a, photon b) and (n, 2, 3) unit vectors.
    """
    e = np.asarray(energy_mev, dtype=np.float64)
    m = np.broadcast_to(np.asarray(mass_mev, dtype=np.float64), e.shape)
    if not np.all((m > 0) & (e > m)):
        raise ValueError("mass_mev: expected a positive parent mass below the parent energies")
    gamma = e / m
    beta = np.sqrt(np.maximum(1.0 - (m / e) ** 2, 0.0))
    cs = np.asarray(cos_theta_star, dtype=np.float64)
    ss = np.sqrt(np.maximum(1.0 - cs * cs, 0.0))
    st, ct, sp, cp = np.sin(theta), np.cos(theta), np.sin(phi), np.cos(phi)
    axis = np.stack([st * cp, st * sp, ct], axis=-1)
    # (theta-hat, phi-hat) span the plane perpendicular to the flight axis for every theta
    e1 = np.stack([ct * cp, ct * sp, -st], axis=-1)
    e2 = np.stack([-sp, cp, np.zeros_like(sp)], axis=-1)
    perp = np.cos(phi_star)[:, None] * e1 + np.sin(phi_star)[:, None] * e2
    half = 0.5 * m
    energies = np.empty((e.size, 2))
    dirs = np.empty((e.size, 2, 3))
    for j, sign in enumerate((1.0, -1.0)):
        p_par = gamma * half * (sign * cs + beta)
        p_perp = sign * half * ss
        vec = p_par[:, None] * axis + p_perp[:, None] * perp
        dirs[:, j] = vec / np.linalg.norm(vec, axis=1, keepdims=True)
        energies[:, j] = gamma * half * (1.0 + sign * beta * cs)
    return energies, dirs


def draw_pi0_decays(
    geom: Geometry,
    sim: Mapping[str, Any],
    n_events: int,
    rng: np.random.Generator,
    mass_mev: float | np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The primaries of :func:`simulate_pi0` events: pi0 (or single photon) and decay photons.

    Args:
        geom: planar ECAL geometry (front face, acceptance).
        sim: the simulation block with ``process: pi0`` (see :func:`validate_sim`).
        n_events: number of events (> 0).
        rng: random generator.
        mass_mev: the parent's mass (MeV), one value or one per event; None: from
            ``parent_mass_mev`` of ``sim`` (default the pi0's; a uniform range is drawn per
            event after the energies).

    Returns:
        dict of per-event arrays: ``is_pi0`` (bool), ``energy_mev``, ``theta``, ``phi`` (the pi0
        or the single photon), ``cos_theta_star``, ``phi_star`` (rest-frame decay angles of the
        first photon; NaN for single photons), ``mass_mev`` (the parent's), ``photon_energy`` (n, 2) MeV and
        ``photon_direction`` (n, 2, 3) unit vectors (the more energetic photon first; the second
        entry of a single-photon event has energy 0 and the first's direction).
    """
    _check_planar(geom)
    if isinstance(n_events, bool) or not isinstance(n_events, int | np.integer) or n_events < 1:
        raise ValueError(f"n_events must be a positive integer, got {n_events!r}")
    cfg = validate_sim(sim)
    if cfg["process"] != "pi0":
        raise ValueError(f"simulation.process must be 'pi0' here, got {cfg['process']!r}")
    n = int(n_events)
    energy = _draw_energies(cfg["energy"], n, rng)
    if mass_mev is None:
        spec = cfg["parent_mass_mev"]
        mass_mev = (
            rng.uniform(spec["min_mev"], spec["max_mev"], n) if isinstance(spec, dict) else spec
        )
    mass = np.broadcast_to(np.asarray(mass_mev, dtype=np.float64), (n,))
    is_pi0 = rng.random(n) >= float(cfg["single_photon_fraction"])

    pitch = geom.pitch
    x_c = 0.5 * (geom.x.min() + geom.x.max())
    y_c = 0.5 * (geom.y.min() + geom.y.max())
    lim_x = 0.5 * geom.n_cols * pitch - cfg["margin_cells"] * pitch
    lim_y = 0.5 * geom.n_rows * pitch - cfg["margin_cells"] * pitch
    if lim_x <= 0 or lim_y <= 0:
        raise ValueError(
            f"simulation.margin_cells={cfg['margin_cells']} leaves no room on a "
            f"{geom.n_rows}x{geom.n_cols} detector"
        )
    z_front = float(geom.z.min())
    cos_min = math.cos(cfg["max_angle_rad"])
    theta, phi = np.empty(n), np.empty(n)
    cos_star, phi_star = np.full(n, np.nan), np.full(n, np.nan)
    e_gam = np.zeros((n, 2))
    dirs = np.zeros((n, 2, 3))
    todo = np.arange(n)
    for _ in range(10_000):
        m = todo.size
        if m == 0:
            break
        t = np.arccos(rng.uniform(cos_min, 1.0, m))
        p = rng.uniform(0.0, 2 * np.pi, m)
        cs = rng.uniform(-1.0, 1.0, m)
        ps = rng.uniform(0.0, 2 * np.pi, m)
        eg, dg = pi0_decay_photons(energy[todo], t, p, cs, ps, mass[todo])
        single = ~is_pi0[todo]
        # a single photon flies along the drawn direction with the whole energy
        eg[single] = np.column_stack([energy[todo][single], np.zeros(single.sum())])
        dg[single, 0] = np.stack(
            [np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], axis=-1
        )[single]
        dg[single, 1] = dg[single, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            xx = z_front * dg[..., 0] / dg[..., 2]
            yy = z_front * dg[..., 1] / dg[..., 2]
        ok = np.all(
            (dg[..., 2] > 0) & (np.abs(xx - x_c) <= lim_x) & (np.abs(yy - y_c) <= lim_y), axis=1
        )
        sel = todo[ok]
        theta[sel], phi[sel] = t[ok], p[ok]
        cos_star[sel], phi_star[sel] = cs[ok], ps[ok]
        e_gam[sel], dirs[sel] = eg[ok], dg[ok]
        todo = todo[~ok]
    else:
        raise ValueError(
            "could not place the pi0 photons: simulation.margin_cells / max_angle_rad leave "
            "(almost) no room on the detector face"
        )
    cos_star[~is_pi0] = np.nan
    phi_star[~is_pi0] = np.nan
    # the more energetic photon first (photon a is the first one in the rest frame)
    swap = is_pi0 & (e_gam[:, 1] > e_gam[:, 0])
    e_gam[swap] = e_gam[swap][:, ::-1]
    dirs[swap] = dirs[swap][:, ::-1]
    cos_star[swap] = -cos_star[swap]
    phi_star[swap] = np.mod(phi_star[swap] + np.pi, 2 * np.pi)
    return {
        "is_pi0": is_pi0,
        "energy_mev": energy,
        "theta": theta,
        "phi": phi,
        "cos_theta_star": cos_star,
        "phi_star": phi_star,
        "mass_mev": np.array(mass),
        "photon_energy": e_gam,
        "photon_direction": dirs,
    }


def simulate_pi0(
    geom: Geometry,
    n_events: int,
    sim: Mapping[str, Any],
    response: EcalResponse,
    rng: np.random.Generator,
    mass_mev: float | np.ndarray | None = None,
) -> tuple[RawEvents, dict[str, np.ndarray]]:
    """Events of one pi0 -> gamma gamma decay at the target (z = 0), or one photon.

    A fraction ``single_photon_fraction`` of the events holds a single photon whose energy and
    direction are drawn like the pi0's (so that the photon-count classes share one energy
    spectrum). The pi0 (or photon) direction is uniform in cos theta up to ``max_angle_rad``
    and in phi; the decay is isotropic in the pi0 rest frame (:func:`pi0_decay_photons`). Both
    photons fly from the target to the front face (inclined incidence); an event is redrawn until
    all its photons land inside the detector less ``margin_cells`` (:func:`draw_pi0_decays`).
    Photons below the GFlash range (100 MeV, the far tail of asymmetric decays) are kept as
    primaries but deposit nothing.

    Args:
        geom: planar ECAL geometry.
        n_events: number of events (> 0).
        sim: the simulation block with ``process: pi0`` (see :func:`validate_sim`).
        response: detector response.
        rng: the chunk's generator.
        mass_mev: the parent's mass (MeV), one value or one per event, overriding
            ``parent_mass_mev`` of ``sim`` (a mass-linearity check); None: from ``sim``.

    Returns:
        ``(events, pi0)``: :class:`RawEvents` whose primaries are the photons (two per pi0 event,
        the more energetic first; one per single-photon event), and the per-event arrays of
        :func:`draw_pi0_decays` without the photon arrays. The photons determine the pi0
        exactly (E = E1 + E2, p = p1 + p2).
    """
    d = draw_pi0_decays(geom, sim, n_events, rng, mass_mev)
    n = int(n_events)
    is_pi0, e_gam, dirs = d["is_pi0"], d["photon_energy"], d["photon_direction"]
    z_front = float(geom.z.min())
    count = np.where(is_pi0, 2, 1)
    offsets = offsets_from_counts(count)
    take = np.repeat(np.arange(n), count)
    slot = np.arange(take.size) - offsets[take]
    e_flat = e_gam[take, slot]
    d_flat = dirs[take, slot]
    x = z_front * d_flat[:, 0] / d_flat[:, 2]
    y = z_front * d_flat[:, 1] / d_flat[:, 2]
    th = np.arctan2(np.hypot(d_flat[:, 0], d_flat[:, 1]), d_flat[:, 2])
    ph = np.mod(np.arctan2(d_flat[:, 1], d_flat[:, 0]), 2 * np.pi)
    showering = np.flatnonzero(e_flat >= MIN_ENERGY_MEV)
    prim, cell, e_true = shower_deposits(
        geom,
        e_flat[showering],
        x[showering],
        y[showering],
        th[showering],
        ph[showering],
        response,
        rng,
    )
    prim = showering[prim]
    raw = _detector_response(
        geom, n, offsets, (e_flat, th, ph, x, y), prim, cell, e_true, response, rng
    )
    pi0 = {k: v for k, v in d.items() if not k.startswith("photon_")}
    return raw, pi0
