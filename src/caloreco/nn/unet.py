"""A small U-Net for per-pixel signal / noise segmentation of camera frames, with a focal loss.

Architecture (Ronneberger, Fischer and Brox, MICCAI 2015, scaled down for a CPU): ``len(channels)``
levels; each level two 3 x 3 convolutions with ReLU, 2 x 2 max pooling between levels on the way
down, 2 x 2 transposed convolutions on the way up, and the feature map of the same level
concatenated (the skip connection) before the two convolutions of the decoder; a 1 x 1
convolution gives one logit per pixel. Frames of any size are padded (reflect, or replicate when
too small) to a multiple of ``2 ** (levels - 1)`` and cropped back, so the output has the input's
H x W. The last bias starts at logit(``prior``) (Lin et al. 2017), so the first epochs are not
spent learning the class imbalance.

Loss: the focal loss FL = -alpha_t (1 - p_t)^gamma log p_t (Lin, Goyal, Girshick, He and Dollar,
ICCV 2017) with alpha_t = ``alpha`` for signal pixels and 1 - ``alpha`` for noise pixels;
``alpha`` > 0.5 favours recall (the CYGNO talk's "alpha = 4", a 4 : 1 weight of signal to noise
pixels, is ``alpha = 0.8`` here); at gamma = 0, alpha = 0.5 it is half the binary cross-entropy.

Training: random ``patch`` x ``patch`` crops of the training frames, a fraction
``signal_patch_fraction`` of them placed to contain a signal pixel (the frames are > 99 % noise),
new crops every epoch from the seeded generator; Adam; after every epoch the loss on the whole
validation frames; early stopping after ``patience`` epochs without improvement, the best weights
restored. Deterministic on a given device (:func:`caloreco.nn.training.set_determinism`).
Inputs are whatever per-pixel features the caller passes (one channel, float32); the imaging
analysis passes asinh(pedestal-subtracted counts / pedestal RMS).
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from caloreco.io.files import atomic_path
from caloreco.nn.training import select_device, set_determinism

__all__ = [
    "UNetConfig",
    "UNet",
    "focal_loss",
    "train_unet",
    "predict_unet",
    "save_unet",
    "load_unet",
    "unet_config_dict",
]


@dataclass(frozen=True)
class UNetConfig:
    """Architecture, loss and training settings of :func:`train_unet`."""

    channels: tuple[int, ...] = (4, 8, 16, 32)
    alpha: float = 0.8
    gamma: float = 2.0
    prior: float = 0.01
    patch: int = 64
    patches_per_frame: int = 2
    signal_patch_fraction: float = 0.7
    max_epochs: int = 12
    patience: int = 3
    batch_size: int = 16
    lr: float = 3e-3

    def __post_init__(self) -> None:
        if len(self.channels) < 1 or min(self.channels) < 1:
            raise ValueError(
                f"channels: expected positive ints (one per level), got {self.channels}"
            )
        if not (0 < self.alpha < 1):
            raise ValueError(f"alpha: expected a weight in (0, 1), got {self.alpha}")
        if not (self.gamma >= 0):
            raise ValueError(f"gamma: expected >= 0, got {self.gamma}")
        if not (0 < self.prior < 1):
            raise ValueError(f"prior: expected a fraction in (0, 1), got {self.prior}")
        if self.patch % (2 ** (len(self.channels) - 1)) or self.patch < 8:
            raise ValueError(
                f"patch: expected a multiple of {2 ** (len(self.channels) - 1)} and >= 8, "
                f"got {self.patch}"
            )
        if min(self.patches_per_frame, self.max_epochs, self.patience, self.batch_size) < 1:
            raise ValueError("patches_per_frame, max_epochs, patience, batch_size: expected >= 1")
        if not (0 <= self.signal_patch_fraction <= 1) or not self.lr > 0:
            raise ValueError("signal_patch_fraction in [0, 1] and lr > 0 expected")


def unet_config_dict(config: UNetConfig) -> dict[str, Any]:
    """Plain values of a config (for metrics files)."""
    d = asdict(config)
    d["channels"] = list(config.channels)
    return d


def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """Encoder-decoder with skip connections; ``forward`` maps (B, 1, H, W) to logits (B, 1, H, W)."""

    def __init__(self, channels: Sequence[int] = (4, 8, 16, 32), prior: float = 0.01) -> None:
        super().__init__()
        ch = [int(c) for c in channels]
        if not ch or min(ch) < 1:
            raise ValueError(f"channels: expected positive ints, got {channels}")
        self.config = {"channels": ch, "prior": float(prior)}
        self.multiple = 2 ** (len(ch) - 1)
        self.down = nn.ModuleList(
            [_double_conv(1, ch[0])]
            + [_double_conv(a, b) for a, b in zip(ch[:-1], ch[1:], strict=True)]
        )
        self.up = nn.ModuleList(
            [nn.ConvTranspose2d(b, a, 2, stride=2) for a, b in zip(ch[:-1], ch[1:], strict=True)]
        )
        self.merge = nn.ModuleList([_double_conv(2 * a, a) for a in ch[:-1]])
        self.head = nn.Conv2d(ch[0], 1, 1)
        nn.init.constant_(self.head.bias, math.log(prior / (1 - prior)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        if ph or pw:
            mode = "reflect" if (ph < h and pw < w) else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        skips = []
        for i, block in enumerate(self.down):
            if i:
                x = F.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        for i in range(len(self.up) - 1, -1, -1):
            x = self.up[i](x)
            x = self.merge[i](torch.cat([skips[i], x], dim=1))
        return self.head(x)[..., :h, :w]


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    alpha: float = 0.8,
    gamma: float = 2.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Binary focal loss from logits (numerically stable: log-sigmoid, no log of p).

    Args:
        logits: any shape; target: the same shape, 0 / 1 (float).
        alpha: weight of the positive class (1 - alpha for the negative one), in (0, 1).
        gamma: focusing exponent (0: weighted binary cross-entropy).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
    """
    if logits.shape != target.shape:
        raise ValueError(f"target: expected shape {tuple(logits.shape)}, got {tuple(target.shape)}")
    logp = F.logsigmoid(logits)
    log1mp = F.logsigmoid(-logits)
    p = logp.exp()
    pos = -alpha * (1.0 - p).pow(gamma) * logp
    neg = -(1.0 - alpha) * p.pow(gamma) * log1mp
    loss = target * pos + (1.0 - target) * neg
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction: expected 'mean', 'sum' or 'none', got {reduction!r}")


def _check_pair(x: np.ndarray, y: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, np.float32)
    y = np.asarray(y)
    if x.ndim != 3 or x.shape[0] == 0:
        raise ValueError(f"x_{name}: expected (n, H, W) frames with n >= 1, got shape {x.shape}")
    if y.shape != x.shape:
        raise ValueError(f"y_{name}: expected shape {x.shape} like x_{name}, got {y.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"x_{name}: non-finite values")
    if not np.isin(np.unique(y), (0, 1)).all():
        raise ValueError(f"y_{name}: expected a 0 / 1 target")
    return x, y.astype(np.uint8)


def _sample_patches(
    x: np.ndarray, y: np.ndarray, n: int, size: int, signal_fraction: float, rng
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` crops (with their targets); a ``signal_fraction`` of them contain a signal pixel."""
    nf, h, w = x.shape
    f = rng.integers(0, nf, n)
    r = rng.integers(0, h - size + 1, n)
    c = rng.integers(0, w - size + 1, n)
    pf, pr, pc = np.nonzero(y)
    if pf.size:
        k = np.flatnonzero(rng.random(n) < signal_fraction)
        pick = rng.integers(0, pf.size, k.size)
        f[k] = pf[pick]
        # the crop holds the chosen pixel at a uniformly random position
        r[k] = np.clip(pr[pick] - rng.integers(0, size, k.size), 0, h - size)
        c[k] = np.clip(pc[pick] - rng.integers(0, size, k.size), 0, w - size)
    rr = r[:, None] + np.arange(size)
    cc = c[:, None] + np.arange(size)
    idx = (f[:, None, None], rr[:, :, None], cc[:, None, :])
    return x[idx], y[idx]


def train_unet(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    config: UNetConfig = UNetConfig(),
    seed: int = 0,
    device: str | torch.device = "cpu",
    log: Callable[[str], Any] | None = None,
) -> tuple[UNet, list[dict[str, float]]]:
    """Train a :class:`UNet` on per-pixel targets with the focal loss and early stopping.

    Args:
        x_train, x_val: (n, H, W) float inputs; y_train, y_val: (n, H, W) 0 / 1 targets.
        config: architecture, loss and training settings.
        seed: seeds the weights, the crops and their order.
        device: ``"cpu"`` (default), ``"auto"`` (GPU when present) or ``"cuda[:N]"``.
        log: a callable for one line per epoch.

    Returns:
        ``(model, history)``: the model (eval mode, best validation epoch restored) and one dict
        per epoch (``epoch``, ``train_loss``, ``val_loss``, ``seconds``, ``best``).
    """
    xt, yt = _check_pair(x_train, y_train, "train")
    xv, yv = _check_pair(x_val, y_val, "val")
    if min(xt.shape[1:]) < config.patch:
        raise ValueError(
            f"x_train: frames {xt.shape[1:]} are smaller than the patch {config.patch}"
        )
    rng = set_determinism(seed)
    dev = select_device(device) if isinstance(device, str) else device
    model = UNet(config.channels, config.prior).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    # fixed validation crops (drawn once, like the training crops): the loss on them decides
    # the early stop; whole 256^2 frames would cost more than the training epoch on a CPU
    vx, vy = _sample_patches(
        xv,
        yv,
        xv.shape[0] * config.patches_per_frame,
        config.patch,
        config.signal_patch_fraction,
        rng,
    )
    xv_t = torch.from_numpy(vx)[:, None]
    yv_t = torch.from_numpy(vy.astype(np.float32))[:, None]
    best_state, best_loss, best_epoch, history = None, math.inf, -1, []
    n_patches = xt.shape[0] * config.patches_per_frame
    for epoch in range(config.max_epochs):
        t0 = time.perf_counter()
        px, py = _sample_patches(xt, yt, n_patches, config.patch, config.signal_patch_fraction, rng)
        px_t = torch.from_numpy(px)[:, None]
        py_t = torch.from_numpy(py.astype(np.float32))[:, None]
        model.train()
        total = 0.0
        for s in range(0, n_patches, config.batch_size):
            xb = px_t[s : s + config.batch_size].to(dev)
            yb = py_t[s : s + config.batch_size].to(dev)
            opt.zero_grad(set_to_none=True)
            loss = focal_loss(model(xb), yb, config.alpha, config.gamma)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * xb.shape[0]
        model.eval()
        vsum = 0.0
        with torch.no_grad():
            for s in range(0, xv_t.shape[0], config.batch_size):
                xb = xv_t[s : s + config.batch_size].to(dev)
                yb = yv_t[s : s + config.batch_size].to(dev)
                vsum += float(focal_loss(model(xb), yb, config.alpha, config.gamma, "sum"))
        val_loss = vsum / yv_t.numel()
        improved = val_loss < best_loss
        if improved:
            best_loss, best_epoch = val_loss, epoch
            best_state = copy.deepcopy(model.state_dict())
        row = {
            "epoch": epoch,
            "train_loss": total / n_patches,
            "val_loss": val_loss,
            "seconds": time.perf_counter() - t0,
        }
        history.append(row)
        if log:
            log(
                f"unet epoch {epoch}: train {row['train_loss']:.5f} val {val_loss:.5f}"
                f"{' *' if improved else ''} ({row['seconds']:.1f} s)"
            )
        if not math.isfinite(row["train_loss"]):
            raise FloatingPointError(f"unet training diverged at epoch {epoch}")
        if epoch - best_epoch >= config.patience:
            break
    for row in history:
        row["best"] = row["epoch"] == best_epoch
    model.load_state_dict(best_state)
    model.eval()
    return model, history


def predict_unet(
    model: UNet,
    x: np.ndarray,
    batch_size: int = 1,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Signal probabilities (sigmoid of the logits) of (n, H, W) inputs, float32 (n, H, W)."""
    x = np.asarray(x, np.float32)
    if x.ndim != 3:
        raise ValueError(f"x: expected (n, H, W) frames, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("x: non-finite values")
    dev = next(model.parameters()).device if device is None else torch.device(device)
    model = model.to(dev).eval()
    out = np.empty(x.shape, np.float32)
    with torch.no_grad():
        for s in range(0, x.shape[0], batch_size):
            xb = torch.from_numpy(x[s : s + batch_size])[:, None].to(dev)
            out[s : s + batch_size] = torch.sigmoid(model(xb))[:, 0].cpu().numpy()
    return out


def save_unet(path: str | os.PathLike, model: UNet, meta: dict[str, Any]) -> Path:
    """Write weights, architecture and ``meta`` (plain JSON-able data) atomically."""
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"state_dict": state, "config": model.config, "meta": meta}, tmp)
    return path


def load_unet(path: str | os.PathLike) -> tuple[UNet, dict[str, Any]]:
    """Inverse of :func:`save_unet` (``weights_only=True``); the model in eval mode on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such checkpoint")
    ck = torch.load(path, map_location="cpu", weights_only=True)
    model = UNet(ck["config"]["channels"], ck["config"]["prior"])
    model.load_state_dict(ck["state_dict"])
    model.eval()
    return model, ck["meta"]
