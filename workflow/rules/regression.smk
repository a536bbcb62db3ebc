# Stage 3 (ecal): NxN windows, the position/energy regressor, resolution fits against log_cog
# and the profile fit.


include: "inputs/regression.smk"


rule windows:
    input:
        raw="results/{dataset}/raw/chunk-{chunk}.root",
        clusters="results/{dataset}/clusters/connected/chunk-{chunk}.parquet",
    output:
        "results/{dataset}/windows/chunk-{chunk}.npz",
    log:
        "results/{dataset}/logs/windows/chunk-{chunk}.log",
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    params:
        # each rule gets only the keys it uses: a training setting does not rebuild windows
        settings=lambda wc: subset(
            regression_section(wc), ("size", "placement", "purity_cut")
        ),
        seed=dataset_seed,
        fractions=split_fractions,
        code=code("windows"),
    script:
        "../scripts/windows.py"


rule train_regressor:
    input:
        window_files,
    output:
        model="results/{dataset}/models/{model}.pt",
        history="results/{dataset}/models/{model}.history.csv",
    log:
        "results/{dataset}/logs/train/{model}.log",
    benchmark:
        "results/{dataset}/benchmarks/train/{model}.tsv"
    wildcard_constraints:
        model="regressor|regressor_abspos",
    conda:
        "../../envs/caloreco.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 120 * attempt,
        gpu=0,
    params:
        settings=lambda wc: subset(
            regression_section(wc), drop=("log_cog_w0", "energy_bins_mev")
        ),
        absolute_position=lambda wc: wc.model == "regressor_abspos",
        code=code("train_regressor"),
    script:
        "../scripts/train_regressor.py"


rule evaluate_regression:
    input:
        windows=window_files,
        models=regressor_models,
    output:
        metrics="results/{dataset}/metrics/resolution.json",
        residuals="results/{dataset}/tables/residuals.parquet",
    log:
        "results/{dataset}/logs/evaluate_regression.log",
    benchmark:
        "results/{dataset}/benchmarks/evaluate_regression.tsv"
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
    params:
        settings=regression_section,
        names=lambda wc: regressor_names(wc.dataset),
        seed=dataset_seed,
        code=code("evaluate_regression"),
    script:
        "../scripts/evaluate_regression.py"
