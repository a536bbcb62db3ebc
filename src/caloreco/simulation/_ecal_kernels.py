"""numba kernels of the ECAL shower simulation (private to :mod:`caloreco.simulation.ecal`).

Units: mm for positions and radii, MeV for energies.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_INV_2PI = 1.0 / (2.0 * math.pi)


@njit(cache=True, fastmath=True)
def _accumulate_component(
    u: np.ndarray, v: np.ndarray, radius: float, weight: float, out: np.ndarray, g: np.ndarray
) -> None:
    """Add ``weight`` times the cell integrals of the 2-D density R^2 / [pi (r^2 + R^2)^2].

    ``u`` (length W + 1) and ``v`` are the cell edges in x and y relative to the component's
    centre; ``out`` is the (W, W) window indexed [row (y), col (x)]. The cumulative function is
    F(x, y) = 1/4 + 1/(2 pi) [(x/a) atan(y/a) + (y/b) atan(x/b)], a = sqrt(x^2 + R^2),
    b = sqrt(y^2 + R^2); the constant 1/4 cancels in the four-corner difference.
    """
    n = u.size
    r2 = radius * radius
    for j in range(n):
        a = math.sqrt(u[j] * u[j] + r2)
        ua = u[j] / a
        for m in range(n):
            b = math.sqrt(v[m] * v[m] + r2)
            g[m, j] = ua * math.atan(v[m] / a) + (v[m] / b) * math.atan(u[j] / b)
    w = weight * _INV_2PI
    for m in range(n - 1):
        for j in range(n - 1):
            out[m, j] += w * (g[m + 1, j + 1] - g[m + 1, j] - g[m, j + 1] + g[m, j])


@njit(cache=True, fastmath=True)
def window_deposits(
    cx: np.ndarray,
    cy: np.ndarray,
    e_slice: np.ndarray,
    r_core: np.ndarray,
    r_tail: np.ndarray,
    p_core: np.ndarray,
    x_edge0: np.ndarray,
    y_edge0: np.ndarray,
    pitch: float,
    width: int,
) -> np.ndarray:
    """Mean energy of every cell of a (width x width) window, summed over longitudinal slices.

    Args:
        cx, cy: (n, S) transverse centre of each slice in mm (shower axis plus fluctuation).
        e_slice: (n, S) energy of each slice in MeV.
        r_core, r_tail: (n, S) core and tail radii in mm; p_core: (n, S) core weight.
        x_edge0, y_edge0: (n,) low edges in mm of the window's first column and row.
        pitch: cell pitch in mm; width: window size in cells.

    Returns:
        (n, width, width) energies in MeV, indexed [shower, row offset, col offset].
    """
    n, s = e_slice.shape
    out = np.zeros((n, width, width))
    u = np.empty(width + 1)
    v = np.empty(width + 1)
    g = np.empty((width + 1, width + 1))
    for i in range(n):
        for k in range(s):
            e = e_slice[i, k]
            if e <= 0.0:
                continue
            for j in range(width + 1):
                u[j] = x_edge0[i] + j * pitch - cx[i, k]
                v[j] = y_edge0[i] + j * pitch - cy[i, k]
            p = p_core[i, k]
            if p > 0.0:
                _accumulate_component(u, v, r_core[i, k], e * p, out[i], g)
            if p < 1.0:
                _accumulate_component(u, v, r_tail[i, k], e * (1.0 - p), out[i], g)
    return out


@njit(cache=True)
def spot_deposits(
    cx: np.ndarray,
    cy: np.ndarray,
    e_slice: np.ndarray,
    r_core: np.ndarray,
    r_tail: np.ndarray,
    p_core: np.ndarray,
    n_spots: np.ndarray,
    x_edge0: np.ndarray,
    y_edge0: np.ndarray,
    pitch: float,
    width: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Reference implementation by GFlash spot sampling (the benchmark's and tests' peer).

    Each slice's energy is split into ``n_spots[i, k]`` equal spots placed at radius
    r = R sqrt(u / (1 - u)) (R the core radius with probability p, else the tail radius) and a
    uniform azimuth; spots are binned into the window. Spots outside the window are lost.
    ``rng`` is a numpy Generator (numba supports it in nopython mode).
    """
    n, s = e_slice.shape
    out = np.zeros((n, width, width))
    for i in range(n):
        for k in range(s):
            m = n_spots[i, k]
            if m <= 0 or e_slice[i, k] <= 0.0:
                continue
            e_spot = e_slice[i, k] / m
            for _ in range(m):
                radius = r_core[i, k] if rng.random() < p_core[i, k] else r_tail[i, k]
                q = rng.random()
                r = radius * math.sqrt(q / (1.0 - q + 1e-300))
                ph = 2.0 * math.pi * rng.random()
                col = int(math.floor((cx[i, k] + r * math.cos(ph) - x_edge0[i]) / pitch))
                row = int(math.floor((cy[i, k] + r * math.sin(ph) - y_edge0[i]) / pitch))
                if 0 <= col < width and 0 <= row < width:
                    out[i, row, col] += e_spot
    return out
