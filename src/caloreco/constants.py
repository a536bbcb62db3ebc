"""Physical constants and detector parameters shared by the simulation and the reconstruction.

One place for each number, with its source; units MeV, mm, ns.
"""

from __future__ import annotations

__all__ = [
    "ELECTRON_MASS_MEV",
    "PI0_MASS_MEV",
    "LEDNEV_SHASHLIK_A",
    "LEDNEV_SHASHLIK_B",
    "SHASHLIK",
    "FWHM_OVER_SIGMA",
]

#: Electron rest energy (CODATA 2018), MeV.
ELECTRON_MASS_MEV = 0.51099895

#: Neutral pion mass (PDG 2024), MeV.
PI0_MASS_MEV = 134.9768

#: Lednev transverse-profile parameters of coral for the COMPASS shashlik cells
#: (A. Lednev, NIM A366 (1995) 292): weights a_i (sum 1) and lengths b_i (mm).
LEDNEV_SHASHLIK_A = (0.885, -0.14, 0.255)
LEDNEV_SHASHLIK_B = (8.104, 55.86, 1.52)

#: Effective shashlik material of the COMPASS ECAL (physics.md section 1): Z_eff, critical energy
#: (MeV), sampling fraction factor Fs, e/mip ratio e-hat, module depth (radiation lengths).
SHASHLIK = {"z_eff": 70.0, "critical_energy_mev": 9.6, "fs": 6.8, "e_hat": 0.645, "depth_x0": 22.5}

#: FWHM of a Gaussian in units of its sigma, as rounded in R3BRoot's CALIFA digitiser.
FWHM_OVER_SIGMA = 2.355
