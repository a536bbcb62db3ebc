"""Rule figure: one thesis or talk figure (caloreco.plotting.draw) in the style's .mplstyle."""

from caloreco.logs import job_logging
from caloreco.plotting import draw

with job_logging(snakemake.log[0]):
    inputs = {k: v for k, v in snakemake.input.items() if k != "style"}
    draw(
        snakemake.wildcards.kind,
        inputs,
        snakemake.input.style,
        [snakemake.output.pdf, snakemake.output.png],
        **snakemake.params.extra,
    )
