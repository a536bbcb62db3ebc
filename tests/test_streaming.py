"""Dataset-level stages read one chunk at a time: simulation_qa and clustering_metrics give, on
three small simulated chunks, exactly the numbers computed on all events concatenated; a chunk
without its cells table is an error naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from caloreco import qa
from caloreco.clustering.matching import best_cluster_energy, labels_from_cells
from caloreco.clustering.metrics import event_metrics, summarize_metrics
from caloreco.clustering.photopeak import photopeak_efficiency
from caloreco.clustering.table import true_labels
from caloreco.events import RawEvents, concatenate
from caloreco.io.files import write_json
from caloreco.io.raw import read_raw, read_run_info
from caloreco.split import assign_split
from caloreco.stages import cluster, clustering_metrics, simulate, simulation_qa

from conftest import CALIFA_DETECTOR

CALIFA = CALIFA_DETECTOR
DATASET = {
    "detector": "califa",
    "seed": 11,
    "events_per_chunk": 60,
    "simulation": {
        "n_primaries": 3,
        "energy": {"distribution": "uniform", "min_mev": 0.3, "max_mev": 10.0},
    },
}
METHODS = {
    "cone": {"opening_angle_rad": 0.25, "seed_threshold_mev": 0.0},
    "agglomerative": {"distance_threshold": 3540.0},
}
N_CHUNKS = 3


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Three simulated CALIFA chunks clustered by two methods, laid out as results/{dataset}."""
    root = tmp_path_factory.mktemp("stream") / "califa"
    for c in range(N_CHUNKS):
        raw = root / f"raw/chunk-{c:03d}.root"
        simulate.run(raw, "califa", DATASET, CALIFA, c)
        for m, settings in METHODS.items():
            cluster.run(
                raw,
                m,
                settings,
                root / f"clusters/{m}/chunk-{c:03d}.parquet",
                root / f"clusters/{m}/cells-{c:03d}.parquet",
            )
    return root


def raw_files(root: Path) -> list[Path]:
    return [root / f"raw/chunk-{c:03d}.root" for c in range(N_CHUNKS)]


def cells_files(root: Path) -> list[Path]:
    return [root / f"clusters/{m}/cells-{c:03d}.parquet" for m in METHODS for c in range(N_CHUNKS)]


def as_written(payload: dict, path: Path) -> dict:
    """``payload`` as write_json stores it (NaN as null), for exact comparison."""
    write_json(path, payload)
    return json.loads(path.read_text())


def test_simulation_qa_equals_summary_of_all_events(dataset, tmp_path):
    raws = raw_files(dataset)
    out = tmp_path / "simulation.json"
    simulation_qa.run(raws, "califa", out, str(tmp_path / "qa.png"), str(tmp_path / "qa.pdf"))
    streamed = json.loads(out.read_text())

    events = concatenate([read_raw(p) for p in raws])
    reference = qa.simulation_summary(events, [read_run_info(p) for p in raws])
    reference["dataset"] = "califa"
    assert streamed == as_written(reference, tmp_path / "reference.json")
    # the numbers are those of the whole dataset, not of one chunk
    assert streamed["events"] == N_CHUNKS * DATASET["events_per_chunk"] == events.n_events
    assert streamed["chunks"] == N_CHUNKS
    assert streamed["hits"] == events.cell_id.size
    assert streamed["cells_per_primary"]["n"] == events.primary_energy.size
    assert 0.0 < streamed["truth_over_primary"]["mean"] <= 1.0
    assert streamed["measured_over_truth"]["mean"] == pytest.approx(1.0, abs=0.05)
    for p in (tmp_path / "qa.png", tmp_path / "qa.pdf"):
        assert p.stat().st_size > 5000


def without_truth(events: RawEvents) -> RawEvents:
    return RawEvents(**{k: v for k, v in events.arrays().items() if not k.startswith("truth")})


def test_combined_stats_equal_concatenated_events_with_and_without_truth(dataset):
    chunks = [read_raw(p) for p in raw_files(dataset)]
    infos = [{"simulation_seconds": 1.5}] * len(chunks)
    for parts in (chunks, [*chunks[:2], without_truth(chunks[2])]):
        combined = qa.combine_stats([qa.simulation_stats(c) for c in parts])
        streamed = qa.summarize_simulation(combined, infos)
        reference = qa.simulation_summary(concatenate(parts), infos)
        assert json.dumps(streamed, sort_keys=True) == json.dumps(reference, sort_keys=True)
    # one chunk without truth: no truth figures, as for the concatenated events
    assert "truth_over_primary" not in streamed
    assert streamed["cells_per_primary"]["n"] == 0
    assert streamed["primaries_per_second"] == pytest.approx(
        sum(c.primary_energy.size for c in chunks) / 4.5
    )


def test_display_candidates_are_the_busiest_events_of_the_dataset(dataset):
    chunks = [read_raw(p) for p in raw_files(dataset)]
    shown = None
    for c in chunks:
        shown = qa.display_candidates(c, shown, n_displays=3)
    events = concatenate(chunks)
    busiest = np.argsort(-np.diff(events.hit_offsets), kind="stable")[:15]
    np.testing.assert_array_equal(shown.event, events.event[np.sort(busiest)])
    np.testing.assert_array_equal(
        np.diff(shown.hit_offsets), np.diff(events.hit_offsets)[np.sort(busiest)]
    )


def reference_metrics(root: Path, split: dict | None, response: dict) -> dict:
    """clustering.json computed on all chunks concatenated, from the public functions."""
    events = concatenate([read_raw(p, require_truth=True) for p in raw_files(root)])
    if split is not None:
        part = assign_split(events.event, tuple(split["fractions"]), split["seed"])
        events = events.select(part == "test")
    truth = true_labels(events)
    wanted = set(events.event.tolist())
    out: dict = {
        "events_subset": "all" if split is None else "test",
        "methods": {},
        "photopeak": {},
    }
    for m in METHODS:
        tables = {}
        for kind in ("cells", "chunk"):
            files = [root / f"clusters/{m}/{kind}-{c:03d}.parquet" for c in range(N_CHUNKS)]
            table = pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)
            tables[kind] = table[table["event"].isin(wanted)]
        reco = labels_from_cells(events, tables["cells"])
        out["methods"][m] = summarize_metrics(event_metrics(events.hit_offsets, reco, truth))
        best = best_cluster_energy(tables["chunk"], events)
        out["photopeak"][m] = photopeak_efficiency(best, events.primary_energy, response)
    return out


@pytest.mark.parametrize("split", [None, {"fractions": [0.5, 0.25, 0.25], "seed": 3}])
def test_clustering_metrics_equal_metrics_of_all_events(dataset, tmp_path, split):
    out = tmp_path / "clustering.json"
    response = CALIFA["response"]
    clustering_metrics.run(
        raw_files(dataset),
        cells_files(dataset),
        list(METHODS),
        out,
        tmp_path / "primaries.parquet",
        split,
        response,
    )
    streamed = json.loads(out.read_text())
    reference = as_written(reference_metrics(dataset, split, response), tmp_path / "ref.json")
    assert streamed == reference
    n_all = N_CHUNKS * DATASET["events_per_chunk"]
    n_scored = n_all
    if split is not None:
        numbers = np.arange(n_all)  # event numbers chunk * events_per_chunk + i
        n_scored = int(np.sum(assign_split(numbers, split["fractions"], split["seed"]) == "test"))
        assert 0 < n_scored < n_all
    for m in METHODS:
        r = streamed["methods"][m]
        assert r["events"] + r["empty_events"] == n_scored
        assert r["TP"] + r["FP"] + r["FN"] + r["FM"] == pytest.approx(1.0)
        assert 0 < r["WR"] <= 1
        assert 0 < streamed["photopeak"][m]["efficiency"] <= 1


def test_missing_cells_table_is_named(dataset, tmp_path):
    raws = raw_files(dataset)
    cells = cells_files(dataset)
    # not among the inputs
    absent = dataset / "clusters/cone/cells-001.parquet"
    given = [p for p in cells if p != absent]
    with pytest.raises(ValueError, match=r"cells-001\.parquet") as err:
        clustering_metrics.run(raws, given, list(METHODS), tmp_path / "c.json", tmp_path / "p.pq")
    assert "'cone'" in str(err.value) and "chunk-001.root" in str(err.value)
    assert not (tmp_path / "c.json").exists()

    # among the inputs but not on disk; and a cluster table missing for the photopeak
    copy = tmp_path / "califa"
    shutil.copytree(dataset, copy)
    (copy / "clusters/agglomerative/cells-002.parquet").unlink()
    with pytest.raises(ValueError, match=r"agglomerative/cells-002\.parquet"):
        clustering_metrics.run(
            raw_files(copy),
            cells_files(copy),
            list(METHODS),
            tmp_path / "c.json",
            tmp_path / "p.pq",
        )
    shutil.copy2(
        dataset / "clusters/agglomerative/cells-002.parquet",
        copy / "clusters/agglomerative/cells-002.parquet",
    )
    # the cluster tables beside the cells (best cluster energies, photopeak) are needed too
    (copy / "clusters/cone/chunk-000.parquet").unlink()
    with pytest.raises(ValueError, match=r"cone/chunk-000\.parquet"):
        clustering_metrics.run(
            raw_files(copy),
            cells_files(copy),
            list(METHODS),
            tmp_path / "c.json",
            tmp_path / "p.pq",
            response=CALIFA["response"],
        )
    assert not (tmp_path / "c.json").exists() and not (tmp_path / "p.pq").exists()
