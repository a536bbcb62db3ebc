"""Rule windows: NxN cell windows around every cluster seed of one chunk."""

from caloreco.logs import job_logging
from caloreco.stages import windows

with job_logging(snakemake.log[0]):
    windows.run(
        snakemake.input.raw,
        snakemake.input.clusters,
        snakemake.output[0],
        snakemake.params.settings,
        snakemake.params.seed,
        snakemake.params.fractions,
        snakemake.wildcards.chunk,
    )
