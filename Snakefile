# caloreco: raw simulation (or your data) -> clusters -> windows / pairs -> torch models ->
# fits -> figures. Wiring only: logic lives in src/caloreco, rules in workflow/rules.


from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/raw.smk"
include: "workflow/rules/clustering.smk"


rule all:
    input:
        all_targets(),
    default_target: True
