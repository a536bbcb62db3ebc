# Stage 3 (califa with truth): hit-level attribution without pre-clustering. The focal
# point-cloud network and (behind a switch) the slot-attention set segmenter train on the
# dataset's train events, cluster every chunk (methods pointnet, slots, scored in
# clustering.json beside the others) and are evaluated hit by hit on the test events.


include: "inputs/attribution.smk"


rule train_attribution:
    input:
        raw=raw_files,
    output:
        model="results/{dataset}/models/attribution.pt",
        history="results/{dataset}/models/attribution.history.csv",
    log:
        "results/{dataset}/logs/train/attribution.log",
    benchmark:
        "results/{dataset}/benchmarks/train/attribution.tsv"
    conda:
        "../../envs/caloreco.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 6000 * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
        gpu=0,
    params:
        # the evaluation keys and the segmenter do not retrain the focal network
        settings=lambda wc: subset(
            attribution_section(wc), ("model", "training", "peeling")
        ),
        split=split_section,
        code=code("train_attribution"),
    script:
        "../scripts/train_attribution.py"


rule train_segmenter:
    input:
        raw=raw_files,
    output:
        model="results/{dataset}/models/slots.pt",
        history="results/{dataset}/models/slots.history.csv",
    log:
        "results/{dataset}/logs/train/slots.log",
    benchmark:
        "results/{dataset}/benchmarks/train/slots.tsv"
    conda:
        "../../envs/caloreco.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 6000 * attempt,
        runtime=lambda wc, attempt: 120 * attempt,
        gpu=0,
    params:
        settings=segmenter_section,
        split=split_section,
        code=code("train_segmenter"),
    script:
        "../scripts/train_segmenter.py"


rule cluster_attribution:
    input:
        raw="results/{dataset}/raw/chunk-{chunk}.root",
        model=network_model,
    output:
        clusters="results/{dataset}/clusters/{network}/chunk-{chunk}.parquet",
        cells="results/{dataset}/clusters/{network}/cells-{chunk}.parquet",
    log:
        "results/{dataset}/logs/cluster/{network}-{chunk}.log",
    benchmark:
        "results/{dataset}/benchmarks/cluster/{network}-{chunk}.tsv"
    wildcard_constraints:
        network="pointnet|slots",
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        code=code("cluster_attribution"),
    script:
        "../scripts/cluster_attribution.py"


rule evaluate_attribution:
    input:
        raw=raw_files,
        model="results/{dataset}/models/attribution.pt",
        # every scored method's cells tables: TP/WR versus energy and angle on the test events
        cells=lambda wc: scored_tables(wc, "cells"),
    output:
        metrics="results/{dataset}/metrics/attribution.json",
    log:
        "results/{dataset}/logs/evaluate_attribution.log",
    benchmark:
        "results/{dataset}/benchmarks/evaluate_attribution.tsv"
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        settings=lambda wc: subset(
            attribution_section(wc), ("bootstrap", "energy_bins_mev")
        ),
        split=split_section,
        seed=dataset_seed,
        code=code("evaluate_attribution"),
    script:
        "../scripts/evaluate_attribution.py"
