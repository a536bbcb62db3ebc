"""Shared fixtures: repository paths and small helpers."""

from __future__ import annotations

import fcntl
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


def _shared_tmp(tmp_path_factory) -> Path:
    """This pytest run's temporary root, shared by its pytest-xdist workers (each has its own
    ``popen-gw<N>`` below it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def test_run(tmp_path_factory) -> Path:
    """One complete run of config/test.yaml in a private copy of the workflow, made once per
    pytest run: with pytest-xdist (``make test``) the first worker to ask for it makes it under a
    file lock, and the others wait for it and share it (they only read it, or edit and restore it
    in tests that one file keeps on one worker: see `WORKFLOW_ORDER`)."""
    root = _shared_tmp(tmp_path_factory) / "test_run"
    root.mkdir(exist_ok=True)
    work, done, failed = root / "wf", root / "done", root / "failed"
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if a worker dies
        if failed.exists():
            raise AssertionError(
                f"the shared run of config/test.yaml failed:\n{failed.read_text()}"
            )
        if not done.exists():
            if work.exists():  # left by a worker that died during the run
                shutil.rmtree(work)
            copy_workflow(work)
            shutil.copy2(TEST_CONFIG, work / "test.yaml")
            try:
                run_copy(work, "--configfile", "test.yaml", "--cores", "2", "all")
            except AssertionError as exc:
                failed.write_text(str(exc))
                raise
            done.touch()
    return work


#: the order in which ``make test`` hands the workflow test files to its two pytest-xdist workers
#: (``--dist loadfile --no-loadscope-reorder``: a file is a unit, so its module fixtures run once):
#: the SLURM run (mostly waiting on the scheduler) first on one worker while the other makes the
#: shared local run (``test_run``), then the files that need no ``test_run``, the rest in
#: collection order. The tests that edit ``test_run`` in place and restore it (a style, a package
#: module) are all in test_rerun.py, so that no two of them run at once.
WORKFLOW_ORDER = (
    "test_slurm.py",
    "test_workflow.py",
    "test_user_data_workflow.py",
    "test_cygno_import_workflow.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Workflow tests last, the files of `WORKFLOW_ORDER` first among them (a stable sort)."""
    rank = {name: i for i, name in enumerate(WORKFLOW_ORDER)}

    def key(item: pytest.Item) -> int:
        if not (item.get_closest_marker("workflow") or item.get_closest_marker("slurm")):
            return -1
        return rank.get(item.path.name, len(rank))

    items.sort(key=key)


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


#: ``("slurm", line)`` user properties of the tests' reports (tests/test_slurm.py), for the CI log
_SLURM_LINES: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # the controller's copy of a report only (an xdist worker sees its own reports too); the
    # teardown report carries every line the test added
    if report.when == "teardown" and not os.environ.get("PYTEST_XDIST_WORKER"):
        _SLURM_LINES.extend(v for k, v in report.user_properties if k == "slurm")


def pytest_terminal_summary(terminalreporter) -> None:
    """The SLURM tests' lines (job ids, steps done) at the end, ``[slurm] ``-prefixed for .ci/run."""
    for line in _SLURM_LINES:
        terminalreporter.write_line(f"[slurm] {line}")
