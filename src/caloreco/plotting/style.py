"""Figure styles and saving: mplhep's base style plus a venue's ``.mplstyle`` file.

A venue (a thesis, a talk) is one ``.mplstyle`` file in ``workflow/styles/``; it is an input of
every figure rule, so editing it redraws exactly the figures. :func:`use_style` applies mplhep's
ROOT style (inward ticks on all sides, minor ticks, axis labels at the ends of the axes) and then
the file, so the file always wins. :func:`save` writes every requested format atomically.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

__all__ = ["use_style", "figure", "save", "is_slide", "FORMATS"]

#: output formats a figure can be saved in (from the output path's suffix)
FORMATS = ("pdf", "png", "svg")


def _base_style() -> dict:
    import mplhep  # registers the fonts shipped by mplhep_data

    return dict(mplhep.style.ROOT)


@contextmanager
def use_style(path: str | os.PathLike) -> Iterator[Path]:
    """Apply mplhep's ROOT style and then the style file ``path`` inside a ``with`` block.

    Args:
        path: a matplotlib ``.mplstyle`` file (e.g. ``workflow/styles/thesis.mplstyle``).

    Yields:
        the style file as a :class:`~pathlib.Path`.

    Raises:
        ValueError: ``path`` does not exist or is not an ``.mplstyle`` file.
    """
    path = Path(path)
    if path.suffix != ".mplstyle" or not path.is_file():
        raise ValueError(f"style: expected an existing .mplstyle file, got {str(path)!r}")
    _ACTIVE.append(path)
    try:
        with plt.style.context([_base_style(), str(path)], after_reset=True):
            yield path
    finally:
        _ACTIVE.pop()


# the styles entered with use_style, innermost last; figure() records it on the figure so that
# save() draws in the same style (font families are resolved only when the figure is drawn)
_ACTIVE: list[Path] = []


def is_slide() -> bool:
    """Whether the active style is a slide (a 16:9 default figure size): figures then keep the
    slide's size whatever their number of panels."""
    w, h = plt.rcParams["figure.figsize"]
    return abs(h / w - 9 / 16) < 0.01


def figure(
    nrows: int = 1,
    ncols: int = 1,
    panel_aspect: float = 0.75,
    **kwargs,
) -> tuple[Figure, object]:
    """A figure with a grid of axes sized for the active style.

    On a page (thesis) the width is the style's width (the text width) and the height follows
    from the panel aspect ratio (height / width of one panel); on a slide (talk) the figure keeps
    the slide's size.

    Returns:
        ``(fig, axes)`` as :func:`matplotlib.pyplot.subplots` (``squeeze=False``: a 2-D array).
    """
    if nrows < 1 or ncols < 1:
        raise ValueError(f"nrows, ncols: expected >= 1, got {nrows}, {ncols}")
    w, h = plt.rcParams["figure.figsize"]
    if not is_slide():
        h = min(w / ncols * panel_aspect * nrows + 0.25, 8.5)
    fig, axes = plt.subplots(nrows, ncols, figsize=(w, h), squeeze=False, **kwargs)
    fig._caloreco_style = _ACTIVE[-1] if _ACTIVE else None
    return fig, axes


def save(fig: Figure, outputs: Sequence[str | os.PathLike]) -> Figure:
    """Write ``fig`` to every path of ``outputs`` (format from the suffix), atomically, then
    close it (the returned figure can still be inspected). A figure made by :func:`figure` is
    drawn in the style it was made in, also when saved outside the ``use_style`` block.

    Raises:
        ValueError: no outputs, or an output whose suffix is not one of :data:`FORMATS`.
    """
    from caloreco.io.files import atomic_path

    if isinstance(outputs, str | os.PathLike):
        outputs = [outputs]
    if not outputs:
        raise ValueError("outputs: expected at least one output path")
    for out in outputs:
        fmt = Path(out).suffix.lstrip(".").lower()
        if fmt not in FORMATS:
            raise ValueError(f"outputs: {str(out)!r} has format {fmt!r}; expected one of {FORMATS}")
    import logging

    # fontTools complains about the 1970s timestamps of the OpenType fonts it subsets for PDF
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    style = getattr(fig, "_caloreco_style", None)
    try:
        with use_style(style) if style is not None else nullcontext():
            for out in outputs:
                with atomic_path(out) as tmp:
                    fig.savefig(tmp, format=Path(out).suffix.lstrip(".").lower())
    finally:
        plt.close(fig)
    return fig
