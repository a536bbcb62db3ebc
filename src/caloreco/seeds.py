"""Random streams: one reproducible generator per (dataset seed, stage, chunk).

Every stochastic step draws from :func:`chunk_rng`, never from global state, so the same config
gives the same numbers and chunks or stages never share random numbers.
"""

from __future__ import annotations

import numpy as np

__all__ = ["STREAMS", "chunk_rng"]

#: the stage key of each stream (part of the seed: changing one renumbers that stage's draws)
STREAMS = {"simulate": 0, "import": 1, "windows": 2, "split": 3, "train": 4, "evaluate": 5}
# the two-photon analysis's own training sample (pairs of uniform parent mass)
STREAMS["two_photon_training"] = 6


def chunk_rng(dataset_seed: int, chunk: int, stream: str) -> np.random.Generator:
    """The random generator of one (dataset, chunk, stage): independent streams, reproducible.

    ``SeedSequence`` spawning by an explicit key keeps chunks and stages statistically
    independent while the whole dataset depends on one seed.

    Raises:
        ValueError: ``stream`` is not one of :data:`STREAMS`.
    """
    if stream not in STREAMS:
        raise ValueError(f"stream: expected one of {sorted(STREAMS)}, got {stream!r}")
    return np.random.default_rng(
        np.random.SeedSequence([int(dataset_seed), STREAMS[stream], chunk])
    )
