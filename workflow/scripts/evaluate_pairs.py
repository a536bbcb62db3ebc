"""Rule evaluate_pairs: nn, TinyModel, smart_random, cut and boosting on the test pairs."""

from caloreco.logs import job_logging
from caloreco.stages import evaluate_pairs

with job_logging(snakemake.log[0]):
    evaluate_pairs.run(
        list(snakemake.input.pairs),
        {"nn": snakemake.input.nn, "nn_tiny": snakemake.input.tiny},
        snakemake.params.settings,
        snakemake.params.seed,
        snakemake.output.metrics,
        snakemake.output.scores,
    )
