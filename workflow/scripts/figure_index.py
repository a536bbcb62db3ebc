"""Rule figure_index: results/figures/index.md, each figure with its caption and files."""

from caloreco.logs import job_logging
from caloreco.stages import figure_index

with job_logging(snakemake.log[0]):
    figure_index.run(
        list(snakemake.input),
        snakemake.params.figures,
        snakemake.params.styles,
        snakemake.output[0],
    )
