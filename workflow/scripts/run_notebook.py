"""Rule notebook: execute one papermill notebook on a dataset, with its HTML export.

Not named notebook.py: nbconvert tries `import notebook`, and this directory is on sys.path.
"""

import os
import tempfile

from caloreco.logs import job_logging
from caloreco.notebooks import execute_notebook

with job_logging(snakemake.log[0]), tempfile.TemporaryDirectory() as figures:
    execute_notebook(
        snakemake.input.notebook,
        snakemake.output.ipynb,
        snakemake.output.html,
        parameters={
            "dataset": snakemake.wildcards.dataset,
            "results_dir": os.path.abspath("results"),
            "style": snakemake.input.style,
            "figures_dir": figures,  # images are embedded in the notebook; the files go
        },
        cwd=os.getcwd(),
        src_dir=snakemake.params.src,
    )
