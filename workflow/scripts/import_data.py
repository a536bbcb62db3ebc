"""Rule import_data: one chunk of the user's ROOT or CSV files -> raw ROOT file."""

from caloreco.logs import job_logging
from caloreco.stages import import_data

with job_logging(snakemake.log[0]):
    import_data.run(
        list(snakemake.input),
        snakemake.output[0],
        snakemake.wildcards.dataset,
        snakemake.params.dataset,
        snakemake.params.detector,
        snakemake.params.n_chunks,
        snakemake.wildcards.chunk,
    )
