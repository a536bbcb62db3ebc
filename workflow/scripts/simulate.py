"""Rule simulate: one chunk of built-in simulation -> raw ROOT file."""

from caloreco.logs import job_logging
from caloreco.stages import simulate

with job_logging(snakemake.log[0]):
    simulate.run(
        snakemake.output[0],
        snakemake.wildcards.dataset,
        snakemake.params.dataset,
        snakemake.params.detector,
        snakemake.wildcards.chunk,
    )
