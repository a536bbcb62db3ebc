# Stage 1: raw events, simulated or imported, in the ROOT schema of design.md.


include: "inputs/raw.smk"


rule simulate:
    output:
        "results/{dataset}/raw/chunk-{chunk}.root",
    log:
        "results/{dataset}/logs/simulate/chunk-{chunk}.log",
    benchmark:
        "results/{dataset}/benchmarks/simulate/chunk-{chunk}.tsv"
    wildcard_constraints:
        dataset=_alternatives(SIMULATED),
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        dataset=simulation_section,
        detector=detector_section,
        code=code("simulate"),
    script:
        "../scripts/simulate.py"


rule import_data:
    input:
        lambda wc: dataset_cfg(wc.dataset)["files"],
    output:
        "results/{dataset}/raw/chunk-{chunk}.root",
    log:
        "results/{dataset}/logs/import/chunk-{chunk}.log",
    wildcard_constraints:
        dataset=_alternatives(IMPORTED),
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        dataset=import_section,
        detector=detector_section,
        n_chunks=lambda wc: dataset_cfg(wc.dataset)["chunks"],
        code=code("import_data"),
    script:
        "../scripts/import_data.py"


rule simulation_qa:
    input:
        raw_files,
    output:
        metrics="results/{dataset}/metrics/simulation.json",
        png=report(
            "results/{dataset}/qa/simulation.png",
            caption="../report/simulation_qa.rst",
            category="Simulation QA",
            labels={"dataset": "{dataset}"},
        ),
        pdf="results/{dataset}/qa/simulation.pdf",
    log:
        "results/{dataset}/logs/simulation_qa.log",
    benchmark:
        "results/{dataset}/benchmarks/simulation_qa.tsv"
    wildcard_constraints:
        dataset=_alternatives(HITS),
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    params:
        code=code("simulation_qa"),
    script:
        "../scripts/simulation_qa.py"
