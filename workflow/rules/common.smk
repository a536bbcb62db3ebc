# Everything that is not a rule: config validation, dataset lists, wildcard constraints and the
# helpers every rule file uses. Each stage's input functions live in its own rule file.

import os
import sys
from pathlib import Path

# The package of this checkout, for the Snakefile and for every job's script (which inherits the
# environment): a copy of the workflow runs its own src/, not whatever caloreco is installed.
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
_path = [SRC, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
os.environ.update(PYTHONPATH=os.pathsep.join(dict.fromkeys(_path)))  # set for the jobs

from caloreco.config import validate_config  # noqa: E402
from caloreco.provenance import rule_code_hash  # noqa: E402

validate_config(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")

DATASETS = sorted(config["datasets"])
# camera images (workflow/rules/imaging.smk) have rules of their own
IMAGING = [
    d
    for d in DATASETS
    if config["detectors"][config["datasets"][d]["detector"]]["preset"] == "camera_tpc"
]
HITS = [d for d in DATASETS if d not in IMAGING]
SIMULATED = [d for d in HITS if config["datasets"][d]["source"] == "simulate"]
IMPORTED = [d for d in HITS if config["datasets"][d]["source"] != "simulate"]
IMAGING_SIMULATED = [
    d for d in IMAGING if config["datasets"][d]["source"] == "simulate"
]
IMAGING_IMPORTED = [d for d in IMAGING if config["datasets"][d]["source"] != "simulate"]


def _alternatives(names):
    # a regex that matches none of the datasets when the list is empty
    return "|".join(names) if names else "(?!x)x"


wildcard_constraints:
    dataset=_alternatives(DATASETS),
    chunk=r"\d{3}",
    method="connected|cone|agglomerative",


def code(rule, *extra):
    """The code hash of a rule: the import closure of caloreco.stages.<rule> (derived, see
    caloreco.provenance), so that editing a module re-runs exactly the rules that run it.
    """
    return rule_code_hash(rule, *extra)


def dataset_cfg(dataset):
    return config["datasets"][dataset]


def chunks(dataset):
    """Chunk labels 000, 001, ... of a dataset (counts come from config, no checkpoints)."""
    return [f"{i:03d}" for i in range(dataset_cfg(dataset)["chunks"])]


def methods(dataset):
    """Clustering methods configured for a dataset."""
    return sorted(dataset_cfg(dataset).get("clustering", {}))


def analyses(dataset):
    return dataset_cfg(dataset).get("analyses", [])


def preset(dataset):
    return config["detectors"][dataset_cfg(dataset)["detector"]]["preset"]


def per_chunk(pattern, wildcards, **fields):
    """``pattern`` expanded over every chunk of the wildcards' dataset."""
    return expand(
        pattern, dataset=wildcards.dataset, chunk=chunks(wildcards.dataset), **fields
    )


def raw_files(wildcards):
    return per_chunk("results/{dataset}/raw/chunk-{chunk}.root", wildcards)


def dataset_seed(wildcards):
    return dataset_cfg(wildcards.dataset)["seed"]


def split_fractions(wildcards):
    """train/val/test fractions of the event-id split (shared by every model of a dataset)."""
    return (
        dataset_cfg(wildcards.dataset)
        .get("split", {})
        .get("fractions", [0.6, 0.2, 0.2])
    )


def split_section(wildcards):
    """The event split as the stages take it: ``{"fractions", "seed"}``."""
    return {"fractions": split_fractions(wildcards), "seed": dataset_seed(wildcards)}


def detector_section(wildcards):
    return config["detectors"][dataset_cfg(wildcards.dataset)["detector"]]


def subset(section, keys=None, drop=()):
    """The keys of a config section a rule uses (each rule gets only what it depends on)."""
    return {
        k: v
        for k, v in section.items()
        if (keys is None or k in keys) and k not in drop
    }
