"""Event-level clustering metrics of the published CALIFA study (califa-reference.md).

Each event's reconstructed clustering is compared with the true one (one true cluster per
primary: the hits whose dominant deposit comes from it) as sets of hits, and the event gets
exactly one label:

* ``TP``: identical clusterings;
* ``FP``: something over-merged (a reconstructed cluster holds hits of several primaries),
  nothing split;
* ``FN``: something split or lost (a primary's hits are in several reconstructed clusters, or
  some of its hits are in none), nothing over-merged;
* ``FM``: both.

``WR`` (well reconstructed) is the number of exactly matched true clusters (a true cluster whose
hits form, alone, one reconstructed cluster) over the number of true clusters, over all events.

Conventions (choices of this package, stated because the paper does not need them):

* Hits without truth (true label ``-1``: noise, or a hit no primary deposited in) take no part
  in the comparison: they are removed from both clusterings before comparing. A reconstructed
  cluster made only of such hits is ignored; one that also holds true hits is judged on those.
* Unclustered hits (reconstructed label ``-1``, e.g. below the cone seed threshold) are *lost*:
  a true cluster with a lost hit counts as split (so the event is FN, or FM if also
  over-merged) and is not exactly matched. A primary whose only hit is lost is therefore a
  failure, not a success.
* Events with no true hit (no hits at all, or only noise) have no true cluster; they get no
  label and are excluded from the fractions, and reported as ``empty_events``.
"""

from __future__ import annotations

import numpy as np

from caloreco.clustering.labels import check_labels, check_offsets
from caloreco.events import event_index

__all__ = ["event_metrics", "summarize_metrics", "CATEGORIES"]

CATEGORIES = ("TP", "FP", "FN", "FM")


def _group_count(keys: np.ndarray, n_groups: int) -> np.ndarray:
    return np.bincount(keys, minlength=n_groups)


def _unique_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (a, b) rows (a >= 0, b >= -1) as a (2, k) array sorted by (a, b), and the
    inverse index of every input pair; one int64 key instead of a slow axis-wise unique."""
    base = int(b.max()) + 2 if b.size else 1
    key = a * base + (b + 1)
    uk, inv = np.unique(key, return_inverse=True)
    return np.stack([uk // base, uk % base - 1]), inv.reshape(-1)


def event_metrics(
    hit_offsets: np.ndarray, reco_labels: np.ndarray, true_labels: np.ndarray
) -> dict[str, np.ndarray]:
    """Per-event clustering labels and counts (see the module docstring for the conventions).

    Args:
        hit_offsets: int64 CSR offsets, shape (n_events + 1,).
        reco_labels: reconstructed cluster of each hit within its event (``-1`` unclustered),
            shape (n_hits,).
        true_labels: true cluster of each hit within its event, e.g. the dominant primary
            (``-1`` without truth), shape (n_hits,).

    Returns:
        dict of arrays of shape (n_events,): ``category`` (int8: 0 TP, 1 FP, 2 FN, 3 FM,
        -1 empty event), boolean ``TP``, ``FP``, ``FN``, ``FM``, ``empty``, ``over_merged``,
        ``split``, and int64 ``n_true_clusters``, ``n_reco_clusters`` (reconstructed clusters
        holding at least one true hit), ``n_exactly_matched``.
    """
    off = check_offsets(hit_offsets)
    n_ev = off.size - 1
    n = int(off[-1])
    reco = check_labels(reco_labels, n, "reco_labels")
    true = check_labels(true_labels, n, "true_labels")
    ev = event_index(off)
    keep = true >= 0
    ev, reco, true = ev[keep], reco[keep], true[keep]

    # true clusters: (event, true label)
    t_key, t_id = _unique_pairs(ev, true)
    n_t = t_key.shape[1]
    t_event = t_key[0]
    # reconstructed clusters with true hits: (event, reco label), lost hits (-1) excluded
    clustered = reco >= 0
    r_key, r_id_c = _unique_pairs(ev[clustered], reco[clustered])
    r_id = np.full(reco.size, -1, dtype=np.int64)
    r_id[clustered] = r_id_c
    n_r = r_key.shape[1]
    r_event = r_key[0]

    # distinct (true, reco) combinations, reco -1 (lost) included as its own value
    pair, _ = _unique_pairs(t_id, r_id)
    pt, pr = pair[0], pair[1]
    # a true cluster is split if it meets >1 reco values or any lost hit
    n_reco_per_true = _group_count(pt, n_t)
    lost = np.zeros(n_t, dtype=bool)
    lost[pt[pr < 0]] = True
    split_t = (n_reco_per_true > 1) | lost
    # a reco cluster is over-merged if it holds hits of >1 true clusters
    n_true_per_reco = _group_count(pr[pr >= 0], n_r)
    merged_r = n_true_per_reco > 1
    # exactly matched: not split, and its single reco cluster is not over-merged
    single_r = np.full(n_t, -1, dtype=np.int64)
    ok = ~split_t
    single_r[pt[ok[pt]]] = pr[ok[pt]]
    matched_t = ok & (single_r >= 0)
    matched_t[matched_t] = ~merged_r[single_r[matched_t]]

    n_true = np.bincount(t_event, minlength=n_ev).astype(np.int64)
    n_reco = np.bincount(r_event, minlength=n_ev).astype(np.int64)
    n_match = np.bincount(t_event, weights=matched_t, minlength=n_ev).astype(np.int64)
    split = np.bincount(t_event, weights=split_t, minlength=n_ev) > 0
    over = np.bincount(r_event, weights=merged_r, minlength=n_ev) > 0
    empty = n_true == 0
    category = np.where(split, 2, 0) + np.where(over, 1, 0)  # TP 0, FP 1, FN 2, FM 3
    category = np.where(empty, -1, category).astype(np.int8)
    out: dict[str, np.ndarray] = {"category": category}
    for i, name in enumerate(CATEGORIES):
        out[name] = category == i
    out.update(
        empty=empty,
        over_merged=over & ~empty,
        split=split & ~empty,
        n_true_clusters=n_true,
        n_reco_clusters=n_reco,
        n_exactly_matched=n_match,
    )
    return out


def summarize_metrics(per_event: dict[str, np.ndarray]) -> dict[str, float | int]:
    """Fractions over all non-empty events, with binomial uncertainties.

    Args:
        per_event: the output of :func:`event_metrics` (several chunks may be concatenated
            array by array beforehand).

    Returns:
        ``{"TP", "FP", "FN", "FM"}``: fractions of the non-empty events (they add to 1);
        ``"WR"``: exactly matched / true clusters over all events; for each, ``"<key>_err"`` =
        sqrt(p (1 - p) / N) with N the events (or the true clusters for WR); ``"events"``
        (non-empty events), ``"empty_events"``, ``"true_clusters"``, ``"matched_clusters"``.
        Fractions are NaN when there is nothing to count.
    """
    try:
        cat = np.asarray(per_event["category"])
        n_true = int(np.sum(per_event["n_true_clusters"]))
        n_match = int(np.sum(per_event["n_exactly_matched"]))
    except KeyError as exc:
        raise ValueError(f"per_event: missing key {exc} (expected event_metrics output)") from None
    n_events = int(np.sum(cat >= 0))
    result: dict[str, float | int] = {}

    def frac(k: int, total: int) -> tuple[float, float]:
        if total == 0:
            return float("nan"), float("nan")
        p = k / total
        return p, float(np.sqrt(p * (1.0 - p) / total))

    for i, name in enumerate(CATEGORIES):
        result[name], result[f"{name}_err"] = frac(int(np.sum(cat == i)), n_events)
    result["WR"], result["WR_err"] = frac(n_match, n_true)
    result["events"] = n_events
    result["empty_events"] = int(np.sum(cat < 0))
    result["true_clusters"] = n_true
    result["matched_clusters"] = n_match
    return result
