"""Chunk-level entry points for workflow stages: simulate one chunk to a file, read many back.

A stage module only passes paths and config blocks; everything else happens here. Every chunk
of a run shares the camera (true maps from the run seed) and the measured pedestal maps (from the
run's simulated pedestal run), so chunks can be made in any order and in parallel.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from caloreco.imaging.camera import camera_from_config
from caloreco.imaging.frames import KIND_CODES, ImageFrames, concat_frames
from caloreco.imaging.pedestal import PedestalMaps
from caloreco.imaging.rawio import read_images, read_pedestal, write_images
from caloreco.imaging.simulate import recoil_spec_from_config, simulate_camera, simulate_frames

__all__ = ["simulate_chunk", "read_chunks"]


def simulate_chunk(
    out_path: str | os.PathLike,
    camera: Mapping[str, Any] | None,
    recoils: Mapping[str, Any] | None,
    seed: int,
    chunk: int,
    frames_per_chunk: int,
    n_pedestal_frames: int = 100,
    run: int = 1,
) -> dict[str, Any]:
    """Simulate events ``chunk x frames_per_chunk ..`` of a run and write them (raw contract).

    Args:
        out_path: the chunk's ``.root`` file.
        camera: the ``camera`` config block (:class:`~caloreco.imaging.camera.CameraTPC` keys).
        recoils: the ``recoils`` block (:class:`~caloreco.imaging.simulate.RecoilSpec` keys).
        seed: the run seed; chunk: the chunk index; frames_per_chunk: frames in it.
        n_pedestal_frames: frames of the simulated pedestal run that gives the measured maps.
        run: run number.

    Returns:
        A JSON-able summary: frames, kinds, recoils, seconds, frames per second, file bytes.
    """
    if chunk < 0 or frames_per_chunk < 1:
        raise ValueError(
            f"chunk, frames_per_chunk: expected >= 0 and >= 1, got {chunk}, {frames_per_chunk}"
        )
    cam = camera_from_config(camera)
    spec = recoil_spec_from_config(recoils)
    t0 = time.perf_counter()
    true, measured = simulate_camera(cam, seed, n_pedestal_frames)
    t1 = time.perf_counter()
    frames = simulate_frames(cam, spec, true, frames_per_chunk, seed, chunk * frames_per_chunk, run)
    t2 = time.perf_counter()
    info = {
        "source": "simulate",
        "detector": "camera_tpc",
        "seed": int(seed),
        "chunk": int(chunk),
        "run": int(run),
        "camera": cam.to_dict(),
        "recoils": {k: (list(v) if isinstance(v, tuple) else v) for k, v in spec.__dict__.items()},
        "n_pedestal_frames": int(n_pedestal_frames),
        "kind_codes": KIND_CODES,
        "pixel_mm": cam.pixel_mm,
        "units": {
            "energy": "keV (visible, electron-equivalent)",
            "length": "mm",
            "image": "counts",
        },
    }
    write_images(out_path, frames, measured, info, true_pedestal=true)
    return {
        "frames": len(frames),
        "frames_by_kind": {k: int((frames.kind == v).sum()) for k, v in KIND_CODES.items()},
        "recoils": int(frames.recoil_offsets[-1]),
        "pedestal_seconds": t1 - t0,
        "simulation_seconds": t2 - t1,
        "frames_per_second": len(frames) / max(t2 - t1, 1e-9),
        "write_seconds": time.perf_counter() - t2,
        "file_bytes": os.path.getsize(out_path),
    }


def read_chunks(
    paths: Sequence[str | os.PathLike], require_truth: bool = False
) -> tuple[ImageFrames, PedestalMaps]:
    """Frames of several chunk files and the pedestal maps of the first (all must agree)."""
    if not paths:
        raise ValueError("paths: expected at least one chunk file")
    parts = [read_images(p, require_truth=require_truth) for p in paths]
    ped = read_pedestal(paths[0])
    for p in paths[1:]:
        other = read_pedestal(p)
        if other.shape != ped.shape or not np.array_equal(other.mean, ped.mean):
            raise ValueError(
                f"{p}: its pedestal maps differ from those of {paths[0]} (another run?)"
            )
    return concat_frames(parts), ped
