"""Torch networks of ECAL stage 4: photon counting (1 vs 2) and two-photon regression.

Inputs (:func:`network_inputs`): the window's cell energies divided by the window sum (the shower
shape, N*N values read row by row) followed by scalars: ln(window sum / GeV) and the window
centre's absolute x, y on the front face (m), the stage-3 input that lets a network undo the
shower-depth shift of photons from the target. With ``fit`` (a
:class:`~caloreco.regression.two_shower_fit.TwoShowerResult`) the scalars also hold the fits'
results: the two-shower fit's photons in target units (``ref1_*``, ``ref2_*``), the one-shower
fit, log chi2 per degree of freedom of both fits, the chi2 gain, d12 and coral's decision.
Targets (:func:`regression_targets`): per photon x, y relative to the window centre in cells
and E / window sum.

Networks: :class:`PairCNN` (3x3 convolutions on the shape, optionally with a second,
log-compressed channel that shows the tails, then a dense head that also sees the scalars) and
:class:`PairDense` (the thesis's dense net on the flat inputs). The regressor's loss is
permutation-invariant: per window the smaller of the two photon orderings' weighted squared
error (:func:`pair_loss`, the torch twin of
:func:`caloreco.regression.two_photon.permutation_invariant_loss`). With ``residual=True`` the
regressor predicts the correction to the two-shower fit (output = fit + network, the output layer
starts at zero, so training starts from the fit), as the stage-2 regressor corrects the CoG.

Training (:func:`train_pair_network`) follows :func:`caloreco.nn.training.train`: Adam,
seeded shuffling and initialisation, validation loss every epoch, learning rate halved on a
plateau, early stopping, best epoch restored. It adds data augmentation by the eight symmetries
of the square cell grid (a transform of the window, of every (x, y) input and of the target
positions together: the detector and the photons from the target are mirror symmetric in x, in y
and under x <-> y), drawn per minibatch.

Units: positions in cells (targets, fit inputs), m (absolute inputs); converted back to mm and
MeV by :meth:`PairNetwork.predict_photons`.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from caloreco.nn.training import select_device, set_determinism

__all__ = [
    "PairCNN",
    "PairDense",
    "ARCHITECTURES",
    "LOSS_SCALE",
    "network_inputs",
    "regression_targets",
    "targets_to_photons",
    "pair_loss",
    "PairNetwork",
    "train_pair_network",
    "fit_counter",
    "fit_pair_regressor",
    "network_estimates",
    "save_pair_network",
    "load_pair_network",
]

_log = logging.getLogger(__name__)

#: default weights of the regression loss: x, y in cells (0.05 = 1.9 mm), E / window sum
LOSS_SCALE = (0.05, 0.05, 0.02)
#: the two-shower fit's photons among the inputs (target units), the residual reference
REF_NAMES = ("ref1_x", "ref1_y", "ref1_e", "ref2_x", "ref2_y", "ref2_e")


class PairCNN(nn.Module):
    """3x3 convolutions on the window shape, then a dense head with the scalar inputs.

    Input: (batch, size*size + n_extra) as :func:`network_inputs`; output (batch, n_outputs).
    """

    def __init__(
        self,
        size: int = 9,
        n_extra: int = 3,
        n_outputs: int = 6,
        channels: Sequence[int] = (16, 32),
        hidden: Sequence[int] = (128, 64),
        log_channel: bool = True,
    ) -> None:
        super().__init__()
        channels, hidden = [int(c) for c in channels], [int(h) for h in hidden]
        if size < 3 or n_outputs < 1 or n_extra < 0 or not channels or min(channels + hidden) < 1:
            raise ValueError(
                f"PairCNN: size >= 3, n_outputs >= 1, n_extra >= 0 and positive widths expected, "
                f"got {size}, {n_outputs}, {n_extra}, {channels}, {hidden}"
            )
        self.hparams: dict[str, Any] = {
            "size": int(size),
            "n_extra": int(n_extra),
            "n_outputs": int(n_outputs),
            "channels": channels,
            "hidden": hidden,
            "log_channel": bool(log_channel),
        }
        self.size = int(size)
        layers: list[nn.Module] = []
        c_in = 2 if log_channel else 1
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU()]
            c_in = c
        self.conv = nn.Sequential(*layers)
        width = c_in * self.size * self.size + int(n_extra)
        head: list[nn.Module] = []
        for h in hidden:
            head += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.out = nn.Linear(width, n_outputs)
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs of shape (batch, n_outputs)."""
        s2 = self.size * self.size
        img = x[:, :s2].reshape(-1, 1, self.size, self.size)
        if self.hparams["log_channel"]:
            # tails of the shape (1e-3 .. 1e-1 of the sum) carry the second photon
            img = torch.cat([img, torch.log1p(1000.0 * img.clamp(min=0.0)) / math.log1p(1000.0)], 1)
        z = self.conv(img).flatten(1)
        return self.out(self.head(torch.cat([z, x[:, s2:]], dim=1)))


class PairDense(nn.Module):
    """The thesis's dense net: (size*size + n_extra) -> hidden ... -> n_outputs, ReLU."""

    def __init__(
        self,
        size: int = 9,
        n_extra: int = 3,
        n_outputs: int = 6,
        hidden: Sequence[int] = (128, 256, 512, 256, 128, 64),
    ) -> None:
        super().__init__()
        hidden = [int(h) for h in hidden]
        if size < 3 or n_outputs < 1 or n_extra < 0 or not hidden or min(hidden) < 1:
            raise ValueError(f"PairDense: bad size/outputs/widths {size}, {n_outputs}, {hidden}")
        self.hparams = {
            "size": int(size),
            "n_extra": int(n_extra),
            "n_outputs": int(n_outputs),
            "hidden": hidden,
        }
        self.size = int(size)
        layers: list[nn.Module] = []
        width = size * size + int(n_extra)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.head = nn.Sequential(*layers)
        self.out = nn.Linear(width, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs of shape (batch, n_outputs)."""
        return self.out(self.head(x))


ARCHITECTURES: dict[str, type[nn.Module]] = {"cnn": PairCNN, "dense": PairDense}


# --------------------------------------------------------------------------------------------
# inputs and targets


def _windows(windows: np.ndarray) -> np.ndarray:
    w = np.asarray(windows, dtype=np.float64)
    if w.ndim != 3 or w.shape[1] != w.shape[2]:
        raise ValueError(f"windows: expected shape (n, N, N), got {w.shape}")
    return w


def network_inputs(
    windows: np.ndarray,
    origin_x_mm: np.ndarray,
    origin_y_mm: np.ndarray,
    pitch_mm: float,
    fit: Any | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Feature matrix (n, N*N + n_extra) float64 and the names of the scalar columns.

    Columns: cell energy / window sum (N*N, row by row), ``log_esum_gev``, ``centre_x``,
    ``centre_y`` (window centre, m); with ``fit`` (a two-shower fit result of the same windows)
    also the forced two-shower fit ``ref1_x, ref1_y, ref1_e, ref2_x, ref2_y, ref2_e`` (target
    units: cells from the window centre, E / sum), the one-shower fit ``one_x, one_y, one_e``,
    ``log_chi2_one``, ``log_chi2_two`` (per non-zero cell), ``log_dchi2``, ``d12_cells`` and
    ``fit_two`` (coral keeps two showers).

    Args:
        windows: (n, N, N) cell energies (MeV).
        origin_x_mm, origin_y_mm: (n,) centre of each window's lower-left cell (detector frame).
        pitch_mm: cell pitch (mm).
        fit: :class:`~caloreco.regression.two_shower_fit.TwoShowerResult` or None.

    Returns:
        ``(X, extra_names)``.
    """
    w = _windows(windows)
    n, size, _ = w.shape
    ox = np.asarray(origin_x_mm, dtype=np.float64)
    oy = np.asarray(origin_y_mm, dtype=np.float64)
    if ox.shape != (n,) or oy.shape != (n,):
        raise ValueError(f"origin_x_mm, origin_y_mm: expected ({n},), got {ox.shape}, {oy.shape}")
    flat = w.reshape(n, -1)
    total = flat.sum(axis=1)
    if not np.all(total > 0):
        raise ValueError("windows: every window needs a positive energy sum")
    half = 0.5 * (size - 1) * float(pitch_mm)
    cols = [np.log(total / 1000.0), (ox + half) / 1000.0, (oy + half) / 1000.0]
    names = ["log_esum_gev", "centre_x", "centre_y"]
    if fit is not None:
        two = np.asarray(fit.two, dtype=np.float64)
        one = np.asarray(fit.one, dtype=np.float64)
        if two.shape != (n, 6) or one.shape != (n, 3):
            raise ValueError(f"fit: expected results of the {n} windows, got {two.shape}")
        ref = regression_targets(two, w, pitch_mm)
        one_t = regression_targets(np.column_stack([one, one]), w, pitch_mm)[:, :3]
        cells = np.maximum((flat > 0).sum(axis=1), 1)
        c1 = np.maximum(np.asarray(fit.chi2_one, dtype=np.float64), 1e-3)
        c2 = np.maximum(np.asarray(fit.chi2_two, dtype=np.float64), 1e-3)
        cols += [ref[:, j] for j in range(6)] + [one_t[:, j] for j in range(3)]
        cols += [
            np.log(c1 / cells),
            np.log(c2 / cells),
            np.log1p(np.maximum(c1 - c2, 0.0)),
            np.asarray(fit.d12_mm, dtype=np.float64) / pitch_mm,
            (np.asarray(fit.n_showers) == 2).astype(np.float64),
        ]
        names += [*REF_NAMES, "one_x", "one_y", "one_e"]
        names += ["log_chi2_one", "log_chi2_two", "log_dchi2", "d12_cells", "fit_two"]
    X = np.column_stack([flat / total[:, None], *cols])
    if not np.all(np.isfinite(X)):
        raise ValueError("network_inputs: non-finite inputs (empty windows or failed fits)")
    return X, names


def regression_targets(truth: np.ndarray, windows: np.ndarray, pitch_mm: float) -> np.ndarray:
    """(n, 6) targets from photons (window frame, mm / MeV): x, y relative to the window
    centre in cells and E / window sum, per photon."""
    t = np.asarray(truth, dtype=np.float64)
    w = _windows(windows)
    if t.shape != (w.shape[0], 6):
        raise ValueError(f"truth: expected shape ({w.shape[0]}, 6), got {t.shape}")
    c = 0.5 * (w.shape[1] - 1) * pitch_mm
    total = w.reshape(len(w), -1).sum(axis=1)
    out = t.copy()
    for j in (0, 3):
        out[:, j] = (t[:, j] - c) / pitch_mm
        out[:, j + 1] = (t[:, j + 1] - c) / pitch_mm
        out[:, j + 2] = t[:, j + 2] / total
    return out


def targets_to_photons(pred: np.ndarray, windows: np.ndarray, pitch_mm: float) -> np.ndarray:
    """Inverse of :func:`regression_targets`: (n, 6) photons in the window frame (mm, MeV)."""
    p = np.asarray(pred, dtype=np.float64)
    w = _windows(windows)
    c = 0.5 * (w.shape[1] - 1) * pitch_mm
    total = w.reshape(len(w), -1).sum(axis=1)
    out = p.copy()
    for j in (0, 3):
        out[:, j] = p[:, j] * pitch_mm + c
        out[:, j + 1] = p[:, j + 1] * pitch_mm + c
        out[:, j + 2] = p[:, j + 2] * total
    return out


def pair_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    scale: Sequence[float] = LOSS_SCALE,
    huber: float | None = None,
) -> torch.Tensor:
    """Per window: min over the two photon orderings of sum rho((pred - target) / scale).

    rho(z) = z^2 (the thesis's weighted squared error), or with ``huber`` = delta the Huber
    function scaled to match it in the core: z^2 for |z| < delta, 2 delta |z| - delta^2 beyond
    (windows with a gross error then pull linearly, not quadratically).
    """
    w = torch.tensor(list(scale) * 2, dtype=pred.dtype, device=pred.device)
    swapped = torch.cat([pred[:, 3:], pred[:, :3]], dim=1)

    def rho(z: torch.Tensor) -> torch.Tensor:
        if huber is None:
            return z * z
        a = z.abs()
        return torch.where(a < huber, z * z, 2.0 * huber * a - huber * huber)

    direct = rho((pred - target) / w).sum(dim=1)
    cross = rho((swapped - target) / w).sum(dim=1)
    return torch.minimum(direct, cross)


def _xy_pairs(names: Sequence[str], offset: int) -> list[tuple[int, int]]:
    """Column indices of every (stem_x, stem_y) pair among the scalar inputs."""
    idx = {n: offset + i for i, n in enumerate(names)}
    return [(idx[n], idx[n[:-1] + "y"]) for n in names if n.endswith("_x") and n[:-1] + "y" in idx]


# --------------------------------------------------------------------------------------------
# augmentation by the symmetries of the square grid


def _sym_xy(px: torch.Tensor, py: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    if k & 1:
        px, py = py, px
    if k & 2:
        px = -px
    if k & 4:
        py = -py
    return px, py


def _augment(
    x: torch.Tensor, y: torch.Tensor, size: int, pairs: Sequence[tuple[int, int]], k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetry k (0..7: bit 0 transpose, bit 1 mirror x, bit 2 mirror y) of inputs and targets.

    Every (x, y) input is scaled without a shift (:meth:`PairNetwork.scale`), so the mirror is a
    sign flip and the transpose a swap; targets with 6 or 12 columns hold photons (x, y, E)."""
    if k == 0:
        return x, y
    s2 = size * size
    img = x[:, :s2].reshape(-1, size, size)  # [row (y), col (x)]
    if k & 1:
        img = img.transpose(1, 2)
    if k & 2:
        img = img.flip(2)
    if k & 4:
        img = img.flip(1)
    x = torch.cat([img.reshape(-1, s2), x[:, s2:]], dim=1)
    for ix, iy in pairs:
        x[:, ix], x[:, iy] = _sym_xy(x[:, ix].clone(), x[:, iy].clone(), k)
    if y.shape[1] in (6, 12):
        y = y.clone()
        for j in range(0, y.shape[1], 3):
            y[:, j], y[:, j + 1] = _sym_xy(y[:, j].clone(), y[:, j + 1].clone(), k)
    return x, y


# --------------------------------------------------------------------------------------------
# the trained network


@dataclass
class PairNetwork:
    """A trained counter or regressor with its input scaling (plain data besides the model).

    Attributes:
        model: the torch network (eval mode).
        kind: ``"counter"`` (one logit: two photons) or ``"regressor"`` (six outputs).
        architecture: a key of :data:`ARCHITECTURES`.
        names: the scalar input names (:func:`network_inputs`).
        mean, std: scaling of the scalar inputs (training split; (x, y) pairs: no shift, their
            pooled rms).
        pitch_mm: cell pitch the targets were made with.
        residual: the regressor predicts the correction to the ``ref*`` inputs (the fit).
        history: one row per epoch (``epoch, train_loss, val_loss, lr, seconds, best``).
        threshold: counter only: the score above which a window counts two photons.
    """

    model: nn.Module
    kind: str
    architecture: str
    names: list[str]
    mean: list[float]
    std: list[float]
    pitch_mm: float
    residual: bool = False
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    threshold: float = 0.5

    @property
    def size(self) -> int:
        """Window size."""
        return int(self.model.hparams["size"])

    def _check(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.size**2 + len(self.names):
            raise ValueError(
                f"X: expected {self.size**2 + len(self.names)} columns "
                f"({self.size}^2 cells + {self.names}), got shape {X.shape}"
            )
        return X

    def scale(self, X: np.ndarray) -> np.ndarray:
        """Scaled float32 copy (the shape columns stay fractions of the sum)."""
        Z = np.array(self._check(X), dtype=np.float32, copy=True)
        s2 = self.size**2
        Z[:, s2:] = (Z[:, s2:] - np.float32(self.mean)) / np.float32(self.std)
        return Z

    def reference(self, X: np.ndarray) -> np.ndarray:
        """(n, 6) the fit's photons among the inputs (target units), zeros if not residual."""
        X = self._check(X)
        if not self.residual:
            return np.zeros((len(X), 6))
        s2 = self.size**2
        return np.column_stack([X[:, s2 + self.names.index(n)] for n in REF_NAMES])

    @torch.no_grad()
    def raw_output(
        self, X: np.ndarray, device: str | torch.device = "cpu", batch_size: int = 8192
    ) -> np.ndarray:
        """Network outputs (logits, or targets with the reference added) for :func:`network_inputs`."""
        Z = self.scale(X)
        dev = torch.device(device)
        self.model.to(dev).eval()
        outs = [
            self.model(torch.from_numpy(Z[s : s + batch_size]).to(dev)).double().cpu()
            for s in range(0, len(Z), batch_size)
        ]
        out = torch.cat(outs).numpy() if outs else np.zeros((0, self.model.hparams["n_outputs"]))
        if self.kind == "regressor":
            out = out + self.reference(X)
        return out

    def score(self, X: np.ndarray, device: str | torch.device = "cpu") -> np.ndarray:
        """(n,) sigmoid score that the window holds two photons (counter)."""
        if self.kind != "counter":
            raise ValueError("score: this network is a regressor")
        return 1.0 / (1.0 + np.exp(-self.raw_output(X, device)[:, 0]))

    def predict_count(self, X: np.ndarray, device: str | torch.device = "cpu") -> np.ndarray:
        """(n,) photon count 1 or 2 (counter)."""
        return np.where(self.score(X, device) > self.threshold, 2, 1)

    def predict_photons(
        self, X: np.ndarray, windows: np.ndarray, device: str | torch.device = "cpu"
    ) -> np.ndarray:
        """(n, 6) photons x1, y1, E1, x2, y2, E2 in the window frame (mm, MeV) (regressor)."""
        if self.kind != "regressor":
            raise ValueError("predict_photons: this network is a counter")
        return targets_to_photons(self.raw_output(X, device), windows, self.pitch_mm)

    def state(self) -> dict[str, Any]:
        """Plain-data checkpoint (``torch.load(weights_only=True)`` can read it back)."""
        return {
            "kind": self.kind,
            "architecture": self.architecture,
            "hparams": self.model.hparams,
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "names": list(self.names),
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
            "pitch_mm": float(self.pitch_mm),
            "residual": bool(self.residual),
            "threshold": float(self.threshold),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PairNetwork:
        """Inverse of :meth:`state`."""
        model = ARCHITECTURES[state["architecture"]](**state["hparams"])
        model.load_state_dict(state["state_dict"])
        model.eval()
        return cls(
            model,
            state["kind"],
            state["architecture"],
            list(state["names"]),
            list(state["mean"]),
            list(state["std"]),
            float(state["pitch_mm"]),
            residual=bool(state["residual"]),
            threshold=float(state["threshold"]),
        )


def _scaling(X: np.ndarray, names: Sequence[str], size: int) -> tuple[list[float], list[float]]:
    """Standardise scalar inputs; an (x, y) pair only divided by its pooled rms (no shift), so
    that the grid symmetries act on the scaled inputs exactly as on the physical ones."""
    e = np.asarray(X, dtype=np.float64)[:, size * size :]
    mean, std = e.mean(axis=0), e.std(axis=0)
    for ix, iy in _xy_pairs(names, 0):
        r = float(np.sqrt(np.mean(e[:, [ix, iy]] ** 2)))
        mean[ix] = mean[iy] = 0.0
        std[ix] = std[iy] = r
    std = np.where(std > 0, std, 1.0)
    return mean.tolist(), std.tolist()


# --------------------------------------------------------------------------------------------
# training


def train_pair_network(
    model: nn.Module,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    size: int,
    xy_pairs: Sequence[tuple[int, int]] = (),
    augment: bool = True,
    lr: float = 1e-3,
    batch_size: int = 256,
    max_epochs: int = 60,
    patience: int = 8,
    seed: int = 0,
    device: str | torch.device = "cpu",
    max_seconds: float | None = None,
    log: Callable[[str], Any] | None = None,
) -> pd.DataFrame:
    """Train ``model`` in place (Adam, early stopping on the validation loss, best epoch restored).

    Args:
        model: the network; inputs already scaled (:meth:`PairNetwork.scale`).
        X_train, y_train, X_val, y_val: float arrays; y (n, 6) or (n, 12) targets (photons, and
            the fit's photons in residual mode) or (n, 1) labels 0/1.
        loss: per-sample loss of (outputs, y), averaged over the batch here.
        size: window size (for the augmentation).
        xy_pairs: column indices of the (x, y) inputs the augmentation transforms.
        augment: draw one of the eight grid symmetries per minibatch (training only).
        lr: Adam learning rate, halved after ``max(1, patience // 3)`` epochs without gain.
        batch_size, max_epochs, patience: as :func:`caloreco.nn.training.train`.
        seed: seeds shuffling and augmentation (the initialisation is the caller's).
        device: where to train.
        max_seconds: stop after the epoch that passes this wall time (a budget for the
            default analysis; the best epoch so far is restored).
        log: called with one line per epoch.

    Returns:
        History: ``epoch, train_loss, val_loss, lr, seconds`` and ``best``.
    """
    arrays = (("X_train", X_train), ("y_train", y_train), ("X_val", X_val), ("y_val", y_val))
    for name, arr in arrays:
        a = np.asarray(arr)
        if a.ndim != 2 or len(a) == 0 or not np.all(np.isfinite(a)):
            raise ValueError(f"{name}: expected a non-empty finite 2-D array, got shape {a.shape}")
    if len(X_train) != len(y_train) or len(X_val) != len(y_val):
        raise ValueError("X_train/y_train, X_val/y_val: expected matching row counts")
    log = log or _log.info
    device = torch.device(device)
    set_determinism(seed, torch.get_num_threads())  # the caller's thread count
    model.to(device)
    xt, yt, xv, yv = (
        torch.tensor(np.asarray(a), dtype=torch.float32, device=device)
        for a in (X_train, y_train, X_val, y_val)
    )
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=0.5, patience=max(1, patience // 3)
    )
    n = xt.shape[0]
    rows: list[dict[str, float]] = []
    best, best_epoch, best_state = math.inf, -1, None
    t_start = time.perf_counter()
    for epoch in range(1, max_epochs + 1):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=gen).to(device)
        syms = torch.randint(0, 8 if augment else 1, (math.ceil(n / batch_size),), generator=gen)
        total = torch.zeros((), device=device)
        for b, start in enumerate(range(0, n, batch_size)):
            idx = perm[start : start + batch_size]
            xb, yb = _augment(xt[idx], yt[idx], size, xy_pairs, int(syms[b]))
            opt.zero_grad(set_to_none=True)
            batch_loss = loss(model(xb), yb).mean()
            batch_loss.backward()
            opt.step()
            total += batch_loss.detach() * idx.numel()
        train_loss = float(total) / n
        model.eval()
        with torch.no_grad():
            val_sum = sum(
                float(loss(model(xv[s : s + 8192]), yv[s : s + 8192]).sum())
                for s in range(0, xv.shape[0], 8192)
            )
        val_loss = val_sum / xv.shape[0]
        current = opt.param_groups[0]["lr"]
        sched.step(val_loss)
        improved = val_loss < best
        if improved:
            best, best_epoch, best_state = val_loss, epoch, copy.deepcopy(model.state_dict())
        seconds = time.perf_counter() - t0
        rows.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "lr": current,
                "seconds": seconds,
            }
        )
        log(
            f"epoch {epoch:3d}  train_loss {train_loss:.5g}  val_loss {val_loss:.5g}"
            f"{' *' if improved else '  '}  lr {current:.3g}  {seconds:.1f} s"
        )
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"training diverged at epoch {epoch}")
        if epoch - best_epoch >= patience:
            break
        if max_seconds is not None and time.perf_counter() - t_start > max_seconds:
            log(f"time budget of {max_seconds:.0f} s spent after epoch {epoch}")
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    hist = pd.DataFrame(rows)
    hist["best"] = hist["epoch"] == best_epoch
    return hist


def _build(
    architecture: str, size: int, n_extra: int, n_outputs: int, kwargs: dict | None, seed: int
) -> nn.Module:
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"architecture: expected one of {sorted(ARCHITECTURES)}, got {architecture!r}"
        )
    set_determinism(seed, torch.get_num_threads())  # the caller's thread count
    return ARCHITECTURES[architecture](
        size=size, n_extra=n_extra, n_outputs=n_outputs, **(kwargs or {})
    )


def _size(X: np.ndarray, names: Sequence[str]) -> int:
    size = int(round(math.sqrt(np.asarray(X).shape[1] - len(names))))
    if size * size + len(names) != np.asarray(X).shape[1]:
        raise ValueError(
            f"X: {np.asarray(X).shape[1]} columns do not hold a square window + {names}"
        )
    return size


def fit_counter(
    X_train: np.ndarray,
    label_train: np.ndarray,
    X_val: np.ndarray,
    label_val: np.ndarray,
    names: Sequence[str],
    pitch_mm: float,
    *,
    architecture: str = "cnn",
    model_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    **train_kwargs: Any,
) -> PairNetwork:
    """Train the photon counter (label 1 or 2) with a class-balanced BCE; the threshold is the
    score that maximises the validation accuracy.

    Args:
        X_train, X_val: :func:`network_inputs` of the training and validation windows.
        label_train, label_val: photon counts (1 or 2).
        names: the scalar input names.
        pitch_mm: cell pitch (mm).
        architecture, model_kwargs: the network.
        seed: seeds the initialisation, shuffling and augmentation.
        device: default :func:`caloreco.nn.training.select_device` ("auto").
        **train_kwargs: :func:`train_pair_network` settings.
    """
    lt, lv = np.asarray(label_train), np.asarray(label_val)
    for name, lab in (("label_train", lt), ("label_val", lv)):
        if not np.all(np.isin(lab, (1, 2))):
            raise ValueError(f"{name}: expected photon counts 1 or 2")
    n_pos, n_neg = int(np.sum(lt == 2)), int(np.sum(lt == 1))
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"label_train: needs both classes, got {n_neg} one- and {n_pos} two-photon"
        )
    names = list(names)
    size = _size(X_train, names)
    dev = select_device("auto") if device is None else torch.device(device)
    model = _build(architecture, size, len(names), 1, model_kwargs, seed)
    mean, std = _scaling(X_train, names, size)
    net = PairNetwork(model, "counter", architecture, names, mean, std, float(pitch_mm))
    pw = torch.tensor(n_neg / n_pos, device=dev)

    def bce(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(
            out[:, 0], y[:, 0], pos_weight=pw, reduction="none"
        )

    net.history = train_pair_network(
        model,
        net.scale(X_train),
        (lt == 2).astype(np.float32)[:, None],
        net.scale(X_val),
        (lv == 2).astype(np.float32)[:, None],
        bce,
        size=size,
        xy_pairs=_xy_pairs(names, size * size),
        seed=seed,
        device=dev,
        **train_kwargs,
    )
    score = net.score(X_val, dev)
    grid = np.unique(np.concatenate([[0.5], np.quantile(score, np.linspace(0.01, 0.99, 99))]))
    acc = np.array([np.mean(np.where(score > g, 2, 1) == lv) for g in grid])
    net.threshold = float(grid[np.argmax(acc)])
    net.model.to("cpu")
    return net


def fit_pair_regressor(
    X_train: np.ndarray,
    targets_train: np.ndarray,
    X_val: np.ndarray,
    targets_val: np.ndarray,
    names: Sequence[str],
    pitch_mm: float,
    *,
    architecture: str = "cnn",
    residual: bool = False,
    model_kwargs: dict[str, Any] | None = None,
    loss_scale: Sequence[float] = LOSS_SCALE,
    huber: float | None = 3.0,
    seed: int = 0,
    device: str | torch.device | None = None,
    **train_kwargs: Any,
) -> PairNetwork:
    """Train the two-photon regressor on :func:`regression_targets` with :func:`pair_loss`.

    Args:
        X_train, X_val: :func:`network_inputs` of two-photon windows.
        targets_train, targets_val: (n, 6) :func:`regression_targets` of the true photons.
        names: the scalar input names (with ``ref*`` for ``residual``).
        pitch_mm: cell pitch (mm).
        architecture, model_kwargs: the network.
        residual: predict the correction to the fit's photons (output layer starts at 0).
        loss_scale: (x, y, E) weights of the loss in target units.
        huber: Huber delta of :func:`pair_loss` in units of ``loss_scale`` (None: squares).
        seed, device, **train_kwargs: as :func:`fit_counter`.
    """
    names = list(names)
    size = _size(X_train, names)
    if residual and not all(n in names for n in REF_NAMES):
        raise ValueError(f"residual: needs the fit inputs {REF_NAMES} among names")
    dev = select_device("auto") if device is None else torch.device(device)
    model = _build(architecture, size, len(names), 6, model_kwargs, seed)
    if residual:
        nn.init.zeros_(model.out.weight)
        nn.init.zeros_(model.out.bias)
    mean, std = _scaling(X_train, names, size)
    net = PairNetwork(
        model, "regressor", architecture, names, mean, std, float(pitch_mm), residual=residual
    )
    scale = tuple(float(v) for v in loss_scale)

    def loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # y = [truth (6), reference (6)]: the output corrects the reference
        return pair_loss(out + y[:, 6:], y[:, :6], scale, huber)

    def with_ref(X: np.ndarray, t: np.ndarray) -> np.ndarray:
        return np.column_stack([np.asarray(t, dtype=np.float64), net.reference(X)]).astype(
            np.float32
        )

    net.history = train_pair_network(
        model,
        net.scale(X_train),
        with_ref(X_train, targets_train),
        net.scale(X_val),
        with_ref(X_val, targets_val),
        loss,
        size=size,
        xy_pairs=_xy_pairs(names, size * size),
        seed=seed,
        device=dev,
        **train_kwargs,
    )
    net.model.to("cpu")
    return net


def network_estimates(
    counter: PairNetwork | None,
    regressor: PairNetwork | None,
    X: np.ndarray,
    windows: np.ndarray,
    device: str | torch.device = "cpu",
) -> dict[str, np.ndarray]:
    """The networks' estimate on test windows (``{"photons", "n_photons"}``) as
    :func:`caloreco.regression.two_photon.two_photon_metrics` takes one estimator."""
    out: dict[str, np.ndarray] = {}
    if regressor is not None:
        out["photons"] = regressor.predict_photons(X, windows, device)
    if counter is not None:
        out["n_photons"] = counter.predict_count(X, device)
    return out


def save_pair_network(path: str | os.PathLike, net: PairNetwork, meta: dict[str, Any]) -> None:
    """Write ``net`` (its :meth:`PairNetwork.state`) and plain-data ``meta`` atomically."""
    from caloreco.io.files import atomic_path

    with atomic_path(path) as tmp:
        torch.save({"network": net.state(), "meta": dict(meta)}, tmp)


def load_pair_network(path: str | os.PathLike, kind: str) -> tuple[PairNetwork, dict[str, Any]]:
    """Read a :func:`save_pair_network` file (``weights_only``); ``kind`` is "counter" or
    "regressor" and must match the file's.

    Raises:
        ValueError: the file holds another kind of network.
    """
    blob = torch.load(path, map_location="cpu", weights_only=True)
    net = PairNetwork.from_state(blob["network"])
    if net.kind != kind:
        raise ValueError(f"{path}: holds a {net.kind!r} network, expected a {kind!r} one")
    return net, dict(blob.get("meta", {}))
