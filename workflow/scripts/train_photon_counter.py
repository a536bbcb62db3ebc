"""Rule train_photon_counter (two-photon analysis)."""

from caloreco.logs import job_logging
from caloreco.stages import train_photon_counter

with job_logging(snakemake.log[0]):
    train_photon_counter.run(
        list(snakemake.input.windows),
        list(snakemake.input.fits),
        snakemake.output.model,
        snakemake.output.history,
        snakemake.params.settings,
        snakemake.params.code,
    )
