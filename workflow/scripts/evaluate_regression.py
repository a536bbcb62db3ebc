"""Rule evaluate_regression: resolution fits of nn, log_cog and profile_fit -> resolution.json."""

from caloreco.logs import job_logging
from caloreco.stages import evaluate_regression

with job_logging(snakemake.log[0]):
    evaluate_regression.run(
        list(snakemake.input.windows),
        dict(zip(snakemake.params.names, snakemake.input.models, strict=True)),
        snakemake.params.settings,
        snakemake.params.seed,
        snakemake.output.metrics,
        snakemake.output.residuals,
    )
