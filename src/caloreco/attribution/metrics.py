"""Hit-level attribution metrics, the smart_random and majority ("dumb") baselines.

The unit is one *sample*: a focal hit and the other hits of its event, each labelled positive
(same gamma as the focal hit) or negative. Inputs are flat arrays with one entry per (sample,
hit): the truth ``y``, the prediction ``pred``, the hit energy, the event (bootstrap unit) and
the sample id.

Raw metrics count hits; energy-weighted ones weigh each hit by its energy (MeV), e.g.
``F1_E = 2 TP_E / (2 TP_E + FP_E + FN_E)`` with ``TP_E`` the energy of the true-positive hits.

Baselines (physics.md section 5, califa-reference.md):

* smart_random: each hit called positive with probability p, the positive fraction of the hits.
  Expected raw precision = recall = F1 = p, accuracy p^2 + (1-p)^2; energy-weighted, with
  p_E the positive fraction of the energy: precision p_E, recall p, F1 2 p p_E / (p + p_E),
  accuracy p p_E + (1-p)(1-p_E). Reported analytically and as a seeded draw.
* majority ("dumb"): per sample, call every hit by the sample's majority class;
  accuracy = sum max(n_pos, n_neg) / sum n over samples (JetPointNet's "dumb" accuracy, pooled
  over hits; the per-sample mean is given as well). Energy-weighted: the majority by energy.

Intervals: percentile bootstrap over events (all samples of an event move together).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "METRICS",
    "confusion_counts",
    "rates",
    "hit_metrics",
    "smart_random_expected",
    "smart_random_draw",
    "majority_baseline",
    "energy_binned",
]

METRICS = ("accuracy", "precision", "recall", "f1")


def _check(y, pred, energy, event, sample=None) -> tuple[np.ndarray, ...]:
    y = np.asarray(y)
    n = y.shape[0] if y.ndim == 1 else -1
    if y.ndim != 1 or (y.size and not np.isin(y, (0, 1)).all()):
        raise ValueError("y: expected a 1-D array of 0/1 labels")
    arrays = [y.astype(bool)]
    for name, a in (("pred", pred), ("energy", energy), ("event", event), ("sample", sample)):
        if a is None:
            arrays.append(None)
            continue
        a = np.asarray(a)
        if a.shape != (n,):
            raise ValueError(f"{name}: expected shape ({n},) like y, got {a.shape}")
        arrays.append(a)
    if arrays[1] is not None and arrays[1].size and not np.isin(arrays[1], (0, 1)).all():
        raise ValueError("pred: expected 0/1 predictions")
    if arrays[1] is not None:
        arrays[1] = arrays[1].astype(bool)
    if arrays[2] is not None:
        arrays[2] = arrays[2].astype(np.float64)
        if not np.isfinite(arrays[2]).all() or np.any(arrays[2] < 0):
            raise ValueError("energy: expected finite non-negative hit energies (MeV)")
    return tuple(arrays)


def confusion_counts(
    y: np.ndarray, pred: np.ndarray, weight: np.ndarray | None = None
) -> np.ndarray:
    """(TP, FP, FN, TN) summed over hits, each hit counted with ``weight`` (default 1)."""
    y, pred = np.asarray(y, bool), np.asarray(pred, bool)
    w = np.ones(y.shape) if weight is None else np.asarray(weight, np.float64)
    return np.array(
        [np.sum(w[y & pred]), np.sum(w[~y & pred]), np.sum(w[y & ~pred]), np.sum(w[~y & ~pred])]
    )


def rates(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, precision, recall, F1 from counts of shape (4, ...) = (TP, FP, FN, TN).

    Precision (recall) is 0 where nothing is predicted (is) positive; F1 is 0 where
    2 TP + FP + FN = 0; accuracy NaN where there is nothing.
    """
    tp, fp, fn, tn = (np.asarray(c, dtype=np.float64) for c in counts)
    with np.errstate(divide="ignore", invalid="ignore"):
        total = tp + fp + fn + tn
        return {
            "accuracy": np.where(total > 0, (tp + tn) / total, np.nan),
            "precision": np.where(tp + fp > 0, tp / (tp + fp), 0.0),
            "recall": np.where(tp + fn > 0, tp / (tp + fn), 0.0),
            "f1": np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0),
        }


def _per_event_counts(
    y: np.ndarray, pred: np.ndarray, w: np.ndarray, unit: np.ndarray, n_units: int
) -> np.ndarray:
    cells = (y & pred, ~y & pred, y & ~pred, ~y & ~pred)
    return np.stack([np.bincount(unit, weights=w * c, minlength=n_units) for c in cells])


def _bootstrap(
    per_unit: np.ndarray, rng: np.random.Generator, n_boot: int, ci: float
) -> dict[str, list[float]]:
    """Percentile intervals of every metric from per-unit counts (4, n_units)."""
    n_units = per_unit.shape[1]
    alpha = (1 - ci) / 2
    draws: dict[str, list[np.ndarray]] = {k: [] for k in METRICS}
    block = max(1, min(n_boot, 20_000_000 // max(n_units, 1)))
    for start in range(0, n_boot, block):
        m = min(block, n_boot - start)
        idx = rng.integers(0, n_units, size=(m, n_units))
        sums = per_unit[:, idx].sum(axis=2)  # (4, m)
        for k, v in rates(sums).items():
            draws[k].append(v)
    out = {}
    for k in METRICS:
        v = np.concatenate(draws[k])
        lo, hi = np.nanquantile(v, [alpha, 1 - alpha])
        out[f"{k}_ci"] = [float(lo), float(hi)]
    return out


def hit_metrics(
    y: np.ndarray,
    pred: np.ndarray,
    energy: np.ndarray,
    event: np.ndarray,
    rng: np.random.Generator | None = None,
    n_boot: int = 0,
    ci: float = 0.95,
) -> dict[str, Any]:
    """Raw and energy-weighted accuracy, precision, recall, F1 with bootstrap intervals.

    Args:
        y, pred: 0/1 truth and prediction per (sample, hit), shape (n,).
        energy: hit energy (MeV) per entry (the weight of the energy-weighted metrics).
        event: event id per entry (the bootstrap resamples events).
        rng, n_boot, ci: the bootstrap (no intervals without ``rng`` or with ``n_boot`` 0:
            the ``*_ci`` entries are then ``[nan, nan]``).

    Returns:
        ``{"raw": {...}, "energy_weighted": {...}, "n", "n_positive", "positive_fraction",
        "positive_energy_fraction"}``; each of ``raw`` and ``energy_weighted`` holds
        ``accuracy, precision, recall, f1``, their ``*_ci`` and the counts ``tp, fp, fn, tn``.
    """
    y, pred, e, ev, _ = _check(y, pred, energy, event)
    if y.size == 0:
        raise ValueError("y: no hits to evaluate")
    if not 0 < ci < 1:
        raise ValueError(f"ci: expected a coverage in (0, 1), got {ci}")
    _, unit = np.unique(ev, return_inverse=True)
    unit = unit.reshape(-1)
    n_units = int(unit.max()) + 1
    out: dict[str, Any] = {
        "n": int(y.size),
        "n_positive": int(y.sum()),
        "positive_fraction": float(y.mean()),
        "positive_energy_fraction": float(e[y].sum() / e.sum()) if e.sum() > 0 else float("nan"),
    }
    for name, w in (("raw", np.ones(y.size)), ("energy_weighted", e)):
        per = _per_event_counts(y, pred, w, unit, n_units)
        counts = per.sum(axis=1)
        block: dict[str, Any] = {k: float(v) for k, v in rates(counts).items()}
        block.update(dict(zip(("tp", "fp", "fn", "tn"), (float(c) for c in counts), strict=True)))
        if rng is not None and n_boot > 0:
            block.update(_bootstrap(per, rng, int(n_boot), ci))
        else:
            block.update({f"{k}_ci": [float("nan"), float("nan")] for k in METRICS})
        out[name] = block
    return out


def smart_random_expected(p: float, p_energy: float | None = None) -> dict[str, Any]:
    """Analytic smart_random metrics (see the module docstring) for a hit positive fraction
    ``p`` and, for the energy-weighted block, an energy positive fraction ``p_energy``."""
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p: expected a fraction in [0, 1], got {p}")
    out: dict[str, Any] = {
        "raw": {"accuracy": p * p + (1 - p) ** 2, "precision": p, "recall": p, "f1": p}
    }
    if p_energy is not None:
        q = float(p_energy)
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"p_energy: expected a fraction in [0, 1], got {q}")
        out["energy_weighted"] = {
            "accuracy": p * q + (1 - p) * (1 - q),
            "precision": q,
            "recall": p,
            "f1": 2 * p * q / (p + q) if p + q > 0 else 0.0,
        }
    return out


def smart_random_draw(n: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """A seeded smart_random prediction: each of ``n`` hits positive (1) with probability p."""
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p: expected a fraction in [0, 1], got {p}")
    return (rng.random(int(n)) < p).astype(np.int8)


def majority_baseline(y: np.ndarray, energy: np.ndarray, sample: np.ndarray) -> dict[str, Any]:
    """The per-sample majority ("dumb") classifier: every hit of a sample gets the sample's
    majority class (by hit count for the raw block, by energy for the weighted one; a tie
    counts as negative).

    Returns:
        ``{"raw": {accuracy, precision, recall, f1, accuracy_per_sample_mean},
        "energy_weighted": {accuracy, precision, recall, f1}, "n_samples"}``.
    """
    y, _, e, _, s = _check(y, None, energy, np.zeros(np.asarray(y).shape[0]), sample)
    if y.size == 0:
        raise ValueError("y: no hits to evaluate")
    _, unit = np.unique(s, return_inverse=True)
    unit = unit.reshape(-1)
    k = int(unit.max()) + 1
    out: dict[str, Any] = {"n_samples": k}
    for name, w in (("raw", np.ones(y.size)), ("energy_weighted", e)):
        pos = np.bincount(unit, weights=w * y, minlength=k)
        tot = np.bincount(unit, weights=w, minlength=k)
        call = pos > tot - pos
        pred = call[unit]
        block = {key: float(v) for key, v in rates(confusion_counts(y, pred, w)).items()}
        if name == "raw":
            with np.errstate(invalid="ignore", divide="ignore"):
                per = np.maximum(pos, tot - pos) / tot
            block["accuracy_per_sample_mean"] = float(np.nanmean(per))
        out[name] = block
    return out


def energy_binned(
    y: np.ndarray,
    pred: np.ndarray,
    energy: np.ndarray,
    sample: np.ndarray,
    gamma_energy: np.ndarray,
    edges: Sequence[float],
) -> list[dict[str, Any]]:
    """Metrics per bin of the focal gamma's true energy (MeV): the network's raw and
    energy-weighted metrics, the smart_random expectation and the majority baseline of the
    samples in each bin. Empty bins are left out.

    Args:
        y, pred, energy, sample: as :func:`hit_metrics` and :func:`majority_baseline`.
        gamma_energy: the focal gamma's true energy per entry (MeV).
        edges: increasing bin edges (MeV); the last bin includes its upper edge.
    """
    y, pred, e, _, s = _check(y, pred, energy, np.zeros(np.asarray(y).shape[0]), sample)
    g = np.asarray(gamma_energy, dtype=np.float64)
    if g.shape != y.shape:
        raise ValueError(f"gamma_energy: expected shape {y.shape}, got {g.shape}")
    ed = np.asarray(edges, dtype=np.float64)
    if ed.ndim != 1 or ed.size < 2 or np.any(np.diff(ed) <= 0):
        raise ValueError(f"edges: expected at least two increasing bin edges, got {list(edges)}")
    idx = np.clip(np.searchsorted(ed, g, side="right") - 1, -1, ed.size - 1)
    idx = np.where(g == ed[-1], ed.size - 2, idx)
    out = []
    for b in range(ed.size - 1):
        sel = idx == b
        if not sel.any():
            continue
        ys, ps, es = y[sel], pred[sel], e[sel]
        raw = rates(confusion_counts(ys, ps))
        wtd = rates(confusion_counts(ys, ps, es))
        p = float(ys.mean())
        pe = float(es[ys].sum() / es.sum()) if es.sum() > 0 else 0.0
        maj = majority_baseline(ys, es, s[sel])
        out.append(
            {
                "e_lo": float(ed[b]),
                "e_hi": float(ed[b + 1]),
                "n": int(sel.sum()),
                "n_samples": maj["n_samples"],
                "raw": {k: float(v) for k, v in raw.items()},
                "energy_weighted": {k: float(v) for k, v in wtd.items()},
                "smart_random": smart_random_expected(p, pe),
                "majority": maj,
            }
        )
    return out
