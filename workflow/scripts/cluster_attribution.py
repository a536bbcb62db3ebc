"""Rule cluster_attribution: one raw chunk clustered by an attribution network."""

from caloreco.logs import job_logging
from caloreco.stages import cluster_attribution

with job_logging(snakemake.log[0]):
    cluster_attribution.run(
        snakemake.input.raw,
        snakemake.input.model,
        snakemake.wildcards.network,
        snakemake.output.clusters,
        snakemake.output.cells,
    )
