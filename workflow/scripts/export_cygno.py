"""Rule export_cygno: one simulated raw image chunk -> a run file in CYGNO's layout."""

from caloreco.logs import job_logging
from caloreco.stages import export_cygno

with job_logging(snakemake.log[0]):
    export_cygno.run(snakemake.input[0], snakemake.output[0], snakemake.params.settings)
