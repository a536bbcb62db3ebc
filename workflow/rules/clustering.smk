# Stage 2: cluster restoration per chunk and method, then event-level metrics per dataset.


rule cluster:
    input:
        "results/{dataset}/raw/chunk-{chunk}.root",
    output:
        clusters="results/{dataset}/clusters/{method}/chunk-{chunk}.parquet",
        cells="results/{dataset}/clusters/{method}/cells-{chunk}.parquet",
    params:
        settings=lambda wc: config["datasets"][wc.dataset]["clustering"][wc.method],
        code=CODE["cluster"],
    log:
        "results/{dataset}/logs/cluster/{method}-{chunk}.log",
    benchmark:
        "results/{dataset}/benchmarks/cluster/{method}-{chunk}.tsv"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    conda:
        "../../envs/caloreco.yaml"
    script:
        "../scripts/cluster.py"


rule clustering_metrics:
    input:
        raw=raw_files,
        cells=lambda wc: expand(
            "results/{dataset}/clusters/{method}/cells-{chunk}.parquet",
            dataset=wc.dataset,
            method=methods(wc.dataset),
            chunk=chunks(wc.dataset),
        ),
    output:
        "results/{dataset}/metrics/clustering.json",
    params:
        methods=lambda wc: methods(wc.dataset),
        code=CODE["cluster"],
    log:
        "results/{dataset}/logs/clustering_metrics.log",
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    conda:
        "../../envs/caloreco.yaml"
    script:
        "../scripts/clustering_metrics.py"
