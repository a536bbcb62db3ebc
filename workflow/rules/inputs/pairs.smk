# Input functions and settings of the pairs rules (workflow/rules/pairs.smk); no rules here.


def pair_section(wildcards):
    return dataset_cfg(wildcards.dataset).get("pairs", {})


def pair_method(dataset):
    return dataset_cfg(dataset).get("pairs", {}).get("method", "agglomerative")


def merge_methods(dataset):
    """Pre-clustering methods that get a '+nn' merged variant (pairs analysis only)."""
    if "pairs" not in analyses(dataset):
        return []
    wanted = dataset_cfg(dataset).get("pairs", {}).get("merge_methods")
    return [m for m in (wanted or ["agglomerative", "cone"]) if m in methods(dataset)]


def pair_training_files(wildcards):
    return per_chunk(
        "results/{dataset}/pairs/{method}/chunk-{chunk}.parquet",
        wildcards,
        method=pair_method(wildcards.dataset),
    )
