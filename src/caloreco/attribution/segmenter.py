"""Train and apply the slot-attention set segmenter (clustering method ``slots``).

The segmenter (:class:`caloreco.nn.slot_attention.SlotSegmenter`) reads every hit of an event
(the per-hit features :data:`~caloreco.attribution.inputs.HIT_FEATURES` and, as attention bias,
the pair features) and returns, after each slot-attention iteration, the logit of every slot
for every hit. A hit's cluster is its most probable slot.

Loss (Hungarian-matched): per event, the true clusters (hits grouped by dominant primary) are
matched one-to-one to slots by :func:`caloreco.attribution.matching.match_slots`, the cost of
slot k for cluster m being the cross-entropy of cluster m's hits if they were all assigned to
slot k (final iteration, no gradient through the matching). The loss is the per-hit
cross-entropy over the slots towards the matched slot, at the final iteration plus
``intermediate_weight`` times the mean over the earlier iterations (intermediate losses).
Events with more true clusters than slots keep their largest clusters; the hits of the others
take no part in the loss.

It stays behind the config switch ``attribution.segmenter.enabled`` (default off); see the
study script for its measured result.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from caloreco.attribution.inputs import HIT_FEATURES, PAIR_FEATURES
from caloreco.attribution.matching import match_slots
from caloreco.attribution.settings import segmenter_settings
from caloreco.attribution.training import (
    AttributionData,
    _atomic_torch_save,
    _event_batches,
    _scale,
    _standardizer,
    energy_weights,
    prepare,
    warmup_cosine,
)
from caloreco.clustering.labels import canonical_labels
from caloreco.clustering.metrics import event_metrics
from caloreco.clustering.table import true_labels
from caloreco.events import RawEvents
from caloreco.geometry import Geometry
from caloreco.nn.slot_attention import SlotSegmenter
from caloreco.nn.training import Standardizer, select_device, set_determinism

__all__ = [
    "cluster_onehot",
    "matched_targets",
    "SlotClustering",
    "train_segmenter",
]

_log = logging.getLogger("caloreco.attribution")


def cluster_onehot(truth: np.ndarray, max_clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """True-cluster membership of padded hits, the largest ``max_clusters`` clusters per event.

    Args:
        truth: (B, N) primary index per hit (``-1``: no truth / padding).
        max_clusters: clusters kept per event (the slots).

    Returns:
        ``(onehot, valid)``: float32 (B, M, N) membership of hit n in the event's m-th largest
        true cluster (ties: the lower primary index), M = min(max_clusters, most primaries
        of an event in the batch), and bool (B, M) whether that cluster exists.
    """
    t = np.asarray(truth, dtype=np.int64)
    if t.ndim != 2:
        raise ValueError(f"truth: expected (B, N), got shape {t.shape}")
    if int(max_clusters) < 1:
        raise ValueError(f"max_clusters: expected >= 1, got {max_clusters}")
    n_prim = max(int(t.max(initial=-1)) + 1, 1)
    full = (t[:, None, :] == np.arange(n_prim)[None, :, None]).astype(np.float32)
    size = full.sum(axis=2)
    order = np.argsort(-size, axis=1, kind="stable")[:, : int(max_clusters)]
    onehot = np.take_along_axis(full, order[:, :, None], axis=1)
    valid = np.take_along_axis(size, order, axis=1) > 0
    return onehot * valid[:, :, None], valid


def matched_targets(
    logp: torch.Tensor, onehot: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each hit's target slot after Hungarian matching of slots to true clusters.

    Args:
        logp: (B, K, N) log-probabilities over the slots (the matching uses no gradient).
        onehot, valid: from :func:`cluster_onehot` (at most K clusters per event).

    Returns:
        ``(target, counted)``: int64 (B, N) the matched slot of the hit's cluster (0 where not
        counted) and bool (B, N) the hits in a kept cluster.
    """
    lp = logp.detach().double().cpu().numpy()
    if onehot.shape[1] > lp.shape[1]:
        raise ValueError(f"onehot: {onehot.shape[1]} clusters for {lp.shape[1]} slots")
    cost = -np.einsum("bkn,bmn->bkm", lp, onehot)
    slot = match_slots(cost, valid)  # (B, M)
    counted = onehot.sum(axis=1) > 0
    cluster = np.argmax(onehot, axis=1)
    target = np.where(counted, np.take_along_axis(slot, cluster, axis=1), 0)
    return np.maximum(target, 0).astype(np.int64), counted


@dataclass
class SlotClustering:
    """A trained set segmenter and its input scaling."""

    model: SlotSegmenter
    hit_std: Standardizer
    pair_std: Standardizer
    settings: dict[str, Any]
    history: pd.DataFrame = field(default_factory=pd.DataFrame)

    def _inputs(
        self, data: AttributionData, rows: np.ndarray, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, int]:
        mask = data.padded.mask[rows]
        n = max(int(mask.sum(axis=1).max(initial=1)), 1)
        mask = mask[:, :n]
        x = torch.from_numpy(_scale(data.hit_feats[rows, :n], mask, self.hit_std)).to(device)
        p = None
        if self.model.hparams["n_pair_features"]:
            pm = mask[:, :, None] & mask[:, None, :]
            p = torch.from_numpy(_scale(data.pairs[rows, :n, :n], pm, self.pair_std)).to(device)
        return x, torch.from_numpy(mask).to(device), p, n

    @torch.no_grad()
    def slot_probabilities(
        self, data: AttributionData, device: str | torch.device = "cpu", batch_size: int = 4096
    ) -> np.ndarray:
        """Final-iteration slot probabilities (n_events, n_slots, n_max); 0 on padding."""
        device = torch.device(device)
        self.model.to(device).eval()
        k = self.model.hparams["n_slots"]
        out = np.zeros((data.padded.n_events, k, data.padded.n_max))
        for start in range(0, data.padded.n_events, batch_size):
            rows = np.arange(start, min(start + batch_size, data.padded.n_events))
            x, m, p, n = self._inputs(data, rows, device)
            prob = torch.softmax(self.model(x, m, p)[-1], dim=1) * m[:, None, :]
            out[rows, :, :n] = prob.double().cpu().numpy()
        return out

    def cluster_data(self, data: AttributionData, device: str | torch.device = "cpu") -> np.ndarray:
        """Per-hit labels (flat int64): each hit's most probable slot, renumbered 0..k-1 per
        event by decreasing cluster energy (:func:`caloreco.clustering.canonical_labels`)."""
        prob = self.slot_probabilities(data, device)
        slot = np.argmax(prob, axis=1)
        flat = data.padded.gather(slot).astype(np.int64)
        return canonical_labels(data.hits.hit_offsets, flat, data.hits.energy)

    def cluster(
        self, events: RawEvents, geom: Geometry, device: str | torch.device = "cpu"
    ) -> np.ndarray:
        """The ``slots`` clustering: per-hit cluster labels within each event."""
        if events.n_events == 0:
            return np.zeros(0, dtype=np.int64)
        return self.cluster_data(prepare(events, geom), device)

    def save(self, path: str | Path, **extra: Any) -> Path:
        """Write a ``torch.load(weights_only=True)`` checkpoint atomically."""
        from caloreco.nn.training import _plain

        path = Path(path)
        payload = {
            "kind": "slot_segmenter",
            "features": list(HIT_FEATURES),
            "pair_features": list(PAIR_FEATURES),
            "hparams": dict(self.model.hparams),
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "hit_std": self.hit_std.to_dict(),
            "pair_std": self.pair_std.to_dict(),
            "settings": _plain(self.settings),
            "history": _plain(self.history.to_dict(orient="list")),
            **_plain(extra),
        }
        _atomic_torch_save(payload, path)
        return path

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> SlotClustering:
        """Inverse of :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        if ckpt.get("kind") != "slot_segmenter":
            raise ValueError(f"checkpoint {path}: not a slot segmenter")
        if list(ckpt["features"]) != list(HIT_FEATURES):
            raise ValueError(f"checkpoint {path}: trained on features {ckpt['features']}")
        model = SlotSegmenter(**ckpt["hparams"])
        model.load_state_dict(ckpt["state_dict"])
        model.to(torch.device(device)).eval()
        return cls(
            model,
            Standardizer.from_dict(ckpt["hit_std"]),
            Standardizer.from_dict(ckpt["pair_std"]),
            dict(ckpt["settings"]),
            pd.DataFrame(ckpt["history"]),
        )


def _loss(
    net: SlotClustering,
    data: AttributionData,
    rows: np.ndarray,
    cfg: Mapping[str, Any],
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(training loss, final-iteration loss sum, counted hits) of the event rows."""
    x, m, p, n = net._inputs(data, rows, device)
    outs = net.model(x, m, p)
    k = net.model.hparams["n_slots"]
    onehot, valid = cluster_onehot(data.truth[rows, :n], k)
    logps = [torch.log_softmax(o, dim=1) for o in outs]
    target, counted = matched_targets(logps[-1], onehot, valid)
    tt = torch.from_numpy(target).to(device)
    ct = torch.from_numpy(counted).to(device)
    energy = torch.from_numpy(data.energy[rows, :n].astype(np.float32)).to(device)
    w = energy_weights(energy, ct, cfg["energy_weight"])
    per_iter = [-(lp.gather(1, tt[:, None, :])[:, 0] * w).sum() for lp in logps]
    n_hits = max(int(counted.sum()), 1)
    final = per_iter[-1]
    total = final
    if len(per_iter) > 1 and cfg["intermediate_weight"] > 0:
        total = total + float(cfg["intermediate_weight"]) * torch.stack(per_iter[:-1]).mean()
    return total / n_hits, final.detach(), int(counted.sum())


def _tp_fraction(labels: np.ndarray, events: RawEvents) -> float:
    m = event_metrics(events.hit_offsets, labels, true_labels(events))
    n = max(int(np.sum(m["category"] >= 0)), 1)
    return float(np.sum(m["TP"]) / n)


def train_segmenter(
    train: RawEvents,
    val: RawEvents,
    geom: Geometry,
    settings: Mapping[str, Any] | None = None,
    device: str | torch.device = "auto",
    log: Callable[[str], Any] | None = None,
) -> SlotClustering:
    """Train the set segmenter (see the module docstring); best validation-loss epoch kept.

    The history has per epoch ``train_loss``, ``val_loss`` (final-iteration cross-entropy per
    hit), ``val_TP`` (TP fraction of the validation events clustered by the segmenter), ``lr``,
    ``seconds``: the training curves to judge convergence by. ``device``: ``"auto"`` (CUDA when
    present), ``"cpu"`` or ``"cuda[:N]"``.
    """
    s = segmenter_settings(settings)
    cfg, model_cfg = s["training"], s["model"]
    log = log or _log.info
    device = select_device(device) if isinstance(device, str) else torch.device(device)
    for name, ev in (("train", train), ("val", val)):
        if ev.n_events == 0 or not ev.has_truth:
            raise ValueError(f"{name}: expected events with Monte Carlo truth")
    rng = set_determinism(int(cfg["seed"]))
    dtr, dva = prepare(train, geom), prepare(val, geom)
    hit_std = _standardizer(dtr.hit_feats[dtr.padded.mask])
    pm = dtr.padded.mask[:, :, None] & dtr.padded.mask[:, None, :]
    pair_std = _standardizer(dtr.pairs[pm])
    torch.manual_seed(int(cfg["seed"]))
    model = SlotSegmenter(len(HIT_FEATURES), len(PAIR_FEATURES), **model_cfg).to(device)
    net = SlotClustering(model, hit_std, pair_std, s)
    opt = torch.optim.AdamW(
        model.parameters(), lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"])
    )
    bs = int(cfg["batch_size"])
    ones = np.ones(dtr.padded.n_events, dtype=np.int64)  # batches of events, not of hits
    steps = len(_event_batches(ones, bs, np.random.default_rng(0)))
    max_epochs = int(cfg["max_epochs"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(max_epochs * steps, 0.05))
    best, best_epoch, best_state = math.inf, 0, None
    hist = []
    for epoch in range(1, max_epochs + 1):
        t0 = time.perf_counter()
        model.train()
        tot, cnt = 0.0, 0
        for rows in _event_batches(ones, bs, rng):
            opt.zero_grad(set_to_none=True)
            loss, final, n_hits = _loss(net, dtr, np.sort(rows), cfg, device)
            loss.backward()
            if cfg["grad_clip"]:
                torch.nn.utils.clip_grad_norm_(model.parameters(), float(cfg["grad_clip"]))
            opt.step()
            sched.step()
            tot += float(final)
            cnt += n_hits
        model.eval()
        with torch.no_grad():
            vt, vc = 0.0, 0
            for start in range(0, dva.padded.n_events, 4096):
                rows = np.arange(start, min(start + 4096, dva.padded.n_events))
                _, final, n_hits = _loss(net, dva, rows, cfg, device)
                vt += float(final)
                vc += n_hits
        val_loss = vt / max(vc, 1)
        val_tp = _tp_fraction(net.cluster_data(dva, device), val)
        sec = time.perf_counter() - t0
        improved = val_loss < best
        if improved:
            best, best_epoch, best_state = val_loss, epoch, copy.deepcopy(model.state_dict())
        hist.append(
            {
                "epoch": epoch,
                "train_loss": tot / max(cnt, 1),
                "val_loss": val_loss,
                "val_TP": val_tp,
                "lr": float(opt.param_groups[0]["lr"]),
                "seconds": sec,
            }
        )
        log(
            f"segmenter epoch {epoch:3d}  train_loss {tot / max(cnt, 1):.4f}  val_loss "
            f"{val_loss:.4f}{' *' if improved else '  '}  val TP {val_tp:.4f}  {sec:.1f} s"
        )
        if not math.isfinite(val_loss):
            raise FloatingPointError(f"segmenter training diverged at epoch {epoch}")
        if epoch - best_epoch >= int(cfg["patience"]):
            log(f"early stop at epoch {epoch}: best val_loss {best:.4f} at epoch {best_epoch}")
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    h = pd.DataFrame(hist)
    h["best"] = h["epoch"] == best_epoch
    net.history = h
    return net
