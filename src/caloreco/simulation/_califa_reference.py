"""A history-by-history reference transport for the CALIFA-like shell (pure Python, slow).

Independent of the vectorised transport in :mod:`caloreco.simulation.califa` wherever it can be:

* geometry by plain delta tracking (every tentative collision in vacuum is rejected and the photon
  simply moves on, no analytic jumps across the inner hole or the openings);
* Klein-Nishina by rejection on cos theta drawn uniformly, with the differential cross section
  itself as the acceptance (not Butcher-Messel);
* rotation by the textbook formula with a special case at the poles;
* no generation limit.

Only the cross-section table (:func:`caloreco.simulation.xcom.csi_attenuation_table`) and the
crystal lookup are shared. It serves the tests (statistical agreement with the vectorised code)
and the benchmark (the naive peer). Units: MeV, mm, rad.
"""

from __future__ import annotations

import bisect
import math

import numpy as np

from caloreco.constants import ELECTRON_MASS_MEV
from caloreco.geometry import Geometry
from caloreco.simulation.xcom import (
    PAIR_THRESHOLD_MEV,
    POINTS_PER_DECADE,
    TABLE_MIN_MEV,
    csi_attenuation_table,
)

__all__ = ["reference_transport"]

_ME = ELECTRON_MASS_MEV


def _mu(table: np.ndarray, e: float) -> tuple[float, float, float]:
    x = (math.log(e) - math.log(TABLE_MIN_MEV)) * POINTS_PER_DECADE / math.log(10.0)
    i = min(int(x), table.shape[1] - 2)
    f = x - i
    c = math.exp(table[0, i] + f * (table[0, i + 1] - table[0, i]))
    p = math.exp(table[1, i] + f * (table[1, i + 1] - table[1, i]))
    q = math.exp(table[2, i] + f * (table[2, i + 1] - table[2, i])) if e > PAIR_THRESHOLD_MEV else 0
    return c, p, q


def _kn(k: float, rand) -> float:
    """cos theta of Compton scattering by rejection on the Klein-Nishina formula."""
    while True:
        c = 2.0 * rand() - 1.0
        p = 1.0 / (1.0 + k * (1.0 - c))
        if rand() < 0.5 * p * p * (p + 1.0 / p - (1.0 - c * c)):
            return c


def _rotate(u: tuple[float, float, float], c: float, phi: float) -> tuple[float, float, float]:
    ux, uy, uz = u
    s = math.sqrt(max(0.0, 1.0 - c * c))
    cp, sp = math.cos(phi), math.sin(phi)
    d = math.sqrt(max(0.0, 1.0 - uz * uz))
    if d < 1e-10:
        sign = 1.0 if uz > 0 else -1.0
        return (s * cp, s * sp, sign * c)
    return (
        ux * c + s * (ux * uz * cp - uy * sp) / d,
        uy * c + s * (uy * uz * cp + ux * sp) / d,
        uz * c - s * cp * d,
    )


def reference_transport(
    geom: Geometry,
    energy_mev: np.ndarray,
    theta: np.ndarray,
    phi: np.ndarray,
    rng: np.random.Generator,
    cutoff_mev: float = 0.01,
) -> tuple[dict[tuple[int, int], float], np.ndarray]:
    """Transport gammas one by one; returns ({(gamma, crystal): MeV}, escaped MeV per gamma)."""
    _, table = csi_attenuation_table()
    r1 = float(geom.params["inner_radius_mm"])
    r2 = r1 + float(geom.params["crystal_length_mm"])
    edges = [float(x) for x in geom.theta_edges]
    seg = [int(x) for x in geom.ring_segments]
    first = [int(x) for x in geom.ring_first_cell]
    th_lo, th_hi = edges[0], edges[-1]
    uniforms = iter(())

    def rand() -> float:
        nonlocal uniforms
        try:
            return next(uniforms)
        except StopIteration:
            uniforms = iter(rng.random(4096).tolist())
            return next(uniforms)

    deposits: dict[tuple[int, int], float] = {}
    escaped = np.zeros(len(energy_mev))
    for gi, (e0, t0, p0) in enumerate(zip(energy_mev, theta, phi, strict=True)):
        st = math.sin(t0)
        stack = [(float(e0), (0.0, 0.0, 0.0), (st * math.cos(p0), st * math.sin(p0), math.cos(t0)))]
        while stack:
            e, (x, y, z), u = stack.pop()
            while True:
                mc, mp, mq = _mu(table, e)
                mt = mc + mp + mq
                s = -math.log(1.0 - rand()) / mt
                x, y, z = x + s * u[0], y + s * u[1], z + s * u[2]
                r = math.sqrt(x * x + y * y + z * z)
                if r > r2:
                    escaped[gi] += e
                    break
                th = math.acos(max(-1.0, min(1.0, z / r)))
                if r < r1 or not th_lo <= th <= th_hi:
                    continue  # virtual collision in vacuum
                ring = min(bisect.bisect_right(edges, th) - 1, len(seg) - 1)
                ph = math.atan2(y, x) % (2.0 * math.pi)
                cell = first[ring] + min(int(ph / (2.0 * math.pi) * seg[ring]), seg[ring] - 1)
                key = (gi, cell)
                xi = rand() * mt
                if xi < mc:
                    k = e / _ME
                    c = _kn(k, rand)
                    e_new = e / (1.0 + k * (1.0 - c))
                    if e_new < cutoff_mev:
                        deposits[key] = deposits.get(key, 0.0) + e
                        break
                    deposits[key] = deposits.get(key, 0.0) + e - e_new
                    e = e_new
                    u = _rotate(u, c, 2.0 * math.pi * rand())
                elif xi < mc + mp:
                    deposits[key] = deposits.get(key, 0.0) + e
                    break
                else:
                    deposits[key] = deposits.get(key, 0.0) + e - 2.0 * _ME
                    c = 2.0 * rand() - 1.0
                    sn = math.sqrt(1.0 - c * c)
                    a = 2.0 * math.pi * rand()
                    w = (sn * math.cos(a), sn * math.sin(a), c)
                    stack.append((_ME, (x, y, z), w))
                    stack.append((_ME, (x, y, z), (-w[0], -w[1], -w[2])))
                    break
    return deposits, escaped
