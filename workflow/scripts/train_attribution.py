"""Rule train_attribution: the focal point-cloud network (train split, validation split)."""

from caloreco.logs import job_logging
from caloreco.stages import train_attribution

with job_logging(snakemake.log[0]):
    train_attribution.run(
        list(snakemake.input.raw),
        snakemake.output.model,
        snakemake.output.history,
        snakemake.params.settings,
        snakemake.params.split,
        snakemake.params.code,
    )
