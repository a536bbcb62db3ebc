"""Rule export_cygno_pedestal: the pedestal run and map file of a simulated imaging dataset."""

from caloreco.logs import job_logging
from caloreco.stages import export_cygno_pedestal

with job_logging(snakemake.log[0]):
    export_cygno_pedestal.run(
        snakemake.input[0],
        snakemake.output.run,
        snakemake.output.pedmap,
        snakemake.params.settings,
    )
