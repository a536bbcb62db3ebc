"""Rule simulation_qa: simulation.json and the QA figure of one dataset."""

from caloreco.logs import job_logging
from caloreco.stages import simulation_qa

with job_logging(snakemake.log[0]):
    simulation_qa.run(
        list(snakemake.input),
        snakemake.wildcards.dataset,
        snakemake.output.metrics,
        snakemake.output.png,
        snakemake.output.pdf,
    )
