"""Rule anomaly: the pedestal-trained autoencoder analysis -> anomaly.json, tables and the model."""

from caloreco.logs import job_logging
from caloreco.stages import anomaly

with job_logging(snakemake.log[0]):
    anomaly.run(
        list(snakemake.input),
        snakemake.params.settings,
        snakemake.params.reco,
        snakemake.params.seed,
        dict(snakemake.output.items()),
        threads=snakemake.threads,
    )
