"""Rule notebook: execute one papermill notebook on a dataset, with its HTML export.

Not named notebook.py: nbconvert tries `import notebook`, and this directory is on sys.path.
"""

from caloreco.logs import job_logging
from caloreco.stages import notebook

with job_logging(snakemake.log[0]):
    notebook.run(
        snakemake.input.notebook,
        snakemake.output.ipynb,
        snakemake.output.html,
        snakemake.wildcards.dataset,
        snakemake.input.style,
        snakemake.params.src,
    )
