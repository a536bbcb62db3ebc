"""Rule figure_index: results/figures/index.md, each figure with its caption and files."""

from pathlib import Path

from caloreco.logs import job_logging
from caloreco.numbers import caption_from_rst, write_figure_index

with job_logging(snakemake.log[0]):
    out_dir = Path(snakemake.output[0]).parent
    captions = {Path(p).stem: p for p in snakemake.input}  # workflow/report/{kind}.rst
    entries = []
    for f in snakemake.params.figures:
        rst = captions[f["kind"]]
        entries.append(
            {
                "figure": f["figure"],
                "caption": caption_from_rst(rst, dataset=f["dataset"]),
                "rule": "figure",
                "files": [
                    out_dir / style / f"{f['figure']}.{ext}"
                    for style in snakemake.params.styles
                    for ext in ("pdf", "png")
                ],
            }
        )
    write_figure_index(entries, snakemake.output[0])
