"""Chunk-level entry points for workflow stages: simulate one chunk to a file, read many back,
export a simulated chunk and its pedestal run in CYGNO's layout.

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

from caloreco.errors import InputError
from caloreco.imaging.camera import camera_from_config
from caloreco.imaging.cygno import write_cygno_pedmap, write_cygno_run
from caloreco.imaging.frames import KIND_CODES, ImageFrames, concat_frames
from caloreco.imaging.pedestal import PedestalMaps, pedestal_from_frames
from caloreco.imaging.rawio import read_image_run_info, read_images, read_pedestal, write_images
from caloreco.imaging.simulate import (
    recoil_spec_from_config,
    simulate_camera,
    simulate_frames,
    simulate_pedestal_run,
)

__all__ = ["simulate_chunk", "read_chunks", "export_cygno_chunk", "export_cygno_pedestal"]


def simulate_chunk(
    out_path: str | os.PathLike,
    camera: Mapping[str, Any] | None,
    recoils: Mapping[str, Any] | None,
    seed: int,
    chunk: int,
    frames_per_chunk: int,
    n_pedestal_frames: int = 100,
    run: int = 1,
    extra_info: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Simulate events ``chunk x frames_per_chunk ..`` of a run and write them (raw contract).

    Args:
        out_path: the chunk's ``.root`` file.
        camera: the ``camera`` config block (:class:`~caloreco.imaging.camera.CameraTPC` keys).
        recoils: the ``recoils`` block (:class:`~caloreco.imaging.simulate.RecoilSpec` keys).
        seed: the run seed; chunk: the chunk index; frames_per_chunk: frames in it.
        n_pedestal_frames: frames of the simulated pedestal run that gives the measured maps.
        run: run number.
        extra_info: further JSON-able entries of the run info (e.g. the dataset name).

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
    info = dict(extra_info or {}) | {
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
        "simulation_seconds": t2 - t1,
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


def export_cygno_chunk(
    raw_path: str | os.PathLike,
    out_path: str | os.PathLike,
    hist_type: str = "TH2I",
    pad_run: bool = False,
) -> dict[str, Any]:
    """Write the frames of one raw image chunk as a CYGNO run file (``pic_run{run}_ev{event}``).

    Only the camera frames go out (CYGNO's files carry no truth). Returns a JSON-able summary:
    frames, run, histogram type, the first and last key and the file size.

    Raises:
        InputError: an unreadable raw chunk, or frames of more than one run.
    """
    frames = read_images(raw_path)
    runs = np.unique(frames.run)
    if runs.size > 1:
        raise InputError(f"{raw_path}: frames of runs {runs.tolist()}; a CYGNO file holds one run")
    run = int(runs[0]) if runs.size else int(read_image_run_info(raw_path).get("run", 1))
    keys = write_cygno_run(out_path, frames.image, frames.event, run, hist_type, pad_run)
    return {
        "frames": len(frames),
        "run": run,
        "hist_type": hist_type,
        "keys": [keys[0], keys[-1]] if keys else [],
        "file_bytes": os.path.getsize(out_path),
    }


def export_cygno_pedestal(
    raw_path: str | os.PathLike,
    run_out: str | os.PathLike,
    pedmap_out: str | os.PathLike,
    pedestal_run: int = 0,
    hist_type: str = "TH2I",
    pad_run: bool = False,
) -> dict[str, Any]:
    """The pedestal run of a simulated dataset in CYGNO's layout, and its map file.

    The pedestal frames are made again from the run info of ``raw_path`` (camera, seed, number
    of pedestal frames): the very frames the simulation measured its maps on, which is checked
    against the maps stored in the chunk. ``run_out`` gets them as ``pic_run{pedestal_run}_ev{i}``
    histograms, ``pedmap_out`` the maps as CYGNO's TH2D ``pedmap`` (mean, error = RMS).

    Raises:
        InputError: a chunk that was not simulated, or whose maps the regenerated pedestal run
            does not reproduce (made by other code or another config).
    """
    info = read_image_run_info(raw_path)
    if info.get("source") != "simulate" or "camera" not in info:
        raise InputError(
            f"{raw_path}: not a simulated image chunk (source {info.get('source')!r}); only "
            "simulated runs have a pedestal run to export"
        )
    cam = camera_from_config(info["camera"])
    n = int(info["n_pedestal_frames"])
    _, frames = simulate_pedestal_run(cam, int(info["seed"]), n)
    stored = read_pedestal(raw_path)
    again = pedestal_from_frames(frames, max_frames=n)
    if not (np.array_equal(again.mean, stored.mean) and np.array_equal(again.rms, stored.rms)):
        raise InputError(
            f"{raw_path}: the regenerated pedestal run does not reproduce the chunk's pedestal "
            "maps (simulated by another version of the code?)"
        )
    keys = write_cygno_run(run_out, frames, np.arange(n), pedestal_run, hist_type, pad_run)
    write_cygno_pedmap(pedmap_out, stored)
    return {
        "frames": n,
        "run": int(pedestal_run),
        "keys": [keys[0], keys[-1]],
        "file_bytes": os.path.getsize(run_out) + os.path.getsize(pedmap_out),
    }
