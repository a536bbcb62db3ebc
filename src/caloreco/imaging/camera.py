"""Parameters of a CYGNO-like optical TPC read out by an sCMOS camera (the ``camera_tpc`` preset).

Every number is a default from CYGNO's public digitisation (CYGNUS-RD/digitization,
ConfigFile_new.txt, MC_data_new.py) or the LIME facts of imaging.md; tuned values are marked.
Units: mm, keV (this detector's energies), V, counts (camera ADC units).

Chain (what :mod:`caloreco.imaging.digitise` does with these numbers)
    primary electrons Poisson(dE / W), W = 46.2 eV (CYGNO's MC; 35-37 eV is suggested by the
    literature for the mixture, but CYGNO's light scale A below was tuned with 46.2 eV, so this
    pair reproduces their ~2000 counts/keV) -> attachment survival exp(-z / 1000 mm) -> transverse
    drift diffusion sigma^2 = 0.01232 mm^2/cm z, longitudinal 0.00978 mm^2/cm z -> GEM1 gain
    exponential with mean G(V) = 0.0347 exp(0.0209 V) (342 at 440 V), times extraction
    e(V) = 0.8732 exp(-0.002 V) (0.362) -> GEM2 likewise (the sum of exponentials: a Gamma) ->
    the constant diffusion terms 0.1225 mm^2 (T) and 0.0676 mm^2 (L) of the amplification stage ->
    GEM3 gain with space-charge saturation A G / (1 + beta G n) per 0.152 x 0.152 x 0.1 mm^3 voxel
    (n electrons entering it, beta = 1e-5, A = 1.52 CYGNO's MC/data scale) -> 0.07 photons per
    electron x the solid angle 1 / (4 (d + 1) a)^2 (demagnification d = 346 mm / 14.976 mm,
    aperture a = 0.95: 1.19e-4) -> Poisson photons -> 2 counts per photon -> plus a pedestal frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["CameraTPC", "camera_from_config", "gem_gain", "gem_extraction"]


def gem_gain(hv_v: float) -> float:
    """Mean effective gain of one GEM foil at ``hv_v`` volts (CYGNO fit of single-GEM data)."""
    return 0.0347 * math.exp(0.0209 * hv_v)


def gem_extraction(hv_v: float) -> float:
    """Electron extraction efficiency of one GEM foil at ``hv_v`` volts."""
    return 0.87319885 * math.exp(-0.0020000000 * hv_v)


@dataclass(frozen=True)
class CameraTPC:
    """Detector, amplification, optics and camera-noise parameters.

    Attributes (units in the names):
        height, width: image size in pixels (the default analysis uses 256 x 256 crops of the
            2304 x 2304 ORCA-Fusion frame).
        pixel_mm: pixel pitch on the GEM plane (LIME 0.152 mm).
        w_ev: mean energy per ion pair.
        attachment_mm: electron attachment length (survival exp(-z / attachment_mm)).
        diff_t0_mm2, diff_t_mm2_per_cm: transverse diffusion sigma^2 = t0 + t z[cm].
        diff_l0_mm2, diff_l_mm2_per_cm: longitudinal diffusion sigma^2 = l0 + l z[cm].
        gem_hv_v: the three GEM voltages.
        saturation_beta: space-charge saturation parameter of GEM3.
        light_scale: CYGNO's free MC/data scale factor A on the GEM3 gain (tuned).
        voxel_z_mm: voxel depth for the saturation (transverse voxel = pixel).
        photons_per_electron: photons emitted per avalanche electron.
        demagnification, aperture: optics (solid angle 1 / (4 (d + 1) a)^2).
        counts_per_photon: camera counts per detected photon.
        max_counts: ADC range (16 bit).
        pedestal_offset: mean pedestal level, counts.
        pedestal_offset_spread: pixel-to-pixel spread of the pedestal level, counts.
        noise_median: median per-pixel noise RMS, counts.
        noise_log_spread: standard deviation of ln(RMS) across pixels.
        hot_fraction: fraction of hot pixels.
        hot_offset_mean: mean extra pedestal of a hot pixel (exponential), counts.
        hot_noise_factor: median factor on a hot pixel's RMS (log-normal, spread 0.5).
        row_noise: RMS of a per-frame, per-row common offset (sCMOS banding), counts; 0 = off.
    """

    height: int = 256
    width: int = 256
    pixel_mm: float = 0.152
    w_ev: float = 46.2
    attachment_mm: float = 1000.0
    diff_t0_mm2: float = 0.1225
    diff_t_mm2_per_cm: float = 0.01232
    diff_l0_mm2: float = 0.0676
    diff_l_mm2_per_cm: float = 0.00978
    gem_hv_v: tuple[float, float, float] = (440.0, 440.0, 440.0)
    saturation_beta: float = 1.0e-5
    light_scale: float = 2.8
    voxel_z_mm: float = 0.1
    photons_per_electron: float = 0.07
    demagnification: float = 346.0 / 14.976
    aperture: float = 0.95
    counts_per_photon: float = 2.0
    max_counts: int = 65535
    pedestal_offset: float = 100.0
    pedestal_offset_spread: float = 1.0
    noise_median: float = 2.5
    noise_log_spread: float = 0.2
    hot_fraction: float = 1.0e-4
    hot_offset_mean: float = 50.0
    hot_noise_factor: float = 6.0
    row_noise: float = 0.0

    def __post_init__(self) -> None:
        if not (isinstance(self.height, int) and isinstance(self.width, int)):
            raise ValueError("height, width: expected integers (pixels)")
        if self.height < 8 or self.width < 8:
            raise ValueError(
                f"height, width: expected >= 8 pixels, got {self.height} x {self.width}"
            )
        if len(self.gem_hv_v) != 3:
            raise ValueError(f"gem_hv_v: expected three voltages, got {self.gem_hv_v}")
        positive = (
            "pixel_mm w_ev attachment_mm diff_t0_mm2 diff_l0_mm2 light_scale voxel_z_mm "
            "photons_per_electron demagnification aperture counts_per_photon noise_median "
            "pedestal_offset hot_noise_factor"
        ).split()
        for name in positive:
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name}: expected a finite number > 0, got {v}")
        non_negative = (
            "diff_t_mm2_per_cm diff_l_mm2_per_cm saturation_beta pedestal_offset_spread "
            "noise_log_spread hot_fraction hot_offset_mean row_noise"
        ).split()
        for name in non_negative:
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name}: expected a finite number >= 0, got {v}")
        if self.hot_fraction >= 0.5:
            raise ValueError(f"hot_fraction: expected < 0.5, got {self.hot_fraction}")

    @property
    def solid_angle(self) -> float:
        """Fraction of the isotropic GEM light reaching the sensor."""
        return 1.0 / (4.0 * (self.demagnification + 1.0) * self.aperture) ** 2

    @property
    def gains(self) -> tuple[float, float, float]:
        """Mean gains of GEM1, GEM2 (times their extraction efficiency) and GEM3 (light stage)."""
        g1, g2, g3 = (gem_gain(v) for v in self.gem_hv_v)
        e1, e2 = gem_extraction(self.gem_hv_v[0]), gem_extraction(self.gem_hv_v[1])
        return g1 * e1, g2 * e2, g3

    def counts_per_primary_electron(self) -> float:
        """Mean camera counts per primary electron reaching GEM1, without saturation."""
        g12, g22, g3 = self.gains
        return (
            g12
            * g22
            * self.light_scale
            * g3
            * self.photons_per_electron
            * self.solid_angle
            * self.counts_per_photon
        )

    def unsaturated_counts_per_kev(self, drift_mm: float = 0.0) -> float:
        """Mean counts per keV deposited at drift distance ``drift_mm``, without saturation."""
        survival = math.exp(-drift_mm / self.attachment_mm)
        return 1000.0 / self.w_ev * survival * self.counts_per_primary_electron()

    def sigma_t_mm(self, drift_mm):
        """Total transverse diffusion sigma (mm) after ``drift_mm`` of drift."""
        import numpy as np

        return np.sqrt(self.diff_t0_mm2 + self.diff_t_mm2_per_cm * np.asarray(drift_mm) / 10.0)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        d = asdict(self)
        d["gem_hv_v"] = list(self.gem_hv_v)
        return d


def camera_from_config(block: Mapping[str, Any] | None) -> CameraTPC:
    """A :class:`CameraTPC` from a config mapping; unknown keys raise ``ValueError`` naming them."""
    block = dict(block or {})
    known = {f.name for f in fields(CameraTPC)}
    unknown = sorted(set(block) - known)
    if unknown:
        raise ValueError(f"camera: unknown keys {unknown}; known: {sorted(known)}")
    if "gem_hv_v" in block:
        block["gem_hv_v"] = tuple(float(v) for v in block["gem_hv_v"])
    for k in ("height", "width", "max_counts"):
        if k in block:
            v = block[k]
            if isinstance(v, float) and v.is_integer():
                block[k] = int(v)
    return CameraTPC(**block)
