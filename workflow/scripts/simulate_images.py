"""Rule simulate_images: one chunk of camera frames of an imaging dataset -> raw image file."""

from caloreco.logs import job_logging
from caloreco.stages import simulate_images

with job_logging(snakemake.log[0]):
    simulate_images.run(
        snakemake.output[0],
        snakemake.wildcards.dataset,
        snakemake.params.dataset,
        snakemake.params.detector,
        snakemake.wildcards.chunk,
    )
