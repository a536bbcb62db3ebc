"""Rule two_photon_windows: pair windows of one chunk (the events, or the training sample)."""

from caloreco.logs import job_logging
from caloreco.stages import two_photon_windows

with job_logging(snakemake.log[0]):
    two_photon_windows.run(
        snakemake.output[0],
        snakemake.params.settings,
        snakemake.params.seed,
        snakemake.params.fractions,
        snakemake.wildcards.chunk,
        raw_path=snakemake.input.get("raw"),
        dataset_cfg=snakemake.params.dataset,
        detector_cfg=snakemake.params.detector,
    )
