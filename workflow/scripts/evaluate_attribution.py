"""Rule evaluate_attribution: hit-level metrics and TP/WR versus energy and angle."""

from caloreco.logs import job_logging
from caloreco.stages import evaluate_attribution

with job_logging(snakemake.log[0]):
    evaluate_attribution.run(
        list(snakemake.input.raw),
        snakemake.input.model,
        list(snakemake.input.cells),
        snakemake.params.settings,
        snakemake.params.split,
        snakemake.params.seed,
        snakemake.output.metrics,
    )
