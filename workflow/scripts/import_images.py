"""Rule import_images: one chunk of a CYGNO run and its pedestal -> raw image file."""

from caloreco.logs import job_logging
from caloreco.stages import import_images

with job_logging(snakemake.log[0]):
    import_images.run(
        snakemake.params.files,
        snakemake.output[0],
        snakemake.wildcards.dataset,
        snakemake.params.dataset,
        snakemake.params.detector,
        snakemake.wildcards.chunk,
    )
