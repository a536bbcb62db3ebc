"""Static checks of the SLURM set-up, without a cluster (part of `make unit`).

The rules' resources are read through Snakemake's API from the real Snakefile (config/test.yaml)
and evaluated for attempts 1, 2 and 3: a job that SLURM killed for memory or time is resubmitted
(``retries`` in profiles/slurm) and must ask for more. The profile files are checked as YAML.
"""

from __future__ import annotations

import os
import types

import pytest
import yaml

from conftest import REPO, TEST_CONFIG

ATTEMPTS = (1, 2, 3)
#: what a rule's resource functions are called with besides the attempt
WILDCARDS = types.SimpleNamespace(
    dataset="ecal_stage2", chunk="000", method="connected", model="regressor", kind="roc"
)


@pytest.fixture(scope="module")
def rule_resources(tmp_path_factory) -> dict[str, dict]:
    """{rule: {"local": bool, "threads": int, "mem_mb": [per attempt], "runtime": [...]}}."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    cwd = os.getcwd()
    out: dict[str, dict] = {}
    try:
        with SnakemakeApi(OutputSettings(quiet=None)) as api:
            wf = api.workflow(
                resource_settings=ResourceSettings(),
                config_settings=ConfigSettings(configfiles=[TEST_CONFIG]),
                snakefile=REPO / "Snakefile",
                workdir=tmp_path_factory.mktemp("resources"),
            )._workflow
            local = set(wf._localrules)
            for rule in wf.rules:
                entry: dict = {"local": rule.name in local}
                for key in ("mem_mb", "runtime"):
                    res = rule.resources.get(key)
                    if res is None:
                        continue
                    if not res.is_evaluable():
                        entry[key] = [res.value] * len(ATTEMPTS)
                        continue
                    entry[key] = [
                        res.evaluate(WILDCARDS, input=[], attempt=a, threads=1).value
                        for a in ATTEMPTS
                    ]
                entry["threads"] = rule.resources["_cores"].value
                entry["wildcards"] = set(rule.wildcard_names)
                out[rule.name] = entry
    finally:
        os.chdir(cwd)
    return out


def test_every_submitted_rule_asks_for_more_on_each_attempt(rule_resources):
    submitted = {r: e for r, e in rule_resources.items() if not e["local"]}
    # the rules of every stage are there (figure rules run locally, on the submitting host)
    for rule in (
        "simulate",
        "cluster",
        "clustering_metrics",
        "windows",
        "train_regressor",
        "evaluate_regression",
        "pairs",
        "train_pair_classifier",
        "pair_seed_study",
        "evaluate_pairs",
        "merge_clusters",
        "notebook",
    ):
        assert rule in submitted, f"rule {rule} is missing or local"
    for rule, e in submitted.items():
        for key in ("mem_mb", "runtime"):
            assert key in e, f"rule {rule}: no {key} (the default of the profile does not grow)"
            values = e[key]
            assert all(isinstance(v, int) and v > 0 for v in values), f"{rule}.{key}: {values}"
            assert values[0] < values[1] < values[2], (
                f"rule {rule}: {key} per attempt {values} does not grow"
            )
        # memory a SLURM node has per job on its first attempt: at least 1 GB, at most 64 GB
        assert 1000 <= e["mem_mb"][0] <= 64000, (rule, e["mem_mb"])
        assert e["runtime"][0] >= 5, (rule, e["runtime"])


def test_training_rules_ask_for_their_threads_and_enough_time(rule_resources):
    for rule in ("train_regressor", "train_pair_classifier"):
        e = rule_resources[rule]
        assert e["threads"] >= 2
        assert e["mem_mb"][0] >= 4000 and e["runtime"][0] >= 30, (rule, e)


def test_profile_retries_and_defaults():
    base = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    assert base["executor"] == "slurm"
    # attempts 2 and 3 exist only with retries
    assert base["retries"] >= 2
    assert base["default-resources"]["mem_mb"] > 0 and base["default-resources"]["runtime"] > 0
    assert base["rerun-incomplete"] is True


def test_profile_groups_bundle_per_chunk_rules_only(rule_resources):
    """The `chunk` group bundles the steps of one chunk: a rule without the chunk wildcard in it
    would join every chunk of a dataset into one job (no parallelism on a big study)."""
    base = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    groups = dict(entry.split("=") for entry in base["groups"])
    assert set(groups) <= set(rule_resources), set(groups) - set(rule_resources)
    chunk_rules = {r for r, g in groups.items() if g == "chunk"}
    assert {"simulate", "cluster", "pairs", "windows"} <= chunk_rules
    for rule in chunk_rules:
        assert "chunk" in rule_resources[rule]["wildcards"], rule
    # a local rule in a group would be sent to the cluster with it
    assert not {r for r in groups if rule_resources[r]["local"]}


def test_ci_overlay_only_adds_keys_to_the_workflow_profile():
    """A key in both profiles would be taken from profiles/slurm (the workflow profile wins)."""
    base = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    overlay = yaml.safe_load((REPO / "profiles/slurm-ci/config.yaml").read_text())
    assert base["executor"] == "slurm"
    assert not set(base) & set(overlay), set(base) & set(overlay)
    assert overlay["slurm-status-command"] == "squeue"
    for rule in ("train_regressor", "train_pair_classifier"):
        assert base["set-resources"][rule]["gpu"] == 1
