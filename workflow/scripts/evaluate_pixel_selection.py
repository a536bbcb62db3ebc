"""Rule evaluate_pixel_selection: U-Net vs classical pixel selection -> pixel_selection.json."""

from caloreco.logs import job_logging
from caloreco.stages import evaluate_pixel_selection

with job_logging(snakemake.log[0]):
    evaluate_pixel_selection.run(
        list(snakemake.input.raw),
        snakemake.input.model,
        snakemake.params.settings,
        snakemake.params.reco,
        snakemake.params.seed,
        dict(snakemake.output.items()),
        threads=snakemake.threads,
    )
