"""Rule two_shower_fit: coral's two-shower Lednev fit on the windows of one chunk."""

from caloreco.logs import job_logging
from caloreco.stages import two_shower_fit

with job_logging(snakemake.log[0]):
    two_shower_fit.run(snakemake.input[0], snakemake.output[0], snakemake.params.settings)
