"""Rule train_unet: the U-Net pixel selection trained on the training frames -> checkpoint."""

from caloreco.logs import job_logging
from caloreco.stages import train_unet

with job_logging(snakemake.log[0]):
    train_unet.run(
        list(snakemake.input),
        snakemake.params.settings,
        snakemake.params.reco,
        snakemake.params.seed,
        dict(snakemake.output.items()),
        threads=snakemake.threads,
    )
