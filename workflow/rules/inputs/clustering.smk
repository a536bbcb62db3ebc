# Input functions and settings of the clustering rules (workflow/rules/clustering.smk); no rules here.


def scored_methods(dataset):
    """Every clustering scored in clustering.json: the methods, their merged variants and the
    attribution networks."""
    merged = [f"{m}+nn" for m in merge_methods(dataset)]
    return methods(dataset) + merged + attribution_methods(dataset)


def scored_tables(wildcards, table):
    """The ``table`` files (``cells`` or ``chunk``) of every scored method and chunk."""
    return per_chunk(
        f"results/{{dataset}}/clusters/{{method}}/{table}-{{chunk}}.parquet",
        wildcards,
        method=scored_methods(wildcards.dataset),
    )
