# caloreco: raw simulation (or your data) -> clusters -> windows / pairs / camera images ->
# torch models -> fits -> figures. Wiring only: logic lives in src/caloreco, rules in workflow/rules.


from snakemake.utils import min_version

min_version("9.0")


# The default analysis, unless --configfile names another: then that file alone is the config
# (a complete analysis such as config/test.yaml), not merged into the default.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/raw.smk"
include: "workflow/rules/clustering.smk"
include: "workflow/rules/pairs.smk"
include: "workflow/rules/attribution.smk"
include: "workflow/rules/regression.smk"
include: "workflow/rules/two_photon.smk"
include: "workflow/rules/imaging.smk"
include: "workflow/rules/figures.smk"


localrules:
    all,
    analysis,
    thesis,
    talk,


rule all:
    default_target: True
    input:
        all_targets(),


# everything but the thesis and talk figures: metrics, tables, notebooks, numbers.tex (on a
# cluster, figures are local jobs: draw them afterwards with `thesis` / `talk`)
rule analysis:
    input:
        analysis_targets(),


# figures and numbers only (re-drawn after a style change; the analysis must exist or is run)
rule thesis:
    input:
        style_targets("thesis"),


rule talk:
    input:
        style_targets("talk"),
