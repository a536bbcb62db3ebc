"""Rule train_regressor: the position/energy regressor (optionally with absolute position)."""

from caloreco.logs import job_logging
from caloreco.stages import train_regressor

with job_logging(snakemake.log[0]):
    train_regressor.run(
        list(snakemake.input),
        snakemake.output.model,
        snakemake.output.history,
        snakemake.params.settings,
        snakemake.params.absolute_position,
        snakemake.params.code,
    )
