"""Rule ``pairs``: every cluster pair of one chunk with features, case A/B label and split."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from caloreco.io.files import write_table
from caloreco.pairs.features import make_pairs
from caloreco.split import assign_split

log = logging.getLogger("caloreco.stages.pairs")

__all__ = ["run"]


def run(
    clusters_path: str | Path,
    out_path: str | Path,
    split_fractions: Sequence[float],
    split_seed: int,
) -> pd.DataFrame:
    """Every cluster pair of each event of one chunk, with features, label and split."""
    clusters = pd.read_parquet(clusters_path)
    pairs = make_pairs(clusters)
    pairs["split"] = assign_split(pairs["event"].to_numpy(), tuple(split_fractions), split_seed)
    if "label" in pairs:
        log.info(
            "%d clusters -> %d pairs, positive fraction %.3f",
            len(clusters),
            len(pairs),
            float(pairs["label"].mean()) if len(pairs) else float("nan"),
        )
    write_table(out_path, pairs)
    return pairs
