"""Camera frames in memory: the arrays of the raw image contract (see :mod:`.rawio`).

Frame-level arrays have one entry per frame; recoil-level arrays are flattened with
``recoil_offsets`` (frame ``i`` owns ``recoil_offsets[i]:recoil_offsets[i+1]``).
Units: counts, keV, mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["KIND_CODES", "RECOIL_FIELDS", "ImageFrames", "concat_frames"]

#: frame / recoil kind codes (stored in the run info)
KIND_CODES = {"pedestal": 0, "ER": 1, "NR": 2, "mixed": 3}

RECOIL_FIELDS = (
    "recoil_kind",
    "recoil_energy_kev",
    "recoil_ekin_kev",
    "recoil_x_mm",
    "recoil_y_mm",
    "recoil_z_mm",
    "recoil_path_mm",
    "recoil_extent_mm",
    "recoil_cx_mm",
    "recoil_cy_mm",
    "recoil_light",
    "recoil_electrons",
)


@dataclass
class ImageFrames:
    """Frames in the raw image contract (design.md "Image data"); see :mod:`.rawio`.

    Frame-level arrays have one entry per frame; recoil-level arrays are flattened with
    ``recoil_offsets`` (frame ``i`` owns ``recoil_offsets[i]:recoil_offsets[i+1]``).
    ``truth_light`` / ``truth_recoil`` are ``None`` for imported data.
    """

    event: np.ndarray
    run: np.ndarray
    image: np.ndarray
    kind: np.ndarray
    energy_kev: np.ndarray
    truth_light: np.ndarray | None = None
    truth_recoil: np.ndarray | None = None
    recoil_offsets: np.ndarray | None = None
    recoils: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return int(self.event.size)

    @property
    def has_truth(self) -> bool:
        return self.truth_light is not None

    def select(self, mask: np.ndarray) -> ImageFrames:
        """The frames where ``mask`` (bool, one per frame) is true."""
        mask = np.asarray(mask, bool)
        if mask.shape != self.event.shape:
            raise ValueError(f"mask: expected shape {self.event.shape}, got {mask.shape}")
        idx = np.flatnonzero(mask)
        rec = off = None
        if self.recoil_offsets is not None:
            counts = np.diff(self.recoil_offsets)[idx]
            off = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            starts = self.recoil_offsets[idx]
            take = np.repeat(starts - off[:-1], counts) + np.arange(off[-1])
            rec = {k: v[take] for k, v in self.recoils.items()}
        return ImageFrames(
            self.event[idx],
            self.run[idx],
            self.image[idx],
            self.kind[idx],
            self.energy_kev[idx],
            None if self.truth_light is None else self.truth_light[idx],
            None if self.truth_recoil is None else self.truth_recoil[idx],
            off,
            rec,
        )


def concat_frames(parts: list[ImageFrames]) -> ImageFrames:
    """Frames of several chunks in one :class:`ImageFrames` (all with or all without truth)."""
    if not parts:
        raise ValueError("parts: expected at least one ImageFrames")
    truth = {p.has_truth for p in parts}
    if len(truth) != 1:
        raise ValueError("parts: cannot mix frames with and without truth")
    shapes = {p.image.shape[1:] for p in parts}
    if len(shapes) != 1:
        raise ValueError(f"parts: frames of different shapes {sorted(shapes)}")

    def cat(name):
        return np.concatenate([getattr(p, name) for p in parts])

    out = ImageFrames(*(cat(n) for n in ("event", "run", "image", "kind", "energy_kev")))
    if parts[0].has_truth:
        out.truth_light = cat("truth_light")
        out.truth_recoil = cat("truth_recoil")
    if parts[0].recoil_offsets is not None:
        counts = np.concatenate([np.diff(p.recoil_offsets) for p in parts])
        out.recoil_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        out.recoils = {k: np.concatenate([p.recoils[k] for p in parts]) for k in parts[0].recoils}
    return out
