"""Guarantees of the workflow: exact re-run semantics, determinism, fault recovery, scale.

All tests share one complete run of config/test.yaml in a private copy of the workflow
(``test_run``) and ask Snakemake what it *would* redo (``--summary``) after a change, so each
test fails if a change re-runs too much (a cache that is not used) or too little (a stale result).
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from caloreco.io.raw import read_raw

from conftest import (
    TEST_CONFIG,
    copy_workflow,
    metrics_without_timing,
    planned_updates,
    run_copy,
    snakemake_cmd,
)

pytestmark = pytest.mark.workflow

PAIR_TRAINING = {
    "train_pair_classifier",
    "pair_seed_study",
    "evaluate_pairs",
    "merge_clusters",
    "clustering_metrics",
}
#: the attribution rules of a dataset (califa_uniform in config/test.yaml)
ATTRIBUTION = {"train_attribution", "cluster_attribution", "evaluate_attribution"}


def base_config() -> dict:
    return yaml.safe_load(TEST_CONFIG.read_text())


def write_config(work: Path, name: str, cfg: dict) -> str:
    (work / name).write_text(yaml.safe_dump(cfg, sort_keys=False))
    return name


def by_dataset(updates: list[tuple[str, str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for rule, path in updates:
        parts = Path(path).parts
        key = parts[1] if len(parts) > 2 and parts[0] == "results" else path
        out.setdefault(key, set()).add(rule)
    return out


def figure_rules(rules: set[str]) -> set[str]:
    """Rules that only draw (figures, notebooks, numbers, report) may follow any change."""
    return {r for r in rules if r.startswith(("figure", "notebook", "numbers", "figure_index"))}


def test_second_run_does_nothing(test_run):
    assert planned_updates(test_run) == []


def test_training_setting_reruns_only_that_datasets_training(test_run):
    cfg = base_config()
    cfg["datasets"]["califa_uniform"].setdefault("pairs", {}).setdefault("training", {})["lr"] = (
        2e-3
    )
    changed = by_dataset(planned_updates(test_run, write_config(test_run, "lr.yaml", cfg)))
    assert set(changed) - {"figures", "tex", "notebooks"} == {"califa_uniform"}
    rules = changed["califa_uniform"]
    # evaluate_attribution bins the TP/WR of every method, the merged clusters included
    assert rules - figure_rules(rules) == PAIR_TRAINING | {"evaluate_attribution"}


def test_attribution_settings_rerun_only_what_they_feed(test_run):
    cfg = base_config()
    cfg["datasets"]["califa_uniform"]["attribution"]["training"]["lr"] = 2e-3
    changed = by_dataset(planned_updates(test_run, write_config(test_run, "att.yaml", cfg)))
    assert set(changed) - {"figures", "tex", "notebooks"} == {"califa_uniform"}
    rules = changed["califa_uniform"]
    # retrained, re-clustered, re-scored; the pairs analysis is left alone
    assert rules - figure_rules(rules) == ATTRIBUTION | {"clustering_metrics"}
    cfg = base_config()
    cfg["datasets"]["califa_uniform"]["attribution"]["bootstrap"] = 50
    changed = by_dataset(planned_updates(test_run, write_config(test_run, "boot.yaml", cfg)))
    rules = changed["califa_uniform"]
    assert rules - figure_rules(rules) == {"evaluate_attribution"}


#: the U-Net pixel-selection rules of a camera dataset (lime_crops in config/test.yaml)
PIXEL_SELECTION = {"train_unet", "cluster_unet", "evaluate_pixel_selection"}


def test_unet_settings_rerun_only_what_they_feed(test_run):
    cfg = base_config()
    cfg["datasets"]["lime_crops"]["clustering"]["unet"]["unet"]["lr"] = 2e-3
    changed = by_dataset(planned_updates(test_run, write_config(test_run, "unet.yaml", cfg)))
    assert set(changed) - {"figures", "tex", "notebooks"} == {"lime_crops"}
    rules = changed["lime_crops"]
    # retrained, re-clustered, re-scored; cygno and the anomaly analysis are left alone
    assert rules - figure_rules(rules) == PIXEL_SELECTION
    cfg = base_config()
    cfg["datasets"]["lime_crops"]["clustering"]["unet"]["n_boot"] = 30
    changed = by_dataset(planned_updates(test_run, write_config(test_run, "pxboot.yaml", cfg)))
    rules = changed["lime_crops"]
    assert rules - figure_rules(rules) == {"evaluate_pixel_selection"}


def test_regression_training_setting_reruns_training_and_evaluation(test_run):
    cfg = base_config()
    cfg["datasets"]["ecal_stage2"].setdefault("regression", {})["training"] = {"patience": 3}
    changed = by_dataset(planned_updates(test_run, write_config(test_run, "reg.yaml", cfg)))
    assert set(changed) - {"figures", "tex", "notebooks"} == {"ecal_stage2"}
    rules = changed["ecal_stage2"]
    assert rules - figure_rules(rules) == {"train_regressor", "evaluate_regression"}


TWO_PHOTON_TRAINING = {"train_photon_counter", "train_two_photon_regressor", "evaluate_two_photon"}


def test_two_photon_settings_rerun_only_what_they_feed(test_run):
    cfg = base_config()
    cfg["datasets"]["ecal_stage4"]["two_photon"]["regressor"]["max_epochs"] = 4
    changed = by_dataset(planned_updates(test_run, write_config(test_run, "tp.yaml", cfg)))
    assert set(changed) - {"figures", "tex", "notebooks"} == {"ecal_stage4"}
    rules = changed["ecal_stage4"]
    # both networks read the same training settings block (fit_inputs, seed, architectures)
    assert rules - figure_rules(rules) == TWO_PHOTON_TRAINING
    cfg = base_config()
    cfg["datasets"]["ecal_stage4"]["two_photon"]["separation_bins_cells"] = [0.0, 2.0, 7.0]
    changed = by_dataset(planned_updates(test_run, write_config(test_run, "tpb.yaml", cfg)))
    assert changed["ecal_stage4"] - figure_rules(changed["ecal_stage4"]) == {"evaluate_two_photon"}
    cfg = base_config()
    cfg["datasets"]["ecal_stage4"]["two_photon"]["training_mass_mev"] = [80.0, 190.0]
    updates = planned_updates(test_run, write_config(test_run, "tpm.yaml", cfg))
    redone = {(r, p) for r, p in updates if r in ("two_photon_windows", "two_shower_fit")}
    # the training sample is re-simulated and re-fitted; the dataset's own events are not
    assert redone and all("/two_photon/training/" in p for _, p in redone)
    assert not [p for r, p in updates if r == "simulate"]


def test_simulation_setting_reruns_that_dataset_from_simulation_on(test_run):
    cfg = base_config()
    cfg["datasets"]["ecal_stage3"]["simulation"]["energy"]["max_mev"] = 150000.0
    changed = by_dataset(planned_updates(test_run, write_config(test_run, "sim.yaml", cfg)))
    assert set(changed) - {"figures", "tex", "notebooks"} == {"ecal_stage3"}
    rules = changed["ecal_stage3"]
    assert {
        "simulate",
        "simulation_qa",
        "cluster",
        "clustering_metrics",
        "windows",
        "train_regressor",
        "evaluate_regression",
    } <= rules


def _planned_after_edit(test_run: Path, module: str) -> list[tuple[str, str]]:
    """What a run would redo after appending a comment to ``src/caloreco/<module>``; the file
    is restored afterwards, and with it the cache."""
    path = test_run / "src/caloreco" / module
    original = path.read_text()
    try:
        path.write_text(original + "\n# an edit that changes the module's hash\n")
        updates = planned_updates(test_run)
    finally:
        path.write_text(original)
    assert planned_updates(test_run) == []
    return updates


def test_package_edit_reruns_exactly_the_rules_that_use_it(test_run):
    changed = by_dataset(_planned_after_edit(test_run, "pairs/features.py"))
    assert set(changed) - {"figures", "tex", "notebooks"} == {"califa_uniform"}
    rules = changed["califa_uniform"]
    # the attribution network's pair features include the Compton consistency of pairs.features
    assert rules - figure_rules(rules) == {"pairs"} | PAIR_TRAINING | ATTRIBUTION


def test_random_stream_edit_resimulates_every_dataset(test_run):
    updates = _planned_after_edit(test_run, "seeds.py")
    simulated = {p for rule, p in updates if rule == "simulate"}
    # camera images draw their streams in caloreco.imaging.simulate, not from caloreco.seeds
    imaging = {n for n, ds in base_config()["datasets"].items() if "frames_per_chunk" in ds}
    expected = {
        str(p.relative_to(test_run))
        for p in test_run.glob("results/*/raw/chunk-*.root")
        if p.parts[-3] not in imaging
    }
    assert simulated == expected and len(expected) == 8
    # the two-photon training sample is simulated inside its windows rule, from its own stream
    training = {p for rule, p in updates if rule == "two_photon_windows" and "training" in p}
    assert len(training) == 2
    assert not {p for rule, p in updates if rule == "simulate_images"}


def test_clustering_metrics_edit_reruns_only_the_scoring_and_its_readers(test_run):
    updates = _planned_after_edit(test_run, "clustering/metrics.py")
    changed = by_dataset(updates)
    datasets = set(changed) - {"figures", "tex", "notebooks"}
    assert datasets == {"califa_uniform", "ecal_stage2", "ecal_stage3"}
    for ds in datasets:
        rules = changed[ds]
        # the attribution network chooses its peeling threshold by the validation TP (the
        # event metrics): it is retrained, and its clusters follow; nothing else is
        expected = {"clustering_metrics"} | (ATTRIBUTION if ds == "califa_uniform" else set())
        assert rules - figure_rules(rules) == expected, (ds, rules)
    # what reads clustering.json is redrawn, nothing else is re-clustered, re-trained or re-fitted
    drawn = {rule for rule, _ in updates}
    assert drawn - figure_rules(drawn) == {"clustering_metrics"} | ATTRIBUTION
    assert {"figure_event_categories", "figure_efficiency", "numbers"} <= drawn


def test_adding_a_dataset_adds_only_its_jobs(test_run):
    cfg = base_config()
    extra = copy.deepcopy(cfg["datasets"]["ecal_stage2"])
    extra["seed"] = 999
    cfg["datasets"]["ecal_extra"] = extra
    changed = by_dataset(planned_updates(test_run, write_config(test_run, "extra.yaml", cfg)))
    assert set(changed) - {"figures", "tex", "notebooks"} == {"ecal_extra"}
    assert "simulate" in changed["ecal_extra"]


def test_corrupt_raw_file_stops_with_the_files_name(tmp_path, test_run):
    work = copy_workflow(tmp_path / "wf")
    (work / "test.yaml").write_text(TEST_CONFIG.read_text())
    raw = work / "results/ecal_stage2/raw/chunk-000.root"
    raw.parent.mkdir(parents=True)
    data = (test_run / "results/ecal_stage2/raw/chunk-000.root").read_bytes()
    raw.write_bytes(data[: len(data) // 3])
    target = "results/ecal_stage2/clusters/connected/chunk-000.parquet"
    proc = run_copy(work, "--configfile", "test.yaml", "--cores", "1", target, check=False)
    assert proc.returncode != 0
    log = (work / "results/ecal_stage2/logs/cluster/connected-000.log").read_text()
    assert "chunk-000.root" in log and ("cannot" in log or "ROOT" in log)
    assert not (work / target).exists()


def _wait_for(path_glob: str, root: Path, proc: subprocess.Popen, limit_s: float = 3600) -> bool:
    # a generous limit: it only bounds a hung run; the wait ends as soon as the glob matches
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        if list(root.glob(path_glob)):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.2)
    return False


#: the dataset the interrupted run is asked for: two trainings (pairs, attribution) and every
#: per-chunk stage of the hit pipeline
INTERRUPTED = "califa_uniform"


def test_interrupted_run_completes_with_identical_results(tmp_path, test_run):
    """A second run from scratch, killed hard while a model trains and resumed, gives the same
    metrics as the first (determinism and recovery from an interruption in one test). It asks
    for one dataset's metrics: recovery does not depend on the dataset, and the from-scratch
    determinism of every dataset is what tests/test_slurm.py compares (all metrics of a second
    complete run, through SLURM, against test_run)."""
    metrics = sorted(test_run.glob(f"results/{INTERRUPTED}/metrics/*.json"))
    assert len(metrics) >= 4, metrics
    targets = [str(m.relative_to(test_run)) for m in metrics]
    work = copy_workflow(tmp_path / "wf")
    (work / "test.yaml").write_text(TEST_CONFIG.read_text())
    cmd = [*snakemake_cmd(), "--snakefile", str(work / "Snakefile"), "--directory", str(work)]
    proc = subprocess.Popen(
        [*cmd, "--configfile", "test.yaml", "--cores", "2", *targets],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=dict(os.environ, PYTHONHASHSEED="0", MPLBACKEND="Agg"),
    )
    # kill the whole process group while models are being trained
    reached = _wait_for(f"results/{INTERRUPTED}/logs/train/*.log", work, proc)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert reached, "the run ended before any training started: nothing was interrupted"
    # no half-written outputs: every raw file that exists is complete
    for f in work.glob(f"results/{INTERRUPTED}/raw/*.root"):
        read_raw(f)
    # a hard kill leaves Snakemake's lock behind; --unlock is the documented recovery
    run_copy(work, "--configfile", "test.yaml", "--unlock")
    run_copy(work, "--configfile", "test.yaml", "--cores", "2", *targets)
    for a in metrics:
        b = work / a.relative_to(test_run)
        assert metrics_without_timing(b) == metrics_without_timing(a), a.name
    raw_a = read_raw(test_run / f"results/{INTERRUPTED}/raw/chunk-001.root")
    raw_b = read_raw(work / f"results/{INTERRUPTED}/raw/chunk-001.root")
    np.testing.assert_array_equal(raw_a.cell_energy, raw_b.cell_energy)


def test_dag_with_200_chunks_per_dataset(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    cfg = base_config()
    for ds in cfg["datasets"].values():
        ds["chunks"] = 200
    write_config(work, "big.yaml", cfg)
    proc = run_copy(work, "--configfile", "big.yaml", "--dry-run", "--quiet", "rules")
    counts = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    imaging = [ds for ds in cfg["datasets"].values() if "frames_per_chunk" in ds]
    assert counts["simulate"] == 200 * (len(cfg["datasets"]) - len(imaging))
    assert counts["simulate_images"] == 200 * len(imaging)
    assert counts["cluster_images"] == 200 * len(imaging)
    with_unet = [ds for ds in imaging if "unet" in ds.get("clustering", {})]
    assert counts["cluster_unet"] == 200 * len(with_unet) and counts["train_unet"] == len(with_unet)
    assert counts["windows"] == 400
    assert counts["cluster"] == 200 * (1 + 1 + 2)
