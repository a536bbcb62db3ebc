# Input functions and settings of the raw rules (workflow/rules/raw.smk); no rules here.

RAW_KEYS = ("detector", "source", "seed", "events_per_chunk", "simulation")
IMPORT_KEYS = ("detector", "source", "seed", "files", "csv", "root")


def simulation_section(wildcards):
    """Only what the raw events depend on: a training or clustering change must not
    re-simulate."""
    return subset(dataset_cfg(wildcards.dataset), RAW_KEYS)


def import_section(wildcards):
    return subset(dataset_cfg(wildcards.dataset), IMPORT_KEYS)
