# Stage 4: thesis and talk figures, the numbers quoted in the text, the figure index and the
# executed notebooks. Drawing only: these rules read metrics and tables, never retrain.


rule figure:
    input:
        unpack(figure_inputs),
        style=style_file,
    output:
        pdf="results/figures/{style}/{dataset}-{kind}.pdf",
        png=report(
            "results/figures/{style}/{dataset}-{kind}.png",
            caption="../report/figure.rst",
            category="Figures: {dataset}",
            subcategory="{style}",
            labels={"figure": "{kind}", "style": "{style}"},
        ),
    log:
        "results/logs/figures/{style}/{dataset}-{kind}.log",
    wildcard_constraints:
        style="|".join(STYLES),
        kind="[a-z_0-9]+",
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 10 * attempt,
    params:
        extra=figure_params,
        caption=figure_caption,
        code=CODE["figure"],
    script:
        "../scripts/figure.py"


rule numbers:
    input:
        numbers_inputs,
    output:
        "results/tex/numbers.tex",
    log:
        "results/logs/numbers.log",
    conda:
        "../../envs/caloreco.yaml"
    params:
        code=CODE["numbers"],
    script:
        "../scripts/numbers.py"


rule figure_index:
    input:
        expand(
            str(REPORT_DIR / "{kind}.rst"),
            kind=sorted({k for d in DATASETS for k in figure_kinds(d)}),
        ),
    output:
        "results/figures/index.md",
    log:
        "results/logs/figure_index.log",
    conda:
        "../../envs/caloreco.yaml"
    params:
        figures=lambda wc: [
            {"figure": f"{d}-{k}", "dataset": d, "kind": k}
            for d in DATASETS
            for k in figure_kinds(d)
        ],
        styles=STYLES,
        code=CODE["numbers"],
    script:
        "../scripts/figure_index.py"


rule notebook:
    input:
        results=dataset_results,
        notebook=str(Path(workflow.basedir) / "workflow/notebooks/{notebook}.ipynb"),
        style=str(Path(workflow.basedir) / "workflow/styles/talk.mplstyle"),
    output:
        ipynb="results/notebooks/{dataset}/{notebook}.ipynb",
        html=report(
            "results/notebooks/{dataset}/{notebook}.html",
            caption="../report/notebook.rst",
            category="Notebooks",
            labels={"dataset": "{dataset}", "notebook": "{notebook}"},
        ),
    log:
        "results/{dataset}/logs/notebook/{notebook}.log",
    wildcard_constraints:
        notebook="|".join(NOTEBOOKS),
    conda:
        "../../envs/caloreco.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 20 * attempt,
    params:
        src=str(Path(workflow.basedir) / "src"),
        code=CODE["notebook"],
    script:
        "../scripts/run_notebook.py"
