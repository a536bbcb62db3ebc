"""Rule evaluate_two_photon: network against coral's two-shower fit -> two_photon.json."""

from caloreco.logs import job_logging
from caloreco.stages import evaluate_two_photon

with job_logging(snakemake.log[0]):
    evaluate_two_photon.run(
        list(snakemake.input.windows),
        list(snakemake.input.fits),
        list(snakemake.input.train_windows),
        list(snakemake.input.train_fits),
        snakemake.input.counter,
        snakemake.input.regressor,
        snakemake.input.counter_history,
        snakemake.input.regressor_history,
        snakemake.params.settings,
        snakemake.output.metrics,
    )
