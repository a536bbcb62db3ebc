"""Settings of an imaging (``camera_tpc``) dataset: defaults of its config sections, and the
blocks the domain functions take, built from a detector and a dataset config section.

Config layout (config/README.md): the detector's ``camera`` block holds the detector, GEM, optics
and camera-noise parameters (:class:`~caloreco.imaging.camera.CameraTPC`, without the image size);
a dataset's ``images`` block holds the frame size, the simulated pedestal run and the recoils
(:class:`~caloreco.imaging.simulate.RecoilSpec`); ``cygno`` the import options; the
``clustering.cygno`` block the classical chain (:class:`~caloreco.imaging.reco.RecoSettings`);
``anomaly`` the analysis (:class:`~caloreco.imaging.anomaly.AnomalySettings`); ``cygno_export``
the exporter. Units: keV, mm, counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from caloreco.config import with_defaults

__all__ = [
    "PRESET",
    "IMAGES_DEFAULTS",
    "CYGNO_DEFAULTS",
    "EXPORT_DEFAULTS",
    "ANOMALY_SPLIT",
    "camera_block",
    "images_settings",
    "cygno_settings",
    "export_settings",
    "anomaly_block",
    "import_plan",
]

#: the detector preset of the imaging detector
PRESET = "camera_tpc"

#: a dataset's ``images`` block: 256 x 256 crops of the 2304 x 2304 sensor (0.152 mm pixels:
#: 3.9 x 3.9 cm of the GEM plane), a simulated pedestal run of 100 frames (CYGNO takes >= 100)
IMAGES_DEFAULTS: dict[str, Any] = {
    "height": 256,
    "width": 256,
    "pedestal_frames": 100,
    "run": 1,
    "recoils": {},
}

#: a dataset's ``cygno`` block (import of the experiment's files)
CYGNO_DEFAULTS: dict[str, Any] = {
    "pedestal": None,
    "first": 0,
    "crop": None,
    "exclude": [],
    "max_pedestal_frames": 200,
}

#: a dataset's ``cygno_export`` block (simulated runs written in the experiment's layout)
EXPORT_DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "hist_type": "TH2I",
    "pad_run": False,
    "pedestal_run": 0,
}

#: train / validation / test fractions of the anomaly analysis when the dataset sets no split:
#: the autoencoder trains on pedestal-like frames only, so the test split gets a large share
ANOMALY_SPLIT = (0.5, 0.1, 0.4)


def camera_block(
    detector_cfg: Mapping[str, Any], dataset_cfg: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The :class:`~caloreco.imaging.camera.CameraTPC` keys of a dataset: the detector's
    ``camera`` block with the dataset's frame size (``images.height``, ``images.width``)."""
    cam = dict(detector_cfg.get("camera") or {})
    if dataset_cfg is not None:
        img = images_settings(dataset_cfg)
        cam["height"], cam["width"] = int(img["height"]), int(img["width"])
    return cam


def images_settings(dataset_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The dataset's ``images`` block with defaults filled in."""
    return with_defaults(IMAGES_DEFAULTS, dataset_cfg.get("images"))


def cygno_settings(dataset_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The dataset's ``cygno`` block with defaults filled in."""
    return with_defaults(CYGNO_DEFAULTS, dataset_cfg.get("cygno"))


def export_settings(dataset_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The dataset's ``cygno_export`` block with defaults filled in."""
    return with_defaults(EXPORT_DEFAULTS, dataset_cfg.get("cygno_export"))


def anomaly_block(
    anomaly_cfg: Mapping[str, Any] | None,
    split_fractions: Sequence[float] | None,
    split_seed: int,
) -> dict[str, Any]:
    """The :class:`~caloreco.imaging.anomaly.AnomalySettings` keys of a dataset: its ``anomaly``
    block plus the dataset's split (:data:`ANOMALY_SPLIT` when it sets none) and seed."""
    block = dict(anomaly_cfg or {})
    block["split_fractions"] = [float(f) for f in (split_fractions or ANOMALY_SPLIT)]
    block["split_seed"] = int(split_seed)
    return block


def import_plan(
    files: Sequence[str],
    pedestals: str | Sequence[str],
    chunks: int,
    chunk: int,
    frames_per_chunk: int | None,
    first: int = 0,
) -> dict[str, Any]:
    """Which file, pedestal and frames chunk ``chunk`` of an import of CYGNO files reads.

    The ``chunks`` chunks are spread evenly over the files (``chunks`` a multiple of their number,
    ``k = chunks / len(files)`` chunks per file): chunk ``c`` reads file ``c // k``, frames
    ``first + (c % k) * frames_per_chunk`` onwards, at most ``frames_per_chunk`` of them (all of
    the file's frames when ``frames_per_chunk`` is None, which needs ``k == 1``).

    Args:
        files: the data run files.
        pedestals: one pedestal file for every run, or one per data file.

    Returns:
        ``{"data", "pedestal", "first", "max_frames"}``.

    Raises:
        ValueError: naming the mismatch (chunks, files, pedestals, frames_per_chunk).
    """
    files = list(files)
    peds = [pedestals] if isinstance(pedestals, str) else list(pedestals)
    if not files:
        raise ValueError("files: expected at least one CYGNO run file")
    if len(peds) not in (1, len(files)):
        raise ValueError(
            f"cygno.pedestal: expected one pedestal file or one per data file ({len(files)}), "
            f"got {len(peds)}"
        )
    if chunks < 1 or chunks % len(files):
        raise ValueError(
            f"chunks: {chunks} is not a multiple of the number of files ({len(files)})"
        )
    k = chunks // len(files)
    if k > 1 and not frames_per_chunk:
        raise ValueError(
            f"frames_per_chunk: required to split each of the {len(files)} file(s) into {k} chunks"
        )
    if not 0 <= chunk < chunks:
        raise ValueError(f"chunk: expected 0 <= chunk < {chunks}, got {chunk}")
    i, j = divmod(chunk, k)
    start = int(first) + j * int(frames_per_chunk or 0)
    return {
        "data": files[i],
        "pedestal": peds[i if len(peds) > 1 else 0],
        "first": start,
        "max_frames": None if frames_per_chunk is None else int(frames_per_chunk),
    }
