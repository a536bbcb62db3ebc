"""Hit-level attribution of CALIFA hits to gammas without pre-clustering.

Two networks answer "which hits belong together" directly from the hits of an event:

* the focal point-cloud network (JetPointNet's task): for a focal hit, every hit of the event
  is classified as same gamma or not; clustering by peeling (focal = most energetic hit left,
  take its cluster, repeat) is the clustering method ``pointnet``
  (:mod:`.training`, :mod:`.peeling`, :mod:`caloreco.nn.pointnet`);
* the set segmenter (slot attention, Hungarian-matched loss), all clusters at once, method
  ``slots``, behind the config switch ``attribution.segmenter.enabled``
  (:mod:`.segmenter`, :mod:`caloreco.nn.slot_attention`).

Inputs in :mod:`.inputs`, targets in :mod:`.targets`, slot matching in :mod:`.matching`,
hit-level metrics and baselines (smart_random, majority) in :mod:`.metrics`, the
``attribution.json`` dict in :mod:`.evaluation`. Units: MeV, mm, ns (us inside the network
inputs), rad.
"""

from caloreco.attribution.evaluation import attribution_metrics, focal_samples, hit_level_report
from caloreco.attribution.inputs import (
    FOCAL_FEATURES,
    HIT_FEATURES,
    PAIR_FEATURES,
    PaddedHits,
    pad_hits,
)
from caloreco.attribution.matching import hungarian, match_slots
from caloreco.attribution.metrics import (
    hit_metrics,
    majority_baseline,
    smart_random_draw,
    smart_random_expected,
)
from caloreco.attribution.peeling import peel
from caloreco.attribution.segmenter import SlotClustering, segmenter_settings, train_segmenter
from caloreco.attribution.training import (
    FocalAttribution,
    attribution_settings,
    prepare,
    train_attribution,
)

__all__ = [
    "FOCAL_FEATURES",
    "HIT_FEATURES",
    "PAIR_FEATURES",
    "FocalAttribution",
    "PaddedHits",
    "SlotClustering",
    "attribution_metrics",
    "attribution_settings",
    "focal_samples",
    "hit_level_report",
    "hit_metrics",
    "hungarian",
    "majority_baseline",
    "match_slots",
    "pad_hits",
    "peel",
    "prepare",
    "segmenter_settings",
    "smart_random_draw",
    "smart_random_expected",
    "train_attribution",
    "train_segmenter",
]
