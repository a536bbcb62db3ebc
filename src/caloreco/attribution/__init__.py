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
