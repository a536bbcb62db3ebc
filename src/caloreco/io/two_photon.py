"""Reading the two-photon samples: pair-window chunks (npz) with their two-shower fits (npz)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from caloreco.regression.two_photon import concat_windows
from caloreco.regression.two_shower_fit import TwoShowerResult, result_from_arrays

__all__ = ["read_pair_sample"]

#: per-chunk counters summed over the chunks (not per-window arrays)
_COUNTS = ("n_windows", "n_usable", "n_events")


def read_pair_sample(
    window_paths: Sequence[str | Path], fit_paths: Sequence[str | Path] | None = None
) -> tuple[dict[str, np.ndarray], TwoShowerResult | None]:
    """Concatenate window chunks (and their fits, chunk by chunk in the same order).

    Returns:
        (windows, fit): the window arrays with the chunk counters summed, and the fit
        results aligned with the windows (None without ``fit_paths``).

    Raises:
        ValueError: no chunks, different numbers of window and fit files, or a fit file
            whose length differs from its window file's.
    """
    if not window_paths:
        raise ValueError("window_paths: no two-photon window chunks given")
    if fit_paths is not None and len(fit_paths) != len(window_paths):
        raise ValueError(
            f"fit_paths: {len(fit_paths)} fit files for {len(window_paths)} window chunks"
        )
    parts, fits, counts = [], [], dict.fromkeys(_COUNTS, 0)
    for i, p in enumerate(window_paths):
        with np.load(p, allow_pickle=False) as z:
            part = {k: z[k] for k in z.files if k not in _COUNTS}
            for k in _COUNTS:
                counts[k] += int(z[k]) if k in z.files else 0
        parts.append(part)
        if fit_paths is not None:
            with np.load(fit_paths[i], allow_pickle=False) as z:
                fit = result_from_arrays({k: z[k] for k in z.files})
            if len(fit.n_showers) != len(part["label"]):
                raise ValueError(
                    f"{fit_paths[i]}: {len(fit.n_showers)} fits for the "
                    f"{len(part['label'])} windows of {p}"
                )
            fits.append(fit)
    windows = concat_windows(parts)
    windows.update({k: np.int64(v) for k, v in counts.items()})
    if fit_paths is None:
        return windows, None
    return windows, TwoShowerResult(*(np.concatenate(f) for f in zip(*fits, strict=True)))
