# Stage 2: cluster restoration per chunk and method, then event-level metrics per dataset.


include: "inputs/clustering.smk"


rule cluster:
    input:
        "results/{dataset}/raw/chunk-{chunk}.root",
    output:
        clusters="results/{dataset}/clusters/{method}/chunk-{chunk}.parquet",
        cells="results/{dataset}/clusters/{method}/cells-{chunk}.parquet",
    log:
        "results/{dataset}/logs/cluster/{method}-{chunk}.log",
    benchmark:
        "results/{dataset}/benchmarks/cluster/{method}-{chunk}.tsv"
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        settings=lambda wc: dataset_cfg(wc.dataset)["clustering"][wc.method],
        code=code("cluster"),
    script:
        "../scripts/cluster.py"


rule clustering_metrics:
    input:
        raw=raw_files,
        cells=lambda wc: scored_tables(wc, "cells"),
        clusters=lambda wc: scored_tables(wc, "chunk"),
    output:
        metrics="results/{dataset}/metrics/clustering.json",
        primaries="results/{dataset}/tables/primaries.parquet",
    log:
        "results/{dataset}/logs/clustering_metrics.log",
    benchmark:
        "results/{dataset}/benchmarks/clustering_metrics.tsv"
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    params:
        methods=lambda wc: scored_methods(wc.dataset),
        # with a trained method (pairs, attribution) every method is scored on the test events
        # only, the events no classifier or network saw
        split=lambda wc: (
            split_section(wc)
            if {"pairs", "attribution"} & set(analyses(wc.dataset))
            else None
        ),
        photopeak=lambda wc: detector_section(wc).get("response", {}),
        code=code("clustering_metrics"),
    script:
        "../scripts/clustering_metrics.py"
