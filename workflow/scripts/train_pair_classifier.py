"""Rule train_pair_classifier: the merge classifier (or the TinyModel reference)."""

from caloreco.logs import job_logging
from caloreco.stages import train_pair_classifier

with job_logging(snakemake.log[0]):
    train_pair_classifier.run(
        list(snakemake.input),
        snakemake.output.model,
        snakemake.output.history,
        snakemake.params.settings,
        snakemake.wildcards.model,
        snakemake.params.code,
    )
