"""Electron / nuclear recoil separation on region crops, supervised and unsupervised.

* :class:`CropCNN` / :func:`train_crop_classifier`: a small CNN on a (1, S, S) crop of the
  pedestal-subtracted light around a region, plus a few scalars (e.g. the log of the region's
  integral), giving one logit (NR = 1). Adam, class-balanced BCE, early stopping on a validation
  set, best weights restored.
* :func:`deep_embedded_clustering`: Xie, Girshick and Farhadi (ICML 2016): a convolutional
  autoencoder is pre-trained on the crops (no labels), k-means on its embedding initialises the
  cluster centres, then encoder and centres are refined by minimising KL(P || Q) between the
  Student-t soft assignments Q and the sharpened target P = Q^2 / f (recomputed every
  ``update_interval`` steps).

Deterministic on a given device (seeded; :func:`caloreco.nn.training.set_determinism`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from caloreco.nn.training import select_device, set_determinism

__all__ = [
    "CropCNN",
    "train_crop_classifier",
    "predict_crop_classifier",
    "CropAutoencoder",
    "deep_embedded_clustering",
]


def _check(x: np.ndarray, name: str, ndim: int) -> np.ndarray:
    x = np.asarray(x, np.float32)
    if x.ndim != ndim or x.shape[0] == 0:
        raise ValueError(f"{name}: expected {ndim}-D array with at least one row, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: non-finite values")
    return x


class CropCNN(nn.Module):
    """Three conv + pool stages on an S x S crop (S a multiple of 8), concatenated with scalars."""

    def __init__(self, size: int = 32, n_scalars: int = 1, width: int = 8) -> None:
        super().__init__()
        if size % 8:
            raise ValueError(f"size: expected a multiple of 8, got {size}")
        self.config = {"size": size, "n_scalars": n_scalars, "width": width}
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
        )
        self.head = nn.Sequential(nn.Linear(2 * w * 4 + n_scalars, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, crops: torch.Tensor, scalars: torch.Tensor) -> torch.Tensor:
        h = self.features(crops).flatten(1)
        return self.head(torch.cat([h, scalars], dim=1))[:, 0]


def train_crop_classifier(
    crops_train: np.ndarray,
    scalars_train: np.ndarray,
    y_train: np.ndarray,
    crops_val: np.ndarray,
    scalars_val: np.ndarray,
    y_val: np.ndarray,
    *,
    epochs: int = 40,
    patience: int = 8,
    min_epochs: int = 20,
    batch_size: int = 32,
    lr: float = 2e-3,
    width: int = 8,
    seed: int = 0,
    device: str | torch.device = "auto",
    log: Callable[[str], Any] | None = None,
) -> tuple[CropCNN, list[dict[str, float]]]:
    """Train :class:`CropCNN` (labels 0/1); flips and 90-degree rotations augment the crops.

    The best validation epoch is looked for only from ``min_epochs`` on (a small validation set
    otherwise often prefers the untrained network of the first epoch), and training stops after
    ``patience`` epochs without improvement."""
    xt = _check(crops_train, "crops_train", 3)
    xv = _check(crops_val, "crops_val", 3)
    st = _check(scalars_train, "scalars_train", 2)
    sv = _check(scalars_val, "scalars_val", 2)
    yt = np.asarray(y_train, np.float32)
    yv = np.asarray(y_val, np.float32)
    if yt.shape != (xt.shape[0],) or yv.shape != (xv.shape[0],) or st.shape[0] != xt.shape[0]:
        raise ValueError("crops, scalars and labels: expected one row each per region")
    n_pos = float(yt.sum())
    if n_pos == 0 or n_pos == yt.size:
        raise ValueError("y_train: the training regions need both classes")
    rng = set_determinism(seed)
    dev = select_device(device) if isinstance(device, str) else device
    model = CropCNN(xt.shape[1], st.shape[1], width).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    pw = torch.tensor((yt.size - n_pos) / n_pos, device=dev)
    Xv, Sv, Yv = (torch.from_numpy(a).to(dev) for a in (xv[:, None], sv, yv))
    best, best_loss, wait, hist = None, np.inf, 0, []
    for epoch in range(epochs):
        model.train()
        perm = rng.permutation(xt.shape[0])
        total = 0.0
        for s in range(0, perm.size, batch_size):
            idx = perm[s : s + batch_size]
            xb = xt[idx]
            k = int(rng.integers(4))
            xb = np.rot90(xb, k, axes=(1, 2))
            if rng.random() < 0.5:
                xb = xb[:, :, ::-1]
            xb = torch.from_numpy(np.ascontiguousarray(xb)[:, None]).to(dev)
            sb = torch.from_numpy(st[idx]).to(dev)
            yb = torch.from_numpy(yt[idx]).to(dev)
            opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(model(xb, sb), yb, pos_weight=pw)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.size
        model.eval()
        with torch.no_grad():
            vl = float(F.binary_cross_entropy_with_logits(model(Xv, Sv), Yv, pos_weight=pw))
        hist.append({"epoch": epoch, "train_loss": total / perm.size, "val_loss": vl})
        if log:
            log(f"crop classifier epoch {epoch}: train {total / perm.size:.4f} val {vl:.4f}")
        if epoch + 1 < min(min_epochs, epochs):
            continue
        if vl < best_loss - 1e-6:
            best_loss, best, wait = vl, copy.deepcopy(model.state_dict()), 0
        else:
            wait += 1
            if wait >= patience:
                break
    model.load_state_dict(best)
    model.eval()
    return model, hist


def predict_crop_classifier(model: CropCNN, crops: np.ndarray, scalars: np.ndarray) -> np.ndarray:
    """NR probability per region."""
    x = _check(crops, "crops", 3)
    s = _check(scalars, "scalars", 2)
    dev = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for i in range(0, x.shape[0], 256):
            xb = torch.from_numpy(x[i : i + 256, None]).to(dev)
            sb = torch.from_numpy(s[i : i + 256]).to(dev)
            out.append(torch.sigmoid(model(xb, sb)).cpu().numpy())
    return np.concatenate(out)


class CropAutoencoder(nn.Module):
    """Convolutional autoencoder of S x S crops with a ``latent``-dimensional embedding."""

    def __init__(self, size: int = 32, latent: int = 8, width: int = 8) -> None:
        super().__init__()
        if size % 8:
            raise ValueError(f"size: expected a multiple of 8, got {size}")
        s8 = size // 8
        w = width
        self.encoder = nn.Sequential(
            nn.Conv2d(1, w, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(2 * w * s8 * s8, latent),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent, 2 * w * s8 * s8),
            nn.ReLU(),
            nn.Unflatten(1, (2 * w, s8, s8)),
            nn.ConvTranspose2d(2 * w, 2 * w, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(w, 1, 4, stride=2, padding=1),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encoder(x)
        return z, self.decoder(z)


def _soft_assign(z: torch.Tensor, mu: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    d2 = ((z[:, None, :] - mu[None]) ** 2).sum(-1)
    q = (1.0 + d2 / alpha) ** (-(alpha + 1) / 2)
    return q / q.sum(1, keepdim=True)


def deep_embedded_clustering(
    crops_fit: np.ndarray,
    crops_eval: np.ndarray,
    n_clusters: int = 2,
    *,
    latent: int = 8,
    pretrain_epochs: int = 15,
    dec_steps: int = 300,
    update_interval: int = 30,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device = "auto",
    log: Callable[[str], Any] | None = None,
) -> dict[str, np.ndarray]:
    """Unsupervised clusters of crops (no labels are used anywhere).

    Returns:
        ``{"fit": cluster index per fit crop, "eval": per eval crop, "q_eval": soft assignments
        (n_eval, n_clusters)}``.
    """
    from sklearn.cluster import KMeans

    xf = _check(crops_fit, "crops_fit", 3)
    xe = _check(crops_eval, "crops_eval", 3)
    if n_clusters < 2 or n_clusters > xf.shape[0]:
        raise ValueError(f"n_clusters: expected 2 .. {xf.shape[0]}, got {n_clusters}")
    rng = set_determinism(seed)
    dev = select_device(device) if isinstance(device, str) else device
    model = CropAutoencoder(xf.shape[1], latent).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    X = torch.from_numpy(xf[:, None]).to(dev)
    for epoch in range(pretrain_epochs):
        perm = rng.permutation(xf.shape[0])
        total = 0.0
        for s in range(0, perm.size, batch_size):
            xb = X[perm[s : s + batch_size]]
            opt.zero_grad()
            loss = F.mse_loss(model(xb)[1], xb)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * xb.shape[0]
        if log:
            log(f"DEC pretrain epoch {epoch}: {total / perm.size:.5f}")

    def embed(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([model.encoder(x[i : i + 512]) for i in range(0, x.shape[0], 512)])

    model.eval()
    with torch.no_grad():
        zf = embed(X).cpu().numpy()
    km = KMeans(n_clusters=n_clusters, n_init=10, random_state=int(seed) % 2**31).fit(zf)
    mu = torch.nn.Parameter(torch.from_numpy(km.cluster_centers_.astype(np.float32)).to(dev))
    opt = torch.optim.Adam(list(model.encoder.parameters()) + [mu], lr=lr)
    p = None
    for step in range(dec_steps):
        if step % update_interval == 0:
            with torch.no_grad():
                q_all = _soft_assign(embed(X), mu)
                w = q_all**2 / q_all.sum(0)
                p = w / w.sum(1, keepdim=True)
        idx = torch.from_numpy(
            rng.choice(xf.shape[0], min(batch_size, xf.shape[0]), replace=False)
        ).to(dev)
        model.train()
        opt.zero_grad()
        q = _soft_assign(model.encoder(X[idx]), mu)
        loss = F.kl_div(q.log(), p[idx], reduction="batchmean")
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        q_fit = _soft_assign(embed(X), mu).cpu().numpy()
        q_eval = _soft_assign(embed(torch.from_numpy(xe[:, None]).to(dev)), mu).cpu().numpy()
    return {"fit": q_fit.argmax(1), "eval": q_eval.argmax(1), "q_eval": q_eval}
