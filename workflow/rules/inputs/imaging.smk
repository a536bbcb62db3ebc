# Input functions and settings of the imaging rules (workflow/rules/imaging.smk) and the targets,
# figures and figure inputs of imaging datasets (used by inputs/figures.smk); no rules here.

from caloreco.imaging.settings import (
    anomaly_block,
    camera_block,
    cygno_settings,
    export_settings,
    import_plan,
    unet_block,
    UNET_CLUSTER_KEYS,
    UNET_TRAIN_KEYS,
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
#: figure kinds of an imaging dataset with the clustering method unet (pixel_selection.json)
PIXEL_SELECTION_FIGURES = [
    "pixel_precision_recall",
    "pixel_efficiency_fakes",
    "pixel_integral_ratio",
    "pixel_dbscan_load",
    "pixel_selection_display",
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


def has_unet(dataset):
    """Whether an imaging dataset runs the U-Net pixel selection (clustering method unet)."""
    return is_imaging(dataset) and "unet" in methods(dataset)


def unet_section(wildcards):
    """The clustering.unet block with the dataset's split (the evaluation's settings)."""
    ds = dataset_cfg(wildcards.dataset)
    return unet_block(
        ds["clustering"]["unet"], ds.get("split", {}).get("fractions"), ds["seed"]
    )


def unet_train_section(wildcards):
    """What the U-Net's training depends on: an evaluation key does not re-train."""
    return subset(unet_section(wildcards), UNET_TRAIN_KEYS)


def unet_cluster_section(wildcards):
    return subset(unet_section(wildcards), UNET_CLUSTER_KEYS)


def reco_section(wildcards):
    """The classical chain (LIME defaults when unset): the anomaly analysis compares with it
    and the U-Net's points go to its DBSCAN."""
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
    if has_unet(dataset) and dataset_cfg(dataset)["source"] == "simulate":
        targets.append(f"results/{dataset}/metrics/pixel_selection.json")
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
    """The figures of an imaging dataset: those of the anomaly analysis and of the U-Net pixel
    selection (each only when the dataset runs it)."""
    kinds = list(ANOMALY_FIGURES) if "anomaly" in analyses(dataset) else []
    if "pixel_selection" in [Path(f).stem for f in imaging_metrics_targets(dataset)]:
        kinds += PIXEL_SELECTION_FIGURES
        if "loss_curves" not in kinds:
            kinds.append("loss_curves")
    return kinds


def imaging_histories(dataset):
    """The loss histories of an imaging dataset's networks."""
    res = f"results/{dataset}/models"
    out = [f"{res}/autoencoder.history.csv"] if "anomaly" in analyses(dataset) else []
    return out + ([f"{res}/unet.history.csv"] if has_unet(dataset) else [])


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
        "loss_curves": {"histories": imaging_histories(wildcards.dataset)},
        "pixel_selection_display": {
            "examples": f"{res}/tables/pixel_selection_examples.npz",
            "metrics": f"{res}/metrics/pixel_selection.json",
        },
    }
    for k in PIXEL_SELECTION_FIGURES[:-1]:
        inputs[k] = {"metrics": f"{res}/metrics/pixel_selection.json"}
    if kind not in inputs:
        raise ValueError(f"figure kind {kind!r}: not an imaging figure")
    return inputs[kind]


def imaging_figure_params(dataset, kind):
    """Keyword arguments of an imaging figure besides its inputs and the dataset."""
    if kind in ("image_display", "pixel_selection_display"):
        cam = camera_block(config["detectors"][dataset_cfg(dataset)["detector"]])
        return {"pixel_mm": float(cam.get("pixel_mm", 0.152))}
    return {}
