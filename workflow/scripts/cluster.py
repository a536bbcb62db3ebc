"""Rule cluster: one raw chunk, one clustering method -> cluster and cell tables."""

from caloreco.logs import job_logging
from caloreco.stages import cluster

with job_logging(snakemake.log[0]):
    cluster.run(
        snakemake.input[0],
        snakemake.wildcards.method,
        snakemake.params.settings,
        snakemake.output.clusters,
        snakemake.output.cells,
    )
