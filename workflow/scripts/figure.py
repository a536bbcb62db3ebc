"""Rules figure_<kind>: one thesis or talk figure in the style's .mplstyle."""

from caloreco.logs import job_logging
from caloreco.stages import figure

with job_logging(snakemake.log[0]):
    figure.run(
        snakemake.params.kind,
        {k: v for k, v in snakemake.input.items() if k != "style"},
        snakemake.input.style,
        [snakemake.output.pdf, snakemake.output.png],
        snakemake.params.extra,
    )
