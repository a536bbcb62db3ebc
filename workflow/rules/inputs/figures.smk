# Input functions and settings of the figures rules (workflow/rules/figures.smk); no rules here.

from functools import partial

from caloreco.plotting.registry import FIGURES, figure_module
from caloreco.config import dataset_provides
from caloreco.provenance import notebook_imports

STYLES = ["thesis", "talk"]
NOTEBOOKS = ["dataset_overview", "model_review"]
REPORT_DIR = Path(workflow.basedir) / "workflow/report"
# ECAL stage 4 (two_photon analysis): every figure reads two_photon.json only
TWO_PHOTON_FIGURES = [
    "two_photon_resolution",
    "two_photon_mass",
    "two_photon_counting",
    "two_photon_display",
]


def metrics_targets(dataset):
    """The metrics files of one dataset: what its analysis produces."""
    d = dataset
    if is_imaging(d):
        return imaging_metrics_targets(d)
    targets = [f"results/{d}/metrics/simulation.json"]
    if methods(d) and provides(d, "truth"):  # real data: nothing to score against
        targets.append(f"results/{d}/metrics/clustering.json")
    if "regression" in analyses(d):
        targets.append(f"results/{d}/metrics/resolution.json")
    if "pairs" in analyses(d):
        targets.append(f"results/{d}/metrics/pairs.json")
        targets.append(f"results/{d}/metrics/pairs_seeds.json")
    if "attribution" in analyses(d):
        targets.append(f"results/{d}/metrics/attribution.json")
    if "two_photon" in analyses(d):
        targets.append(f"results/{d}/metrics/two_photon.json")
    return targets


def notebook_path(wildcards):
    return str(
        Path(workflow.basedir) / f"workflow/notebooks/{wildcards.notebook}.ipynb"
    )


def notebook_clusters(wildcards):
    """The cluster tables the dataset_overview notebook reads: every chunk table of a camera
    dataset's methods, the cell tables of a hit dataset's scored methods. Listed so that the
    notebook never runs beside a clustering job (data without truth has no metrics file that
    would wait for them)."""
    if is_imaging(wildcards.dataset):
        return per_chunk(
            "results/{dataset}/clusters/{method}/chunk-{chunk}.parquet",
            wildcards,
            method=methods(wildcards.dataset),
        )
    return scored_tables(wildcards, "cells")


def style_file(wildcards):
    return str(Path(workflow.basedir) / f"workflow/styles/{wildcards.style}.mplstyle")


def provides(dataset, what):
    """Whether the dataset's raw events carry ``what`` (truth, primary_energy, ...)."""
    return dataset_provides(dataset_cfg(dataset))[what]


def model_names(dataset):
    """Trained models of a dataset (their history files feed the loss curves)."""
    names = []
    if "regression" in analyses(dataset):
        names += [REGRESSOR_MODEL[n] for n in regressor_names(dataset)]
    if "pairs" in analyses(dataset):
        names += ["pair_classifier", "pair_tiny"]
    if "two_photon" in analyses(dataset):
        names += ["photon_counter", "two_photon_regressor"]
    return names + attribution_models(dataset)


def figure_kinds(dataset):
    """The figures drawn for a dataset, by what it has (detector, truth, analyses)."""
    if is_imaging(dataset):
        return imaging_figure_kinds(dataset)
    ds = dataset_cfg(dataset)
    kinds = []
    if methods(dataset):
        kinds.append("event_display")
    if model_names(dataset):
        kinds.append("loss_curves")
    if "pairs" in analyses(dataset):
        kinds += ["pair_scores", "roc", "f1"]
    if preset(dataset) == "califa" and methods(dataset) and provides(dataset, "truth"):
        kinds.append("event_categories")
        # WR against the angle between gammas
        if provides(dataset, "primary_direction"):
            kinds.append("efficiency")
        if provides(dataset, "primary_energy"):
            kinds.append("energy_spectra")
    if "regression" in analyses(dataset):
        kinds += ["windows", "residuals"]
        energy = ds.get("simulation", {}).get("energy", {})
        if energy.get("distribution") != "fixed":  # one energy: no resolution function
            kinds.append("resolution")
        if ds.get("regression", {}).get("compare_absolute_position"):
            kinds.append("abspos")
    if "two_photon" in analyses(dataset):
        kinds += TWO_PHOTON_FIGURES
    return kinds + attribution_figure_kinds(dataset)


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
        sim = dataset_cfg(d).get("simulation", {})
        if (
            d != dataset
            and "regression" in analyses(d)
            and dataset_cfg(d)["detector"] == dataset_cfg(dataset)["detector"]
            and sim.get("incidence", "perpendicular") == "perpendicular"
            and sim.get("energy", {}).get("distribution") != "fixed"
        ):
            return d
    return None


def figure_inputs(wildcards, kind):
    """The input files of one figure, named as the figure function's arguments."""
    d = wildcards.dataset
    if kind not in figure_kinds(d):
        raise ValueError(
            f"figure {d}-{kind}: not drawn for this dataset; its figures are {figure_kinds(d)}"
        )
    if is_imaging(d):
        return imaging_figure_inputs(wildcards, kind)
    res = f"results/{d}"
    if kind in ATTRIBUTION_FIGURES:
        return attribution_figure_inputs(wildcards, kind)
    if kind in TWO_PHOTON_FIGURES:
        return {"metrics": f"{res}/metrics/two_photon.json"}
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
            "primaries": f"{res}/tables/primaries.parquet",
            "metrics": f"{res}/metrics/clustering.json",
        }
    if kind == "energy_spectra":
        return {"primaries": f"{res}/tables/primaries.parquet"}
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


def figure_params(wildcards, kind):
    """Keyword arguments of the figure function besides its inputs."""
    d = wildcards.dataset
    params = {"dataset": d}
    if is_imaging(d):
        params |= imaging_figure_params(d, kind)
    if kind in ("efficiency", "energy_spectra"):
        params["methods"] = scored_methods(d)
    if kind == "abspos" and abspos_reference(d):
        params["reference_dataset"] = abspos_reference(d)
    return params | attribution_figure_params(wildcards, kind)


def figure_names():
    return [f"{d}-{k}" for d in DATASETS for k in figure_kinds(d)]


def figure_files(style):
    return expand(
        "results/figures/{style}/{name}.{ext}",
        style=style,
        name=figure_names(),
        ext=["pdf", "png"],
    )


def numbers_inputs(wildcards):
    return [
        f
        for d in DATASETS
        for f in metrics_targets(d)
        if Path(f).stem
        in (
            "resolution",
            "pairs",
            "clustering",
            "attribution",
            "anomaly",
            "pixel_selection",
            "two_photon",
        )
    ]


def style_targets(style):
    """The figures of one style, the numbers for the text and the figure index."""
    return figure_files(style) + ["results/tex/numbers.tex", "results/figures/index.md"]


def analysis_targets():
    """Every dataset's raw chunks, QA figure and metrics, the notebooks and the numbers: all
    but the thesis and talk figures."""
    targets = []
    for d in DATASETS:
        targets += expand("results/{d}/raw/chunk-{c}.root", d=d, c=chunks(d))
        targets.append(f"results/{d}/qa/simulation.png")
        targets += metrics_targets(d)
        targets += imaging_targets(d)
    notebooks = expand(
        "results/notebooks/{dataset}/{notebook}.{ext}",
        dataset=DATASETS,
        notebook=NOTEBOOKS,
        ext=["ipynb", "html"],
    )
    return targets + notebooks + ["results/tex/numbers.tex"]


def all_targets():
    """The analysis and the figures of both styles with their index."""
    figures = figure_files("thesis") + figure_files("talk")
    return analysis_targets() + figures + ["results/figures/index.md"]
