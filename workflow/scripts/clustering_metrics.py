"""Rule clustering_metrics: TP/FP/FN/FM and WR per method -> clustering.json."""

from caloreco.logs import job_logging
from caloreco.stages import clustering_metrics

with job_logging(snakemake.log[0]):
    clustering_metrics(
        list(snakemake.input.raw),
        list(snakemake.input.cells),
        snakemake.params.methods,
        snakemake.output[0],
        split=snakemake.params.split,
        response=snakemake.params.photopeak,
    )
