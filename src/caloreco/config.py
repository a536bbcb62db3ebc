"""Configuration: validation against the JSON schema and the cross-checks between sections.

The workflow validates ``config`` here before any job starts, so a typo or a bad value stops the
run with a message that names the key (``datasets.ecal_stage1.events_per_chunk``) and what was
expected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from caloreco.errors import ConfigError

__all__ = ["ConfigError", "validate_config", "with_defaults"]


def _key(path: Iterable[Any]) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def validate_config(config: Mapping[str, Any], schema_path: str | Path) -> None:
    """Validate ``config`` against the schema and the cross-references between sections.

    Raises:
        ConfigError: naming the first offending key and what was expected.
    """
    import jsonschema

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for err in errors[:10]:
            where = _key(err.absolute_path)
            if err.validator == "additionalProperties":
                lines.append(f"config key {where!s}: {err.message} (see config/README.md)")
            else:
                lines.append(f"config key {where}: {err.message}")
        more = f"\n(and {len(errors) - 10} more)" if len(errors) > 10 else ""
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines) + more)
    _cross_check(config)


def _cross_check(config: Mapping[str, Any]) -> None:
    detectors = config["detectors"]
    for name, ds in config["datasets"].items():
        where = f"datasets.{name}"
        if ds["detector"] not in detectors:
            raise ConfigError(
                f"config key {where}.detector: {ds['detector']!r} is not a detector; "
                f"defined: {sorted(detectors)}"
            )
        preset = detectors[ds["detector"]]["preset"]
        src = ds["source"]
        if src == "simulate":
            for key in ("events_per_chunk", "simulation"):
                if key not in ds:
                    raise ConfigError(f"config key {where}.{key}: required for source 'simulate'")
            energy = ds["simulation"].get("energy")
            if energy is None:
                raise ConfigError(f"config key {where}.simulation.energy: required")
            dist = energy["distribution"]
            if dist == "fixed" and "value_mev" not in energy:
                raise ConfigError(f"config key {where}.simulation.energy.value_mev: required")
            if dist != "fixed":
                lo, hi = energy.get("min_mev"), energy.get("max_mev")
                if lo is None or hi is None or not lo < hi:
                    raise ConfigError(
                        f"config key {where}.simulation.energy: '{dist}' needs min_mev < max_mev"
                    )
        else:
            if "files" not in ds:
                raise ConfigError(f"config key {where}.files: required for source {src!r}")
            if src == "root" and "root" not in ds:
                raise ConfigError(f"config key {where}.root: tree and branch mapping required")
            if src == "csv" and preset != "califa":
                raise ConfigError(
                    f"config key {where}.source: the csv hit format is CALIFA's; detector "
                    f"{ds['detector']!r} is a {preset!r}"
                )
        methods = ds.get("clustering", {})
        if preset == "ecal" and set(methods) - {"connected"}:
            raise ConfigError(
                f"config key {where}.clustering: the planar ECAL supports 'connected' only, "
                f"got {sorted(methods)}"
            )
        if "regression" in ds.get("analyses", []) and preset != "ecal":
            raise ConfigError(f"config key {where}.analyses: 'regression' needs an ecal detector")
        _check_attribution(where, ds, preset)


_TRUTH_BRANCHES = ("truth_cell", "truth_primary", "truth_energy")


def _check_attribution(where: str, ds: Mapping[str, Any], preset: str) -> None:
    """The attribution analysis: CALIFA hits with per-cell truth (the targets), a settings
    block only where the analysis runs, attention widths that split into heads."""
    wanted = "attribution" in ds.get("analyses", [])
    if "attribution" in ds and not wanted:
        raise ConfigError(
            f"config keys {where}.attribution and {where}.analyses: settings given but "
            "'attribution' is not among the analyses"
        )
    if not wanted:
        return
    if preset != "califa":
        raise ConfigError(
            f"config keys {where}.analyses and {where}.detector: 'attribution' needs a califa "
            f"detector, {ds['detector']!r} is a {preset!r}"
        )
    branches = ds.get("root", {}).get("branches", {})
    if ds["source"] == "root" and not all(b in branches for b in _TRUTH_BRANCHES):
        raise ConfigError(
            f"config keys {where}.analyses and {where}.root.branches: 'attribution' trains on "
            f"per-cell truth; map all of {list(_TRUTH_BRANCHES)}"
        )
    # defaults as in caloreco.attribution.settings (hidden 32, segmenter 64, 4 heads), not
    # imported from there: every rule that reads the config would then hash that module too
    cfg = ds.get("attribution", {})
    focal, seg = cfg.get("model", {}), cfg.get("segmenter", {}).get("model", {})
    for block, model, hidden in (("model", focal, 32), ("segmenter.model", seg, 64)):
        if model.get("variant", "attention") != "attention":
            continue  # the plain PointNet has no attention heads
        hidden, heads = model.get("hidden", hidden), model.get("heads", 4)
        if hidden % heads:
            key = f"{where}.attribution.{block}"
            raise ConfigError(
                f"config keys {key}.hidden and {key}.heads: hidden ({hidden}) must be a "
                f"multiple of heads ({heads})"
            )


def with_defaults(defaults: Mapping[str, Any], cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """A config section with its defaults filled in: nested dicts are merged one level deep,
    everything else given in ``cfg`` replaces the default."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in defaults.items()}
    for key, value in dict(cfg or {}).items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key].update(value)
        else:
            out[key] = value
    return out
