"""Rule train_two_photon_regressor (two-photon analysis)."""

from caloreco.logs import job_logging
from caloreco.stages import train_two_photon_regressor

with job_logging(snakemake.log[0]):
    train_two_photon_regressor.run(
        list(snakemake.input.windows),
        list(snakemake.input.fits),
        snakemake.output.model,
        snakemake.output.history,
        snakemake.params.settings,
        snakemake.params.code,
    )
