"""A generic, deterministic training loop for the regressor and the pair classifier.

What the original CALIFA code got wrong and this module does instead:

* ``optimizer.zero_grad()`` before every step (gradients never accumulate across steps);
* inputs standardised with mean/std fitted on the TRAINING split only (:class:`Standardizer`),
  stored in the checkpoint so that validation, test and inference use the same scaling;
* early stopping on the validation loss, best weights restored;
* seeded and deterministic (:func:`set_determinism`), device chosen at run time;
* checkpoints are plain data (``torch.load(weights_only=True)``), written atomically, and refuse
  to load against a different feature list.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from caloreco.classification import positive_weight
from caloreco.io.files import atomic_path
from caloreco.nn.nets import build_model, model_name

__all__ = [
    "Standardizer",
    "select_device",
    "set_determinism",
    "TORCH_THREADS",
    "train",
    "predict",
    "save_checkpoint",
    "load_checkpoint",
    "FitResult",
    "fit_network",
]

_log = logging.getLogger(__name__)
LOSSES = ("bce", "mse", "huber")


class Standardizer:
    """Per-feature ``(x - mean) / std``, fitted on the training split only.

    Features with zero (or non-finite) spread get ``std = 1`` so that a constant input maps to 0
    instead of NaN.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)
        if self.mean.shape != self.std.shape or self.mean.ndim != 1:
            raise ValueError(
                f"Standardizer: mean and std must be 1-D of equal length, got shapes "
                f"{self.mean.shape} and {self.std.shape}"
            )
        if not (np.isfinite(self.std).all() and (self.std > 0).all()):
            raise ValueError("Standardizer: std must be finite and positive")

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        """Mean and standard deviation of each column of ``X`` (shape (n, n_features))."""
        X = _as_2d(X, "X")
        if X.shape[0] == 0:
            raise ValueError("Standardizer.fit: X has no rows")
        mean = X.mean(axis=0)
        std = X.std(axis=0)
        std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        if not np.isfinite(mean).all():
            bad = np.flatnonzero(~np.isfinite(mean)).tolist()
            raise ValueError(f"Standardizer.fit: non-finite values in feature columns {bad}")
        return cls(mean, std)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Standardised copy of ``X`` as float32."""
        X = _as_2d(X, "X")
        if X.shape[1] != self.mean.size:
            raise ValueError(
                f"X: expected {self.mean.size} feature columns (as fitted), got {X.shape[1]}"
            )
        return ((X - self.mean) / self.std).astype(np.float32)

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        """Back to physical units (float64)."""
        return _as_2d(Z, "Z") * self.std + self.mean

    def to_dict(self) -> dict[str, list[float]]:
        """Plain lists, for a ``weights_only`` checkpoint."""
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    @classmethod
    def from_dict(cls, d: dict[str, Sequence[float]]) -> Standardizer:
        """Inverse of :meth:`to_dict`."""
        return cls(d["mean"], d["std"])


def select_device(prefer: str = "auto") -> torch.device:
    """``"auto"``: CUDA if available, else CPU; ``"cpu"``/``"cuda"``/``"cuda:N"`` explicitly.

    Asking for CUDA on a machine without it raises ``ValueError``.
    """
    if prefer == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if prefer == "cpu":
        return torch.device("cpu")
    if prefer.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device: {prefer!r} requested but CUDA is not available")
        return torch.device(prefer)
    raise ValueError(f"device: expected 'auto', 'cpu' or 'cuda[:N]', got {prefer!r}")


#: intra-op threads of every training and inference: torch splits reductions by thread, so the
#: last digits of a trained network depend on it; fixed here, they do not depend on the machine's
#: cores or on Snakemake's --cores (the networks are small: more threads would not help)
TORCH_THREADS = 2


def set_determinism(seed: int, threads: int = TORCH_THREADS) -> np.random.Generator:
    """Seed torch (CPU and CUDA) and Python's ``random``, turn on deterministic algorithms and
    fix the number of CPU threads.

    Returns a numpy ``Generator`` seeded with ``seed`` to pass to code that needs one (numpy's
    global state is not touched). On CUDA, deterministic cuBLAS also needs the environment
    variable ``CUBLAS_WORKSPACE_CONFIG=:4096:8``, set here if absent (it must be set before the
    first cuBLAS call to take effect). The CPU kernels themselves are fixed when
    :mod:`caloreco.nn` is imported (before torch): see its docstring.
    """
    seed = int(seed)
    torch.set_num_threads(int(threads))
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    torch.use_deterministic_algorithms(True, warn_only=True)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    return np.random.default_rng(seed)


def train(
    model: nn.Module,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    loss: str = "bce",
    pos_weight: float | str | None = None,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    batch_size: int = 256,
    max_epochs: int = 100,
    patience: int = 10,
    lr_patience: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    log: Callable[[str], Any] | None = None,
) -> pd.DataFrame:
    """Train ``model`` in place with Adam and early stopping on the validation loss.

    Inputs should already be standardised (see :class:`Standardizer`). After training, the
    weights of the epoch with the lowest validation loss are restored and the model is left in
    ``eval`` mode on ``device``.

    Args:
        model: a network returning logits (``bce``) or predictions (``mse``/``huber``).
        X_train, X_val: float arrays of shape (n, n_features).
        y_train, y_val: labels 0/1 of shape (n,) for ``bce``; targets (n,) or (n, n_outputs) for
            ``mse``/``huber``.
        loss: ``"bce"`` (``BCEWithLogitsLoss``), ``"mse"`` or ``"huber"`` (delta 1 in
            standardised units).
        pos_weight: ``bce`` only: weight of the positive class; ``"auto"`` uses
            ``n_negative / n_positive`` of the training labels (class-balanced loss); None = 1.
        lr: Adam learning rate; halved when the validation loss has not improved for
            ``lr_patience`` epochs (default ``max(1, patience // 3)``).
        weight_decay: Adam L2 penalty.
        batch_size: minibatch size; the training set is reshuffled every epoch with a generator
            seeded by ``seed``.
        max_epochs: upper bound on epochs.
        patience: stop after this many epochs without improvement of the validation loss.
        seed: seeds torch (weights' initialisation is the caller's; dropout and shuffling here).
        device: where to train.
        log: called with one line per epoch (default: the module logger at INFO).

    Returns:
        History with one row per epoch: ``epoch``, ``train_loss``, ``val_loss``, ``lr``,
        ``seconds``, and a boolean ``best`` marking the restored epoch.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss: expected one of {LOSSES}, got {loss!r}")
    if batch_size < 1 or max_epochs < 1 or patience < 1:
        raise ValueError(
            f"batch_size, max_epochs, patience: expected positive integers, got "
            f"{batch_size}, {max_epochs}, {patience}"
        )
    log = log or _log.info
    device = torch.device(device)
    Xt, Xv = _as_2d(X_train, "X_train"), _as_2d(X_val, "X_val")
    if Xt.shape[1] != Xv.shape[1]:
        raise ValueError(
            f"X_val: expected {Xt.shape[1]} feature columns like X_train, got {Xv.shape[1]}"
        )
    yt, yv = np.asarray(y_train), np.asarray(y_val)
    if yt.shape[0] != Xt.shape[0] or yv.shape[0] != Xv.shape[0]:
        raise ValueError(
            f"y_train/y_val: expected {Xt.shape[0]}/{Xv.shape[0]} rows like X_train/X_val, got "
            f"{yt.shape[0]}/{yv.shape[0]}"
        )
    if Xt.shape[0] == 0 or Xv.shape[0] == 0:
        raise ValueError("X_train/X_val: both splits need at least one row")
    for name, arr in (("X_train", Xt), ("X_val", Xv), ("y_train", yt), ("y_val", yv)):
        if not np.isfinite(arr.astype(np.float64)).all():
            raise ValueError(f"{name}: contains NaN or infinite values")

    if loss == "bce":
        pw = positive_weight(yt)  # also refuses a split without positives or negatives
        if pos_weight is None:
            pw = 1.0
        elif pos_weight != "auto":
            pw = float(pos_weight)
            if not pw > 0:
                raise ValueError(f"pos_weight: expected a positive number or 'auto', got {pw}")
        criterion: nn.Module = nn.BCEWithLogitsLoss(
            pos_weight=torch.tensor([pw], dtype=torch.float32, device=device)
        )
        yt, yv = yt.reshape(-1, 1), yv.reshape(-1, 1)
    else:
        if pos_weight is not None:
            raise ValueError(f"pos_weight: only meaningful for loss 'bce', not {loss!r}")
        criterion = nn.MSELoss() if loss == "mse" else nn.HuberLoss(delta=1.0)
        if yt.ndim == 1:
            yt, yv = yt.reshape(-1, 1), yv.reshape(-1, 1)

    set_determinism(seed)
    model.to(device)
    xt, ytt, xv, yvt = (_tensor(a, device) for a in (Xt, yt, Xv, yv))
    n = xt.shape[0]
    shuffle = torch.Generator(device="cpu").manual_seed(int(seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=0.5, patience=lr_patience if lr_patience else max(1, patience // 3)
    )

    rows: list[dict[str, float]] = []
    best_loss, best_epoch, best_state = math.inf, -1, None
    for epoch in range(1, max_epochs + 1):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=shuffle).to(device)
        total = torch.zeros((), device=device)
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            batch_loss = criterion(model(xt[idx]), ytt[idx])
            batch_loss.backward()
            optimizer.step()
            total += batch_loss.detach() * idx.numel()
        train_loss = float(total) / n
        val_loss = _evaluate_loss(model, criterion, xv, yvt, batch_size=max(batch_size, 4096))
        current_lr = optimizer.param_groups[0]["lr"]
        scheduler.step(val_loss)
        seconds = time.perf_counter() - t0
        improved = val_loss < best_loss
        if improved:
            best_loss, best_epoch = val_loss, epoch
            best_state = copy.deepcopy(model.state_dict())
        rows.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "lr": current_lr,
                "seconds": seconds,
            }
        )
        log(
            f"epoch {epoch:4d}  train_loss {train_loss:.5g}  val_loss {val_loss:.5g}"
            f"{' *' if improved else '  '}  lr {current_lr:.3g}  {seconds:.2f} s  "
            f"{n / max(seconds, 1e-9):.4g} samples/s"
        )
        if not math.isfinite(train_loss):
            raise FloatingPointError(
                f"training diverged at epoch {epoch} (train loss {train_loss})"
            )
        if epoch - best_epoch >= patience:
            log(f"early stop at epoch {epoch}: best val_loss {best_loss:.5g} at epoch {best_epoch}")
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    history = pd.DataFrame(rows)
    history["best"] = history["epoch"] == best_epoch
    return history


@dataclass
class FitResult:
    """What :func:`fit_network` returns: everything a checkpoint and an evaluation need."""

    model: nn.Module
    standardizer: Standardizer
    history: pd.DataFrame
    target_standardizer: Standardizer | None = None

    def checkpoint_meta(self, features: Sequence[str], **extra: Any) -> dict[str, Any]:
        """Metadata for :func:`save_checkpoint` (features, standardizers, and ``extra``)."""
        meta: dict[str, Any] = {"features": list(features), "standardizer": self.standardizer}
        if self.target_standardizer is not None:
            meta["target_standardizer"] = self.target_standardizer
        meta.update(extra)
        return meta

    def predict(self, X: np.ndarray, device: str | torch.device = "cpu") -> np.ndarray:
        """Outputs in physical units: sigmoid scores (classifier) or de-standardised targets."""
        Z = self.standardizer.transform(X)
        if self.target_standardizer is None:
            return predict(self.model, Z, device, activation="sigmoid")
        out = self.target_standardizer.inverse_transform(
            predict(self.model, Z, device).reshape(len(Z), -1)
        )
        return out[:, 0] if out.shape[1] == 1 else out


def fit_network(
    name: str,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    loss: str = "bce",
    model_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    **train_kwargs: Any,
) -> FitResult:
    """Standardise on the training split, build ``name`` with seeded weights, and :func:`train`.

    For ``mse``/``huber`` the targets are standardised too (with training statistics), so that
    e.g. positions in mm and energies in MeV weigh alike in the loss; :meth:`FitResult.predict`
    undoes both scalings.

    Args:
        name: a network of :data:`caloreco.nn.nets.MODELS`.
        X_train, y_train, X_val, y_val: features in physical units, labels or targets.
        loss: ``"bce"``, ``"mse"`` or ``"huber"``.
        model_kwargs: the network's constructor arguments besides ``n_features``.
        seed: seeds the weight initialisation, dropout and shuffling.
        device: where to train.
        **train_kwargs: passed to :func:`train` (``lr``, ``batch_size``, ``pos_weight``, ...).
    """
    std = Standardizer.fit(X_train)
    Xt, Xv = std.transform(X_train), std.transform(X_val)
    yt, yv = np.asarray(y_train), np.asarray(y_val)
    target_std = None
    if loss != "bce":
        target_std = Standardizer.fit(yt.reshape(len(yt), -1))
        yt = target_std.transform(yt.reshape(len(yt), -1))
        yv = target_std.transform(yv.reshape(len(yv), -1))
    set_determinism(seed)
    model = build_model(name, Xt.shape[1], **(model_kwargs or {}))
    history = train(model, Xt, yt, Xv, yv, loss=loss, seed=seed, device=device, **train_kwargs)
    return FitResult(model, std, history, target_std)


@torch.no_grad()
def _evaluate_loss(
    model: nn.Module, criterion: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int
) -> float:
    model.eval()
    total = torch.zeros((), device=x.device)
    for start in range(0, x.shape[0], batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        total += criterion(model(xb), yb) * xb.shape[0]
    return float(total) / x.shape[0]


@torch.no_grad()
def predict(
    model: nn.Module,
    X: np.ndarray,
    device: str | torch.device = "cpu",
    batch_size: int = 8192,
    activation: str | None = None,
) -> np.ndarray:
    """Model outputs for ``X`` (already standardised) as a float64 numpy array.

    Args:
        model: the network (switched to ``eval`` mode).
        X: shape (n, n_features).
        device: where to run.
        batch_size: rows per forward pass.
        activation: None (raw outputs / logits) or ``"sigmoid"`` (classifier scores in [0, 1]).

    Returns:
        Shape (n,) for single-output networks, else (n, n_outputs).
    """
    if activation not in (None, "sigmoid"):
        raise ValueError(f"activation: expected None or 'sigmoid', got {activation!r}")
    torch.set_num_threads(TORCH_THREADS)  # the numbers must not depend on the machine
    X = _as_2d(X, "X")
    device = torch.device(device)
    model.to(device).eval()
    outs = []
    for start in range(0, X.shape[0], batch_size):
        xb = _tensor(X[start : start + batch_size], device)
        out = model(xb)
        if activation == "sigmoid":
            out = torch.sigmoid(out)
        outs.append(out.double().cpu())
    if not outs:
        n_out = _n_outputs(model)
        res = np.zeros((0, n_out))
    else:
        res = torch.cat(outs).numpy()
    return res[:, 0] if res.shape[1] == 1 else res


def _n_outputs(model: nn.Module) -> int:
    hp = getattr(model, "hparams", {})
    return int(hp.get("n_outputs", 1))


def save_checkpoint(path: str | Path, model: nn.Module, meta: dict[str, Any]) -> Path:
    """Write a ``weights_only``-loadable checkpoint atomically (temporary file + rename).

    Args:
        path: destination (``.pt``).
        model: a network of :data:`caloreco.nn.nets.MODELS`.
        meta: at least ``features`` (list of feature names, in input order); usually also
            ``standardizer`` (:class:`Standardizer` or its dict), ``threshold`` (float),
            ``config_hash`` (str), target standardizer etc. Values must be plain data (str, int,
            float, bool, None, lists and dicts of these); numpy arrays/scalars are converted.

    Returns:
        The path written.
    """
    path = Path(path)
    meta = dict(meta)
    if "features" not in meta:
        raise ValueError("meta: a checkpoint needs 'features' (the input feature names, in order)")
    features = [str(f) for f in meta["features"]]
    n_in = getattr(model, "hparams", {}).get("n_features")
    if n_in is not None and n_in != len(features):
        raise ValueError(
            f"meta['features']: model takes {n_in} inputs but {len(features)} feature names given"
        )
    meta["features"] = features
    for key, value in list(meta.items()):
        if isinstance(value, Standardizer):
            meta[key] = value.to_dict()
    payload = {
        **_plain(meta),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "model": model_name(model),
        "model_kwargs": _plain({k: v for k, v in model.hparams.items() if k != "n_features"}),
        "n_features": len(features),
        "torch_version": str(torch.__version__),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(
    path: str | Path,
    expected_features: Sequence[str] | None = None,
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, dict[str, Any]]:
    """Load a checkpoint written by :func:`save_checkpoint` (``torch.load(weights_only=True)``).

    Args:
        path: the ``.pt`` file.
        expected_features: the feature names the caller will feed, in order; a checkpoint trained
            on a different list (names, order or count) is refused with ``ValueError``.
        device: where to put the model.

    Returns:
        ``(model, meta)``: the network in ``eval`` mode, and every other entry of the checkpoint
        (``features``, ``standardizer`` and ``target_standardizer`` as :class:`Standardizer`
        objects when present, ``threshold``, ``config_hash``, ...).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, truncated files
        raise ValueError(
            f"checkpoint {path}: cannot be loaded with weights_only=True ({exc})"
        ) from exc
    for key in ("state_dict", "model", "model_kwargs", "features"):
        if key not in ckpt:
            raise ValueError(f"checkpoint {path}: missing entry {key!r}")
    features = list(ckpt["features"])
    if expected_features is not None and list(expected_features) != features:
        raise ValueError(
            f"checkpoint {path} was trained on {len(features)} features {features}, but "
            f"{len(list(expected_features))} features {list(expected_features)} were expected"
        )
    model = build_model(ckpt["model"], len(features), **ckpt["model_kwargs"])
    model.load_state_dict(ckpt["state_dict"])
    model.to(torch.device(device)).eval()
    meta = {k: v for k, v in ckpt.items() if k != "state_dict"}
    for key, value in meta.items():
        if key.endswith("standardizer") and isinstance(value, dict):
            meta[key] = Standardizer.from_dict(value)
    return model, meta


def _plain(obj: Any) -> Any:
    """Convert numpy/tuple values into the types ``torch.load(weights_only=True)`` accepts."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or type(obj) in (str, int, float, bool):
        return obj
    if isinstance(obj, str):  # str subclasses (e.g. torch's TorchVersion) are not plain data
        return str(obj)
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    raise ValueError(f"meta: value of type {type(obj).__name__} cannot go into a checkpoint")


def _tensor(a: np.ndarray, device: torch.device) -> torch.Tensor:
    """float32 tensor on ``device`` from a (possibly read-only, e.g. pandas) array, copied."""
    return torch.from_numpy(np.array(a, dtype=np.float32, copy=True)).to(device)


def _as_2d(X: Any, name: str) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (n, n_features), got shape {X.shape}")
    return X
