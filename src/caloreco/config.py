"""Configuration: validation against the JSON schema and the cross-checks between sections.

The workflow validates ``config`` here before any job starts, so a typo or a bad value stops the
run with a message that names the key (``datasets.ecal_stage1.events_per_chunk``) and what was
expected.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from caloreco.errors import ConfigError

__all__ = [
    "ConfigError",
    "TRUTH_BRANCHES",
    "validate_config",
    "dataset_provides",
    "with_defaults",
]


def _key(path: Iterable[Any]) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def validate_config(config: Mapping[str, Any], schema_path: str | Path) -> None:
    """Validate ``config`` against the schema and the cross-references between sections.

    Raises:
        ConfigError: naming the first offending key and what was expected.
    """
    import jsonschema

    # libyaml's loader when there is one: the schema is read in every Snakemake process
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    schema = yaml.load(Path(schema_path).read_text(), Loader=loader)  # noqa: S506 (a safe loader)
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


TRUTH_BRANCHES = ("truth_cell", "truth_primary", "truth_energy")


def dataset_provides(ds: Mapping[str, Any]) -> dict[str, bool]:
    """What a dataset's raw events carry, from its source and (for ROOT) its branch mapping.

    ``truth`` (per-hit Monte Carlo truth: simulation, CALIFA CSV (one gamma per event number),
    a ROOT mapping of all of truth_cell, truth_primary, truth_energy), ``primary_energy``,
    ``primary_direction`` (theta, phi) and ``primary_position`` (x, y on the front face).
    """
    src = ds["source"]
    if src == "simulate":
        return dict.fromkeys(
            ("truth", "primary_energy", "primary_direction", "primary_position"), True
        )
    if src == "csv":
        energy = "primary_energy_mev" in ds.get("csv", {})
        return {
            "truth": True,
            "primary_energy": energy,
            "primary_direction": False,
            "primary_position": False,
        }
    mapped = set(ds.get("root", {}).get("branches", {}))
    return {
        "truth": set(TRUTH_BRANCHES) <= mapped,
        "primary_energy": "primary_energy" in mapped,
        "primary_direction": {"primary_theta", "primary_phi"} <= mapped,
        "primary_position": {"primary_x", "primary_y"} <= mapped,
    }


def _cross_check(config: Mapping[str, Any]) -> None:
    """The checks between keys that the schema cannot express; each message names the keys."""
    detectors = config["detectors"]
    for name, det in detectors.items():
        _check_detector(f"detectors.{name}", det)
    for name, ds in config["datasets"].items():
        where = f"datasets.{name}"
        if ds["detector"] not in detectors:
            raise ConfigError(
                f"config key {where}.detector: {ds['detector']!r} is not a detector; "
                f"defined: {sorted(detectors)}"
            )
        preset = detectors[ds["detector"]]["preset"]
        if _check_imaging(where, ds, preset):
            continue  # camera images: none of the hit checks below apply
        if ds["source"] == "simulate":
            _check_simulation(where, ds)
        else:
            _check_import(where, ds, preset)
        _check_analyses(where, ds, preset)
        fractions = ds.get("split", {}).get("fractions")
        if fractions is not None and not math.isclose(sum(fractions), 1.0, abs_tol=1e-9):
            raise ConfigError(
                f"config key {where}.split.fractions: train, validation and test fractions must "
                f"add up to 1, got {' + '.join(map(str, fractions))} = {sum(fractions):.6g}"
            )


def _ordered(where: str, values: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    given = [(k, values[k]) for k in keys if k in values]
    for (k1, v1), (k2, v2) in zip(given[:-1], given[1:], strict=True):
        if not v1 < v2:
            raise ConfigError(
                f"config keys {where}.{k1} and {where}.{k2}: expected {k1} < {k2}, "
                f"got {v1} and {v2}"
            )


def _check_detector(where: str, det: Mapping[str, Any]) -> None:
    geo = det.get("geometry", {})
    _ordered(f"{where}.geometry", geo, ("theta_min_deg", "theta_split_deg", "theta_max_deg"))


def _check_simulation(where: str, ds: Mapping[str, Any]) -> None:
    for key in ("events_per_chunk", "simulation"):
        if key not in ds:
            raise ConfigError(f"config key {where}.{key}: required for source 'simulate'")
    for key in ("files", "csv", "root"):
        if key in ds:
            raise ConfigError(
                f"config key {where}.{key}: only for an imported dataset (source csv or root), "
                "but datasets.source is 'simulate'"
            )
    sim = ds["simulation"]
    energy = sim.get("energy")
    if energy is None:
        raise ConfigError(f"config key {where}.simulation.energy: required")
    dist = energy["distribution"]
    if dist == "fixed" and "value_mev" not in energy:
        raise ConfigError(f"config key {where}.simulation.energy.value_mev: required")
    if dist != "fixed":
        lo, hi = energy.get("min_mev"), energy.get("max_mev")
        if lo is None or hi is None:
            raise ConfigError(
                f"config keys {where}.simulation.energy.min_mev and max_mev: required for "
                f"distribution '{dist}'"
            )
        _ordered(f"{where}.simulation.energy", energy, ("min_mev", "max_mev"))
    _ordered(f"{where}.simulation", sim, ("theta_min_deg", "theta_max_deg"))


def _check_import(where: str, ds: Mapping[str, Any], preset: str) -> None:
    src = ds["source"]
    if "files" not in ds:
        raise ConfigError(f"config key {where}.files: required for source {src!r}")
    if src == "root":
        if "root" not in ds:
            raise ConfigError(f"config key {where}.root: tree and branch mapping required")
        mapped = set(ds["root"]["branches"])
        if "cell_id" not in mapped and not {"cell_theta", "cell_phi"} <= mapped:
            raise ConfigError(
                f"config key {where}.root.branches: map 'cell_id' (cells of the detector "
                "preset) or both 'cell_theta' and 'cell_phi' (crystal directions)"
            )
        some = mapped & set(TRUTH_BRANCHES)
        if some and some != set(TRUTH_BRANCHES):
            raise ConfigError(
                f"config key {where}.root.branches: map all of {list(TRUTH_BRANCHES)} or none; "
                f"{sorted(set(TRUTH_BRANCHES) - some)} missing"
            )
    if src == "csv" and preset != "califa":
        raise ConfigError(
            f"config key {where}.source: the csv hit format is CALIFA's; detector "
            f"{ds['detector']!r} is a {preset!r}"
        )
    if src != "csv" and "csv" in ds:
        raise ConfigError(f"config key {where}.csv: only for source 'csv', not {src!r}")
    if src != "root" and "root" in ds:
        raise ConfigError(f"config key {where}.root: only for source 'root', not {src!r}")


def _check_analyses(where: str, ds: Mapping[str, Any], preset: str) -> None:
    methods = sorted(ds.get("clustering", {}))
    if preset == "ecal" and set(methods) - {"connected"}:
        raise ConfigError(
            f"config key {where}.clustering: the planar ECAL supports 'connected' only, "
            f"got {methods}"
        )
    analyses = ds.get("analyses", [])
    has = dataset_provides(ds)
    truth_hint = (
        f"map {where}.root.branches.truth_cell, truth_primary and truth_energy"
        if ds["source"] == "root"
        else "use a simulated or CSV dataset"
    )
    if "regression" in analyses:
        if preset != "ecal":
            raise ConfigError(f"config key {where}.analyses: 'regression' needs an ecal detector")
        if "connected" not in methods:
            raise ConfigError(
                f"config keys {where}.analyses and {where}.clustering: 'regression' cuts its "
                f"windows around the clusters of {where}.clustering.connected, which is not "
                f"configured (clustering: {methods})"
            )
        missing = [k for k in ("truth", "primary_energy", "primary_position") if not has[k]]
        if missing:
            raise ConfigError(
                f"config key {where}.analyses: 'regression' needs the true photons (targets: "
                f"impact point and energy) and the truth matching; this dataset lacks {missing}: "
                f"map {where}.root.branches.primary_x, primary_y, primary_energy and the truth "
                "branches"
            )
    if "pairs" in analyses:
        if preset != "califa":
            raise ConfigError(
                f"config key {where}.analyses: 'pairs' (the CALIFA case A/B classifier) needs a "
                f"califa detector; {ds['detector']!r} is a {preset!r}"
            )
        if not has["truth"]:
            raise ConfigError(
                f"config key {where}.analyses: 'pairs' needs Monte Carlo truth for its labels: "
                + truth_hint
            )
        pairs = ds.get("pairs", {})
        method = pairs.get("method", "agglomerative")
        if method not in methods:
            raise ConfigError(
                f"config keys {where}.pairs.method and {where}.clustering: the pairs are made "
                f"of {method!r} clusters{'' if 'method' in pairs else ' (the default)'}, which "
                f"is not configured (clustering: {methods})"
            )
        extra = sorted(set(pairs.get("merge_methods", [])) - set(methods))
        if extra:
            raise ConfigError(
                f"config keys {where}.pairs.merge_methods and {where}.clustering: {extra} are "
                f"not configured clustering methods ({methods})"
            )
    _check_attribution(where, ds, preset)
    _check_two_photon(where, ds, preset)


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
    if not dataset_provides(ds)["truth"]:
        raise ConfigError(
            f"config keys {where}.analyses and {where}.root.branches: 'attribution' trains on "
            f"per-cell truth; map all of {list(TRUTH_BRANCHES)}"
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


#: keys of a dataset that only camera images (the camera_tpc preset) use, and only hits use
_IMAGING_KEYS = ("frames_per_chunk", "images", "cygno", "cygno_export", "anomaly")
_HIT_KEYS = (
    "events_per_chunk",
    "simulation",
    "csv",
    "root",
    "regression",
    "pairs",
    "attribution",
    "two_photon",
)


def _check_two_photon(where: str, ds: Mapping[str, Any], preset: str) -> None:
    """The two-photon analysis (ECAL stage 4): ecal, true photons, both photon counts."""
    wanted = "two_photon" in ds.get("analyses", [])
    tp = ds.get("two_photon", {})
    if tp and not wanted:
        raise ConfigError(
            f"config keys {where}.two_photon and {where}.analyses: settings given but "
            "'two_photon' is not among the analyses"
        )
    if not wanted:
        return
    if preset != "ecal":
        raise ConfigError(
            f"config keys {where}.analyses and {where}.detector: 'two_photon' needs an ecal "
            f"detector; {ds['detector']!r} is a {preset!r}"
        )
    has = dataset_provides(ds)
    missing = [k for k in ("primary_energy", "primary_position") if not has[k]]
    if missing:
        raise ConfigError(
            f"config key {where}.analyses: 'two_photon' needs the true photons (energy and "
            f"impact point) of every event; this dataset lacks {missing}"
        )
    sim = ds.get("simulation", {})
    if ds["source"] == "simulate":
        if sim.get("process") != "pi0":
            raise ConfigError(
                f"config keys {where}.analyses and {where}.simulation.process: 'two_photon' "
                f"needs process 'pi0', got {sim.get('process', 'photons')!r}"
            )
        frac = sim.get("single_photon_fraction", 0.0)
        if not 0 < frac < 1:
            raise ConfigError(
                f"config keys {where}.analyses and {where}.simulation.single_photon_fraction: "
                f"the photon counter needs one- and two-photon events, so a fraction strictly "
                f"between 0 and 1; got {frac}"
            )
    mass = tp.get("training_mass_mev", [70.0, 200.0])
    if mass is not None:
        if ds["source"] != "simulate":
            raise ConfigError(
                f"config keys {where}.two_photon.training_mass_mev and {where}.source: the "
                "mass-agnostic training sample is simulated; set it to null to train on "
                "the dataset's own events"
            )
        if not mass[0] < mass[1]:
            raise ConfigError(
                f"config key {where}.two_photon.training_mass_mev: expected [lo, hi] with "
                f"lo < hi (MeV), got {mass}"
            )
    size = tp.get("size", 9)
    if size % 2 == 0:
        raise ConfigError(f"config key {where}.two_photon.size: expected an odd size, got {size}")
    margin = tp.get("edge_margin_cells", 1.0)
    if not margin < size / 2:
        raise ConfigError(
            f"config keys {where}.two_photon.edge_margin_cells and {where}.two_photon.size: "
            f"the margin ({margin} cells) must be below half the window ({size / 2})"
        )
    for key in ("separation_bins_cells", "energy_bins_mev"):
        edges = tp.get(key)
        if edges is not None and any(b <= a for a, b in zip(edges[:-1], edges[1:], strict=True)):
            raise ConfigError(
                f"config key {where}.two_photon.{key}: expected increasing bin edges, got {edges}"
            )
    residual = tp.get("regressor", {}).get("residual", True)
    if residual and not tp.get("fit_inputs", True):
        raise ConfigError(
            f"config keys {where}.two_photon.regressor.residual and "
            f"{where}.two_photon.fit_inputs: a residual on the fit needs the fit inputs"
        )


def _check_imaging(where: str, ds: Mapping[str, Any], preset: str) -> bool:
    """Cross-checks of imaging datasets (camera_tpc) and of the imaging keys of the others.

    Returns:
        True for a camera_tpc dataset (checked here), False for a hit dataset (checked to use no
        imaging key, source or analysis).
    """
    analyses = ds.get("analyses", [])
    methods = set(ds.get("clustering", {}))
    src = ds["source"]
    if preset != "camera_tpc":
        if "anomaly" in analyses:
            raise ConfigError(
                f"config keys {where}.analyses and {where}.detector: 'anomaly' needs camera "
                f"images (a camera_tpc detector); {ds['detector']!r} is a {preset!r}"
            )
        if src == "cygno":
            raise ConfigError(
                f"config keys {where}.source and {where}.detector: 'cygno' files hold camera "
                f"images; {ds['detector']!r} is a {preset!r}, not a camera_tpc"
            )
        for m in sorted(methods & {"cygno", "unet"}):
            raise ConfigError(
                f"config keys {where}.clustering.{m} and {where}.detector: the {m!r} method "
                f"clusters camera images; {ds['detector']!r} is a {preset!r}"
            )
        used = [k for k in _IMAGING_KEYS if k in ds]
        if used:
            raise ConfigError(
                f"config keys {where}.{used[0]} and {where}.detector: {used[0]!r} is a key of "
                f"camera_tpc datasets; {ds['detector']!r} is a {preset!r}"
            )
        return False
    hit_analyses = [
        a for a in analyses if a in ("regression", "pairs", "attribution", "two_photon")
    ]
    if hit_analyses:
        raise ConfigError(
            f"config keys {where}.analyses and {where}.detector: {hit_analyses[0]!r} needs hit "
            f"data (an ecal or califa detector); {ds['detector']!r} is a camera_tpc, whose "
            "analysis is 'anomaly'"
        )
    used = [k for k in _HIT_KEYS if k in ds]
    if used:
        raise ConfigError(
            f"config keys {where}.{used[0]} and {where}.detector: {used[0]!r} is a key of hit "
            f"datasets; camera_tpc datasets use frames_per_chunk, images, cygno, anomaly"
        )
    if methods - {"cygno", "unet"}:
        raise ConfigError(
            f"config keys {where}.clustering and {where}.detector: camera images are clustered "
            f"by 'cygno' (CYGNO's reconstruction) and 'unet' (U-Net pixels, the same DBSCAN) "
            f"only, got {sorted(methods)}"
        )
    if src == "simulate":
        if "frames_per_chunk" not in ds:
            raise ConfigError(
                f"config key {where}.frames_per_chunk: required for source 'simulate'"
            )
        if "files" in ds or "cygno" in ds:
            raise ConfigError(
                f"config keys {where}.source and {where}.files/cygno: a simulated dataset reads "
                "no files"
            )
        energy = ds.get("images", {}).get("recoils", {}).get("energy")
        if energy is not None:
            _check_recoil_energy(f"{where}.images.recoils.energy", energy)
        images = ds.get("images", {})
        height, width = images.get("height", 256), images.get("width", 256)
        rebin = ds.get("clustering", {}).get("cygno", {}).get("rebin", 4)
        if methods & {"cygno", "unet"} and (height % rebin or width % rebin):
            raise ConfigError(
                f"config keys {where}.images and {where}.clustering.cygno.rebin: frames of "
                f"{height} x {width} pixels are not a multiple of the rebin {rebin}"
            )
        unet = ds.get("clustering", {}).get("unet", {}).get("unet", {})
        u_patch = unet.get("patch", 64)
        if "unet" in methods and u_patch > min(height, width):
            raise ConfigError(
                f"config keys {where}.clustering.unet.unet.patch and {where}.images: training "
                f"crops of {u_patch} pixels do not fit frames of {height} x {width}"
            )
        levels = len(unet.get("channels", (4, 8, 16, 32)))
        if "unet" in methods and u_patch % 2 ** (levels - 1):
            raise ConfigError(
                f"config keys {where}.clustering.unet.unet.patch and "
                f"{where}.clustering.unet.unet.channels: {levels} levels halve the crop "
                f"{levels - 1} times, so the patch must be a multiple of {2 ** (levels - 1)}, "
                f"got {u_patch}"
            )
        patch = ds.get("anomaly", {}).get("autoencoder", {}).get("patch", 64)
        if "anomaly" in analyses and patch > min(height, width):
            raise ConfigError(
                f"config keys {where}.anomaly.autoencoder.patch and {where}.images: training "
                f"patches of {patch} pixels do not fit frames of {height} x {width}"
            )
    elif src == "cygno":
        if "files" not in ds or "cygno" not in ds:
            raise ConfigError(
                f"config keys {where}.files and {where}.cygno.pedestal: required for source "
                "'cygno' (the run files and their pedestal run or pedmap)"
            )
        files, ped = ds["files"], ds["cygno"]["pedestal"]
        if isinstance(ped, list) and len(ped) not in (1, len(files)):
            raise ConfigError(
                f"config keys {where}.cygno.pedestal and {where}.files: one pedestal for all "
                f"{len(files)} files or one per file, got {len(ped)}"
            )
        if ds["chunks"] % len(files):
            raise ConfigError(
                f"config keys {where}.chunks and {where}.files: {ds['chunks']} chunks cannot be "
                f"spread evenly over {len(files)} files"
            )
        if ds["chunks"] > len(files) and "frames_per_chunk" not in ds:
            raise ConfigError(
                f"config keys {where}.frames_per_chunk and {where}.chunks: splitting each file "
                "into several chunks needs frames_per_chunk"
            )
        if "images" in ds:
            raise ConfigError(
                f"config keys {where}.images and {where}.source: 'images' describes simulated "
                "frames; imported frames take their size from the files (cygno.crop)"
            )
        if "anomaly" in analyses:
            raise ConfigError(
                f"config keys {where}.analyses and {where}.source: the anomaly metrics need the "
                "truth of simulated frames (source 'simulate'); CYGNO files carry none"
            )
        if "unet" in methods:
            raise ConfigError(
                f"config keys {where}.clustering.unet and {where}.source: the U-Net trains on "
                "the per-pixel truth of simulated frames (source 'simulate'); CYGNO files carry "
                "none"
            )
        if ds.get("cygno_export", {}).get("enabled"):
            raise ConfigError(
                f"config keys {where}.cygno_export and {where}.source: only simulated runs are "
                "exported"
            )
    else:
        raise ConfigError(
            f"config keys {where}.source and {where}.detector: a camera_tpc dataset is simulated "
            f"or read from CYGNO files (source 'simulate' or 'cygno'), got {src!r}"
        )
    fractions = ds.get("split", {}).get("fractions")
    uses_split = "anomaly" in analyses or "unet" in methods
    if uses_split and fractions is not None and not abs(sum(fractions) - 1) < 1e-6:
        raise ConfigError(
            f"config key {where}.split.fractions: expected a sum of 1, got {fractions}"
        )
    return True


def _check_recoil_energy(where: str, energy: Mapping[str, Any]) -> None:
    dist = energy["distribution"]
    needs = {
        "lines": ("values_kev",),
        "uniform": ("min_kev", "max_kev"),
        "loguniform": ("min_kev", "max_kev"),
        "exponential": ("min_kev", "max_kev", "slope_kev"),
    }[dist]
    missing = [k for k in needs if k not in energy]
    if missing:
        raise ConfigError(f"config key {where}.{missing[0]}: required for distribution {dist!r}")
    extra = sorted(
        set(energy)
        - {"distribution", *needs}
        - ({"weights", "balanced"} if dist == "lines" else set())
    )
    if extra:
        raise ConfigError(f"config key {where}.{extra[0]}: not used by distribution {dist!r}")
    if dist == "lines":
        w = energy.get("weights")
        if w is not None and len(w) != len(energy["values_kev"]):
            raise ConfigError(
                f"config keys {where}.weights and {where}.values_kev: one weight per line "
                f"expected, got {len(w)} for {len(energy['values_kev'])}"
            )
    elif not energy["min_kev"] < energy["max_kev"]:
        raise ConfigError(f"config keys {where}.min_kev and {where}.max_kev: expected min < max")


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
