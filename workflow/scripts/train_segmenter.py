"""Rule train_segmenter: the slot-attention set segmenter (train split, validation split)."""

from caloreco.logs import job_logging
from caloreco.stages import train_segmenter

with job_logging(snakemake.log[0]):
    train_segmenter.run(
        list(snakemake.input.raw),
        snakemake.output.model,
        snakemake.output.history,
        snakemake.params.settings,
        snakemake.params.split,
        snakemake.params.code,
    )
