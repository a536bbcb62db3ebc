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
    "figure": code_hash("plotting", "io.py", "events.py", "geometry.py", "split.py"),
    "numbers": code_hash("numbers.py"),
    "notebook": code_hash("plotting", "io.py"),
}


def metrics_targets(dataset):
    """The metrics files of one dataset: what its analysis produces."""
    d = dataset
    targets = [f"results/{d}/metrics/simulation.json"]
    if methods(d):
        targets.append(f"results/{d}/metrics/clustering.json")
    if "regression" in analyses(d):
        targets.append(f"results/{d}/metrics/resolution.json")
    if "pairs" in analyses(d):
        targets.append(f"results/{d}/metrics/pairs.json")
        targets.append(f"results/{d}/metrics/pairs_seeds.json")
    return targets


# ---------------------------------------------------------------------------------------------
# Figures, numbers, notebooks

STYLES = ["thesis", "talk"]
NOTEBOOKS = ["dataset_overview", "model_review"]
REPORT_DIR = Path(workflow.basedir) / "workflow/report"


def style_file(wildcards):
    return str(Path(workflow.basedir) / f"workflow/styles/{wildcards.style}.mplstyle")


def preset(dataset):
    return config["detectors"][config["datasets"][dataset]["detector"]]["preset"]


def has_truth(dataset):
    """Whether the dataset's raw events carry per-cell truth (simulation, CSV, or all three
    truth branches of a ROOT import)."""
    ds = config["datasets"][dataset]
    if ds["source"] == "simulate" or "csv" in ds:
        return True
    branches = ds.get("root", {}).get("branches", {})
    return all(b in branches for b in ("truth_cell", "truth_primary", "truth_energy"))


def model_names(dataset):
    """Trained models of a dataset (their history files feed the loss curves)."""
    names = []
    if "regression" in analyses(dataset):
        names += [
            "regressor_abspos" if n == "nn_abspos" else "regressor"
            for n in regressor_names(dataset)
        ]
    if "pairs" in analyses(dataset):
        names += ["pair_classifier", "pair_tiny"]
    return names


def figure_kinds(dataset):
    """The figures drawn for a dataset, by what it has (detector, truth, analyses)."""
    ds = config["datasets"][dataset]
    califa = preset(dataset) == "califa"
    kinds = []
    if methods(dataset):
        kinds.append("event_display")
    if model_names(dataset):
        kinds.append("loss_curves")
    if "pairs" in analyses(dataset):
        kinds += ["pair_scores", "roc", "f1"]
    if califa and methods(dataset) and has_truth(dataset):
        kinds += ["event_categories", "efficiency", "energy_spectra"]
    if "regression" in analyses(dataset):
        kinds += ["windows", "residuals"]
        energy = ds.get("simulation", {}).get("energy", {})
        if energy.get("distribution") != "fixed":  # one energy: no resolution function
            kinds.append("resolution")
        if ds.get("regression", {}).get("compare_absolute_position"):
            kinds.append("abspos")
    return kinds


def figure_names():
    return [f"{d}-{k}" for d in DATASETS for k in figure_kinds(d)]


def display_methods(dataset):
    """Clusterings shown side by side in the event display: the pair method and its NN
    merge when there is one (the paper's comparison), else every method."""
    merged = merge_methods(dataset)
    if merged:
        base = pair_method(dataset) if pair_method(dataset) in merged else merged[0]
        return [base, f"{base}+nn"]
    return methods(dataset)


def abspos_reference(dataset):
    """A perpendicular regression dataset of the same detector to compare stage 3 with."""
    for d in DATASETS:
        ds = config["datasets"][d]
        if (
            d != dataset
            and "regression" in analyses(d)
            and config["datasets"][d]["detector"]
            == config["datasets"][dataset]["detector"]
            and ds.get("simulation", {}).get("incidence", "perpendicular")
            == "perpendicular"
            and ds.get("simulation", {}).get("energy", {}).get("distribution")
            != "fixed"
        ):
            return d
    return None


def figure_inputs(wildcards):
    """The input files of one figure, named as the figure function's arguments."""
    d, kind = wildcards.dataset, wildcards.kind
    if kind not in figure_kinds(d):
        raise ValueError(
            f"figure {d}-{kind}: not drawn for this dataset; its figures are {figure_kinds(d)}"
        )
    res = f"results/{d}"
    all_chunks = chunks(d)
    if kind == "event_display":
        shown = display_methods(d)
        return {
            "raw": f"{res}/raw/chunk-000.root",
            "cells": [f"{res}/clusters/{m}/cells-000.parquet" for m in shown],
            "clusters": f"{res}/clusters/{shown[0]}/chunk-000.parquet",
        }
    if kind == "loss_curves":
        return {"histories": [f"{res}/models/{m}.history.csv" for m in model_names(d)]}
    if kind in ("pair_scores", "roc"):
        return {
            "scores": f"{res}/tables/pair_scores.parquet",
            "metrics": f"{res}/metrics/pairs.json",
        }
    if kind == "f1":
        return {
            "metrics": f"{res}/metrics/pairs.json",
            "seeds": f"{res}/metrics/pairs_seeds.json",
        }
    if kind == "event_categories":
        return {"metrics": f"{res}/metrics/clustering.json"}
    if kind == "efficiency":
        return {
            "raw": raw_files(wildcards),
            "cells": expand(
                "{res}/clusters/{m}/cells-{c}.parquet",
                res=res,
                m=scored_methods(d),
                c=all_chunks,
            ),
            "metrics": f"{res}/metrics/clustering.json",
        }
    if kind == "energy_spectra":
        return {
            "raw": raw_files(wildcards),
            "clusters": expand(
                "{res}/clusters/{m}/chunk-{c}.parquet",
                res=res,
                m=scored_methods(d),
                c=all_chunks,
            ),
        }
    if kind == "windows":
        return {"windows": window_files(wildcards)}
    if kind == "residuals":
        return {
            "residuals": f"{res}/tables/residuals.parquet",
            "metrics": f"{res}/metrics/resolution.json",
        }
    if kind == "resolution":
        return {"metrics": f"{res}/metrics/resolution.json"}
    if kind == "abspos":
        out = {"metrics": f"{res}/metrics/resolution.json"}
        ref = abspos_reference(d)
        if ref:
            out["reference"] = f"results/{ref}/metrics/resolution.json"
        return out
    raise ValueError(f"figure kind {kind!r}: no inputs defined")


def figure_params(wildcards):
    """Keyword arguments of the figure function besides its inputs."""
    d, kind = wildcards.dataset, wildcards.kind
    params = {"dataset": d}
    if kind in ("efficiency", "energy_spectra"):
        params["methods"] = scored_methods(d)
        if "pairs" in analyses(d):  # scored on the test events, as clustering.json
            params["split"] = {
                "fractions": split_fractions(wildcards),
                "seed": config["datasets"][d]["seed"],
            }
    if kind == "abspos" and abspos_reference(d):
        params["reference_dataset"] = abspos_reference(d)
    return params


def figure_caption(wildcards):
    from caloreco.numbers import caption_from_rst

    return caption_from_rst(
        REPORT_DIR / f"{wildcards.kind}.rst", dataset=wildcards.dataset
    )


def figure_files(style):
    exts = ["pdf", "png"]
    return expand(
        "results/figures/{style}/{name}.{ext}",
        style=style,
        name=figure_names(),
        ext=exts,
    )


def numbers_inputs(wildcards):
    return [
        f
        for d in DATASETS
        for f in metrics_targets(d)
        if Path(f).stem in ("resolution", "pairs", "clustering")
    ]


def notebook_targets():
    return expand(
        "results/notebooks/{dataset}/{notebook}.{ext}",
        dataset=DATASETS,
        notebook=NOTEBOOKS,
        ext=["ipynb", "html"],
    )


def dataset_results(wildcards):
    """Everything the notebooks of a dataset read: its metrics (and so all stages before)."""
    return metrics_targets(wildcards.dataset)


def analysis_targets():
    """Every dataset's raw chunks, QA figure and metrics."""
    targets = []
    for d in DATASETS:
        targets += raw_files(type("W", (), {"dataset": d}))
        targets.append(f"results/{d}/qa/simulation.png")
        targets += metrics_targets(d)
    return targets


def style_targets(style):
    """The figures of one style, the numbers for the text and the figure index."""
    return figure_files(style) + ["results/tex/numbers.tex", "results/figures/index.md"]


def all_targets():
    return (
        analysis_targets()
        + style_targets("thesis")
        + style_targets("talk")
        + notebook_targets()
    )
