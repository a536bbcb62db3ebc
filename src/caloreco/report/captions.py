"""Figure captions: the report's reStructuredText captions as plain text for the figure index."""

from __future__ import annotations

import os
import re

__all__ = ["caption_from_rst"]


def caption_from_rst(path: str | os.PathLike, **fields: str) -> str:
    """A report caption (``workflow/report/*.rst``) as one line of plain text; Jinja fields
    ``{{ snakemake.wildcards.X }}`` are replaced by ``fields[X]``."""
    text = open(path).read()

    def sub(m: re.Match) -> str:
        return str(fields.get(m.group(1), m.group(0)))

    text = re.sub(r"\{\{\s*snakemake\.wildcards\.(\w+)\s*\}\}", sub, text)
    text = re.sub(r"``([^`]*)``", r"`\1`", text)
    return " ".join(text.split())
