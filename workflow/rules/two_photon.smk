# ECAL stage 4 (issue 12): merged pi0 -> gamma gamma. Pair windows, coral's two-shower fit, the
# photon counter and the two-photon regressor, scored against the fit.


include: "inputs/two_photon.smk"


rule two_photon_windows:
    input:
        unpack(two_photon_window_input),
    output:
        "results/{dataset}/two_photon/{sample}/windows-{chunk}.npz",
    log:
        "results/{dataset}/logs/two_photon/{sample}-windows-{chunk}.log",
    benchmark:
        "results/{dataset}/benchmarks/two_photon/{sample}-windows-{chunk}.tsv"
    wildcard_constraints:
        sample="events|training",
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 3000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    params:
        settings=two_photon_window_settings,
        seed=dataset_seed,
        fractions=split_fractions,
        dataset=two_photon_training_dataset,
        detector=two_photon_training_detector,
        code=code("two_photon_windows"),
    script:
        "../scripts/two_photon_windows.py"


rule two_shower_fit:
    input:
        "results/{dataset}/two_photon/{sample}/windows-{chunk}.npz",
    output:
        "results/{dataset}/two_photon/{sample}/fit-{chunk}.npz",
    log:
        "results/{dataset}/logs/two_photon/{sample}-fit-{chunk}.log",
    benchmark:
        "results/{dataset}/benchmarks/two_photon/{sample}-fit-{chunk}.tsv"
    wildcard_constraints:
        sample="events|training",
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 3000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        settings=lambda wc: subset(two_photon_section(wc), TWO_PHOTON_FIT_KEYS),
        code=code("two_shower_fit"),
    script:
        "../scripts/two_shower_fit.py"


rule train_photon_counter:
    input:
        windows=two_photon_files("windows", "training"),
        fits=two_photon_files("fit", "training"),
    output:
        model="results/{dataset}/models/photon_counter.pt",
        history="results/{dataset}/models/photon_counter.history.csv",
    log:
        "results/{dataset}/logs/train/photon_counter.log",
    benchmark:
        "results/{dataset}/benchmarks/train/photon_counter.tsv"
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
        gpu=0,
    params:
        settings=two_photon_training_settings,
        code=code("train_photon_counter"),
    script:
        "../scripts/train_photon_counter.py"


rule train_two_photon_regressor:
    input:
        windows=two_photon_files("windows", "training"),
        fits=two_photon_files("fit", "training"),
    output:
        model="results/{dataset}/models/two_photon_regressor.pt",
        history="results/{dataset}/models/two_photon_regressor.history.csv",
    log:
        "results/{dataset}/logs/train/two_photon_regressor.log",
    benchmark:
        "results/{dataset}/benchmarks/train/two_photon_regressor.tsv"
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
        gpu=0,
    params:
        settings=two_photon_training_settings,
        code=code("train_two_photon_regressor"),
    script:
        "../scripts/train_two_photon_regressor.py"


rule evaluate_two_photon:
    input:
        windows=two_photon_files("windows", "events"),
        fits=two_photon_files("fit", "events"),
        train_windows=two_photon_files("windows", "training"),
        train_fits=two_photon_files("fit", "training"),
        counter="results/{dataset}/models/photon_counter.pt",
        regressor="results/{dataset}/models/two_photon_regressor.pt",
        counter_history="results/{dataset}/models/photon_counter.history.csv",
        regressor_history="results/{dataset}/models/two_photon_regressor.history.csv",
    output:
        metrics="results/{dataset}/metrics/two_photon.json",
    log:
        "results/{dataset}/logs/evaluate_two_photon.log",
    benchmark:
        "results/{dataset}/benchmarks/evaluate_two_photon.tsv"
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        settings=lambda wc: subset(
            two_photon_section(wc), ("separation_bins_cells", "energy_bins_mev")
        ),
        code=code("evaluate_two_photon"),
    script:
        "../scripts/evaluate_two_photon.py"
