"""Rule cluster_images: CYGNO's classical reconstruction of one raw image chunk -> cluster table."""

from caloreco.logs import job_logging
from caloreco.stages import cluster_images

with job_logging(snakemake.log[0]):
    cluster_images.run(
        snakemake.input[0],
        snakemake.wildcards.method,
        snakemake.params.settings,
        snakemake.output[0],
    )
