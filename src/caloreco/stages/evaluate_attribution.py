"""Rule ``evaluate_attribution``: hit-level metrics of the focal network against smart_random
and the majority baseline, and the TP/WR of every clustering method versus gamma energy and
opening angle, on the test events -> metrics/attribution.json."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from caloreco.attribution.evaluation import attribution_metrics
from caloreco.attribution.settings import attribution_settings
from caloreco.attribution.training import FocalAttribution
from caloreco.clustering.matching import labels_from_cells
from caloreco.io.files import write_json
from caloreco.io.raw import geometry_from_file
from caloreco.io.splits import read_split_events
from caloreco.seeds import chunk_rng

log = logging.getLogger("caloreco.stages.evaluate_attribution")

__all__ = ["run"]


def _test_labels(events, cells_paths: Sequence[str | Path]) -> np.ndarray:
    """Per-hit labels of the test ``events`` from one method's cells tables (all chunks)."""
    wanted = set(events.event.tolist())
    cells = pd.concat([pd.read_parquet(p) for p in cells_paths], ignore_index=True)
    labels = labels_from_cells(events, cells[cells["event"].isin(wanted)])
    if np.any(labels < 0):
        raise ValueError(
            f"{cells_paths[0]}...: {int(np.sum(labels < 0))} test hits are in no cells table row"
        )
    return labels


def run(
    raw_paths: Sequence[str | Path],
    model_path: str | Path,
    cells_paths: Sequence[str | Path],
    settings: Mapping[str, Any],
    split: Mapping[str, Any],
    seed: int,
    metrics_out: str | Path,
) -> dict[str, Any]:
    """attribution.json on the ``test`` events of the dataset's event split.

    Args:
        raw_paths: the dataset's raw chunks.
        model_path: the focal network (``models/attribution.pt``).
        cells_paths: the cells tables (``clusters/{method}/cells-NNN.parquet``, the method
            read from the folder name) of every chunk of each method to score (``pointnet``
            required; ``cone``, ``agglomerative+nn``, ``slots``, ...): all on the same test
            events.
        settings: the ``attribution`` block (``bootstrap``, ``energy_bins_mev`` are read).
        split: ``{"fractions", "seed"}`` of the dataset.
        seed: dataset seed (the bootstrap and smart_random draw generator).
        metrics_out: the JSON file.
    """
    by_method: dict[str, list[Path]] = {}
    for p in map(Path, cells_paths):
        by_method.setdefault(p.parent.name, []).append(p)
    if "pointnet" not in by_method:
        raise ValueError(f"cells_paths: expected the 'pointnet' tables, got {sorted(by_method)}")
    s = attribution_settings(settings)
    test = read_split_events(raw_paths, split, ("test",))["test"]
    geom = geometry_from_file(raw_paths[0])
    net = FocalAttribution.load(model_path)
    labels = {m: _test_labels(test, paths) for m, paths in by_method.items()}
    log.info("%d test events; methods %s", test.n_events, sorted(labels))
    pointnet = labels.pop("pointnet")
    result = attribution_metrics(
        net,
        test,
        geom,
        chunk_rng(int(seed), 0, "evaluate"),
        n_boot=int(s["bootstrap"]),
        energy_edges=s["energy_bins_mev"],
        other_labels=labels,
        pointnet_labels=pointnet,
    )
    hl = result["hit_level"]
    log.info(
        "hit level: F1 %.3f (smart_random %.3f), accuracy %.3f (majority %.3f)",
        hl["network"]["raw"]["f1"],
        hl["smart_random"]["p"],
        hl["network"]["raw"]["accuracy"],
        hl["majority"]["raw"]["accuracy"],
    )
    result["settings"] = {
        "network": net.settings,
        "bootstrap": int(s["bootstrap"]),
        "energy_bins_mev": s["energy_bins_mev"],
    }
    write_json(metrics_out, result)
    return result
