"""Cluster restoration and event-level clustering metrics.

Methods (all vectorised over the events of a chunk, numba kernels for the per-event loops),
dispatched by name in :mod:`.methods`:

* :mod:`.connected`: side-connected cells split at local maxima (coral-like, any detector with a
  neighbour table);
* :mod:`.cone`: the R3B cone algorithm of CALIFA;
* :mod:`.agglomerative`: Ward linkage on space-time points (Jenegger et al.), the same partition
  as scipy's ``fclusterdata``.

Labels are per hit, the cluster index within its event, ``-1`` for a hit in no cluster.
:mod:`.metrics` gives the TP/FP/FN/FM and WR figures of califa-reference.md, :mod:`.matching`
the per-primary truth matches, :mod:`.photopeak` the photopeak efficiency, :mod:`.table` the
parquet tables. The package imports none of them, so using one does not tie a rule to the others.
"""
