"""Thesis and talk figures: one pure function per figure, input files in, figure files out.

Every figure function takes its input paths, the style file (``workflow/styles/*.mplstyle``) and
the output paths (``.pdf``, ``.png``; format from the suffix), draws in that style, writes the
outputs atomically and returns the closed :class:`matplotlib.figure.Figure` (so tests can inspect
what was drawn). :data:`FIGURES` maps each figure kind to its function and the inputs it reads;
:func:`draw` calls one by kind (what the workflow's ``figure`` rule does).

Names of estimators, classifiers and clustering methods are the same in every legend, table and
notebook: :data:`LABELS` (via :func:`label`), and so are their colours (:func:`color`).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "LABELS",
    "COLORS",
    "DATASET_LABELS",
    "MODEL_ESTIMATOR",
    "label",
    "color",
    "dataset_label",
    "FigureKind",
    "FIGURES",
    "draw",
]

#: the one name of each estimator / classifier / clustering method, used in every legend
LABELS: dict[str, str] = {
    # ECAL regression estimators
    "nn": "NN (this work)",
    "nn_abspos": "NN + absolute position",
    "log_cog": "log-weighted CoG",
    "profile_fit": "Lednev profile fit",
    # CALIFA pair classifiers
    "nn_tiny": "tiny NN (published model)",
    "smart_random": "smart random",
    "gradient_boosting": "gradient boosting",
    "cut": "angle + time cut",
    # clustering methods
    "connected": "connected cells",
    "cone": "R3B cone",
    "agglomerative": "agglomerative",
    "cone+nn": "R3B cone + NN merge",
    "agglomerative+nn": "agglomerative + NN merge",
}

_PETROFF = ["#5790fc", "#f89c20", "#e42536", "#964a8b", "#9c9ca1", "#7a21dd"]

#: one colour per name (within a figure family no two names share a colour)
COLORS: dict[str, str] = {
    "nn": "#e42536",
    "nn_abspos": "#964a8b",
    "log_cog": "#5790fc",
    "profile_fit": "#f89c20",
    "nn_tiny": "#f89c20",
    "gradient_boosting": "#964a8b",
    "cut": "#5790fc",
    "smart_random": "#9c9ca1",
    "connected": "#5790fc",
    "cone": "#5790fc",
    "agglomerative": "#f89c20",
    "cone+nn": "#964a8b",
    "agglomerative+nn": "#e42536",
}

#: the estimator a trained model file stands for (loss curves)
MODEL_ESTIMATOR: dict[str, str] = {
    "regressor": "nn",
    "regressor_abspos": "nn_abspos",
    "pair_classifier": "nn",
    "pair_tiny": "nn_tiny",
}

#: short descriptions of the default datasets (others are shown by their key)
DATASET_LABELS: dict[str, str] = {
    "ecal_stage1": "ECAL, 140 GeV photons, perpendicular",
    "ecal_stage2": "ECAL, 2-200 GeV photons, perpendicular",
    "ecal_stage3": "ECAL, 2-200 GeV photons from the target",
    "califa_2p1": r"CALIFA, 3 $\gamma$ of 2.1 MeV",
    "califa_uniform": r"CALIFA, 3 $\gamma$ of 0.3-10 MeV",
}


def label(name: str) -> str:
    """The legend name of an estimator, classifier or method (the key itself if unknown)."""
    return LABELS.get(name, name)


def color(name: str, fallback_index: int = 0) -> str:
    """The colour of an estimator, classifier or method (a palette colour if unknown)."""
    return COLORS.get(name, _PETROFF[fallback_index % len(_PETROFF)])


def dataset_label(dataset: str) -> str:
    """A short description of a dataset for figure annotations (the key if unknown)."""
    return DATASET_LABELS.get(dataset, dataset)


@dataclass(frozen=True)
class FigureKind:
    """One kind of figure: its function and what it reads.

    Attributes:
        function: ``"module:function"`` inside :mod:`caloreco.plotting`.
        inputs: keyword arguments of the function that are input paths (a path or a list).
        optional: inputs that may be left out.
        detector: ``"ecal"``, ``"califa"`` or ``"any"``.
        needs: the dataset analyses it needs (``"regression"``, ``"pairs"``), if any.
    """

    function: str
    inputs: tuple[str, ...]
    optional: tuple[str, ...] = ()
    detector: str = "any"
    needs: tuple[str, ...] = ()


FIGURES: dict[str, FigureKind] = {
    "event_display": FigureKind("displays:event_display", ("raw", "cells"), ("clusters",), "any"),
    "loss_curves": FigureKind("training:loss_curves", ("histories",)),
    "pair_scores": FigureKind("pairs:pair_scores", ("scores",), ("metrics",), "califa", ("pairs",)),
    "roc": FigureKind("pairs:roc_curves", ("scores", "metrics"), (), "califa", ("pairs",)),
    "f1": FigureKind("pairs:f1_comparison", ("metrics",), ("seeds",), "califa", ("pairs",)),
    "event_categories": FigureKind("clustering:event_categories", ("metrics",), (), "califa"),
    "efficiency": FigureKind("clustering:efficiency", ("raw", "cells", "metrics"), (), "califa"),
    "energy_spectra": FigureKind("clustering:energy_spectra", ("raw", "clusters"), (), "califa"),
    "windows": FigureKind("regression:windows", ("windows",), (), "ecal", ("regression",)),
    "residuals": FigureKind(
        "regression:residuals", ("residuals", "metrics"), (), "ecal", ("regression",)
    ),
    "resolution": FigureKind("regression:resolution", ("metrics",), (), "ecal", ("regression",)),
    "abspos": FigureKind(
        "regression:absolute_position", ("metrics",), ("reference",), "ecal", ("regression",)
    ),
}


def _function(kind: str):
    try:
        spec = FIGURES[kind]
    except KeyError:
        raise ValueError(
            f"kind: unknown figure kind {kind!r}; expected one of {sorted(FIGURES)}"
        ) from None
    module, name = spec.function.split(":")
    return getattr(importlib.import_module(f"caloreco.plotting.{module}"), name)


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
