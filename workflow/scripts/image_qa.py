"""Rule image_qa: simulation.json and the QA figure of an imaging dataset."""

from caloreco.logs import job_logging
from caloreco.stages import image_qa

with job_logging(snakemake.log[0]):
    image_qa.run(
        list(snakemake.input),
        snakemake.wildcards.dataset,
        snakemake.output.metrics,
        snakemake.output.png,
        snakemake.output.pdf,
    )
