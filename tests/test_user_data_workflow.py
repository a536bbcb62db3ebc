"""The README's own data examples, as written there, run through the workflow: the CALIFA CSV
example through clustering (and, with a pairs analysis, through the classifier), the Geant4
ROOT example (truth without primaries) through clustering, and real data without truth through
`analysis` and the thesis figures with truth-free outputs only."""

from __future__ import annotations

import json
import re
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml

from caloreco.geometry import califa_geometry, ecal_geometry
from caloreco.simulation import simulate_events

from conftest import REPO, TEST_CONFIG, copy_workflow, run_copy

pytestmark = pytest.mark.workflow


def readme_datasets() -> dict:
    """The dataset examples of the README's "Adding a dataset" section, parsed as YAML."""
    text = (REPO / "README.md").read_text()
    for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.S):
        if "my_califa_csv:" in block:
            return yaml.safe_load(block)
    raise AssertionError("README: no YAML block with the my_califa_csv example")


def write_califa_csv(path: Path, n_gammas: int, seed: int) -> None:
    """Single simulated gammas as the published study's CSV: one event number per gamma."""
    geom = califa_geometry()
    sim = {"n_primaries": 1, "energy": {"distribution": "uniform", "min_mev": 0.3, "max_mev": 10.0}}
    ev = simulate_events(geom, "califa", {}, sim, n_gammas, np.random.default_rng(seed))
    gamma = np.repeat(np.arange(ev.n_events), np.diff(ev.hit_offsets))
    cell = ev.cell_id
    rows = np.column_stack(
        [
            gamma,
            ev.cell_energy,
            np.degrees(geom.theta[cell]),
            np.degrees(geom.phi[cell]),
            np.zeros(cell.size),
        ]
    )
    np.savetxt(path, rows, delimiter=",", fmt=["%d", "%.6f", "%.6f", "%.6f", "%.3f"])


def write_g4_root(path: Path, n_events: int, seed: int, truth: bool = True) -> None:
    """ECAL events as a Geant4 user's tree (the README's branch names), no primary branches."""
    geom = ecal_geometry()
    sim = {"n_primaries": 2, "energy": {"distribution": "uniform", "min_mev": 5e3, "max_mev": 1e5}}
    ev = simulate_events(geom, "ecal", {}, sim, n_events, np.random.default_rng(seed))
    hits, tr = np.diff(ev.hit_offsets), np.diff(ev.truth_offsets)
    cols = {
        "evt": np.arange(n_events) + 1000,
        "cellID": ak.unflatten(ev.cell_id, hits),
        "Edep": ak.unflatten(ev.cell_energy, hits),
        "T": ak.unflatten(ev.cell_time, hits),
    }
    if truth:
        cols |= {
            "mc_cell": ak.unflatten(ev.truth_cell, tr),
            "mc_prim": ak.unflatten(ev.truth_primary.astype(np.int32), tr),
            "mc_edep": ak.unflatten(ev.truth_energy, tr),
        }
    with uproot.recreate(path) as f:
        f.mktree(
            "hits",
            {k: v.type.content if isinstance(v, ak.Array) else v.dtype for k, v in cols.items()},
        )
        f["hits"].extend(cols)


@pytest.fixture(scope="module")
def user_run(tmp_path_factory) -> Path:
    work = copy_workflow(tmp_path_factory.mktemp("user") / "wf")
    data = work / "data"
    data.mkdir()
    write_califa_csv(data / "gammas.csv", 1500, seed=3)
    write_g4_root(data / "g4.root", 120, seed=4)
    write_g4_root(data / "real.root", 60, seed=5, truth=False)
    examples = readme_datasets()
    csv = examples["my_califa_csv"]
    csv["files"] = [str(data / "gammas.csv")]
    g4 = examples["my_geant4"]
    g4["files"] = [str(data / "g4.root")]
    g4["chunks"] = 2
    # the same CSV with the pairs analysis, and real data: the Geant4 mapping without truth
    pairs = json.loads(json.dumps(csv))
    pairs.update(
        analyses=["pairs"],
        pairs={"seeds": 2, "bootstrap": 50, "training": {"max_epochs": 8, "patience": 3}},
    )
    real = json.loads(json.dumps(g4))
    real["files"] = [str(data / "real.root")]
    real["chunks"] = 1
    for k in ("truth_cell", "truth_primary", "truth_energy"):
        real["root"]["branches"].pop(k)
    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    cfg["datasets"] = {"my_califa_csv": csv, "my_geant4": g4, "csv_pairs": pairs, "real": real}
    (work / "user.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    # everything `all` makes but the talk-style copies of the figures (the thesis ones are checked)
    run_copy(work, "--configfile", "user.yaml", "--cores", "2", "analysis", "thesis")
    return work


def test_readme_csv_example_is_clustered_and_scored(user_run):
    n_gammas = np.unique(np.loadtxt(user_run / "data/gammas.csv", delimiter=",")[:, 0]).size
    assert 1300 < n_gammas <= 1500  # a few simulated gammas left no hit above threshold
    clus = json.loads((user_run / "results/my_califa_csv/metrics/clustering.json").read_text())
    for method in ("cone", "agglomerative"):
        m = clus["methods"][method]
        assert m["TP"] + m["FP"] + m["FN"] + m["FM"] == pytest.approx(1.0)
        assert 0.3 < m["TP"] < 1.0 and 0.5 < m["WR"] <= 1.0
        # the gammas with a hit (one event number each) overlaid 3 at a time, over both chunks
        assert m["events"] + m["empty_events"] == n_gammas // 3
    # gamma energies are unknown in this CSV: no photopeak, no spectra figure, a note instead
    assert clus["photopeak"]["cone"]["efficiency"] is None
    figures = {p.name for p in (user_run / "results/figures/thesis").glob("my_califa_csv-*.pdf")}
    assert figures == {"my_califa_csv-event_display.pdf", "my_califa_csv-event_categories.pdf"}


def test_csv_with_truth_runs_the_pairs_analysis(user_run):
    pairs = json.loads((user_run / "results/csv_pairs/metrics/pairs.json").read_text())
    nn = pairs["classifiers"]["nn"]
    assert nn["f1"] > 2 * pairs["positive_fraction"]  # learns from the CSV's truth
    clus = json.loads((user_run / "results/csv_pairs/metrics/clustering.json").read_text())
    assert {"agglomerative+nn", "cone+nn"} <= set(clus["methods"])


def test_readme_root_example_without_primaries_is_clustered(user_run):
    res = user_run / "results/my_geant4"
    clus = json.loads((res / "metrics/clustering.json").read_text())
    m = clus["methods"]["connected"]
    assert m["events"] + m["empty_events"] == 120 and m["WR"] > 0.5
    sim = json.loads((res / "metrics/simulation.json").read_text())
    assert sim["events"] == 120 and sim["primaries"] == 240  # counted from truth_primary


def test_real_data_without_truth_finishes_with_truth_free_outputs(user_run):
    res = user_run / "results/real"
    assert (res / "metrics/simulation.json").exists() and (res / "qa/simulation.png").exists()
    assert not (res / "metrics/clustering.json").exists()
    assert (res / "clusters/connected/chunk-000.parquet").exists()
    assert (user_run / "results/figures/thesis/real-event_display.pdf").stat().st_size > 1000
    assert (user_run / "results/notebooks/real/dataset_overview.html").exists()
