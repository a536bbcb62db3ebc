# Input functions and settings of the two-photon rules (workflow/rules/two_photon.smk); no rules here.

TWO_PHOTON_WINDOW_KEYS = (
    "size",
    "seed_threshold_mev",
    "min_photon_mev",
    "edge_margin_cells",
)
TWO_PHOTON_FIT_KEYS = ("fit", "seed_threshold_mev")


def two_photon_section(wildcards):
    return dataset_cfg(wildcards.dataset).get("two_photon", {})


def two_photon_training_mass(dataset):
    """Parent-mass range of the networks' training sample, or None (the pi0 events)."""
    section = dataset_cfg(dataset).get("two_photon", {})
    return section.get("training_mass_mev", [70.0, 200.0])


def two_photon_window_settings(wildcards):
    keys = TWO_PHOTON_WINDOW_KEYS
    if wildcards.sample == "training":
        keys = keys + ("training_mass_mev",)
    return subset(two_photon_section(wildcards), keys)


def two_photon_window_input(wildcards):
    if wildcards.sample == "events":
        return {"raw": f"results/{wildcards.dataset}/raw/chunk-{wildcards.chunk}.root"}
    return {}


def two_photon_training_dataset(wildcards):
    """What the training sample's simulation depends on (None for the dataset's events)."""
    if wildcards.sample == "events":
        return None
    return subset(dataset_cfg(wildcards.dataset), RAW_KEYS)


def two_photon_training_detector(wildcards):
    return None if wildcards.sample == "events" else detector_section(wildcards)


def two_photon_files(kind, sample):
    """Per-chunk window or fit files of one sample ("events" or "training")."""

    def files(wildcards):
        s = sample
        if s == "training" and two_photon_training_mass(wildcards.dataset) is None:
            s = "events"  # the networks train on the pi0 events' train/val split
        return per_chunk(
            "results/{dataset}/two_photon/{sample}/{kind}-{chunk}.npz",
            wildcards,
            sample=s,
            kind=kind,
        )

    return files


def two_photon_training_settings(wildcards):
    return subset(
        two_photon_section(wildcards),
        ("fit_inputs", "counter", "regressor", "seed", "training_mass_mev"),
    )
