"""Rule merge_clusters: pre-clusters of one chunk merged along accepted pairs."""

from caloreco.logs import job_logging
from caloreco.stages import merge_clusters

with job_logging(snakemake.log[0]):
    merge_clusters.run(
        snakemake.input.raw,
        snakemake.input.cells,
        snakemake.input.pairs,
        snakemake.input.model,
        snakemake.output.clusters,
        snakemake.output.cells,
    )
