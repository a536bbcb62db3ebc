"""Train the focal point-cloud network on raw events, peel events into clusters, checkpoints.

What a workflow stage calls:

* :func:`train_attribution` (training and validation :class:`~caloreco.events.RawEvents` with
  truth, the geometry, the ``attribution`` settings) -> :class:`FocalAttribution`, the trained
  network with its input scaling and the peeling threshold chosen on the validation events;
* :meth:`FocalAttribution.save` / :meth:`FocalAttribution.load`: a ``weights_only`` checkpoint
  (plain data and tensors, written atomically);
* :meth:`FocalAttribution.cluster` (events, geometry) -> per-hit cluster labels within each
  event, the clustering method ``pointnet`` (:mod:`caloreco.attribution.peeling`);
* :meth:`FocalAttribution.predict` -> per-hit probabilities for given focal hits (the hit-level
  metrics of :mod:`caloreco.attribution.evaluation`).

Training samples: every real hit of every training event is a focal hit once per epoch (the
network meets every view that peeling asks for); the target of each other hit is "same dominant
primary as the focal hit". Loss: binary cross-entropy per hit, the focal hit and padding
excluded, weighted by ``training.energy_weight``: ``none`` (every hit 1), ``energy`` (E) or
``energy2`` (E^2, JetPointNet's choice), each normalised to mean 1 over the hits of a batch.
The default is ``none``: a clustering is only right when every hit is, and E^2 makes the soft
hits (Compton tails, 511 keV annihilation photons) nearly weightless. Measured on the default
test events (benchmarks/study_attribution.py): peeling TP 92.6 % (none), 89.9 % (energy),
75.6 % (energy2) on califa_uniform; 96.5 % (none), 93.2 % (energy2) on califa_2p1; E^2 also
lowers the energy-weighted hit F1 (0.940 -> 0.897 on califa_uniform).

Determinism: weights, shuffling and dropout are seeded (``training.seed``); the batch order is
a pure function of the seed and the data, so a rerun gives identical numbers on the same device.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from caloreco.attribution.inputs import (
    FOCAL_FEATURES,
    PAIR_FEATURES,
    EventHits,
    PaddedHits,
    event_hits,
    focal_inputs,
    hit_features,
    pad_hits,
    pair_features,
)
from caloreco.attribution.peeling import peel
from caloreco.attribution.settings import ENERGY_WEIGHTS, attribution_settings
from caloreco.attribution.targets import focal_targets, training_focals
from caloreco.clustering.metrics import event_metrics
from caloreco.clustering.table import true_labels
from caloreco.events import RawEvents
from caloreco.geometry import Geometry
from caloreco.nn.pointnet import FocalPointNet
from caloreco.nn.training import Standardizer, select_device, set_determinism

__all__ = [
    "AttributionData",
    "prepare",
    "FocalAttribution",
    "train_attribution",
    "energy_weights",
]

_log = logging.getLogger("caloreco.attribution")


@dataclass
class AttributionData:
    """Everything the network reads about a set of events, padded.

    Attributes:
        hits: the flat per-hit quantities.
        padded: the padded layout.
        hit_feats: float32 (n_events, n_max, len(HIT_FEATURES)).
        pairs: float32 (n_events, n_max, n_max, len(PAIR_FEATURES)).
        energy: float64 (n_events, n_max) MeV (0 on padding).
        truth: int64 (n_events, n_max) dominant primary (-1 without truth / padding), or None.
    """

    hits: EventHits
    padded: PaddedHits
    hit_feats: np.ndarray
    pairs: np.ndarray
    energy: np.ndarray
    truth: np.ndarray | None

    @property
    def n_hits(self) -> np.ndarray:
        """Hits per event."""
        return self.padded.mask.sum(axis=1)


def prepare(events: RawEvents, geom: Geometry) -> AttributionData:
    """Per-hit and pair features of ``events`` (and the truth if present)."""
    hits = event_hits(
        events.hit_offsets,
        events.cell_id,
        events.cell_energy.astype(np.float64),
        events.cell_time.astype(np.float64),
        geom,
    )
    padded = pad_hits(events.hit_offsets)
    truth = padded.scatter(true_labels(events), fill=-1) if events.has_truth else None
    return AttributionData(
        hits=hits,
        padded=padded,
        hit_feats=hit_features(hits, padded),
        pairs=pair_features(hits, padded),
        energy=padded.scatter(hits.energy, fill=0.0),
        truth=truth,
    )


def energy_weights(energy: torch.Tensor, valid: torch.Tensor, mode: str) -> torch.Tensor:
    """Per-hit loss weights: 0 where not ``valid``, else 1, E or E^2 (``mode``), normalised to
    mean 1 over the valid hits of the batch."""
    if mode not in ENERGY_WEIGHTS:
        raise ValueError(f"mode: expected one of {ENERGY_WEIGHTS}, got {mode!r}")
    v = valid.to(energy.dtype)
    if mode == "none":
        w = v
    elif mode == "energy":
        w = energy * v
    else:
        w = energy * energy * v
    return w * (v.sum().clamp(min=1.0) / w.sum().clamp(min=1e-12))


def _standardizer(values: np.ndarray) -> Standardizer:
    return Standardizer.fit(values.reshape(-1, values.shape[-1]).astype(np.float64))


@dataclass
class FocalAttribution:
    """A trained focal network, its input scaling and its peeling threshold."""

    model: FocalPointNet
    point_std: Standardizer
    pair_std: Standardizer
    threshold: float
    settings: dict[str, Any]
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    threshold_scan: list[dict[str, float]] = field(default_factory=list)

    # ---------------------------------------------------------------- inference
    def _batch(
        self,
        data: AttributionData,
        rows: np.ndarray,
        focal: np.ndarray,
        device: torch.device,
        with_pairs: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None, int]:
        """Scaled network inputs of focal samples (event ``rows``, ``focal`` positions), cropped
        to the largest event among them; the pair tensor once per distinct event."""
        mask = data.padded.mask[rows]
        n = max(int(mask.sum(axis=1).max(initial=1)), 1)
        mask = mask[:, :n]
        x = focal_inputs(data.hit_feats[rows, :n], data.pairs[rows, focal, :n], mask, focal)
        xt = torch.from_numpy(_scale(x, mask, self.point_std)).to(device)
        mt = torch.from_numpy(mask).to(device)
        pt = it = None
        if with_pairs and self.model.hparams["n_pair_features"]:
            uniq, inv = np.unique(rows, return_inverse=True)
            um = data.padded.mask[uniq, :n]
            pairs = _scale(data.pairs[uniq, :n, :n], um[:, :, None] & um[:, None, :], self.pair_std)
            pt = torch.from_numpy(pairs).to(device)
            it = torch.from_numpy(inv.reshape(-1).astype(np.int64)).to(device)
        return xt, mt, pt, it, n

    @torch.no_grad()
    def pair_bias(
        self, data: AttributionData, device: str | torch.device = "cpu", batch_size: int = 4096
    ) -> torch.Tensor | None:
        """The attention bias of every event of ``data`` (n_events, n_blocks, heads, n_max,
        n_max), computed once so that peeling rounds reuse it; None for a network without
        pair bias."""
        if not self.model.hparams["n_pair_features"]:
            return None
        device = torch.device(device)
        self.model.to(device).eval()
        m = data.padded.mask
        parts = []
        for start in range(0, data.padded.n_events, batch_size):
            sl = slice(start, start + batch_size)
            pm = m[sl, :, None] & m[sl, None, :]
            pairs = torch.from_numpy(_scale(data.pairs[sl], pm, self.pair_std)).to(device)
            parts.append(self.model.pair_bias(pairs))
        return torch.cat(parts)

    @torch.no_grad()
    def predict(
        self,
        data: AttributionData,
        rows: np.ndarray,
        focal: np.ndarray,
        device: str | torch.device = "cpu",
        batch_size: int = 1024,
        bias: torch.Tensor | None = None,
    ) -> np.ndarray:
        """Probability (len(rows), n_max) that each hit of event row ``rows[i]`` belongs to the
        gamma of its hit ``focal[i]``; 0 on padding. ``bias``: :meth:`pair_bias` of ``data``
        if already computed (the same numbers, faster)."""
        device = torch.device(device)
        self.model.to(device).eval()
        rows = np.asarray(rows, dtype=np.int64)
        focal = np.asarray(focal, dtype=np.int64)
        out = np.zeros((rows.size, data.padded.n_max), dtype=np.float64)
        # events of similar size together: each batch is cropped to its largest event
        order = np.argsort(data.n_hits[rows], kind="stable")
        for start in range(0, rows.size, batch_size):
            sl = order[start : start + batch_size]
            if bias is None:
                x, m, p, i, n = self._batch(data, rows[sl], focal[sl], device)
                logits = self.model(x, m, p, i)
            else:
                x, m, _, _, n = self._batch(data, rows[sl], focal[sl], device, with_pairs=False)
                idx = torch.from_numpy(rows[sl]).to(bias.device)
                logits = self.model(x, m, bias=bias[idx][..., :n, :n])
            out[sl, :n] = torch.sigmoid(logits).masked_fill(~m, 0.0).double().cpu().numpy()
        return out

    def scorer(self, data: AttributionData, device: str | torch.device = "cpu"):
        """The :data:`~caloreco.attribution.peeling.Scorer` of this network on ``data`` (the
        attention bias of every event computed once, reused by every round)."""
        bias = self.pair_bias(data, device)

        def score(rows: np.ndarray, focal: np.ndarray, available: np.ndarray) -> np.ndarray:
            return self.predict(data, rows, focal, device, bias=bias)

        return score

    def cluster_data(
        self,
        data: AttributionData,
        threshold: float | None = None,
        device: str | torch.device = "cpu",
    ) -> np.ndarray:
        """Per-hit labels (flat, int64) of the events of ``data`` by peeling."""
        thr = self.threshold if threshold is None else float(threshold)
        lab = peel(data.energy, data.padded.mask, self.scorer(data, device), thr)
        return data.padded.gather(lab)

    def cluster(
        self, events: RawEvents, geom: Geometry, device: str | torch.device = "cpu"
    ) -> np.ndarray:
        """The ``pointnet`` clustering: per-hit cluster labels within each event (int64,
        cluster k = the k-th peeled, every hit in a cluster)."""
        if events.n_events == 0:
            return np.zeros(0, dtype=np.int64)
        return self.cluster_data(prepare(events, geom), device=device)

    # ---------------------------------------------------------------- checkpoints
    def save(self, path: str | Path, **extra: Any) -> Path:
        """Write a ``torch.load(weights_only=True)`` checkpoint atomically."""
        from caloreco.nn.training import _plain

        path = Path(path)
        payload = {
            "kind": "focal_attribution",
            "features": list(FOCAL_FEATURES),
            "pair_features": list(PAIR_FEATURES),
            "hparams": dict(self.model.hparams),
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "point_std": self.point_std.to_dict(),
            "pair_std": self.pair_std.to_dict(),
            "threshold": float(self.threshold),
            "settings": _plain(self.settings),
            "history": _plain(self.history.to_dict(orient="list")),
            "threshold_scan": _plain(self.threshold_scan),
            "torch_version": str(torch.__version__),
            **_plain(extra),
        }
        _atomic_torch_save(payload, path)
        return path

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> FocalAttribution:
        """Inverse of :meth:`save`; refuses a checkpoint of other input features."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        if ckpt.get("kind") != "focal_attribution":
            raise ValueError(f"checkpoint {path}: not a focal attribution network")
        if list(ckpt["features"]) != list(FOCAL_FEATURES) or list(ckpt["pair_features"]) != list(
            PAIR_FEATURES
        ):
            raise ValueError(
                f"checkpoint {path}: trained on features {ckpt['features']}, this code makes "
                f"{list(FOCAL_FEATURES)}"
            )
        model = FocalPointNet(**ckpt["hparams"])
        model.load_state_dict(ckpt["state_dict"])
        model.to(torch.device(device)).eval()
        return cls(
            model=model,
            point_std=Standardizer.from_dict(ckpt["point_std"]),
            pair_std=Standardizer.from_dict(ckpt["pair_std"]),
            threshold=float(ckpt["threshold"]),
            settings=dict(ckpt["settings"]),
            history=pd.DataFrame(ckpt["history"]),
            threshold_scan=list(ckpt.get("threshold_scan", [])),
        )


def _atomic_torch_save(payload: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _scale(x: np.ndarray, mask: np.ndarray, std: Standardizer) -> np.ndarray:
    """Standardise the last axis of ``x`` where ``mask``; 0 elsewhere (float32)."""
    mean = std.mean.astype(np.float32)
    sd = std.std.astype(np.float32)
    return np.where(mask[..., None], (x - mean) / sd, 0.0).astype(np.float32)


def _event_batches(
    n_hits: np.ndarray, batch_size: int, rng: np.random.Generator, group: int = 32
) -> list[np.ndarray]:
    """Batches of whole events holding about ``batch_size`` focal samples (one per hit), events
    of similar size together (less padding): shuffle, sort spans of ``group`` batches by hit
    count, cut at every ``batch_size`` samples, shuffle the batches."""
    perm = rng.permutation(n_hits.size)
    out: list[np.ndarray] = []
    span = max(1, int(batch_size * group / max(float(n_hits.mean()), 1.0)))
    for start in range(0, perm.size, span):
        chunk = perm[start : start + span]
        chunk = chunk[np.argsort(n_hits[chunk], kind="stable")]
        cut = np.cumsum(n_hits[chunk]) // batch_size
        bounds = np.flatnonzero(np.diff(cut)) + 1
        out.extend(part for part in np.split(chunk, bounds) if part.size)
    order = rng.permutation(len(out))
    return [out[i] for i in order]


def warmup_cosine(total_steps: int, warmup: float = 0.1, floor: float = 0.02):
    """Learning-rate factor of step k: linear warm-up over ``warmup`` of the steps, then a cosine
    down to ``floor``; steps past ``total_steps`` stay at ``floor``."""
    total = max(int(total_steps), 1)
    n_warm = max(int(warmup * total), 1)

    def factor(step: int) -> float:
        if step < n_warm:
            return (step + 1) / n_warm
        t = min((step - n_warm) / max(total - n_warm, 1), 1.0)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))

    return factor


def _focal_samples(padded: PaddedHits, events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every real hit of the event rows ``events`` as a focal sample: (rows, positions)."""
    m = padded.mask[events]
    r, pos = np.nonzero(m)
    return events[r].astype(np.int64), pos.astype(np.int64)


def _loss_on(
    net: FocalAttribution,
    data: AttributionData,
    rows: np.ndarray,
    focal: np.ndarray,
    mode: str,
    device: torch.device,
) -> tuple[torch.Tensor, int]:
    x, m, p, i, n = net._batch(data, rows, focal, device)
    target, valid = focal_targets(data.truth[rows, :n], data.padded.mask[rows, :n], focal)
    logits = net.model(x, m, p, i)
    energy = torch.from_numpy(data.energy[rows, :n].astype(np.float32)).to(device)
    vt = torch.from_numpy(valid).to(device)
    w = energy_weights(energy, vt, mode)
    bce = nn.functional.binary_cross_entropy_with_logits(
        logits, torch.from_numpy(target).to(device), reduction="none"
    )
    return (bce * w).sum(), int(valid.sum())


def choose_peeling_threshold(
    net: FocalAttribution,
    data: AttributionData,
    events: RawEvents,
    thresholds: list[float],
    device: torch.device,
) -> tuple[float, list[dict[str, float]]]:
    """The threshold with the highest TP fraction of peeling on (validation) ``events``."""
    truth = true_labels(events)
    scan = []
    for thr in thresholds:
        lab = net.cluster_data(data, float(thr), device)
        m = event_metrics(events.hit_offsets, lab, truth)
        n = max(int(np.sum(m["category"] >= 0)), 1)
        scan.append({"threshold": float(thr), "TP": float(np.sum(m["TP"]) / n)})
    best = max(scan, key=lambda r: (r["TP"], -abs(r["threshold"] - 0.5)))
    return best["threshold"], scan


def train_attribution(
    train: RawEvents,
    val: RawEvents,
    geom: Geometry,
    settings: Mapping[str, Any] | None = None,
    device: str | torch.device = "auto",
    log: Callable[[str], Any] | None = None,
) -> FocalAttribution:
    """Train the focal network (see the module docstring) and choose the peeling threshold.

    Args:
        train, val: events with truth (the training and validation splits by event number).
        geom: the detector.
        settings: the ``attribution`` block
            (:func:`caloreco.attribution.settings.attribution_settings`).
        device: ``"auto"`` (CUDA when present, :func:`~caloreco.nn.training.select_device`),
            ``"cpu"`` or ``"cuda[:N]"``.
        log: one line per epoch (default: the module logger).

    Returns:
        the trained :class:`FocalAttribution` (best validation-loss epoch), threshold set.

    Raises:
        ValueError: events without truth, or a split without events.
    """
    s = attribution_settings(settings)
    log = log or _log.info
    tr_cfg, model_cfg = s["training"], s["model"]
    device = select_device(device) if isinstance(device, str) else torch.device(device)
    for name, ev in (("train", train), ("val", val)):
        if ev.n_events == 0:
            raise ValueError(f"{name}: no events")
        if not ev.has_truth:
            raise ValueError(f"{name}: events carry no Monte Carlo truth; training needs it")
    rng = set_determinism(int(tr_cfg["seed"]))
    if tr_cfg["max_train_events"] is not None and train.n_events > int(tr_cfg["max_train_events"]):
        keep = np.zeros(train.n_events, dtype=bool)
        keep[: int(tr_cfg["max_train_events"])] = True
        train = train.select(keep)
    t0 = time.perf_counter()
    dtr, dva = prepare(train, geom), prepare(val, geom)
    rows_tr, foc_tr = training_focals(dtr.padded)
    rows_va, foc_va = training_focals(dva.padded)
    # input scaling from the training split only
    sample = rng.choice(rows_tr.size, size=min(rows_tr.size, 20000), replace=False)
    xs = focal_inputs(
        dtr.hit_feats[rows_tr[sample]],
        dtr.pairs[rows_tr[sample], foc_tr[sample]],
        dtr.padded.mask[rows_tr[sample]],
        foc_tr[sample],
    )
    point_std = _standardizer(xs[dtr.padded.mask[rows_tr[sample]]])
    pm = dtr.padded.mask[:, :, None] & dtr.padded.mask[:, None, :]
    pair_std = _standardizer(dtr.pairs[pm])
    log(
        f"prepared {train.n_events} train / {val.n_events} val events in {time.perf_counter() - t0:.1f} s"
    )

    torch.manual_seed(int(tr_cfg["seed"]))
    model = FocalPointNet(len(FOCAL_FEATURES), len(PAIR_FEATURES), **model_cfg).to(device)
    net = FocalAttribution(model, point_std, pair_std, 0.5, s)
    opt = torch.optim.AdamW(
        model.parameters(), lr=float(tr_cfg["lr"]), weight_decay=float(tr_cfg["weight_decay"])
    )
    bs = int(tr_cfg["batch_size"])
    n_hits_tr = dtr.n_hits
    steps_per_epoch = len(_event_batches(n_hits_tr, bs, np.random.default_rng(0)))
    max_epochs = int(tr_cfg["max_epochs"])
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, warmup_cosine(max_epochs * steps_per_epoch, warmup=0.1)
    )
    mode = tr_cfg["energy_weight"]
    best, best_epoch, best_state = math.inf, 0, None
    rows_hist = []
    for epoch in range(1, max_epochs + 1):
        t_ep = time.perf_counter()
        model.train()
        total, count = 0.0, 0
        for ev_idx in _event_batches(n_hits_tr, bs, rng):
            rows_b, foc_b = _focal_samples(dtr.padded, ev_idx)
            opt.zero_grad(set_to_none=True)
            loss_sum, n_valid = _loss_on(net, dtr, rows_b, foc_b, mode, device)
            loss = loss_sum / max(n_valid, 1)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss_sum.detach())
            count += n_valid
        train_loss = total / max(count, 1)
        model.eval()
        with torch.no_grad():
            vt, vc = 0.0, 0
            for start in range(0, rows_va.size, 4096):
                sl = slice(start, start + 4096)
                ls, nv = _loss_on(net, dva, rows_va[sl], foc_va[sl], mode, device)
                vt += float(ls)
                vc += nv
        val_loss = vt / max(vc, 1)
        sec = time.perf_counter() - t_ep
        improved = val_loss < best
        if improved:
            best, best_epoch, best_state = val_loss, epoch, copy.deepcopy(model.state_dict())
        rows_hist.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "lr": float(opt.param_groups[0]["lr"]),
                "seconds": sec,
            }
        )
        log(
            f"epoch {epoch:3d}  train_loss {train_loss:.5f}  val_loss {val_loss:.5f}"
            f"{' *' if improved else '  '}  {sec:.1f} s  {rows_tr.size / max(sec, 1e-9):.0f} focal samples/s"
        )
        if not math.isfinite(train_loss):
            raise FloatingPointError(
                f"training diverged at epoch {epoch} (train loss {train_loss})"
            )
        if epoch - best_epoch >= int(tr_cfg["patience"]):
            log(f"early stop at epoch {epoch}: best val_loss {best:.5f} at epoch {best_epoch}")
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    hist = pd.DataFrame(rows_hist)
    hist["best"] = hist["epoch"] == best_epoch
    net.history = hist
    thr_cfg = s["peeling"]["threshold"]
    if thr_cfg == "auto":
        net.threshold, net.threshold_scan = choose_peeling_threshold(
            net, dva, val, list(s["peeling"]["thresholds"]), device
        )
        log(f"peeling threshold {net.threshold} (validation TP scan {net.threshold_scan})")
    else:
        net.threshold = float(thr_cfg)
    return net
