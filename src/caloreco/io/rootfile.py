"""Opening ROOT files with uproot, with errors that name the file, the tree and what exists."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from caloreco.errors import InputError

__all__ = ["open_root", "get_tree", "readable"]


def open_root(path: str | os.PathLike):
    """Open a ROOT file for reading; InputError if it is missing or not ROOT."""
    import uproot

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file does not exist")
    try:
        return uproot.open(path)
    except Exception as exc:  # uproot raises many types for corrupt files
        raise InputError(f"{path}: cannot be read as a ROOT file ({exc})") from exc


def get_tree(f, path, name: str):
    """The object ``name`` of an open file; InputError listing the file's keys if absent."""
    keys = [k.split(";")[0] for k in f.keys()]
    if name not in keys:
        raise InputError(f"{path}: no tree {name!r}; the file has {sorted(set(keys))}")
    return f[name]


def readable(func):
    """Turn any failure while reading a raw file into an InputError that names the file."""

    @functools.wraps(func)
    def wrapper(path, *args, **kwargs):
        try:
            return func(path, *args, **kwargs)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(
                f"{path}: cannot be read as a caloreco raw file (truncated or corrupt? "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
            ) from exc

    return wrapper
