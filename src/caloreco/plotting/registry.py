"""The figure registry: each figure kind, the function that draws it and the inputs it reads.

Every figure function takes its input paths, the style file (``workflow/styles/*.mplstyle``) and
the output paths (``.pdf``, ``.png``; format from the suffix), draws in that style, writes the
outputs atomically and returns the closed :class:`matplotlib.figure.Figure` (so tests can inspect
what was drawn). :data:`FIGURES` maps each figure kind to its function and the inputs it reads;
:func:`draw` calls one by kind (what the workflow's figure rules do).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["FigureKind", "FIGURES", "figure_module", "draw"]


@dataclass(frozen=True)
class FigureKind:
    """One kind of figure: its function and what it reads.

    Attributes:
        function: ``"caloreco.plotting.<module>:<function>"`` (a full name, so that
            :mod:`caloreco.provenance` finds the module a figure is drawn with).
        inputs: keyword arguments of the function that are input paths (a path or a list).
        optional: inputs that may be left out.
        detector: ``"ecal"``, ``"califa"``, ``"camera_tpc"`` or ``"any"``.
        needs: the dataset analyses it needs (``"regression"``, ``"pairs"``,
            ``"attribution"``, ``"anomaly"``, ``"two_photon"``), if any.
    """

    function: str
    inputs: tuple[str, ...]
    optional: tuple[str, ...] = ()
    detector: str = "any"
    needs: tuple[str, ...] = ()


FIGURES: dict[str, FigureKind] = {
    "event_display": FigureKind(
        "caloreco.plotting.displays:event_display", ("raw", "cells"), ("clusters",), "any"
    ),
    "loss_curves": FigureKind("caloreco.plotting.training:loss_curves", ("histories",)),
    "pair_scores": FigureKind(
        "caloreco.plotting.pairs:pair_scores", ("scores",), ("metrics",), "califa", ("pairs",)
    ),
    "roc": FigureKind(
        "caloreco.plotting.pairs:roc_curves", ("scores", "metrics"), (), "califa", ("pairs",)
    ),
    "f1": FigureKind(
        "caloreco.plotting.pairs:f1_comparison", ("metrics",), ("seeds",), "califa", ("pairs",)
    ),
    "event_categories": FigureKind(
        "caloreco.plotting.clustering:event_categories", ("metrics",), (), "califa"
    ),
    "efficiency": FigureKind(
        "caloreco.plotting.clustering:efficiency", ("primaries", "metrics"), (), "califa"
    ),
    "energy_spectra": FigureKind(
        "caloreco.plotting.clustering:energy_spectra", ("primaries",), (), "califa"
    ),
    "windows": FigureKind(
        "caloreco.plotting.regression:windows", ("windows",), (), "ecal", ("regression",)
    ),
    "residuals": FigureKind(
        "caloreco.plotting.regression:residuals",
        ("residuals", "metrics"),
        (),
        "ecal",
        ("regression",),
    ),
    "resolution": FigureKind(
        "caloreco.plotting.regression:resolution", ("metrics",), (), "ecal", ("regression",)
    ),
    "abspos": FigureKind(
        "caloreco.plotting.regression:absolute_position",
        ("metrics",),
        ("reference",),
        "ecal",
        ("regression",),
    ),
    "image_display": FigureKind(
        "caloreco.plotting.imaging:image_display", ("examples",), (), "camera_tpc", ("anomaly",)
    ),
    "intensity_area": FigureKind(
        "caloreco.plotting.imaging:intensity_area", ("metrics",), (), "camera_tpc", ("anomaly",)
    ),
    "anomaly_roc": FigureKind(
        "caloreco.plotting.imaging:roc",
        ("roc_scores", "metrics"),
        (),
        "camera_tpc",
        ("anomaly",),
    ),
    "er_nr": FigureKind(
        "caloreco.plotting.imaging:er_nr_performance",
        ("metrics",),
        (),
        "camera_tpc",
        ("anomaly",),
    ),
    # the U-Net pixel selection (clustering method unet of camera datasets): pixel_selection.json
    "pixel_precision_recall": FigureKind(
        "caloreco.plotting.pixel_selection:precision_recall", ("metrics",), (), "camera_tpc"
    ),
    "pixel_efficiency_fakes": FigureKind(
        "caloreco.plotting.pixel_selection:efficiency_fakes", ("metrics",), (), "camera_tpc"
    ),
    "pixel_integral_ratio": FigureKind(
        "caloreco.plotting.pixel_selection:integral_ratio", ("metrics",), (), "camera_tpc"
    ),
    "pixel_dbscan_load": FigureKind(
        "caloreco.plotting.pixel_selection:dbscan_load", ("metrics",), (), "camera_tpc"
    ),
    "pixel_selection_display": FigureKind(
        "caloreco.plotting.pixel_selection:selection_display",
        ("examples",),
        ("metrics",),
        "camera_tpc",
    ),
    "attribution_baselines": FigureKind(
        "caloreco.plotting.attribution:baselines", ("metrics",), (), "califa", ("attribution",)
    ),
    "attribution_tp_wr": FigureKind(
        "caloreco.plotting.attribution:reconstruction_vs",
        ("metrics",),
        (),
        "califa",
        ("attribution",),
    ),
    "attribution_display": FigureKind(
        "caloreco.plotting.attribution:event_display_files",
        ("raw", "cells"),
        (),
        "califa",
        ("attribution",),
    ),
    "segmenter_curves": FigureKind(
        "caloreco.plotting.attribution:training_curves_files",
        ("histories",),
        ("metrics",),
        "califa",
        ("attribution",),
    ),
    # ECAL stage 4: merged pi0 -> gamma gamma (all from two_photon.json)
    "two_photon_resolution": FigureKind(
        "caloreco.plotting.two_photon:resolution_vs_separation",
        ("metrics",),
        (),
        "ecal",
        ("two_photon",),
    ),
    "two_photon_mass": FigureKind(
        "caloreco.plotting.two_photon:mass_peaks", ("metrics",), (), "ecal", ("two_photon",)
    ),
    "two_photon_counting": FigureKind(
        "caloreco.plotting.two_photon:counting_vs_separation",
        ("metrics",),
        (),
        "ecal",
        ("two_photon",),
    ),
    "two_photon_display": FigureKind(
        "caloreco.plotting.two_photon:event_display", ("metrics",), (), "ecal", ("two_photon",)
    ),
}


def figure_module(kind: str) -> str:
    """The module (dotted name) whose function draws figure ``kind``."""
    return _spec(kind).function.split(":")[0]


def _spec(kind: str) -> FigureKind:
    try:
        return FIGURES[kind]
    except KeyError:
        raise ValueError(
            f"kind: unknown figure kind {kind!r}; expected one of {sorted(FIGURES)}"
        ) from None


def _function(kind: str):
    module, name = _spec(kind).function.split(":")
    return getattr(importlib.import_module(module), name)


def draw(
    kind: str,
    inputs: Mapping[str, str | os.PathLike | Sequence[str | os.PathLike]],
    style: str | os.PathLike,
    outputs: Sequence[str | os.PathLike],
    **params: Any,
):
    """Draw one figure of kind ``kind`` (a key of :data:`FIGURES`).

    Args:
        kind: figure kind.
        inputs: the kind's input paths by argument name (``FIGURES[kind].inputs``, plus any of
            ``FIGURES[kind].optional``); other keys are ignored.
        style: ``.mplstyle`` file.
        outputs: output paths (``.pdf``, ``.png``).
        **params: further keyword arguments of the figure function (e.g. ``dataset``).

    Returns:
        the drawn (closed) figure.
    """
    func = _function(kind)
    spec = FIGURES[kind]
    missing = [k for k in spec.inputs if k not in inputs]
    if missing:
        raise ValueError(f"inputs: figure {kind!r} needs {list(spec.inputs)}; missing {missing}")
    kwargs = {k: inputs[k] for k in (*spec.inputs, *spec.optional) if k in inputs}
    return func(**kwargs, style=style, outputs=outputs, **params)
