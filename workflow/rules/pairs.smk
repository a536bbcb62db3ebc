# Stage 3 (califa): case A/B cluster pairs, the merge classifier, baselines, merged clustering.


include: "inputs/pairs.smk"


rule pairs:
    input:
        "results/{dataset}/clusters/{method}/chunk-{chunk}.parquet",
    output:
        "results/{dataset}/pairs/{method}/chunk-{chunk}.parquet",
    log:
        "results/{dataset}/logs/pairs/{method}-{chunk}.log",
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    params:
        fractions=split_fractions,
        seed=dataset_seed,
        code=code("pairs"),
    script:
        "../scripts/pairs.py"


rule train_pair_classifier:
    input:
        pair_training_files,
    output:
        model="results/{dataset}/models/{model}.pt",
        history="results/{dataset}/models/{model}.history.csv",
    log:
        "results/{dataset}/logs/train/{model}.log",
    benchmark:
        "results/{dataset}/benchmarks/train/{model}.tsv"
    wildcard_constraints:
        model="pair_classifier|pair_tiny",
    conda:
        "../../envs/caloreco.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
        gpu=0,
    params:
        settings=lambda wc: subset(
            pair_section(wc), ("method", "features", "model", "training")
        ),
        code=code("train_pair_classifier"),
    script:
        "../scripts/train_pair_classifier.py"


rule pair_seed_study:
    input:
        pair_training_files,
    output:
        "results/{dataset}/metrics/pairs_seeds.json",
    log:
        "results/{dataset}/logs/train/pair_seed_study.log",
    conda:
        "../../envs/caloreco.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 120 * attempt,
    params:
        settings=lambda wc: subset(
            pair_section(wc), ("method", "features", "model", "training", "seeds")
        ),
        code=code("pair_seed_study"),
    script:
        "../scripts/pair_seed_study.py"


rule evaluate_pairs:
    input:
        pairs=pair_training_files,
        nn="results/{dataset}/models/pair_classifier.pt",
        tiny="results/{dataset}/models/pair_tiny.pt",
    output:
        metrics="results/{dataset}/metrics/pairs.json",
        scores="results/{dataset}/tables/pair_scores.parquet",
    log:
        "results/{dataset}/logs/evaluate_pairs.log",
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        settings=lambda wc: subset(
            pair_section(wc), ("method", "features", "bootstrap")
        ),
        seed=dataset_seed,
        code=code("evaluate_pairs"),
    script:
        "../scripts/evaluate_pairs.py"


rule merge_clusters:
    input:
        raw="results/{dataset}/raw/chunk-{chunk}.root",
        cells="results/{dataset}/clusters/{method}/cells-{chunk}.parquet",
        pairs="results/{dataset}/pairs/{method}/chunk-{chunk}.parquet",
        model="results/{dataset}/models/pair_classifier.pt",
    output:
        clusters="results/{dataset}/clusters/{method}+nn/chunk-{chunk}.parquet",
        cells="results/{dataset}/clusters/{method}+nn/cells-{chunk}.parquet",
    log:
        "results/{dataset}/logs/merge/{method}-{chunk}.log",
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    params:
        code=code("merge_clusters"),
    script:
        "../scripts/merge_clusters.py"
