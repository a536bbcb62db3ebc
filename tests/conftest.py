"""Shared fixtures: repository paths and small helpers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def snakemake_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("snakemake")
    return [str(exe)] if exe.exists() else [shutil.which("snakemake") or "snakemake"]


def run_snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the repository's workflow with ``workdir`` as working directory."""
    cmd = [*snakemake_cmd(), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)]
    env = dict(os.environ, PYTHONHASHSEED="0", MPLBACKEND="Agg")
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, cwd=workdir)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
            f"{proc.stderr[-6000:]}"
        )
    return proc


TEST_CONFIG = REPO / "config/test.yaml"
#: the CALIFA detector block of config/config.yaml, for tests that build their own chunks
CALIFA_DETECTOR = {
    "preset": "califa",
    "geometry": {"inner_radius_mm": 300.0, "crystal_length_mm": 180.0},
    "response": {
        "resolution_fwhm_at_1mev": 0.055,
        "non_uniformity": 0.01,
        "threshold_mev": 0.1,
        "time_smearing_ns": 200.0,
        "emission_window_ns": 4000.0,
    },
}
# keys of metrics files that are wall-clock measurements, not results
TIMING_KEYS = {
    "simulation_seconds",
    "primaries_per_second",
    "clusters_per_second",
    "frames_per_second",  # camera images (simulation.json)
    "train_seconds",  # anomaly.json
    "throughput",  # two_photon.json: windows per second of the fit and the networks
    "timing",
    # pixel_selection.json: DBSCAN times (and the goal on them), the U-Net's epoch times
    "seconds",
    "dbscan_ms_per_frame",
    "dbscan_ms_per_frame_batched",
    "dbscan_time_reduction",
}


def copy_workflow(dest: Path) -> Path:
    """A private copy of the workflow (Snakefile, workflow/, config/, src/) to run and edit."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "requirements.lock"):
        shutil.copy2(REPO / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("workflow", "config", "src", "profiles", "envs"):
        shutil.copytree(REPO / name, dest / name, ignore=ignore)
    return dest


def run_copy(work: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the copied workflow in ``work`` (its own Snakefile, so its own package hashes)."""
    cmd = [*snakemake_cmd(), "--snakefile", str(work / "Snakefile"), "--directory", str(work)]
    env = dict(os.environ, PYTHONHASHSEED="0", MPLBACKEND="Agg")
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, cwd=work)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
            f"{proc.stderr[-6000:]}"
        )
    return proc


@pytest.fixture(scope="session")
def test_run(tmp_path_factory) -> Path:
    """One complete run of config/test.yaml in a private copy of the workflow."""
    work = copy_workflow(tmp_path_factory.mktemp("run") / "wf")
    shutil.copy2(TEST_CONFIG, work / "test.yaml")
    run_copy(work, "--configfile", "test.yaml", "--cores", "2", "all")
    return work


def planned_updates(work: Path, config: str = "test.yaml") -> list[tuple[str, str]]:
    """(rule, output) of every output a run would (re)create, from ``snakemake --summary``."""
    proc = run_copy(work, "--configfile", config, "--summary")
    out = []
    for line in proc.stdout.splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) >= 6 and cols[-1] != "no update":
            out.append((cols[2], cols[0]))
    return out


def metrics_without_timing(path: Path) -> dict:
    """A metrics JSON with its wall-clock fields removed."""
    import json

    def strip(obj):
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items() if k not in TIMING_KEYS}
        if isinstance(obj, list):
            return [strip(v) for v in obj]
        return obj

    return strip(json.loads(path.read_text()))
