"""Rule clustering_metrics: TP/FP/FN/FM and WR per method -> clustering.json, primaries table."""

from caloreco.logs import job_logging
from caloreco.stages import clustering_metrics

with job_logging(snakemake.log[0]):
    clustering_metrics.run(
        list(snakemake.input.raw),
        list(snakemake.input.cells),
        snakemake.params.methods,
        snakemake.output.metrics,
        snakemake.output.primaries,
        split=snakemake.params.split,
        response=snakemake.params.photopeak,
    )
