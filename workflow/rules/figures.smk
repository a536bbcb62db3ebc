# Stage 4: thesis and talk figures, the numbers quoted in the text, the figure index and the
# executed notebooks. Drawing only: these rules read metrics and tables, never retrain.


include: "inputs/figures.smk"


# One rule per figure kind: its report caption is workflow/report/<kind>.rst, not an input, so
# editing a caption rebuilds the index and the report but redraws nothing; its code hash is the
# closure of the one plotting module that draws it
for _kind in FIGURES:

    rule:
        name:
            f"figure_{_kind}"
        input:
            unpack(partial(figure_inputs, kind=_kind)),
            style=style_file,
        output:
            pdf=f"results/figures/{{style}}/{{dataset}}-{_kind}.pdf",
            png=report(
                f"results/figures/{{style}}/{{dataset}}-{_kind}.png",
                caption=f"../report/{_kind}.rst",
                category="Figures: {dataset}",
                subcategory="{style}",
                labels={"figure": _kind, "style": "{style}"},
            ),
        log:
            f"results/logs/figures/{{style}}/{{dataset}}-{_kind}.log",
        wildcard_constraints:
            style="|".join(STYLES),
        localrule: True
        conda:
            "../../envs/caloreco.yaml"
        threads: 1
        resources:
            mem_mb=lambda wc, attempt: 2000 * attempt,
            runtime=lambda wc, attempt: 10 * attempt,
        params:
            kind=_kind,
            extra=partial(figure_params, kind=_kind),
            code=code("figure", figure_module(_kind)),
        script:
            "../scripts/figure.py"


rule numbers:
    input:
        numbers_inputs,
    output:
        "results/tex/numbers.tex",
    log:
        "results/logs/numbers.log",
    localrule: True
    conda:
        "../../envs/caloreco.yaml"
    params:
        code=code("numbers"),
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
    localrule: True
    conda:
        "../../envs/caloreco.yaml"
    params:
        figures=lambda wc: [
            {"figure": f"{d}-{k}", "dataset": d, "kind": k}
            for d in DATASETS
            for k in figure_kinds(d)
        ],
        styles=STYLES,
        code=code("figure_index"),
    script:
        "../scripts/figure_index.py"


rule notebook:
    input:
        results=lambda wc: metrics_targets(wc.dataset),
        clusters=notebook_clusters,
        notebook=notebook_path,
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
        # the package code the notebook itself imports counts too
        code=lambda wc: code("notebook", *notebook_imports(notebook_path(wc))),
    script:
        "../scripts/run_notebook.py"
