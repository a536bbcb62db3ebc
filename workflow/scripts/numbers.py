"""Rule numbers: results/tex/numbers.tex, one \\newcommand per headline number."""

from caloreco.logs import job_logging
from caloreco.stages import numbers

with job_logging(snakemake.log[0]):
    numbers.run(list(snakemake.input), snakemake.output[0])
