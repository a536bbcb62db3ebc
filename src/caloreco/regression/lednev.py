"""The Lednev transverse shower profile of a shashlik module (coral's parametrisation).

``F(x, y)`` is the fraction of a photon's energy deposited in the quadrant x' < x, y' < y for a
photon entering at the origin (A. Lednev, NIM A366 (1995) 292):

    F(x, y) = 1/4 + 1/(2 pi) sum_i a_i [atan(x/b_i) + atan(y/b_i)
                                        + atan(x y / (b_i sqrt(b_i^2 + x^2 + y^2)))]

with sum a_i = 1. A cell's fraction is the four-corner difference of F. The COMPASS shashlik
parameters from coral are a = (0.885, -0.14, 0.255), b = (8.104, 55.86, 1.52) mm.

The partial derivatives have the closed form

    dF/dx = 1/(2 pi) sum_i a_i b_i / (b_i^2 + x^2) * (1 + y / sqrt(b_i^2 + x^2 + y^2))

(and symmetrically dF/dy), which gives the analytic Jacobian of the shower-profile fit.

Windows use the convention of :mod:`caloreco.regression.windows`: ``[i, r, c]`` is the cell in row r (y)
and column c (x) whose centre is at (c * pitch, r * pitch) relative to the lower-left cell centre.
All lengths in mm.
"""

from __future__ import annotations

import numpy as np

from caloreco.constants import LEDNEV_SHASHLIK_A, LEDNEV_SHASHLIK_B

__all__ = [
    "LEDNEV_A",
    "LEDNEV_B",
    "lednev_cumulative",
    "lednev_gradient",
    "cell_fractions",
    "lednev_window_fractions",
    "lednev_window_fractions_and_jacobian",
]

#: coral's shashlik parameters (:mod:`caloreco.constants`) as arrays
LEDNEV_A = np.array(LEDNEV_SHASHLIK_A)
LEDNEV_B = np.array(LEDNEV_SHASHLIK_B)


def _params(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"a, b: expected two 1-d arrays of equal length, got {a.shape}, {b.shape}")
    if np.any(b <= 0):
        raise ValueError(f"b: expected positive lengths (mm), got {b}")
    return a, b


def lednev_cumulative(
    x: np.ndarray, y: np.ndarray, a: np.ndarray = LEDNEV_A, b: np.ndarray = LEDNEV_B
) -> np.ndarray:
    """F(x, y): energy fraction in x' < x, y' < y for a photon at the origin (x, y in mm).

    ``x`` and ``y`` broadcast against each other; the result has their broadcast shape.
    """
    a, b = _params(a, b)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    out = np.full(np.broadcast_shapes(x.shape, y.shape), 0.25)
    for ai, bi in zip(a, b, strict=True):
        r = np.sqrt(bi * bi + x * x + y * y)
        out += (ai / (2 * np.pi)) * (
            np.arctan(x / bi) + np.arctan(y / bi) + np.arctan(x * y / (bi * r))
        )
    return out


def lednev_gradient(
    x: np.ndarray, y: np.ndarray, a: np.ndarray = LEDNEV_A, b: np.ndarray = LEDNEV_B
) -> tuple[np.ndarray, np.ndarray]:
    """(dF/dx, dF/dy) in 1/mm at (x, y) mm, the closed form of the module docstring."""
    a, b = _params(a, b)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    shape = np.broadcast_shapes(x.shape, y.shape)
    fx = np.zeros(shape)
    fy = np.zeros(shape)
    for ai, bi in zip(a, b, strict=True):
        r = np.sqrt(bi * bi + x * x + y * y)
        c = ai * bi / (2 * np.pi)
        fx += c / (bi * bi + x * x) * (1.0 + y / r)
        fy += c / (bi * bi + y * y) * (1.0 + x / r)
    return fx, fy


def cell_fractions(
    x_lo: np.ndarray,
    x_hi: np.ndarray,
    y_lo: np.ndarray,
    y_hi: np.ndarray,
    a: np.ndarray = LEDNEV_A,
    b: np.ndarray = LEDNEV_B,
) -> np.ndarray:
    """Energy fraction in the rectangle [x_lo, x_hi] x [y_lo, y_hi] (mm, photon at the origin)."""
    return (
        lednev_cumulative(x_hi, y_hi, a, b)
        - lednev_cumulative(x_lo, y_hi, a, b)
        - lednev_cumulative(x_hi, y_lo, a, b)
        + lednev_cumulative(x_lo, y_lo, a, b)
    )


def _check_window_args(
    x_mm: np.ndarray, y_mm: np.ndarray, size: int, pitch_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    x = np.atleast_1d(np.asarray(x_mm, dtype=np.float64))
    y = np.atleast_1d(np.asarray(y_mm, dtype=np.float64))
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(
            f"x_mm, y_mm: expected 1-d arrays of equal length, got {x.shape}, {y.shape}"
        )
    if int(size) != size or size < 1:
        raise ValueError(f"size: expected a positive integer, got {size!r}")
    if not pitch_mm > 0:
        raise ValueError(f"pitch_mm: expected a positive cell pitch, got {pitch_mm!r}")
    return x, y


def _corners(x: np.ndarray, y: np.ndarray, size: int, pitch_mm: float):
    edges = (np.arange(size + 1) - 0.5) * pitch_mm
    gx = edges[None, None, :] - x[:, None, None]  # (n, 1, size+1): column edges
    gy = edges[None, :, None] - y[:, None, None]  # (n, size+1, 1): row edges
    return gx, gy


def _difference(F: np.ndarray) -> np.ndarray:
    """Four-corner difference of corner values (n, size+1, size+1) -> cells (n, size, size)."""
    return F[:, 1:, 1:] - F[:, :-1, 1:] - F[:, 1:, :-1] + F[:, :-1, :-1]


def lednev_window_fractions(
    x_mm: np.ndarray,
    y_mm: np.ndarray,
    size: int,
    pitch: float,
    a: np.ndarray = LEDNEV_A,
    b: np.ndarray = LEDNEV_B,
) -> np.ndarray:
    """Expected energy fractions (n, size, size) of photons at (x, y) in a size x size window.

    Args:
        x_mm, y_mm: (n,) impact points relative to the window's lower-left cell centre (mm).
        size: window size in cells.
        pitch: cell pitch (mm).
        a, b: Lednev parameters (default: coral's shashlik values; b in mm).

    Returns:
        float64 (n, size, size); ``[i, r, c]`` is the cell of row r (y), column c (x).
    """
    x, y = _check_window_args(x_mm, y_mm, size, pitch)
    gx, gy = _corners(x, y, int(size), float(pitch))
    # F on the (size+1) x (size+1) grid of cell corners, then the four-corner difference
    return _difference(lednev_cumulative(gx, gy, a, b))


def lednev_window_fractions_and_jacobian(
    x_mm: np.ndarray,
    y_mm: np.ndarray,
    size: int,
    pitch: float,
    a: np.ndarray = LEDNEV_A,
    b: np.ndarray = LEDNEV_B,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fractions (n, size, size) and their derivatives d/dx, d/dy of the impact point (1/mm).

    A cell's fraction depends on the impact point through F(edge - x, edge - y), so
    d(fraction)/dx is minus the four-corner difference of dF/dx.
    """
    x, y = _check_window_args(x_mm, y_mm, size, pitch)
    gx, gy = _corners(x, y, int(size), float(pitch))
    F = lednev_cumulative(gx, gy, a, b)
    Fx, Fy = lednev_gradient(gx, gy, a, b)
    return _difference(F), -_difference(Fx), -_difference(Fy)
