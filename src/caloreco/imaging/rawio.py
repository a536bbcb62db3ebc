"""The raw image contract: one ROOT file (TTrees written with uproot ``mktree``) per chunk.

Layout (design.md "Image data"):

``images`` (one entry per frame)
    ``event`` int64, ``run`` int32, ``image`` uint16[H][W] (camera counts), ``kind`` int8
    (codes in the run info: 0 pedestal / no recoil, 1 ER, 2 NR, 3 mixed; -1 unknown for imported
    data), ``energy_kev`` float32 (sum of the recoils' visible energies; 0 for data), and for
    simulation ``truth_light`` float32[H][W] (signal counts per pixel before the pedestal and
    noise), ``truth_recoil`` int8[H][W] (index within the frame of the recoil that gave the pixel
    most of its light, -1 none) and per-recoil jagged branches ``recoil_*`` with the counter
    ``nrecoil``: ``recoil_kind``, ``recoil_energy_kev`` (visible, keVee), ``recoil_ekin_kev``
    (kinetic), ``recoil_x_mm``, ``recoil_y_mm`` (start on the image), ``recoil_z_mm`` (drift
    distance), ``recoil_path_mm`` (3-D path length), ``recoil_extent_mm`` (largest projected
    distance from the start), ``recoil_cx_mm``, ``recoil_cy_mm`` (light centroid),
    ``recoil_light`` (counts inside the image), ``recoil_electrons`` (primary electrons at GEM1).
``pedestal`` (one entry)
    ``mean``, ``rms`` float32[H][W] (the maps the reconstruction uses), ``bad`` uint8[H][W]
    (pixels of zero RMS in the pedestal run), ``n_frames`` int32; for simulation also the true
    maps ``true_mean``, ``true_rms`` and the ``hot`` mask.
``run_info`` (one entry)
    ``config_json``: the UTF-8 bytes of a JSON object (generating config, seed, kind codes,
    ``pixel_mm``, ``shape``, ``source``).

Positions: ``image[row, col]`` with x = (col + 0.5) pixel_mm and y = (row + 0.5) pixel_mm from the
image corner. Units: counts, keV, mm. Writers are atomic (a failed job leaves no file).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from caloreco.errors import InputError
from caloreco.imaging.frames import RECOIL_FIELDS, ImageFrames
from caloreco.imaging.pedestal import PedestalMaps
from caloreco.io.files import atomic_path

__all__ = [
    "write_images",
    "read_images",
    "read_pedestal",
    "read_image_run_info",
    "image_entries",
]

_FRAME_BRANCHES = ("event", "run", "image", "kind", "energy_kev")
# frames per basket: keep a basket of the largest branch (float32 truth) below 8 MB, well under
# the 16 MiB ROOT compression block (larger baskets would be stored uncompressed)
_BASKET_BYTES = 8_000_000


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _check_frames(frames: ImageFrames, pedestal: PedestalMaps) -> tuple[int, int]:
    img = np.asarray(frames.image)
    if img.ndim != 3 or img.dtype != np.uint16:
        raise ValueError(f"frames.image: expected uint16 (n, H, W), got {img.dtype} {img.shape}")
    n, h, w = img.shape
    if pedestal.shape != (h, w):
        raise ValueError(f"pedestal: maps of shape {pedestal.shape} do not match frames {h} x {w}")
    for name in ("event", "run", "kind", "energy_kev"):
        if np.asarray(getattr(frames, name)).shape != (n,):
            raise ValueError(f"frames.{name}: expected shape ({n},)")
    if frames.has_truth:
        if frames.truth_light.shape != (n, h, w) or frames.truth_recoil.shape != (n, h, w):
            raise ValueError("frames.truth_light / truth_recoil: expected the shape of the images")
    if frames.recoil_offsets is not None:
        off = np.asarray(frames.recoil_offsets)
        if off.shape != (n + 1,) or off[0] != 0 or np.any(np.diff(off) < 0):
            raise ValueError(
                f"frames.recoil_offsets: expected {n + 1} non-decreasing offsets from 0"
            )
        missing = [k for k in RECOIL_FIELDS if k not in frames.recoils]
        if missing:
            raise ValueError(f"frames.recoils: missing {missing}")
    return h, w


def write_images(
    path: str | os.PathLike,
    frames: ImageFrames,
    pedestal: PedestalMaps,
    run_info: Mapping[str, Any],
    true_pedestal: PedestalMaps | None = None,
) -> None:
    """Write one chunk of frames in the raw image contract, atomically.

    Args:
        path: output ``.root`` path.
        frames: the frames (with or without truth).
        pedestal: the measured maps the reconstruction will use.
        run_info: JSON-serialisable description (config, seed, source, ...); ``kind_codes``,
            ``shape`` and ``pixel_mm`` should be in it (``shape`` is added if absent).
        true_pedestal: the simulation's true maps (stored beside the measured ones).
    """
    import uproot

    h, w = _check_frames(frames, pedestal)
    info = dict(run_info)
    info.setdefault("shape", [h, w])
    text = json.dumps(info, sort_keys=True, default=_json_default)
    types: dict[str, Any] = {
        "event": np.int64,
        "run": np.int32,
        "image": np.dtype((np.uint16, (h, w))),
        "kind": np.int8,
        "energy_kev": np.float32,
    }
    if frames.has_truth:
        types["truth_light"] = np.dtype((np.float32, (h, w)))
        types["truth_recoil"] = np.dtype((np.int8, (h, w)))
    rec = None
    if frames.recoil_offsets is not None:
        counts = np.diff(frames.recoil_offsets)
        rec = ak.zip(
            {
                k[len("recoil_") :]: ak.unflatten(np.asarray(frames.recoils[k]), counts)
                for k in RECOIL_FIELDS
            }
        )
        types["recoil"] = rec.type.content
    with atomic_path(path) as tmp:
        with uproot.recreate(tmp) as out:
            tree = out.mktree("images", types, title="camera frames")
            n = len(frames)
            batch_n = max(1, _BASKET_BYTES // (4 * h * w))
            for s in range(0, max(n, 1), batch_n):
                sl = slice(s, min(s + batch_n, n))
                batch = {k: np.asarray(getattr(frames, k))[sl] for k in _FRAME_BRANCHES}
                batch["kind"] = batch["kind"].astype(np.int8)
                batch["event"] = batch["event"].astype(np.int64)
                batch["run"] = batch["run"].astype(np.int32)
                batch["energy_kev"] = batch["energy_kev"].astype(np.float32)
                if frames.has_truth:
                    batch["truth_light"] = frames.truth_light[sl].astype(np.float32)
                    batch["truth_recoil"] = frames.truth_recoil[sl].astype(np.int8)
                if rec is not None:
                    batch["recoil"] = rec[sl]
                if n:
                    tree.extend(batch)
            ped_types = {
                "mean": np.dtype((np.float32, (h, w))),
                "rms": np.dtype((np.float32, (h, w))),
                "bad": np.dtype((np.uint8, (h, w))),
                "n_frames": np.int32,
            }
            ped = {
                "mean": np.asarray(pedestal.mean, np.float32)[None],
                "rms": np.asarray(pedestal.rms, np.float32)[None],
                "bad": np.asarray(pedestal.hot, np.uint8)[None],
                "n_frames": np.array([pedestal.n_frames], np.int32),
            }
            if true_pedestal is not None:
                if true_pedestal.shape != (h, w):
                    raise ValueError("true_pedestal: maps do not match the frames")
                ped_types |= {
                    "true_mean": np.dtype((np.float32, (h, w))),
                    "true_rms": np.dtype((np.float32, (h, w))),
                    "hot": np.dtype((np.uint8, (h, w))),
                }
                ped |= {
                    "true_mean": np.asarray(true_pedestal.mean, np.float32)[None],
                    "true_rms": np.asarray(true_pedestal.rms, np.float32)[None],
                    "hot": np.asarray(true_pedestal.hot, np.uint8)[None],
                }
            out.mktree("pedestal", ped_types, title="pedestal maps").extend(ped)
            data = np.frombuffer(text.encode(), dtype=np.uint8)
            out.mktree("run_info", {"config_json": "var * uint8"}, title="run info").extend(
                {"config_json": ak.unflatten(data, np.array([data.size]))}
            )


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


def _tree(f, path, name: str, need: tuple[str, ...] = ()):
    keys = {k.split(";")[0] for k in f.keys()}
    if name not in keys:
        raise InputError(
            f"{path}: no tree {name!r} (not a caloreco image file?); it has {sorted(keys)}"
        )
    t = f[name]
    if not hasattr(t, "num_entries") or not hasattr(t, "arrays"):
        raise InputError(f"{path}: {name!r} is a {type(t).__name__}, expected a TTree")
    missing = [b for b in need if b not in t.keys()]
    if missing:
        raise InputError(f"{path}: tree {name!r} lacks branches {missing}; it has {t.keys()}")
    return t


def _guard(func):
    import functools

    @functools.wraps(func)
    def wrapper(path, *args, **kwargs):
        try:
            return func(path, *args, **kwargs)
        except InputError:
            raise
        except Exception as exc:
            msg = str(exc).splitlines()[0] if str(exc) else ""
            raise InputError(
                f"{path}: cannot be read as a caloreco image file (truncated or corrupt? "
                f"{type(exc).__name__}: {msg})"
            ) from exc

    return wrapper


@_guard
def read_image_run_info(path: str | os.PathLike) -> dict[str, Any]:
    """The ``run_info`` JSON of an image file."""
    with _open(path) as f:
        t = _tree(f, path, "run_info", ("config_json",))
        raw = t["config_json"].array(library="ak")[0]
        return json.loads(bytes(ak.to_numpy(raw).astype(np.uint8)).decode())


@_guard
def read_pedestal(path: str | os.PathLike, true_maps: bool = False) -> PedestalMaps:
    """The pedestal maps of an image file (measured; the simulation's true ones if ``true_maps``)."""
    with _open(path) as f:
        need = ("true_mean", "true_rms", "hot") if true_maps else ("mean", "rms", "bad", "n_frames")
        t = _tree(f, path, "pedestal", need)
        if t.num_entries != 1:
            raise InputError(f"{path}: tree 'pedestal' has {t.num_entries} entries, expected 1")
        a = t.arrays(list(need), library="np")
        try:
            if true_maps:
                return PedestalMaps(
                    a["true_mean"][0], a["true_rms"][0], a["hot"][0].astype(bool), 0
                )
            return PedestalMaps(
                a["mean"][0], a["rms"][0], a["bad"][0].astype(bool), int(a["n_frames"][0])
            )
        except ValueError as exc:
            raise InputError(f"{path}: tree 'pedestal': {exc}") from exc


@_guard
def image_entries(path: str | os.PathLike) -> int:
    """Number of frames in an image file."""
    with _open(path) as f:
        return int(_tree(f, path, "images").num_entries)


@_guard
def read_images(
    path: str | os.PathLike,
    require_truth: bool = False,
    entry_start: int | None = None,
    entry_stop: int | None = None,
) -> ImageFrames:
    """Read frames ``entry_start:entry_stop`` of the ``images`` tree.

    Raises:
        InputError: missing file, tree or branch (listing what exists), images that are not
            uint16 H x W, a shape that differs from the pedestal maps, or truth required but absent.
    """
    with _open(path) as f:
        t = _tree(f, path, "images", _FRAME_BRANCHES)
        ped = _tree(f, path, "pedestal", ("mean",))
        names = set(t.keys())
        truth = {"truth_light", "truth_recoil"} <= names
        if require_truth and not truth:
            raise InputError(
                f"{path}: tree 'images' has no truth branches (truth_light, truth_recoil)"
            )
        want = list(_FRAME_BRANCHES) + (["truth_light", "truth_recoil"] if truth else [])
        a = t.arrays(want, library="np", entry_start=entry_start, entry_stop=entry_stop)
        img = a["image"]
        if img.ndim != 3 or img.dtype != np.uint16:
            raise InputError(
                f"{path}: branch 'image' holds {img.dtype} of shape {img.shape[1:]}, expected "
                "uint16[H][W]"
            )
        ped_shape = ped["mean"].array(library="np", entry_stop=1).shape[1:]
        if tuple(ped_shape) != img.shape[1:]:
            raise InputError(
                f"{path}: images are {img.shape[1]} x {img.shape[2]} but the pedestal maps are "
                f"{ped_shape[0]} x {ped_shape[1]}"
            )
        frames = ImageFrames(
            event=a["event"].astype(np.int64),
            run=a["run"].astype(np.int32),
            image=img,
            kind=a["kind"].astype(np.int8),
            energy_kev=a["energy_kev"].astype(np.float32),
        )
        if truth:
            frames.truth_light = a["truth_light"].astype(np.float32)
            frames.truth_recoil = a["truth_recoil"].astype(np.int8)
        rec_names = [k for k in RECOIL_FIELDS if k in names]
        if rec_names:
            if len(rec_names) != len(RECOIL_FIELDS):
                missing = sorted(set(RECOIL_FIELDS) - set(rec_names))
                raise InputError(f"{path}: tree 'images' lacks recoil branches {missing}")
            r = t.arrays(rec_names, library="ak", entry_start=entry_start, entry_stop=entry_stop)
            counts = ak.to_numpy(ak.num(r[rec_names[0]], axis=1))
            frames.recoil_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            frames.recoils = {k: ak.to_numpy(ak.flatten(r[k], axis=None)) for k in rec_names}
        return frames
