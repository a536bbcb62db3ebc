"""CYGNO's ROOT image format: import into the raw image contract and export of simulated runs.

The experiment's layout (CYGNUS-RD/reconstruction, winter23):

* a run file holds one 2-D histogram per camera frame, named ``pic_run{run}_ev{ev}`` (TH2S in
  data, the run zero-padded to five digits; TH2I in the simulation, not padded); the
  reconstruction matches the keys with the regex ``\\S+run(\\d+)_ev(\\d+)``;
* the frame as an array is ``hist.values().T[::-1]`` (``utilities.rootflip``: uproot's (x, y)
  transposed to (row, column), then flipped vertically to the MIDAS orientation);
* a pedestal is either a pedestal run (frames with the GEM HV off, same layout) or a map file with
  a TH2D ``pedmap`` whose bin content is the per-pixel mean and whose bin error is the RMS, stored
  as ``pedmap[ix, iy] = mean[iy, ix]`` (no flip: it was built from flipped frames).

TH2S holds signed 16-bit numbers while the camera's counts are unsigned: values of a TH2S are
reinterpreted as uint16 (a count above 32767 written to a TH2S wraps to a negative number).
Units: counts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from caloreco.errors import InputError
from caloreco.imaging.frames import ImageFrames
from caloreco.imaging.pedestal import PedestalMaps, pedestal_from_frames
from caloreco.io.files import atomic_path

__all__ = [
    "PIC_PATTERN",
    "list_pictures",
    "read_cygno_frames",
    "read_cygno_pedestal",
    "import_cygno",
    "write_cygno_run",
    "write_cygno_pedmap",
]

#: the reconstruction's key pattern
PIC_PATTERN = re.compile(r"\S+run(\d+)_ev(\d+)")
_IMAGE_CLASSES = ("TH2S", "TH2I", "TH2F", "TH2D", "TH2C")


def _open(path: str | os.PathLike):
    import uproot

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file does not exist")
    try:
        return uproot.open(path)
    except Exception as exc:  # uproot raises many types for corrupt files
        raise InputError(
            f"{path}: cannot be read as a ROOT file ({type(exc).__name__}: {exc})"
        ) from exc


def list_pictures(path: str | os.PathLike) -> list[tuple[int, int, str]]:
    """The ``pic_run*_ev*`` histograms of a CYGNO file as ``(run, event, key)``, sorted.

    Raises:
        InputError: unreadable file, or no key matching the pattern.
    """
    with _open(path) as f:
        try:
            classes = f.classnames(cycle=False)
        except Exception as exc:
            raise InputError(f"{path}: cannot list the keys ({type(exc).__name__}: {exc})") from exc
    out = []
    for key, cls in classes.items():
        if "pic" not in key:
            continue
        m = PIC_PATTERN.match(key)
        if m is None:
            continue
        if cls not in _IMAGE_CLASSES:
            raise InputError(
                f"{path}: histogram {key!r} is a {cls}; expected a TH2S/TH2I camera frame"
            )
        out.append((int(m.group(1)), int(m.group(2)), key))
    if not out:
        raise InputError(
            f"{path}: no camera frames (keys matching 'pic_run<run>_ev<event>'); keys: "
            f"{sorted(classes)[:10]}"
        )
    return sorted(out)


def _frame(f, path, key: str) -> np.ndarray:
    try:
        h = f[key]
        vals = h.values()
    except Exception as exc:
        raise InputError(
            f"{path}: histogram {key!r} cannot be read ({type(exc).__name__}: {exc})"
        ) from exc
    if vals.ndim != 2:
        raise InputError(f"{path}: histogram {key!r} is not 2-D (shape {vals.shape})")
    img = vals.T[::-1]
    if vals.dtype == np.int16:
        return np.ascontiguousarray(img).view(np.uint16)
    if not np.isfinite(img).all() or img.min() < 0 or img.max() > 65535:
        raise InputError(
            f"{path}: histogram {key!r} has counts outside the 16-bit camera range [0, 65535] "
            f"(min {img.min()}, max {img.max()})"
        )
    return np.rint(img).astype(np.uint16)


def _crop(img: np.ndarray, crop, path, key) -> np.ndarray:
    if crop is None:
        return img
    r0, c0, h, w = (int(v) for v in crop)
    if r0 < 0 or c0 < 0 or h < 1 or w < 1 or r0 + h > img.shape[0] or c0 + w > img.shape[1]:
        raise InputError(
            f"{path}: crop (row {r0}, col {c0}, {h} x {w}) does not fit histogram {key!r} of "
            f"{img.shape[0]} x {img.shape[1]}"
        )
    return img[r0 : r0 + h, c0 : c0 + w]


def read_cygno_frames(
    path: str | os.PathLike,
    first: int = 0,
    max_frames: int | None = None,
    crop: Sequence[int] | None = None,
    exclude: Sequence[int] = (),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames of a CYGNO run file, in (run, event) order.

    Args:
        path: the run file (``histograms_Run<run>.root``).
        first, max_frames: read frames ``first .. first + max_frames - 1`` of the sorted list.
        crop: ``(row0, col0, height, width)`` to cut from every frame (None: the whole frame).
        exclude: event numbers to skip (CYGNO's ``excImages``).

    Returns:
        ``(run, event, images)`` with images uint16 (n, H, W).

    Raises:
        InputError: unreadable file, no frames, a histogram of another class, frames of
            different shapes, counts outside 16 bits; each names the file and the histogram.
    """
    pics = [p for p in list_pictures(path) if p[1] not in set(exclude)]
    stop = None if max_frames is None else first + int(max_frames)
    pics = pics[first:stop]
    if not pics:
        raise InputError(
            f"{path}: no frames in the requested range (first={first}, max={max_frames})"
        )
    runs = np.array([p[0] for p in pics], np.int32)
    events = np.array([p[1] for p in pics], np.int64)
    out = None
    with _open(path) as f:
        for i, (_, _, key) in enumerate(pics):
            img = _crop(_frame(f, path, key), crop, path, key)
            if out is None:
                out = np.empty((len(pics), *img.shape), np.uint16)
                first_key = key
            elif img.shape != out.shape[1:]:
                raise InputError(
                    f"{path}: histogram {key!r} is {img.shape[0]} x {img.shape[1]} but "
                    f"{first_key!r} is {out.shape[1]} x {out.shape[2]}"
                )
            out[i] = img
    return runs, events, out


def read_cygno_pedestal(
    path: str | os.PathLike,
    max_frames: int = 200,
    crop: Sequence[int] | None = None,
) -> PedestalMaps:
    """Pedestal maps from a CYGNO map file (TH2D ``pedmap``) or a pedestal run (frames).

    A pedestal run gives the per-pixel mean and RMS over its first ``max_frames`` frames (as the
    reconstruction's ``calcPedestal``); it needs at least 2 frames.

    Raises:
        InputError: missing or unreadable file, neither ``pedmap`` nor frames, a ``pedmap`` that is
            not a 2-D histogram, non-positive RMS in a map file.
    """
    with _open(path) as f:
        keys = {k.split(";")[0] for k in f.keys()}
        if "pedmap" in keys:
            h = f["pedmap"]
            if not hasattr(h, "errors") or h.values().ndim != 2:
                raise InputError(f"{path}: 'pedmap' is a {h.classname}, expected a TH2D")
            mean = np.asarray(h.values(), np.float64).T
            rms = np.asarray(h.errors(), np.float64).T
            if crop is not None:
                mean = _crop(mean, crop, path, "pedmap")
                rms = _crop(rms, crop, path, "pedmap")
            bad = ~(rms > 0)
            if bad.all():
                raise InputError(f"{path}: histogram 'pedmap' has no positive bin errors (RMS)")
            rms = np.where(bad, np.median(rms[~bad]), rms)
            return PedestalMaps(mean.astype(np.float32), rms.astype(np.float32), bad, 0)
    try:
        _, _, frames = read_cygno_frames(path, max_frames=max_frames, crop=crop)
    except InputError as exc:
        raise InputError(
            f"{path}: not a pedestal: no TH2D 'pedmap' and no pedestal frames ({exc})"
        ) from exc
    if frames.shape[0] < 2:
        raise InputError(f"{path}: a pedestal run needs at least 2 frames, found {frames.shape[0]}")
    return pedestal_from_frames(frames, max_frames=max_frames)


def import_cygno(
    data_path: str | os.PathLike,
    pedestal_path: str | os.PathLike,
    out_path: str | os.PathLike,
    first: int = 0,
    max_frames: int | None = None,
    crop: Sequence[int] | None = None,
    pixel_mm: float = 0.152,
    max_pedestal_frames: int = 200,
    exclude: Sequence[int] = (),
    extra_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Convert frames of a CYGNO run (plus its pedestal) into one raw-contract chunk file.

    Args:
        data_path: the run file with ``pic_run*_ev*`` histograms.
        pedestal_path: a ``pedmap`` file or a pedestal run.
        out_path: the raw image file to write (:func:`caloreco.imaging.rawio.write_images`).
        first, max_frames, crop: which frames and which part of them (see
            :func:`read_cygno_frames`).
        pixel_mm: pixel pitch on the GEM plane (LIME 0.152 mm), stored in the run info.
        max_pedestal_frames: frames of a pedestal run used for the maps.
        exclude: event numbers of the data run to skip (CYGNO's ``excImages``).
        extra_info: further JSON-able entries of the run info (e.g. the dataset name).

    Returns:
        The run info written (JSON-able): source files, frames, shape, pedestal frames.

    Raises:
        InputError: anything wrong with either file, or a pedestal whose maps do not match the
            frames' shape; the message names the file and histogram.
    """
    from caloreco.imaging.rawio import write_images

    if not Path(pedestal_path).is_file():
        raise InputError(f"{pedestal_path}: pedestal file does not exist (needed for {data_path})")
    runs, events, images = read_cygno_frames(data_path, first, max_frames, crop, exclude)
    ped = read_cygno_pedestal(pedestal_path, max_pedestal_frames, crop)
    if ped.shape != images.shape[1:]:
        raise InputError(
            f"{pedestal_path}: pedestal maps are {ped.shape[0]} x {ped.shape[1]} but the frames of "
            f"{data_path} are {images.shape[1]} x {images.shape[2]}"
        )
    n = images.shape[0]
    frames = ImageFrames(
        event=events,
        run=runs,
        image=images,
        kind=np.full(n, -1, np.int8),
        energy_kev=np.zeros(n, np.float32),
    )
    info = dict(extra_info or {}) | {
        "source": "cygno",
        "data_file": str(data_path),
        "pedestal_file": str(pedestal_path),
        "first": int(first),
        "frames": int(n),
        "crop": None if crop is None else [int(v) for v in crop],
        "pixel_mm": float(pixel_mm),
        "shape": [int(images.shape[1]), int(images.shape[2])],
        "pedestal_frames": int(ped.n_frames),
        "kind_codes": {"unknown": -1},
    }
    write_images(out_path, frames, ped, info)
    return info


def _th2(values_rc: np.ndarray, dtype, errors_rc: np.ndarray | None = None, flip: bool = True):
    """A writable TH2 of ``dtype`` from an image array ``[row, col]`` (the inverse of reading)."""
    from uproot.writing.identify import to_TAxis, to_TH2x

    arr = values_rc[::-1] if flip else values_rc
    vals_xy = np.asarray(arr).T  # [ix, iy]
    nx, ny = vals_xy.shape
    pad = np.zeros((nx + 2, ny + 2), dtype=dtype)
    pad[1:-1, 1:-1] = vals_xy
    # ROOT's global bin is ix + (nx + 2) iy: the transposed padded array in C order
    data = pad.T.reshape(-1)
    sumw2 = None
    if errors_rc is not None:
        e = np.zeros((nx + 2, ny + 2), np.float64)
        e[1:-1, 1:-1] = np.asarray(errors_rc[::-1] if flip else errors_rc, np.float64).T ** 2
        sumw2 = e.T.reshape(-1)
    v = vals_xy.astype(np.float64)
    xc = np.arange(nx) + 0.5
    yc = np.arange(ny) + 0.5
    sw = v.sum()
    return to_TH2x(
        fName=None,
        fTitle="",
        data=data,
        fEntries=float(nx * ny),
        fTsumw=sw,
        fTsumw2=float((v**2).sum()),
        fTsumwx=float((v.sum(axis=1) * xc).sum()),
        fTsumwx2=float((v.sum(axis=1) * xc**2).sum()),
        fTsumwy=float((v.sum(axis=0) * yc).sum()),
        fTsumwy2=float((v.sum(axis=0) * yc**2).sum()),
        fTsumwxy=float((v * np.outer(xc, yc)).sum()),
        fSumw2=sumw2,
        fXaxis=to_TAxis("xaxis", "", nx, 0.0, float(nx)),
        fYaxis=to_TAxis("yaxis", "", ny, 0.0, float(ny)),
    )


def write_cygno_run(
    path: str | os.PathLike,
    images: np.ndarray,
    events: np.ndarray,
    run: int,
    hist_type: str = "TH2I",
    pad_run: bool = False,
) -> list[str]:
    """Write frames in CYGNO's layout: one histogram ``pic_run{run}_ev{event}`` per frame.

    Args:
        path: output ``.root`` file (written atomically).
        images: uint16 (n, H, W) frames.
        events: event numbers (n,).
        run: run number.
        hist_type: ``"TH2I"`` (CYGNO's simulation) or ``"TH2S"`` (data; counts above 32767 wrap).
        pad_run: zero-pad the run to five digits as in data files.

    Returns:
        The keys written.
    """
    import uproot

    images = np.asarray(images)
    events = np.asarray(events)
    if images.ndim != 3 or images.dtype != np.uint16:
        raise ValueError(f"images: expected uint16 (n, H, W), got {images.dtype} {images.shape}")
    if events.shape != (images.shape[0],) or not np.issubdtype(events.dtype, np.integer):
        raise ValueError(f"events: expected {images.shape[0]} integer event numbers")
    if hist_type not in ("TH2I", "TH2S"):
        raise ValueError(f"hist_type: expected 'TH2I' or 'TH2S', got {hist_type!r}")
    run_s = f"{int(run):05d}" if pad_run else str(int(run))
    keys = []
    with atomic_path(path) as tmp:
        with uproot.recreate(tmp) as out:
            for img, ev in zip(images, events, strict=True):
                if hist_type == "TH2S":
                    vals = np.ascontiguousarray(img).view(np.int16)
                    h = _th2(vals, np.int16)
                else:
                    h = _th2(img.astype(np.int32), np.int32)
                key = f"pic_run{run_s}_ev{int(ev)}"
                out[key] = h
                keys.append(key)
    return keys


def write_cygno_pedmap(path: str | os.PathLike, maps: PedestalMaps) -> None:
    """Write pedestal maps as CYGNO's map file: TH2D ``pedmap`` (content mean, error RMS) and
    TH2D ``pedmapsigma`` (content RMS), atomically."""
    import uproot

    with atomic_path(path) as tmp:
        with uproot.recreate(tmp) as out:
            out["pedmap"] = _th2(
                np.asarray(maps.mean, np.float64), np.float64, np.asarray(maps.rms), flip=False
            )
            out["pedmapsigma"] = _th2(np.asarray(maps.rms, np.float64), np.float64, flip=False)
