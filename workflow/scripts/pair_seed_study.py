"""Rule pair_seed_study: repeated training with several seeds -> mean and spread."""

from caloreco.logs import job_logging
from caloreco.stages import pair_seed_study

with job_logging(snakemake.log[0]):
    pair_seed_study.run(list(snakemake.input), snakemake.params.settings, snakemake.output[0])
