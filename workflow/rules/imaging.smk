# Imaging datasets (camera_tpc detector): camera frames simulated or imported from CYGNO's files,
# the image QA, CYGNO's classical reconstruction as the clustering method, the pedestal-trained
# autoencoder analysis and the export of simulated runs in CYGNO's layout.


include: "inputs/imaging.smk"


rule simulate_images:
    output:
        "results/{dataset}/raw/chunk-{chunk}.root",
    log:
        "results/{dataset}/logs/simulate/chunk-{chunk}.log",
    benchmark:
        "results/{dataset}/benchmarks/simulate/chunk-{chunk}.tsv"
    wildcard_constraints:
        dataset=_alternatives(IMAGING_SIMULATED),
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 3000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        dataset=image_simulation_section,
        detector=detector_section,
        code=code("simulate_images"),
    script:
        "../scripts/simulate_images.py"


rule import_images:
    input:
        unpack(cygno_chunk_files),
    output:
        "results/{dataset}/raw/chunk-{chunk}.root",
    log:
        "results/{dataset}/logs/import/chunk-{chunk}.log",
    wildcard_constraints:
        dataset=_alternatives(IMAGING_IMPORTED),
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        files=lambda wc: dataset_cfg(wc.dataset)["files"],
        dataset=image_import_section,
        detector=detector_section,
        code=code("import_images"),
    script:
        "../scripts/import_images.py"


rule image_qa:
    input:
        raw_files,
    output:
        metrics="results/{dataset}/metrics/simulation.json",
        png=report(
            "results/{dataset}/qa/simulation.png",
            caption="../report/image_qa.rst",
            category="Simulation QA",
            labels={"dataset": "{dataset}"},
        ),
        pdf="results/{dataset}/qa/simulation.pdf",
    log:
        "results/{dataset}/logs/simulation_qa.log",
    benchmark:
        "results/{dataset}/benchmarks/simulation_qa.tsv"
    wildcard_constraints:
        dataset=_alternatives(IMAGING),
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    params:
        code=code("image_qa"),
    script:
        "../scripts/image_qa.py"


rule cluster_images:
    input:
        "results/{dataset}/raw/chunk-{chunk}.root",
    output:
        "results/{dataset}/clusters/{method}/chunk-{chunk}.parquet",
    log:
        "results/{dataset}/logs/cluster/{method}-{chunk}.log",
    benchmark:
        "results/{dataset}/benchmarks/cluster/{method}-{chunk}.tsv"
    wildcard_constraints:
        dataset=_alternatives(IMAGING),
        method="cygno",
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 3000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        settings=lambda wc: dataset_cfg(wc.dataset)["clustering"][wc.method],
        code=code("cluster_images"),
    script:
        "../scripts/cluster_images.py"


rule anomaly:
    input:
        raw_files,
    output:
        metrics="results/{dataset}/metrics/anomaly.json",
        regions="results/{dataset}/tables/anomaly_regions.parquet",
        roc_scores="results/{dataset}/tables/anomaly_roc_scores.parquet",
        examples="results/{dataset}/tables/anomaly_examples.npz",
        model="results/{dataset}/models/autoencoder.pt",
        history="results/{dataset}/models/autoencoder.history.csv",
    log:
        "results/{dataset}/logs/train/anomaly.log",
    benchmark:
        "results/{dataset}/benchmarks/train/anomaly.tsv"
    wildcard_constraints:
        dataset=_alternatives(IMAGING),
    conda:
        "../../envs/caloreco.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
        gpu=0,
    params:
        settings=anomaly_section,
        reco=reco_section,
        seed=dataset_seed,
        code=code("anomaly"),
    script:
        "../scripts/anomaly.py"


rule export_cygno:
    input:
        "results/{dataset}/raw/chunk-{chunk}.root",
    output:
        "results/{dataset}/cygno/run-{chunk}.root",
    log:
        "results/{dataset}/logs/export_cygno/run-{chunk}.log",
    wildcard_constraints:
        dataset=_alternatives(IMAGING_SIMULATED),
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    params:
        settings=export_section,
        code=code("export_cygno"),
    script:
        "../scripts/export_cygno.py"


rule export_cygno_pedestal:
    input:
        "results/{dataset}/raw/chunk-000.root",
    output:
        run="results/{dataset}/cygno/pedestal.root",
        pedmap="results/{dataset}/cygno/pedmap.root",
    log:
        "results/{dataset}/logs/export_cygno/pedestal.log",
    wildcard_constraints:
        dataset=_alternatives(IMAGING_SIMULATED),
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    params:
        settings=export_section,
        code=code("export_cygno_pedestal"),
    script:
        "../scripts/export_cygno_pedestal.py"
