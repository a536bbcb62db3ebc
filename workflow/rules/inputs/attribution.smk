# Input functions and settings of the attribution rules (workflow/rules/attribution.smk); no rules here.

#: the model file of each attribution clustering method
NETWORK_MODEL = {"pointnet": "attribution", "slots": "slots"}

#: the figure kinds of an attribution analysis (the segmenter's curves only when it is on)
ATTRIBUTION_FIGURES = (
    "attribution_baselines",
    "attribution_tp_wr",
    "attribution_display",
    "segmenter_curves",
)


def attribution_section(wildcards):
    return dataset_cfg(wildcards.dataset).get("attribution", {})


def segmenter_enabled(dataset):
    seg = dataset_cfg(dataset).get("attribution", {}).get("segmenter", {})
    return bool(seg.get("enabled", False))


def segmenter_section(wildcards):
    """The segmenter's model and training settings (the switch itself retrains nothing)."""
    seg = attribution_section(wildcards).get("segmenter", {})
    return subset(seg, drop=("enabled",))


def attribution_methods(dataset):
    """Clustering methods of the attribution networks, scored in clustering.json."""
    if "attribution" not in analyses(dataset):
        return []
    return ["pointnet"] + (["slots"] if segmenter_enabled(dataset) else [])


def attribution_models(dataset):
    """Model files (stems) the attribution analysis trains: their history files feed the loss
    curves."""
    return [NETWORK_MODEL[m] for m in attribution_methods(dataset)]


def network_model(wildcards):
    return f"results/{wildcards.dataset}/models/{NETWORK_MODEL[wildcards.network]}.pt"


def attribution_figure_kinds(dataset):
    if "attribution" not in analyses(dataset):
        return []
    kinds = ["attribution_baselines", "attribution_tp_wr", "attribution_display"]
    return kinds + (["segmenter_curves"] if segmenter_enabled(dataset) else [])


def attribution_figure_inputs(wildcards, kind):
    """The input files of an attribution figure, named as the figure function's arguments."""
    res = f"results/{wildcards.dataset}"
    if kind in ("attribution_baselines", "attribution_tp_wr"):
        return {"metrics": f"{res}/metrics/attribution.json"}
    if kind == "attribution_display":
        return {
            "raw": f"{res}/raw/chunk-000.root",
            "cells": f"{res}/clusters/pointnet/cells-000.parquet",
        }
    if kind == "segmenter_curves":
        return {
            "histories": [
                f"{res}/models/{m}.history.csv"
                for m in attribution_models(wildcards.dataset)
            ],
            "metrics": f"{res}/metrics/attribution.json",
        }
    raise ValueError(f"figure kind {kind!r}: not an attribution figure")


def attribution_figure_params(wildcards, kind):
    """Keyword arguments of an attribution figure besides its inputs and the dataset."""
    if kind == "attribution_display":
        return {"split": split_section(wildcards)}
    return {}
