"""Energy loss of electrons and helium nuclei in the He:CF4 60/40 gas of a CYGNO-like TPC.

Units: keV for energies, mm for lengths, keV/mm for stopping powers (keV is the natural unit of
this detector; the files say so).

Gas
    He:CF4 60/40 by volume at the LIME density 1.53 mg/cm^3 (imaging.md). Atom number densities
    follow from the mean molar mass 0.6 x 4.0026 + 0.4 x 88.004 = 37.60 g/mol.

Electrons (collision stopping power, no radiative part: it is below 1e-3 of the total here)
    The relativistic Bethe formula of ICRU 37 (Rohrlich and Carlson) with the electron-weighted
    mean excitation energy of the mixture (Bragg additivity: He 41.8 eV, C 70 eV and F 115 eV for
    atoms bound in gases, giving I = 100 eV), no density effect (a gas). Below a few keV Bethe's
    logarithm fails; the Joy-Luo substitution I -> I / (1 + 0.85 I / T) (Scanning 11 (1989) 176)
    keeps it positive and within tens of percent of measured values down to ~0.1 keV. The CSDA
    range is the integral of 1 / S. It reproduces the ESTAR-scaled numbers of imaging.md
    (0.04 mm at 1 keV, 0.8 mm at 6 keV, 6.5 mm at 20 keV, 45 mm at 60 keV) within 25 %.

Helium nuclei (nuclear recoils)
    Electronic stopping: Lindhard-Scharff, velocity-proportional,
    S_e = 8 pi e^2 a0 Z1^(7/6) Z2 / (Z1^(2/3) + Z2^(2/3))^(3/2) v / v0 per target atom.
    Nuclear stopping: the ZBL universal reduced cross-section (Ziegler, Biersack, Littmark 1985).
    Both summed over the He, C and F atoms of the gas. The range integrates 1 / (S_e + S_n): a few
    keV He recoils travel 0.1 - 0.3 mm (imaging.md).
    Ionisation quenching: Lindhard's partition k g(eps) / (1 + k g(eps)),
    g = 3 eps^0.15 + 0.7 eps^0.6 + eps, eps = 11.5 E[keV] Z^(-7/3), k = 0.133 Z^(2/3) A^(-1/2)
    for He (k = 0.106): Q = 0.34 at 0.5 keV, 0.42 at 1 keV, 0.58 at 3 keV, 0.70 at 6 keV. Measured
    ionisation efficiencies of light ions in gases lie below Lindhard at these energies (e.g.
    NEWS-G, arXiv 2201.09566), so ``lindhard_k`` is a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = [
    "Gas",
    "HE_CF4",
    "ELECTRON_MASS_KEV",
    "electron_stopping",
    "electron_csda_range",
    "electron_energy_at_range",
    "helium_stopping",
    "helium_range",
    "lindhard_quenching",
    "recoil_energy_for_visible",
]

ELECTRON_MASS_KEV = 510.99895
_AVOGADRO = 6.02214076e23
_AMU_KEV = 931494.10242
# 8 pi e^2 a0 in eV cm^2 (e^2 = 14.40 eV Angstrom, a0 = 0.5292 Angstrom)
_LS_PREFACTOR = 8.0 * np.pi * 14.3996 * 0.529177 * 1e-16
# energy per nucleon at the Bohr velocity, keV/u: m_u (c / 137.036)^2 / 2
_E_BOHR_KEV_PER_U = 0.5 * _AMU_KEV / 137.035999**2


@dataclass(frozen=True)
class Gas:
    """A gas mixture by volume (molar) fractions.

    Attributes:
        density_g_cm3: mass density.
        molecules: ``(name, molar fraction, ((Z, A, atoms per molecule, I_eV), ...))``.
    """

    density_g_cm3: float
    molecules: tuple[tuple[str, float, tuple[tuple[int, float, int, float], ...]], ...]

    @property
    def molar_mass(self) -> float:
        """Mean molar mass, g/mol."""
        return sum(f * sum(a * n for _, a, n, _ in atoms) for _, f, atoms in self.molecules)

    def atom_densities(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(Z, A, n per cm^3, I_eV)`` of every atomic species (one row per species and molecule)."""
        per_cm3 = self.density_g_cm3 / self.molar_mass * _AVOGADRO
        z, a, n, i = [], [], [], []
        for _, frac, atoms in self.molecules:
            for zz, aa, count, ie in atoms:
                z.append(zz)
                a.append(aa)
                n.append(frac * count * per_cm3)
                i.append(ie)
        return np.array(z, float), np.array(a, float), np.array(n, float), np.array(i, float)

    @property
    def z_over_a(self) -> float:
        """Electrons per nucleon mass unit (mol/g)."""
        z, a, n, _ = self.atom_densities()
        return float((n * z).sum() / (n * a).sum())

    @property
    def mean_excitation_ev(self) -> float:
        """Electron-weighted (Bragg) mean excitation energy, eV."""
        z, _, n, i = self.atom_densities()
        w = n * z
        return float(np.exp((w * np.log(i)).sum() / w.sum()))


#: He:CF4 60/40 at 1.53 mg/cm^3 (LIME)
HE_CF4 = Gas(
    density_g_cm3=1.53e-3,
    molecules=(
        ("He", 0.6, ((2, 4.0026, 1, 41.8),)),
        ("CF4", 0.4, ((6, 12.011, 1, 70.0), (9, 18.998, 4, 115.0))),
    ),
)


def _positive_energy(energy_kev, name: str = "energy_kev") -> np.ndarray:
    e = np.asarray(energy_kev, dtype=np.float64)
    if not np.all(np.isfinite(e)) or np.any(e <= 0):
        raise ValueError(f"{name}: expected finite energies > 0 keV")
    return e


def electron_stopping(energy_kev, gas: Gas = HE_CF4) -> np.ndarray:
    """Collision stopping power of electrons, keV/mm (Bethe-Rohrlich-Carlson with Joy-Luo I).

    Args:
        energy_kev: kinetic energies (> 0), keV; any shape.
        gas: the gas.
    """
    t = _positive_energy(energy_kev)
    tau = t / ELECTRON_MASS_KEV
    beta2 = 1.0 - 1.0 / (1.0 + tau) ** 2
    i_kev = gas.mean_excitation_ev * 1e-3
    i_eff = i_kev / (1.0 + 0.85 * i_kev / t)
    f = 1.0 - beta2 + (tau**2 / 8.0 - (2.0 * tau + 1.0) * np.log(2.0)) / (tau + 1.0) ** 2
    log_term = np.log(tau**2 * (tau + 2.0) / (2.0 * (i_eff / ELECTRON_MASS_KEV) ** 2))
    # MeV cm^2/g -> keV/mm: x rho [g/cm^3] x 1000 keV/MeV / 10 mm/cm
    s_mass = 0.153536 * gas.z_over_a / beta2 * np.maximum(log_term + f, 1e-3)
    return s_mass * gas.density_g_cm3 * 100.0


@lru_cache(maxsize=8)
def _electron_range_table(gas: Gas) -> tuple[np.ndarray, np.ndarray]:
    e = np.geomspace(1e-3, 2e3, 4000)
    inv_s = 1.0 / electron_stopping(e, gas)
    # below 1 eV the range is negligible: start the integral at 0 with R(1e-3 keV) = e / S
    r = np.concatenate(
        [
            [e[0] * inv_s[0]],
            e[0] * inv_s[0] + np.cumsum(0.5 * np.diff(e) * (inv_s[1:] + inv_s[:-1])),
        ]
    )
    return e, r


def electron_csda_range(energy_kev, gas: Gas = HE_CF4) -> np.ndarray:
    """CSDA range of electrons, mm (integral of 1 / :func:`electron_stopping`)."""
    t = _positive_energy(energy_kev)
    e, r = _electron_range_table(gas)
    return np.exp(np.interp(np.log(t), np.log(e), np.log(r)))


def electron_energy_at_range(range_mm, gas: Gas = HE_CF4) -> np.ndarray:
    """Inverse of :func:`electron_csda_range`: the energy whose CSDA range is ``range_mm``."""
    rr = np.asarray(range_mm, dtype=np.float64)
    if not np.all(np.isfinite(rr)) or np.any(rr <= 0):
        raise ValueError("range_mm: expected finite ranges > 0 mm")
    e, r = _electron_range_table(gas)
    return np.exp(np.interp(np.log(rr), np.log(r), np.log(e)))


def helium_stopping(energy_kev, gas: Gas = HE_CF4) -> tuple[np.ndarray, np.ndarray]:
    """Electronic and nuclear stopping powers of He nuclei, keV/mm: ``(S_e, S_n)``.

    Lindhard-Scharff electronic and ZBL universal nuclear stopping, summed over the atoms.
    """
    t = _positive_energy(energy_kev)[..., None]
    z1, a1 = 2.0, 4.0026
    z2, a2, n2, _ = gas.atom_densities()
    v_over_v0 = np.sqrt(t / (_E_BOHR_KEV_PER_U * a1))
    se_atom = (
        _LS_PREFACTOR
        * z1 ** (7.0 / 6.0)
        * z2
        / (z1 ** (2.0 / 3.0) + z2 ** (2.0 / 3.0)) ** 1.5
        * v_over_v0
    )
    zsum = z1**0.23 + z2**0.23
    eps = 32.53 * a2 * t / (z1 * z2 * (a1 + a2) * zsum)
    sn_red = np.where(
        eps <= 30.0,
        np.log1p(1.1383 * eps) / (2.0 * (eps + 0.01321 * eps**0.21226 + 0.19593 * np.sqrt(eps))),
        np.log(eps) / (2.0 * eps),
    )
    sn_atom = 8.462e-15 * z1 * z2 * a1 * sn_red / ((a1 + a2) * zsum)
    # eV cm^2 x atoms/cm^3 = eV/cm -> keV/mm: 1e-3 / 10
    se = (se_atom * n2).sum(axis=-1) * 1e-4
    sn = (sn_atom * n2).sum(axis=-1) * 1e-4
    return se, sn


@lru_cache(maxsize=8)
def _helium_range_table(gas: Gas) -> tuple[np.ndarray, np.ndarray]:
    e = np.geomspace(1e-3, 1e3, 3000)
    se, sn = helium_stopping(e, gas)
    inv_s = 1.0 / (se + sn)
    r = np.concatenate(
        [
            [e[0] * inv_s[0]],
            e[0] * inv_s[0] + np.cumsum(0.5 * np.diff(e) * (inv_s[1:] + inv_s[:-1])),
        ]
    )
    return e, r


def helium_range(energy_kev, gas: Gas = HE_CF4) -> np.ndarray:
    """Path length of He nuclei until they stop, mm (integral of 1 / (S_e + S_n))."""
    t = _positive_energy(energy_kev)
    e, r = _helium_range_table(gas)
    return np.exp(np.interp(np.log(t), np.log(e), np.log(r)))


def lindhard_quenching(energy_kev, z: int = 2, a: float = 4.0026, k: float | None = None):
    """Lindhard ionisation fraction of a nuclear recoil of kinetic energy ``energy_kev`` (keVnr).

    Args:
        energy_kev: recoil kinetic energies (> 0), keV.
        z, a: the recoil's atomic number and mass number (He by default).
        k: the electronic-stopping constant; ``None`` takes Lindhard's 0.133 Z^(2/3) A^(-1/2).
    """
    t = _positive_energy(energy_kev)
    if k is None:
        k = 0.133 * z ** (2.0 / 3.0) / np.sqrt(a)
    if not np.isfinite(k) or k <= 0:
        raise ValueError(f"k: expected a positive number, got {k}")
    eps = 11.5 * t * z ** (-7.0 / 3.0)
    g = 3.0 * eps**0.15 + 0.7 * eps**0.6 + eps
    return k * g / (1.0 + k * g)


def recoil_energy_for_visible(visible_kev, k: float | None = None) -> np.ndarray:
    """He recoil kinetic energy (keVnr) whose ionisation Q(E) E equals ``visible_kev`` (keVee)."""
    v = _positive_energy(visible_kev, "visible_kev")
    e = np.geomspace(1e-3, 1e4, 6000)
    ee = lindhard_quenching(e, k=k) * e
    if np.any(v > ee[-1]):
        raise ValueError(f"visible_kev: above {ee[-1]:.0f} keVee is outside the table")
    return np.exp(np.interp(np.log(v), np.log(ee), np.log(e)))
