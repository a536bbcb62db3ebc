"""Rule numbers: results/tex/numbers.tex, one \\newcommand per headline number."""

import json
from pathlib import Path

from caloreco.logs import job_logging
from caloreco.numbers import write_numbers_tex

with job_logging(snakemake.log[0]):
    metrics: dict = {}
    for f in map(Path, snakemake.input):  # results/{dataset}/metrics/{kind}.json
        metrics.setdefault(f.parent.parent.name, {})[f.stem] = json.loads(f.read_text())
    write_numbers_tex(metrics, snakemake.output[0])
