"""Torch networks: the pair (case A/B) classifiers and the window regressor.

Every network records the keyword arguments it was built with in ``hparams`` so that a checkpoint
can rebuild it by name (:func:`build_model`) from plain data, loadable with
``torch.load(weights_only=True)``. Classifiers return logits (no sigmoid inside: the loss is
``BCEWithLogitsLoss``, numerically stable); apply ``torch.sigmoid`` for a score in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["TinyModel", "PairMLP", "Regressor", "MODELS", "build_model", "model_name"]


class TinyModel(nn.Module):
    """The CALIFA talk's pair model done right: Linear(n, hidden) - ReLU - Linear(hidden, 1).

    The original applied ``linear2`` twice and never used its activation; here the hidden layer
    has its ReLU and the output is one logit per pair.
    """

    def __init__(self, n_features: int = 11, hidden: int = 64) -> None:
        super().__init__()
        _check_positive(n_features=n_features, hidden=hidden)
        self.hparams: dict[str, Any] = {"n_features": int(n_features), "hidden": int(hidden)}
        self.linear1 = nn.Linear(n_features, hidden)
        self.activation = nn.ReLU()
        self.linear2 = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (batch, 1)."""
        return self.linear2(self.activation(self.linear1(x)))


class PairMLP(nn.Module):
    """Default pair classifier: ``n_layers`` x [Linear - LayerNorm - ReLU - Dropout], then a logit."""

    def __init__(
        self, n_features: int, hidden: int = 128, n_layers: int = 3, dropout: float = 0.1
    ) -> None:
        super().__init__()
        _check_positive(n_features=n_features, hidden=hidden, n_layers=n_layers)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout}")
        self.hparams = {
            "n_features": int(n_features),
            "hidden": int(hidden),
            "n_layers": int(n_layers),
            "dropout": float(dropout),
        }
        layers: list[nn.Module] = []
        width = n_features
        for _ in range(n_layers):
            layers += [nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (batch, 1)."""
        return self.net(x)


class Regressor(nn.Module):
    """The COMPASS thesis MLP (Aumiller 2023): 25 -> 64 -> 128 -> 256 -> 128 -> 64 -> 32 -> 3, ReLU.

    Input: a flattened 5x5 window (25 cell energies), optionally with the absolute window
    position (27 inputs). Output: (x, y, E) targets in whatever standardised units the caller
    trains on.
    """

    def __init__(
        self,
        n_features: int = 25,
        n_outputs: int = 3,
        hidden: Sequence[int] = (64, 128, 256, 128, 64, 32),
    ) -> None:
        super().__init__()
        _check_positive(n_features=n_features, n_outputs=n_outputs)
        hidden = [int(h) for h in hidden]
        if not hidden or min(hidden) < 1:
            raise ValueError(f"hidden: expected positive layer widths, got {hidden}")
        self.hparams = {
            "n_features": int(n_features),
            "n_outputs": int(n_outputs),
            "hidden": hidden,
        }
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, n_outputs))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions of shape (batch, n_outputs)."""
        return self.net(x)


MODELS: dict[str, type[nn.Module]] = {
    "tiny": TinyModel,
    "pair_mlp": PairMLP,
    "regressor": Regressor,
}


def build_model(name: str, n_features: int, **kwargs: Any) -> nn.Module:
    """Build a network by name (``"tiny"``, ``"pair_mlp"``, ``"regressor"``).

    Args:
        name: key of :data:`MODELS`.
        n_features: input width.
        **kwargs: the network's other constructor arguments.
    """
    if name not in MODELS:
        raise ValueError(f"model name: expected one of {sorted(MODELS)}, got {name!r}")
    return MODELS[name](n_features=n_features, **kwargs)


def model_name(model: nn.Module) -> str:
    """The registry name of a network built from :data:`MODELS`."""
    for name, cls in MODELS.items():
        if type(model) is cls:
            return name
    raise ValueError(f"model: {type(model).__name__} is not one of {sorted(MODELS)}")


def _check_positive(**values: int) -> None:
    for key, v in values.items():
        if int(v) != v or v < 1:
            raise ValueError(f"{key}: expected a positive integer, got {v!r}")
