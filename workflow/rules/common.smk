# Everything that is not a rule: config validation, wildcard constraints, input functions.

import sys
from pathlib import Path

# the package is importable without installation when the workflow runs from a checkout
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from caloreco.config import code_hash, validate_config  # noqa: E402

validate_config(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")

DATASETS = sorted(config["datasets"])
SIMULATED = [d for d in DATASETS if config["datasets"][d]["source"] == "simulate"]
IMPORTED = [d for d in DATASETS if config["datasets"][d]["source"] != "simulate"]


def _alternatives(names):
    # a regex that matches none of the datasets when the list is empty
    return "|".join(names) if names else "(?!x)x"


wildcard_constraints:
    dataset=_alternatives(DATASETS),
    chunk=r"\d{3}",
    method="connected|cone|agglomerative",


def chunks(dataset):
    """Chunk labels 000, 001, ... of a dataset (counts come from config, no checkpoints)."""
    return [f"{i:03d}" for i in range(config["datasets"][dataset]["chunks"])]


def methods(dataset):
    """Clustering methods configured for a dataset."""
    return sorted(config["datasets"][dataset].get("clustering", {}))


def raw_files(wildcards):
    return expand(
        "results/{dataset}/raw/chunk-{chunk}.root",
        dataset=wildcards.dataset,
        chunk=chunks(wildcards.dataset),
    )


def analyses(dataset):
    return config["datasets"][dataset].get("analyses", [])


def split_fractions(wildcards):
    """train/val/test fractions of the event-id split (shared by every model of a dataset)."""
    ds = config["datasets"][wildcards.dataset]
    return ds.get("split", {}).get("fractions", [0.6, 0.2, 0.2])


def pair_section(wildcards):
    return config["datasets"][wildcards.dataset].get("pairs", {})


def pair_train_section(wildcards):
    return _subset(pair_section(wildcards), ("method", "features", "model", "training"))


def pair_seed_section(wildcards):
    return _subset(
        pair_section(wildcards), ("method", "features", "model", "training", "seeds")
    )


def pair_evaluate_section(wildcards):
    return _subset(pair_section(wildcards), ("method", "features", "bootstrap"))


def pair_method(dataset):
    return config["datasets"][dataset].get("pairs", {}).get("method", "agglomerative")


def merge_methods(dataset):
    """Pre-clustering methods that get a '+nn' merged variant (pairs analysis only)."""
    if "pairs" not in analyses(dataset):
        return []
    wanted = config["datasets"][dataset].get("pairs", {}).get("merge_methods")
    return [m for m in (wanted or ["agglomerative", "cone"]) if m in methods(dataset)]


def pair_training_files(wildcards):
    return expand(
        "results/{dataset}/pairs/{method}/chunk-{chunk}.parquet",
        dataset=wildcards.dataset,
        method=pair_method(wildcards.dataset),
        chunk=chunks(wildcards.dataset),
    )


def scored_methods(dataset):
    """Every clustering scored in clustering.json: the methods and their merged variants."""
    return methods(dataset) + [f"{m}+nn" for m in merge_methods(dataset)]


def _subset(section, keys=None, drop=()):
    return {
        k: v
        for k, v in section.items()
        if (keys is None or k in keys) and k not in drop
    }


def regression_section(wildcards):
    return config["datasets"][wildcards.dataset].get("regression", {})


# each rule gets only the keys it uses, so that e.g. a training setting does not rebuild windows
def regression_window_section(wildcards):
    return _subset(regression_section(wildcards), ("size", "placement", "purity_cut"))


def regression_train_section(wildcards):
    return _subset(
        regression_section(wildcards),
        drop=("log_cog_w0", "energy_bins_mev", "bootstrap"),
    )


def window_files(wildcards):
    return expand(
        "results/{dataset}/windows/chunk-{chunk}.npz",
        dataset=wildcards.dataset,
        chunk=chunks(wildcards.dataset),
    )


def regressor_names(dataset):
    """Estimator names of the trained regressors: nn, and nn_abspos for the stage-3 study."""
    reg = config["datasets"][dataset].get("regression", {})
    return ["nn", "nn_abspos"] if reg.get("compare_absolute_position") else ["nn"]


def regressor_models(wildcards):
    files = {"nn": "regressor", "nn_abspos": "regressor_abspos"}
    return [
        f"results/{wildcards.dataset}/models/{files[n]}.pt"
        for n in regressor_names(wildcards.dataset)
    ]


RAW_KEYS = ("detector", "source", "seed", "events_per_chunk", "simulation")
IMPORT_KEYS = ("detector", "source", "seed", "files", "csv", "root")


def simulation_section(wildcards):
    """Only what the raw events depend on: a training or clustering change must not
    re-simulate."""
    ds = config["datasets"][wildcards.dataset]
    return {k: ds[k] for k in RAW_KEYS if k in ds}


def import_section(wildcards):
    ds = config["datasets"][wildcards.dataset]
    return {k: ds[k] for k in IMPORT_KEYS if k in ds}


def detector_section(wildcards):
    return config["detectors"][config["datasets"][wildcards.dataset]["detector"]]


CODE = {
    "simulate": code_hash(
        "simulation", "geometry.py", "events.py", "io.py", "stages.py"
    ),
    "import": code_hash("io.py", "geometry.py", "events.py", "stages.py"),
    "qa": code_hash("qa.py", "io.py", "events.py", "stages.py"),
    "cluster": code_hash(
        "clustering", "io.py", "events.py", "geometry.py", "stages.py"
    ),
    "pairs": code_hash("pairs.py", "split.py", "pair_stage.py"),
    "train": code_hash("models", "pair_stage.py", "pairs.py"),
    "evaluate_pairs": code_hash("models", "pair_stage.py", "pairs.py", "stages.py"),
    "windows": code_hash("windows.py", "regression_stage.py", "split.py", "stages.py"),
    "train_regressor": code_hash("models", "regression_stage.py"),
    "evaluate_regression": code_hash(
        "models", "regression_stage.py", "fitting.py", "lednev.py", "stages.py"
    ),
    "merge": code_hash(
        "merging.py", "clustering", "models", "pair_stage.py", "stages.py"
    ),
}


def all_targets():
    targets = []
    for d in DATASETS:
        targets += raw_files(type("W", (), {"dataset": d}))
        targets.append(f"results/{d}/metrics/simulation.json")
        targets.append(f"results/{d}/qa/simulation.png")
        if methods(d):
            targets.append(f"results/{d}/metrics/clustering.json")
        if "regression" in analyses(d):
            targets.append(f"results/{d}/metrics/resolution.json")
        if "pairs" in analyses(d):
            targets.append(f"results/{d}/metrics/pairs.json")
            targets.append(f"results/{d}/metrics/pairs_seeds.json")
    return targets
