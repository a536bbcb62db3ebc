"""The Lednev transverse shower profile of a shashlik module (coral's parametrisation).

F(x, y) is the fraction of a photon's energy in the quadrant x' < x, y' < y (photon at the
origin); a cell's fraction is the four-corner difference of F. Parameters from coral for the
COMPASS shashlik (A. Lednev, NIM A366 (1995) 292): a = (0.885, -0.14, 0.255),
b = (8.104, 55.86, 1.52) mm. Units: mm.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LEDNEV_A", "LEDNEV_B", "lednev_cumulative", "cell_fractions", "window_fractions"]

LEDNEV_A = np.array([0.885, -0.14, 0.255])
LEDNEV_B = np.array([8.104, 55.86, 1.52])


def lednev_cumulative(
    x: np.ndarray, y: np.ndarray, a: np.ndarray = LEDNEV_A, b: np.ndarray = LEDNEV_B
) -> np.ndarray:
    """F(x, y): energy fraction in x' < x, y' < y for a photon at the origin (x, y in mm)."""
    x = np.asarray(x, dtype=np.float64)[..., None]
    y = np.asarray(y, dtype=np.float64)[..., None]
    terms = (
        np.arctan(x / b)
        + np.arctan(y / b)
        + np.arctan(x * y / (b * np.sqrt(b * b + x * x + y * y)))
    )
    return 0.25 + (terms * a).sum(axis=-1) / (2 * np.pi)


def cell_fractions(
    x_lo: np.ndarray, x_hi: np.ndarray, y_lo: np.ndarray, y_hi: np.ndarray
) -> np.ndarray:
    """Energy fraction in the rectangle [x_lo, x_hi] x [y_lo, y_hi] (mm, photon at the origin)."""
    return (
        lednev_cumulative(x_hi, y_hi)
        - lednev_cumulative(x_lo, y_hi)
        - lednev_cumulative(x_hi, y_lo)
        + lednev_cumulative(x_lo, y_lo)
    )


def window_fractions(x_mm: np.ndarray, y_mm: np.ndarray, size: int, pitch_mm: float) -> np.ndarray:
    """Expected fractions (n, size, size) of photons at (x, y) in a size x size window.

    Coordinates are relative to the window's lower-left cell centre; ``[i, r, c]`` is the cell
    in row r (y) and column c (x), whose centre is at (c * pitch, r * pitch).
    """
    x = np.atleast_1d(np.asarray(x_mm, dtype=np.float64))
    y = np.atleast_1d(np.asarray(y_mm, dtype=np.float64))
    centres = np.arange(size) * pitch_mm
    lo, hi = centres - pitch_mm / 2, centres + pitch_mm / 2
    # separable corners: evaluate F on the (size+1) x (size+1) grid of cell corners
    edges = np.concatenate([lo, hi[-1:]])
    gx = edges[None, None, :] - x[:, None, None]
    gy = edges[None, :, None] - y[:, None, None]
    F = lednev_cumulative(
        np.broadcast_to(gx, (x.size, size + 1, size + 1)),
        np.broadcast_to(gy, (x.size, size + 1, size + 1)),
    )
    return F[:, 1:, 1:] - F[:, :-1, 1:] - F[:, 1:, :-1] + F[:, :-1, :-1]
