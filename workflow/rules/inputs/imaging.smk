# Input functions and settings of the imaging rules (workflow/rules/imaging.smk) and the targets,
# figures and figure inputs of imaging datasets (used by inputs/figures.smk); no rules here.

from caloreco.imaging.settings import (
    anomaly_block,
    camera_block,
    cygno_settings,
    export_settings,
    import_plan,
)

IMAGE_SIMULATION_KEYS = ("detector", "source", "seed", "frames_per_chunk", "images")
IMAGE_IMPORT_KEYS = (
    "detector",
    "source",
    "seed",
    "chunks",
    "frames_per_chunk",
    "files",
    "cygno",
)
#: figure kinds of an imaging dataset with the anomaly analysis
ANOMALY_FIGURES = [
    "image_display",
    "intensity_area",
    "anomaly_roc",
    "er_nr",
    "loss_curves",
]


def is_imaging(dataset):
    return dataset in IMAGING


def image_simulation_section(wildcards):
    """What simulated frames depend on: no reconstruction or training key re-simulates."""
    return subset(dataset_cfg(wildcards.dataset), IMAGE_SIMULATION_KEYS)


def image_import_section(wildcards):
    return subset(dataset_cfg(wildcards.dataset), IMAGE_IMPORT_KEYS)


def cygno_chunk_files(wildcards):
    """The CYGNO run file and the pedestal file that one chunk of an import reads."""
    ds = dataset_cfg(wildcards.dataset)
    opts = cygno_settings(ds)
    plan = import_plan(
        ds["files"],
        opts["pedestal"],
        ds["chunks"],
        int(wildcards.chunk),
        ds.get("frames_per_chunk"),
        opts["first"],
    )
    return {"data": plan["data"], "pedestal": plan["pedestal"]}


def anomaly_section(wildcards):
    """The anomaly block with the dataset's split (the analysis' own default when unset)."""
    ds = dataset_cfg(wildcards.dataset)
    return anomaly_block(
        ds.get("anomaly"), ds.get("split", {}).get("fractions"), ds["seed"]
    )


def reco_section(wildcards):
    """The classical chain the anomaly analysis compares with (LIME defaults when unset)."""
    return dataset_cfg(wildcards.dataset).get("clustering", {}).get("cygno") or {}


def export_section(wildcards):
    return export_settings(dataset_cfg(wildcards.dataset))


def exports_cygno(dataset):
    """Whether a simulated imaging dataset is also written in CYGNO's layout."""
    ds = dataset_cfg(dataset)
    return ds["source"] == "simulate" and bool(export_settings(ds)["enabled"])


def imaging_metrics_targets(dataset):
    """The metrics files of an imaging dataset."""
    targets = [f"results/{dataset}/metrics/simulation.json"]
    if "anomaly" in analyses(dataset):
        targets.append(f"results/{dataset}/metrics/anomaly.json")
    return targets


def imaging_targets(dataset):
    """The other products of an imaging dataset: cluster tables and the CYGNO export."""
    if not is_imaging(dataset):
        return []
    targets = expand(
        "results/{d}/clusters/{m}/chunk-{c}.parquet",
        d=dataset,
        m=methods(dataset),
        c=chunks(dataset),
    )
    if exports_cygno(dataset):
        targets += expand(
            "results/{d}/cygno/run-{c}.root", d=dataset, c=chunks(dataset)
        )
        targets += [
            f"results/{dataset}/cygno/pedestal.root",
            f"results/{dataset}/cygno/pedmap.root",
        ]
    return targets


def imaging_figure_kinds(dataset):
    """The figures of an imaging dataset: those of the anomaly analysis (none without it)."""
    return list(ANOMALY_FIGURES) if "anomaly" in analyses(dataset) else []


def imaging_figure_inputs(wildcards, kind):
    res = f"results/{wildcards.dataset}"
    inputs = {
        "image_display": {"examples": f"{res}/tables/anomaly_examples.npz"},
        "intensity_area": {"metrics": f"{res}/metrics/anomaly.json"},
        "anomaly_roc": {
            "roc_scores": f"{res}/tables/anomaly_roc_scores.parquet",
            "metrics": f"{res}/metrics/anomaly.json",
        },
        "er_nr": {"metrics": f"{res}/metrics/anomaly.json"},
        "loss_curves": {"histories": [f"{res}/models/autoencoder.history.csv"]},
    }
    if kind not in inputs:
        raise ValueError(f"figure kind {kind!r}: not an imaging figure")
    return inputs[kind]


def imaging_figure_params(dataset, kind):
    """Keyword arguments of an imaging figure besides its inputs and the dataset."""
    if kind == "image_display":
        cam = camera_block(config["detectors"][dataset_cfg(dataset)["detector"]])
        return {"pixel_mm": float(cam.get("pixel_mm", 0.152))}
    return {}
