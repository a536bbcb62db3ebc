"""Rule pairs: every cluster pair of one chunk with features, case A/B label and split."""

from caloreco.logs import job_logging
from caloreco.stages import pairs

with job_logging(snakemake.log[0]):
    pairs.run(
        snakemake.input[0], snakemake.output[0], snakemake.params.fractions, snakemake.params.seed
    )
