"""Detector presets: cell tables with centres, angles and side neighbours.

Two presets cover the two experiments the project serves:

* ``ecal``: a COMPASS-ECAL2-like planar shashlik grid (default 48 x 48 cells of 38.3 mm) whose
  front face is ``z_front_mm`` downstream of the target. ``row`` runs along y, ``col`` along x.
* ``califa``: a CALIFA-like CsI(Tl) barrel + end cap, described as theta rings x phi segments on a
  spherical shell of inner radius ``inner_radius_mm`` and crystal length ``crystal_length_mm``.
  ``row`` is the theta ring, ``col`` the phi segment.

Units: mm and rad throughout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Geometry",
    "ecal_geometry",
    "califa_geometry",
    "make_geometry",
    "geometry_from_directions",
    "PRESETS",
]


@dataclass(frozen=True)
class Geometry:
    """A detector's cell table.

    All per-cell arrays have length ``n_cells`` and are indexed by ``cell_id`` (ids are
    ``0 .. n_cells-1``, so an id is also an array index).

    Attributes:
        name: preset name (``"ecal"`` or ``"califa"``).
        kind: ``"planar"`` (x, y grid on a plane at fixed z) or ``"barrel"`` (theta x phi shell).
        cell_id, row, col: int32 identifiers; ``row``/``col`` are grid indices.
        x, y, z: cell front-face centres in mm (target at the origin, beam along +z).
        theta, phi: direction of the cell centre seen from the target in rad; phi in [0, 2 pi).
        n_rows, n_cols: grid size (for ``califa`` ``n_cols`` is the largest ring's segment count).
        neighbour_offsets, neighbour_index: side neighbours in CSR form: the neighbours of
            cell ``i`` are ``neighbour_index[neighbour_offsets[i]:neighbour_offsets[i + 1]]``.
        params: the preset parameters the table was built from (for the ``run`` tree).
        theta_edges: (califa) ring edges in rad, length ``n_rows + 1``.
        ring_segments: (califa) number of phi segments of each ring.
        ring_first_cell: (califa) id of the first cell of each ring.
    """

    name: str
    kind: str
    cell_id: np.ndarray
    row: np.ndarray
    col: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    theta: np.ndarray
    phi: np.ndarray
    n_rows: int
    n_cols: int
    neighbour_offsets: np.ndarray
    neighbour_index: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    theta_edges: np.ndarray | None = None
    ring_segments: np.ndarray | None = None
    ring_first_cell: np.ndarray | None = None

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return int(self.cell_id.size)

    def neighbours(self, cell: int) -> np.ndarray:
        """Side neighbours of one cell (ids)."""
        return self.neighbour_index[self.neighbour_offsets[cell] : self.neighbour_offsets[cell + 1]]

    @property
    def pitch(self) -> float:
        """Cell pitch in mm (planar detectors only)."""
        if self.kind != "planar":
            raise AttributeError(f"detector {self.name!r} is not planar and has no single pitch")
        return float(self.params["pitch_mm"])

    def cell_at(self, row: np.ndarray, col: np.ndarray) -> np.ndarray:
        """Cell id at grid position (row, col); -1 outside the detector (planar detectors)."""
        row = np.asarray(row)
        col = np.asarray(col)
        if self.kind != "planar":
            raise AttributeError(f"detector {self.name!r} is not a regular grid")
        inside = (row >= 0) & (row < self.n_rows) & (col >= 0) & (col < self.n_cols)
        return np.where(inside, row * self.n_cols + col, -1).astype(np.int64)

    def table(self) -> dict[str, np.ndarray]:
        """The cell table as a dict of arrays (the ``cells`` tree of a raw file)."""
        return {
            "cell_id": self.cell_id,
            "row": self.row,
            "col": self.col,
            "x": self.x.astype(np.float32),
            "y": self.y.astype(np.float32),
            "z": self.z.astype(np.float32),
            "theta": self.theta.astype(np.float32),
            "phi": self.phi.astype(np.float32),
        }


def _csr(pairs_a: np.ndarray, pairs_b: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric CSR adjacency from an undirected edge list."""
    a = np.concatenate([pairs_a, pairs_b]).astype(np.int64)
    b = np.concatenate([pairs_b, pairs_a]).astype(np.int64)
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    keep = np.ones(a.size, dtype=bool)
    keep[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    a, b = a[keep], b[keep]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.add.at(offsets, a + 1, 1)
    return np.cumsum(offsets), b.astype(np.int32)


def ecal_geometry(
    n_rows: int = 48, n_cols: int = 48, pitch_mm: float = 38.3, z_front_mm: float = 33027.0
) -> Geometry:
    """COMPASS-like planar ECAL: ``n_rows`` x ``n_cols`` square cells of ``pitch_mm``.

    The grid is centred on the beam axis; cell ``(row, col)`` has its centre at
    ``x = (col - (n_cols - 1) / 2) * pitch``, ``y = (row - (n_rows - 1) / 2) * pitch`` (mm) on the
    front face at ``z = z_front_mm``. Defaults follow coral (physics.md section 1).
    """
    if n_rows < 1 or n_cols < 1 or pitch_mm <= 0 or z_front_mm <= 0:
        raise ValueError(
            f"ecal geometry needs positive n_rows, n_cols, pitch_mm, z_front_mm; got "
            f"{n_rows}, {n_cols}, {pitch_mm}, {z_front_mm}"
        )
    row, col = np.divmod(np.arange(n_rows * n_cols, dtype=np.int32), n_cols)
    x = (col - (n_cols - 1) / 2.0) * pitch_mm
    y = (row - (n_rows - 1) / 2.0) * pitch_mm
    z = np.full(x.shape, float(z_front_mm))
    r = np.hypot(x, y)
    theta = np.arctan2(r, z)
    phi = np.mod(np.arctan2(y, x), 2 * np.pi)
    ids = np.arange(n_rows * n_cols, dtype=np.int32)
    right = ids[col < n_cols - 1]
    up = ids[row < n_rows - 1]
    off, idx = _csr(np.concatenate([right, up]), np.concatenate([right + 1, up + n_cols]), ids.size)
    return Geometry(
        name="ecal",
        kind="planar",
        cell_id=ids,
        row=row.astype(np.int32),
        col=col.astype(np.int32),
        x=x,
        y=y,
        z=z,
        theta=theta,
        phi=phi,
        n_rows=n_rows,
        n_cols=n_cols,
        neighbour_offsets=off,
        neighbour_index=idx,
        params={
            "n_rows": n_rows,
            "n_cols": n_cols,
            "pitch_mm": pitch_mm,
            "z_front_mm": z_front_mm,
        },
    )


def califa_geometry(
    barrel_rings: int = 30,
    barrel_segments: int = 64,
    endcap_rings: int = 15,
    endcap_segments: int = 32,
    theta_min_deg: float = 19.0,
    theta_split_deg: float = 43.0,
    theta_max_deg: float = 140.0,
    inner_radius_mm: float = 300.0,
    crystal_length_mm: float = 180.0,
) -> Geometry:
    """CALIFA-like barrel + end cap as theta rings x phi segments (2400 crystals by default).

    The barrel covers ``theta_split_deg``-``theta_max_deg`` with ``barrel_rings`` rings of
    ``barrel_segments`` crystals, the end cap (iPhos) ``theta_min_deg``-``theta_split_deg`` with
    ``endcap_rings`` x ``endcap_segments``; rings are equal in theta. Crystals are the volumes
    ``inner_radius_mm <= r <= inner_radius_mm + crystal_length_mm`` of a spherical shell (inner
    radius and length are assumptions, physics.md section 2). Cell centres (x, y, z) are on the
    inner face. Side neighbours: the two phi neighbours in the ring (wrapping at phi = 0 / 2 pi)
    and the crystals of the adjacent rings whose phi ranges overlap.
    """
    if not (0 < theta_min_deg < theta_split_deg < theta_max_deg < 180):
        raise ValueError(
            "califa geometry needs 0 < theta_min_deg < theta_split_deg < theta_max_deg < 180, got "
            f"{theta_min_deg}, {theta_split_deg}, {theta_max_deg}"
        )
    if min(barrel_rings, barrel_segments, endcap_rings, endcap_segments) < 1:
        raise ValueError("califa geometry needs at least one ring and one segment in each part")
    if inner_radius_mm <= 0 or crystal_length_mm <= 0:
        raise ValueError("califa geometry needs positive inner_radius_mm and crystal_length_mm")
    edges = np.concatenate(
        [
            np.linspace(np.radians(theta_min_deg), np.radians(theta_split_deg), endcap_rings + 1),
            np.linspace(np.radians(theta_split_deg), np.radians(theta_max_deg), barrel_rings + 1)[
                1:
            ],
        ]
    )
    n_rings = endcap_rings + barrel_rings
    segments = np.array([endcap_segments] * endcap_rings + [barrel_segments] * barrel_rings)
    first = np.concatenate([[0], np.cumsum(segments)[:-1]])
    n = int(segments.sum())
    row = np.repeat(np.arange(n_rings), segments).astype(np.int32)
    col = (np.arange(n) - first[row]).astype(np.int32)
    seg = segments[row]
    theta = 0.5 * (edges[row] + edges[row + 1])
    phi = (col + 0.5) * 2 * np.pi / seg
    x = inner_radius_mm * np.sin(theta) * np.cos(phi)
    y = inner_radius_mm * np.sin(theta) * np.sin(phi)
    z = inner_radius_mm * np.cos(theta)
    ids = np.arange(n, dtype=np.int32)
    # phi neighbours inside a ring, wrapping at the seam
    a_list = [ids]
    b_list = [first[row] + (col + 1) % seg]
    # ring neighbours: overlapping phi intervals of adjacent rings
    for r in range(n_rings - 1):
        s0, s1 = segments[r], segments[r + 1]
        c0 = np.arange(s0)
        lo0, hi0 = c0 / s0, (c0 + 1) / s0
        c1 = np.arange(s1)
        lo1, hi1 = c1 / s1, (c1 + 1) / s1
        overlap = (lo0[:, None] < hi1[None, :] - 1e-12) & (lo1[None, :] < hi0[:, None] - 1e-12)
        i0, i1 = np.nonzero(overlap)
        a_list.append(first[r] + i0)
        b_list.append(first[r + 1] + i1)
    a = np.concatenate(a_list)
    b = np.concatenate(b_list)
    keep = a != b
    off, idx = _csr(a[keep], b[keep], n)
    return Geometry(
        name="califa",
        kind="barrel",
        cell_id=ids,
        row=row,
        col=col,
        x=x,
        y=y,
        z=z,
        theta=theta,
        phi=phi,
        n_rows=n_rings,
        n_cols=int(segments.max()),
        neighbour_offsets=off,
        neighbour_index=idx,
        params={
            "barrel_rings": barrel_rings,
            "barrel_segments": barrel_segments,
            "endcap_rings": endcap_rings,
            "endcap_segments": endcap_segments,
            "theta_min_deg": theta_min_deg,
            "theta_split_deg": theta_split_deg,
            "theta_max_deg": theta_max_deg,
            "inner_radius_mm": inner_radius_mm,
            "crystal_length_mm": crystal_length_mm,
        },
        theta_edges=edges,
        ring_segments=segments.astype(np.int32),
        ring_first_cell=first.astype(np.int64),
    )


PRESETS = {"ecal": ecal_geometry, "califa": califa_geometry}


def make_geometry(preset: str, **params: Any) -> Geometry:
    """Build a preset's geometry from keyword parameters (the ``geometry`` config block)."""
    try:
        factory = PRESETS[preset]
    except KeyError:
        raise ValueError(
            f"unknown detector preset {preset!r}; expected one of {sorted(PRESETS)}"
        ) from None
    return factory(**params)


def califa_cell_from_direction(geom: Geometry, theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Crystal id hit by direction (theta, phi) in rad; -1 outside the covered theta range."""
    if geom.theta_edges is None:
        raise ValueError(f"detector {geom.name!r} has no theta rings")
    theta = np.asarray(theta, dtype=np.float64)
    phi = np.mod(np.asarray(phi, dtype=np.float64), 2 * np.pi)
    ring = np.searchsorted(geom.theta_edges, theta, side="right") - 1
    inside = (ring >= 0) & (ring < geom.n_rows)
    ring_c = np.clip(ring, 0, geom.n_rows - 1)
    seg = geom.ring_segments[ring_c]
    col = np.minimum((phi / (2 * np.pi) * seg).astype(np.int64), seg - 1)
    return np.where(inside, geom.ring_first_cell[ring_c] + col, -1)


def geometry_from_directions(
    theta: np.ndarray, phi: np.ndarray, radius_mm: float, neighbour_angle_rad: float
) -> tuple[Geometry, np.ndarray]:
    """A cell table from the unique (theta, phi) crystal centres seen in data.

    Returns the geometry (cells on a sphere of ``radius_mm``; neighbours are cells closer than
    ``neighbour_angle_rad``) and the cell id of every input hit.
    """
    key = np.round(np.stack([theta, np.mod(phi, 2 * np.pi)], axis=1), 9)
    uniq, inverse = np.unique(key, axis=0, return_inverse=True)
    th, ph = uniq[:, 0], uniq[:, 1]
    n = th.size
    ux, uy, uz = np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)
    cos_lim = np.cos(neighbour_angle_rad)
    # cell tables are small (thousands): an n^2 comparison is fine and done once per chunk
    dots = ux[:, None] * ux[None, :] + uy[:, None] * uy[None, :] + uz[:, None] * uz[None, :]
    a, b = np.nonzero(np.triu(dots > cos_lim, k=1))
    off, idx = _csr(a, b, n)
    geom = Geometry(
        name="from_data",
        kind="barrel",
        cell_id=np.arange(n, dtype=np.int32),
        row=np.full(n, -1, dtype=np.int32),
        col=np.full(n, -1, dtype=np.int32),
        x=radius_mm * ux,
        y=radius_mm * uy,
        z=radius_mm * uz,
        theta=th,
        phi=ph,
        n_rows=0,
        n_cols=0,
        neighbour_offsets=off,
        neighbour_index=idx,
        params={"radius_mm": radius_mm, "neighbour_angle_rad": neighbour_angle_rad},
    )
    return geom, inverse.reshape(-1).astype(np.int32)
