"""Ionisation deposits of electron and helium-nucleus recoils in the gas (condensed-history MC).

Electron recoils (ER)
    Continuous slowing down along the CSDA range table of :mod:`.stopping` (so the mean path
    length is the CSDA range and dE/dx grows towards the end of the track), with elastic multiple
    scattering from the screened-Rutherford transport cross-section of every atom of the gas:
    sigma_tr = 2 pi (Z e^2 / p v)^2 Z (Z + 1) / Z [ln(1 + 1/eta) - 1 / (1 + eta)] with Moliere's
    screening eta = chi_a^2 / 4, chi_a^2 = (hbar / p a_TF)^2 (1.13 + 3.76 (alpha Z / beta)^2),
    a_TF = 0.885 a0 Z^(-1/3) (the Z (Z + 1) counts scattering on the atomic electrons). A step of
    length ds turns the direction by a polar angle theta with theta^2 exponential of mean
    2 ds / lambda_tr, so <1 - cos theta> = ds / lambda_tr; steps are kept below lambda_tr / 10, 5 %
    of the residual range and 0.05 mm. At 6 keV lambda_tr = 0.6 mm against a 0.84 mm range: the
    tracks curl, as measured ones do. No delta rays, no energy-loss straggling (the Poisson of
    the primary electrons dominates the fluctuations of the light).

Nuclear recoils (NR, He)
    Straight tracks of the He range of :mod:`.stopping` (nuclear + electronic stopping), the
    ionisation along the path proportional to S_e / (S_e + S_n) dE and scaled to the Lindhard
    total Q(E) E. Their deflections are left out: the tracks (0.03 - 0.4 mm) are far below the
    diffusion blur (sigma 0.35 - 0.86 mm), so their inner shape does not reach the image.

Random numbers: each recoil gets a 64-bit seed drawn from the caller's ``numpy`` Generator; the
numba kernel runs a splitmix64 stream from it, so the tracks are a pure function of those seeds.
Units: keV, mm.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numba
import numpy as np

from caloreco.imaging.stopping import (
    ELECTRON_MASS_KEV,
    HE_CF4,
    Gas,
    electron_csda_range,
    helium_stopping,
    lindhard_quenching,
)

__all__ = [
    "Deposits",
    "electron_transport_mfp",
    "electron_tracks",
    "helium_tracks",
    "isotropic_directions",
]

_MAX_STEP_MM = 0.05
_RANGE_FRACTION = 0.05
_MFP_FRACTION = 0.1
_MIN_STEP_MM = 1e-5
_E_CUT_KEV = 0.01


@dataclass(frozen=True)
class Deposits:
    """Energy deposits of many recoils, flattened: recoil ``i`` owns ``offsets[i]:offsets[i+1]``.

    Attributes:
        offsets: int64 (n_recoils + 1,).
        x, y, z: positions (mm) relative to the recoil's start; z is along the drift axis and is
            added to the recoil's drift distance by the digitisation.
        energy: ionisation energy of each deposit, keV (quenched for NR).
        path_mm: path length of each recoil (n_recoils,).
    """

    offsets: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    energy: np.ndarray
    path_mm: np.ndarray

    @property
    def n_recoils(self) -> int:
        return self.offsets.size - 1

    def recoil_energy(self) -> np.ndarray:
        """Summed deposit energy of each recoil, keV."""
        return (
            np.add.reduceat(self.energy, self.offsets[:-1])
            if self.energy.size
            else np.zeros(self.n_recoils)
        )


# hbar c in MeV cm, e^2 in MeV cm, Bohr radius in cm
_HBARC = 197.3269804e-13
_E2 = 1.439964e-13
_A0 = 0.529177e-8


def electron_transport_mfp(energy_kev, gas: Gas = HE_CF4) -> np.ndarray:
    """Elastic transport mean free path of electrons, mm (screened Rutherford, see module doc)."""
    t = np.asarray(energy_kev, dtype=np.float64)
    if not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise ValueError("energy_kev: expected finite energies > 0 keV")
    t = t[..., None]
    z, _, n, _ = gas.atom_densities()
    tot = t + ELECTRON_MASS_KEV
    pc = np.sqrt(tot**2 - ELECTRON_MASS_KEV**2) * 1e-3  # MeV
    beta = pc / (tot * 1e-3)
    pv = pc * beta
    a_tf = 0.885 * _A0 * z ** (-1.0 / 3.0)
    chi0_sq = (_HBARC / (pc * a_tf)) ** 2
    eta = 0.25 * chi0_sq * (1.13 + 3.76 * (z / 137.035999 / beta) ** 2)
    sigma = 2 * np.pi * (_E2 / pv) ** 2 * z * (z + 1) * (np.log1p(1 / eta) - 1 / (1 + eta))
    inv_lambda_cm = (n * sigma).sum(axis=-1)
    return 10.0 / inv_lambda_cm


@lru_cache(maxsize=4)
def _electron_tables(gas: Gas) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    log_e = np.linspace(np.log(1e-3), np.log(2e3), 3000)
    e = np.exp(log_e)
    log_r = np.log(electron_csda_range(e, gas))
    log_mfp = np.log(electron_transport_mfp(e, gas))
    return log_e, log_r, log_mfp


@numba.njit(cache=True)
def _next_u64(state):
    state = (state + np.uint64(0x9E3779B97F4A7C15)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    z = state
    z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    z = z ^ (z >> np.uint64(31))
    return state, z


@numba.njit(cache=True)
def _uniform(state):
    state, z = _next_u64(state)
    return state, (z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True)
def _step_length(log_e_now, log_e, log_r, log_mfp):
    r = np.exp(np.interp(log_e_now, log_e, log_r))
    mfp = np.exp(np.interp(log_e_now, log_e, log_mfp))
    ds = min(_MAX_STEP_MM, _RANGE_FRACTION * r, _MFP_FRACTION * mfp)
    return max(ds, _MIN_STEP_MM), r


@numba.njit(cache=True)
def _count_electron_steps(e0, log_e, log_r, log_mfp):
    out = np.zeros(e0.size, np.int64)
    for i in range(e0.size):
        e = e0[i]
        n = 0
        while e > _E_CUT_KEV:
            ds, r = _step_length(np.log(e), log_e, log_r, log_mfp)
            n += 1
            if r - ds <= 0.0:
                break
            e = np.exp(np.interp(np.log(r - ds), log_r, log_e))
        out[i] = max(n, 1)
    return out


@numba.njit(cache=True)
def _electron_kernel(e0, dirs, seeds, offsets, log_e, log_r, log_mfp, x, y, z, de, path):
    for i in range(e0.size):
        state = seeds[i]
        ux, uy, uz = dirs[i, 0], dirs[i, 1], dirs[i, 2]
        px, py, pz = 0.0, 0.0, 0.0
        e = e0[i]
        k = offsets[i]
        end = offsets[i + 1]
        total = 0.0
        while k < end:
            ds, r = _step_length(np.log(e), log_e, log_r, log_mfp)
            last = (r - ds <= 0.0) or (k == end - 1)
            if last:
                ds = min(ds, r)
                e_new = 0.0
            else:
                e_new = np.exp(np.interp(np.log(r - ds), log_r, log_e))
            # deposit at the middle of the step, then deflect
            x[k] = px + 0.5 * ds * ux
            y[k] = py + 0.5 * ds * uy
            z[k] = pz + 0.5 * ds * uz
            de[k] = e - e_new
            px += ds * ux
            py += ds * uy
            pz += ds * uz
            total += ds
            k += 1
            if last or e_new <= _E_CUT_KEV:
                if e_new > 0.0 and k > offsets[i]:
                    de[k - 1] += e_new
                break
            mfp = np.exp(np.interp(np.log(e_new), log_e, log_mfp))
            state, u1 = _uniform(state)
            state, u2 = _uniform(state)
            theta2 = -2.0 * ds / mfp * np.log(max(u1, 1e-300))
            theta = np.sqrt(theta2)
            cos_t = np.cos(theta) if theta < np.pi else 2.0 * u2 - 1.0
            sin_t = np.sqrt(max(0.0, 1.0 - cos_t * cos_t))
            state, u3 = _uniform(state)
            phi = 2.0 * np.pi * u3
            # rotate (ux, uy, uz) by (theta, phi) around itself
            if abs(uz) < 0.99999:
                s = np.sqrt(1.0 - uz * uz)
                nx = ux * cos_t + sin_t * (ux * uz * np.cos(phi) - uy * np.sin(phi)) / s
                ny = uy * cos_t + sin_t * (uy * uz * np.cos(phi) + ux * np.sin(phi)) / s
                nz = uz * cos_t - sin_t * s * np.cos(phi)
            else:
                sign = 1.0 if uz > 0 else -1.0
                nx = sin_t * np.cos(phi)
                ny = sin_t * np.sin(phi)
                nz = sign * cos_t
            norm = np.sqrt(nx * nx + ny * ny + nz * nz)
            ux, uy, uz = nx / norm, ny / norm, nz / norm
            e = e_new
        path[i] = total
        # unused tail slots (none: the counting pass is exact) keep zero energy
        while k < end:
            de[k] = 0.0
            x[k] = px
            y[k] = py
            z[k] = pz
            k += 1


def isotropic_directions(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` unit vectors uniform on the sphere, (n, 3)."""
    cos_t = rng.uniform(-1.0, 1.0, n)
    phi = rng.uniform(0.0, 2 * np.pi, n)
    s = np.sqrt(1.0 - cos_t**2)
    return np.stack([s * np.cos(phi), s * np.sin(phi), cos_t], axis=1)


def _check_energies(energy_kev, name="energy_kev") -> np.ndarray:
    e = np.ascontiguousarray(energy_kev, dtype=np.float64)
    if e.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {e.shape}")
    if not np.all(np.isfinite(e)) or np.any(e <= 0) or np.any(e > 1000):
        raise ValueError(f"{name}: expected finite energies in (0, 1000] keV")
    return e


def electron_tracks(
    energy_kev: np.ndarray, rng: np.random.Generator, gas: Gas = HE_CF4
) -> Deposits:
    """Deposits of electron recoils of kinetic energies ``energy_kev`` (keV), isotropic directions.

    Every step's deposit sits at the step's middle; the energies of a recoil sum to its kinetic
    energy (an electron recoil is not quenched).
    """
    e0 = _check_energies(energy_kev)
    log_e, log_r, log_mfp = _electron_tables(gas)
    counts = _count_electron_steps(e0, log_e, log_r, log_mfp)
    offsets = np.zeros(e0.size + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    n = int(offsets[-1])
    x, y, z, de = (np.zeros(n) for _ in range(4))
    path = np.zeros(e0.size)
    dirs = isotropic_directions(e0.size, rng)
    seeds = rng.integers(0, 2**63 - 1, size=e0.size, dtype=np.int64).astype(np.uint64)
    _electron_kernel(e0, dirs, seeds, offsets, log_e, log_r, log_mfp, x, y, z, de, path)
    return Deposits(offsets, x, y, z, de, path)


@lru_cache(maxsize=4)
def _helium_tables(gas: Gas):
    e = np.geomspace(1e-3, 1e3, 3000)
    se, sn = helium_stopping(e, gas)
    s = se + sn
    inv = 1.0 / s
    r = np.concatenate(
        [[e[0] * inv[0]], e[0] * inv[0] + np.cumsum(0.5 * np.diff(e) * (inv[1:] + inv[:-1]))]
    )
    frac_e = se / s
    # ionising share of the energy lost from E down to 0: I(E) = int_0^E S_e / S dE
    ion = np.concatenate(
        [
            [e[0] * frac_e[0]],
            e[0] * frac_e[0] + np.cumsum(0.5 * np.diff(e) * (frac_e[1:] + frac_e[:-1])),
        ]
    )
    return e, r, ion


def helium_tracks(
    energy_kev: np.ndarray,
    rng: np.random.Generator,
    gas: Gas = HE_CF4,
    step_mm: float = 0.01,
    lindhard_k: float | None = None,
) -> Deposits:
    """Deposits of He nuclear recoils of kinetic energies ``energy_kev`` (keVnr).

    Straight tracks in an isotropic direction; each ``step_mm`` segment receives the ionising
    share of the energy lost on it (S_e / S), scaled so that a recoil's deposits sum to the
    Lindhard ionisation Q(E) E (keVee).
    """
    e0 = _check_energies(energy_kev)
    if not step_mm > 0:
        raise ValueError(f"step_mm: expected > 0, got {step_mm}")
    e_tab, r_tab, ion_tab = _helium_tables(gas)
    r0 = np.interp(np.log(e0), np.log(e_tab), r_tab)
    counts = np.maximum(np.ceil(r0 / step_mm).astype(np.int64), 1)
    offsets = np.zeros(e0.size + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    owner = np.repeat(np.arange(e0.size), counts)
    k = np.arange(offsets[-1]) - offsets[owner]
    s_lo = np.minimum(k * step_mm, r0[owner])
    s_hi = np.minimum((k + 1) * step_mm, r0[owner])
    # residual range -> residual energy -> residual ionisation at both ends of a segment
    ion_at = np.interp(r0[owner] - s_lo, r_tab, ion_tab, left=0.0)
    ion_next = np.interp(r0[owner] - s_hi, r_tab, ion_tab, left=0.0)
    dion = np.clip(ion_at - ion_next, 0.0, None)
    total = np.bincount(owner, weights=dion, minlength=e0.size)
    target = lindhard_quenching(e0, k=lindhard_k) * e0
    dion *= (target / np.where(total > 0, total, 1.0))[owner]
    dirs = isotropic_directions(e0.size, rng)
    s_mid = 0.5 * (s_lo + s_hi)
    x, y, z = (s_mid * dirs[owner, j] for j in range(3))
    return Deposits(offsets, x, y, z, dion, r0)
