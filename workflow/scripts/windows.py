"""Rule windows: NxN cell windows around every cluster seed of one chunk."""

from caloreco.logs import job_logging
from caloreco.regression_stage import windows_chunk

with job_logging(snakemake.log[0]):
    windows_chunk(
        snakemake.input.raw,
        snakemake.input.clusters,
        snakemake.output[0],
        snakemake.params.settings,
        snakemake.params.seed,
        snakemake.params.fractions,
        snakemake.wildcards.chunk,
    )
