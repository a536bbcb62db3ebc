"""Inputs and targets of the ECAL regressor from window data.

The network reads the NxN cell energies around a cluster's seed (normalised to the window sum,
plus log of the sum) and, with ``cog_reference``, the log-weighted centre of gravity; it then
predicts the correction to that centre of gravity. Positions in mm from the lower-left cell
centre, energies in MeV.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from caloreco.regression.log_cog import log_cog

__all__ = ["log_cog_reference", "network_inputs", "training_targets", "from_targets"]


def log_cog_reference(data: Mapping[str, np.ndarray]) -> np.ndarray:
    """Log-weighted centre of gravity (w0 = 4) of every window, mm from the lower-left centre."""
    return log_cog(data["windows"], float(data["pitch_mm"]), 4.0)


def network_inputs(
    data: Mapping[str, np.ndarray],
    inputs: str,
    absolute_position: bool,
    cog_reference: bool = False,
) -> tuple[np.ndarray, list[str]]:
    """Feature matrix and names for the regressor.

    ``raw``: the N*N cell energies in GeV (the thesis). ``normalised``: the cell energies divided
    by the window sum (the shower shape, which sets the position whatever the energy) plus
    log(window sum / GeV) (which sets the energy scale). ``cog_reference`` adds the log-weighted
    centre of gravity (in cell units); the network then predicts the correction to it.
    ``absolute_position`` adds the window origin's x, y (m), the stage-3 input that lets the
    network undo the inclination shift.
    """
    win = data["windows"].reshape(len(data["windows"]), -1).astype(np.float64)
    n = win.shape[1]
    total = win.sum(axis=1)
    if inputs == "raw":
        X, names = win / 1000.0, [f"e{i:02d}_gev" for i in range(n)]
    elif inputs == "normalised":
        safe = np.where(total > 0, total, 1.0)
        X = np.column_stack([win / safe[:, None], np.log(np.maximum(total, 1e-3) / 1000.0)])
        names = [f"f{i:02d}" for i in range(n)] + ["log_esum_gev"]
    else:
        raise ValueError(f"regression.inputs: expected 'raw' or 'normalised', got {inputs!r}")
    if cog_reference:
        X = np.column_stack([X, log_cog_reference(data) / float(data["pitch_mm"])])
        names += ["cog_x_cells", "cog_y_cells"]
    if absolute_position:
        X = np.column_stack([X, data["origin_x_mm"] / 1000.0, data["origin_y_mm"] / 1000.0])
        names += ["origin_x_m", "origin_y_m"]
    return X, names


def training_targets(
    data: Mapping[str, np.ndarray], inputs: str, cog_reference: bool
) -> np.ndarray:
    """Training targets: x, y (mm; minus the CoG with ``cog_reference``) and the energy
    (as E / window sum for normalised inputs)."""
    t = data["targets"].copy()
    if cog_reference:
        t[:, :2] -= log_cog_reference(data)
    if inputs == "normalised":
        total = data["windows"].reshape(len(t), -1).sum(axis=1)
        t[:, 2] = t[:, 2] / np.where(total > 0, total, 1.0)
    return t


def from_targets(
    pred: np.ndarray, data: Mapping[str, np.ndarray], inputs: str, cog_reference: bool
) -> np.ndarray:
    """Network outputs back to x, y (mm) and energy (MeV): the inverse of
    :func:`training_targets`."""
    out = np.array(pred, dtype=np.float64, copy=True)
    if cog_reference:
        out[:, :2] += log_cog_reference(data)
    if inputs == "normalised":
        out[:, 2] = out[:, 2] * data["windows"].reshape(len(out), -1).sum(axis=1)
    return out
