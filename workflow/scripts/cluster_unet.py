"""Rule cluster_unet: the U-Net's pixels given to CYGNO's DBSCAN, one chunk -> cluster table."""

from caloreco.logs import job_logging
from caloreco.stages import cluster_unet

with job_logging(snakemake.log[0]):
    cluster_unet.run(
        snakemake.input.raw,
        snakemake.input.model,
        snakemake.params.settings,
        snakemake.params.reco,
        snakemake.output[0],
        threads=snakemake.threads,
    )
