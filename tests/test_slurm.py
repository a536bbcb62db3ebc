"""Cluster execution through a real SLURM: profiles/slurm with the CI overlay profiles/slurm-ci.

Needs a running SLURM whose default partition accepts jobs from this user, such as the single-node
cluster of ``.ci/slurm-up.sh`` (accounting off, hence ``squeue`` as status command). Without one,
every test here is skipped with the reason; with ``CALORECO_REQUIRE_SLURM=1`` (CI) they fail instead.

A toy workflow checks submission, the retry of a job that asked for too little memory, and the GPU
request of a training rule; the last test runs config/test.yaml through SLURM and compares its
outputs and metrics with the session's local run of it (conftest's ``test_run``).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, TIMING_KEYS, snakemake_cmd

pytestmark = pytest.mark.slurm

PROFILE_ARGS = (
    "--workflow-profile",
    str(REPO / "profiles/slurm"),
    "--profile",
    str(REPO / "profiles/slurm-ci"),
)
TEST_CONFIG = REPO / "config/test.yaml"
#: memory (MB) the flaky rule asks for on its first attempt; it needs twice that
BASE_MEM_MB = 300
#: no test here may hang on a job that the cluster cannot run
TOY_TIMEOUT_S = 300
WORKFLOW_TIMEOUT_S = 1500

#: a submission in Snakemake's log: (SLURM job id, rule); a group job (profiles/slurm `groups`) is
#: named ``group_<group>_<its rules>``
SUBMITTED = re.compile(
    r"Job [\w-]+ has been submitted with SLURM jobid (\d+) \(log: .*/(?:rule|group)_(\w+)/"
)


def _unavailable(reason: str) -> None:
    """Skip a SLURM test, or fail it where SLURM is required (CI sets CALORECO_REQUIRE_SLURM=1).

    Every skip in this module goes through here, so that CI never passes with a SLURM test skipped.
    """
    if os.environ.get("CALORECO_REQUIRE_SLURM") == "1":
        pytest.fail(f"SLURM required (CALORECO_REQUIRE_SLURM=1) but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def slurm_cluster() -> dict[str, str]:
    """The states of the nodes of the default partition; skips when SLURM is not usable."""
    for tool in ("sinfo", "sbatch", "squeue"):
        if shutil.which(tool) is None:
            _unavailable(f"no SLURM here: `{tool}` not found (start one with .ci/slurm-up.sh)")
    try:
        proc = subprocess.run(
            ["sinfo", "--noheader", "--format=%N %T %G"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        _unavailable("`sinfo` did not answer within 20 s (slurmctld down?)")
    if proc.returncode != 0:
        _unavailable(f"SLURM is down: `sinfo` failed: {proc.stderr.strip()[:300]}")
    nodes = {}
    for line in proc.stdout.splitlines():
        name, state, gres = line.split(maxsplit=2)
        nodes[name] = (state, gres)
    usable = [n for n, (s, _) in nodes.items() if s.rstrip("*") in ("idle", "mixed", "allocated")]
    if not usable or any(nodes[n][0].endswith("*") for n in usable):
        _unavailable(f"no SLURM node can run jobs: {nodes}")
    return {n: nodes[n][1] for n in usable}


def _snakemake(workdir: Path, *args: str, timeout: float) -> subprocess.CompletedProcess:
    """Run snakemake in ``workdir``; on timeout cancel the SLURM jobs it submitted and fail."""
    cmd = [*snakemake_cmd(), "--directory", str(workdir), *args]
    env = dict(os.environ, PYTHONHASHSEED="0", MPLBACKEND="Agg")
    try:
        return subprocess.run(
            cmd, capture_output=True, text=True, env=env, cwd=workdir, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        err = (exc.stderr or b"").decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
        ids = [m.group(1) for m in SUBMITTED.finditer(out + err)]
        if ids:
            subprocess.run(["scancel", *ids], check=False, timeout=30)
        queue = subprocess.run(
            ["squeue", "--states=all", "--format=%i %j %T %r"], capture_output=True, text=True
        ).stdout
        pytest.fail(f"snakemake timed out after {timeout} s; queue:\n{queue}\n{err[-3000:]}")


def _report(config: pytest.Config, what: str, log: str) -> None:
    """Write the SLURM job ids of a run to the terminal, past pytest's capture (the CI log)."""
    subs = _submissions(log)
    done = re.findall(r"\d+ of \d+ steps \(100%\) done", log)
    lines = [
        f"{what}: {len(subs)} SLURM jobs: " + ", ".join(f"{r}={j}" for r, j in subs),
        f"{what}: {done[-1] if done else 'not finished'}",
    ]
    for line in lines:
        _to_terminal(config, line)


def _to_terminal(config: pytest.Config, line: str) -> None:
    """Print ``line`` past pytest's output capture, so that it is in the CI log."""
    print(line)
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if terminal is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            terminal.write_line(f"[slurm] {line}")


def _scontrol_job(job_id: str) -> str:
    """`scontrol show job` of a job (finished jobs stay visible for MinJobAge seconds)."""
    return subprocess.run(
        ["scontrol", "show", "job", job_id], capture_output=True, text=True, timeout=20
    ).stdout


def _submissions(log: str) -> list[tuple[str, str]]:
    """(rule, SLURM job id) of every submission in a snakemake log, in order."""
    return [(m.group(2), m.group(1)) for m in SUBMITTED.finditer(log)]


TOY_SNAKEFILE = textwrap.dedent(
    f"""
    # Toy workflow for tests/test_slurm.py: every job writes what SLURM gave it.
    import json, os


    def slurm_env(**extra):
        keys = ["SLURM_JOB_ID", "SLURM_CPUS_PER_TASK"]
        return json.dumps(dict({{k: os.environ.get(k) for k in keys}}, **extra))


    rule all:
        input:
            "b.json",
            "flaky.json",
            "train_regressor.json",


    rule a:
        output:
            "a.json",
        threads: 1
        resources:
            mem_mb=200,
            runtime=5,
        run:
            with open(output[0], "w") as f:
                f.write(slurm_env(threads=threads))


    rule b:
        input:
            "a.json",
        output:
            "b.json",
        resources:
            mem_mb=200,
            runtime=5,
        run:
            with open(output[0], "w") as f:
                f.write(slurm_env(upstream=json.load(open(input[0]))["SLURM_JOB_ID"]))


    # fails, like a job killed for memory, unless given twice its first request
    rule flaky:
        output:
            "flaky.json",
        resources:
            mem_mb=lambda wc, attempt: {BASE_MEM_MB} * attempt,
            runtime=5,
        run:
            if resources.mem_mb < 2 * {BASE_MEM_MB}:
                raise MemoryError(f"mem_mb={{resources.mem_mb}} is too little")
            with open(output[0], "w") as f:
                f.write(slurm_env(mem_mb=resources.mem_mb))


    # named like the workflow's training rule: profiles/slurm adds gpu=1 to it
    rule train_regressor:
        output:
            "train_regressor.json",
        resources:
            mem_mb=200,
            runtime=5,
        run:
            with open(output[0], "w") as f:
                f.write(slurm_env(gpu=resources.get("gpu")))
    """
)


@pytest.fixture(scope="module")
def toy_run(slurm_cluster, tmp_path_factory, pytestconfig) -> tuple[Path, str]:
    """The toy workflow run once through SLURM: (working directory, snakemake log)."""
    work = tmp_path_factory.mktemp("slurm_toy")
    (work / "Snakefile").write_text(TOY_SNAKEFILE)
    targets = ["b.json", "flaky.json"]
    if any("gpu" in gres for gres in slurm_cluster.values()):
        targets.append("train_regressor.json")
    proc = _snakemake(
        work, "--snakefile", str(work / "Snakefile"), *PROFILE_ARGS, *targets, timeout=TOY_TIMEOUT_S
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"toy workflow failed through SLURM:\n{log[-6000:]}"
    _report(pytestconfig, "toy workflow", log)
    return work, log


def test_jobs_are_submitted_to_slurm_and_finish(toy_run):
    work, log = toy_run
    subs = dict(_submissions(log))
    assert {"a", "b"} <= subs.keys(), log[-3000:]
    a = json.loads((work / "a.json").read_text())
    b = json.loads((work / "b.json").read_text())
    # each job ran inside the SLURM job whose id snakemake reported, b after a
    assert a["SLURM_JOB_ID"] == subs["a"]
    assert b["SLURM_JOB_ID"] == subs["b"]
    assert b["upstream"] == subs["a"]
    assert a["SLURM_CPUS_PER_TASK"] == str(a["threads"]) == "1"
    assert "MinMemoryNode=200M" in _scontrol_job(subs["a"])
    assert re.search(r"\d+ of \d+ steps \(100%\) done", log)
    # and SLURM itself knows them as completed (MinJobAge keeps finished jobs in squeue)
    queue = subprocess.run(
        [
            "squeue",
            "--states=all",
            "--noheader",
            "--format=%i %T",
            "--jobs",
            ",".join(subs.values()),
        ],
        capture_output=True,
        text=True,
        timeout=20,
    ).stdout
    states = dict(line.split() for line in queue.splitlines())
    assert states.get(subs["a"]) == "COMPLETED" and states.get(subs["b"]) == "COMPLETED", queue


def test_failed_job_is_retried_with_more_memory(toy_run):
    work, log = toy_run
    flaky = [job for rule, job in _submissions(log) if rule == "flaky"]
    assert len(flaky) == 2, f"expected one failure and one retry of rule flaky, got {flaky}"
    first, second = flaky
    assert re.search(rf"SLURM-job '{first}' failed, SLURM status is: 'FAILED'", log)
    assert f"mem_mb={BASE_MEM_MB} is too little" in log
    out = json.loads((work / "flaky.json").read_text())
    assert out["SLURM_JOB_ID"] == second
    # the second attempt asked SLURM for twice the memory of the first
    assert out["mem_mb"] == 2 * BASE_MEM_MB
    assert f"MinMemoryNode={BASE_MEM_MB}M" in _scontrol_job(first)
    assert f"MinMemoryNode={2 * BASE_MEM_MB}M" in _scontrol_job(second)


def test_training_rule_requests_a_gpu(toy_run, slurm_cluster):
    if not any("gpu" in gres for gres in slurm_cluster.values()):
        _unavailable("the cluster has no GPU GRES (.ci/slurm-up.sh adds bookkeeping-only GPUs)")
    work, log = toy_run
    subs = dict(_submissions(log))
    out = json.loads((work / "train_regressor.json").read_text())
    assert out["SLURM_JOB_ID"] == subs["train_regressor"]
    assert out["gpu"] == 1
    # profiles/slurm's set-resources turned into `sbatch --gpus=1`
    job = _scontrol_job(subs["train_regressor"])
    assert re.search(r"TresPerJob=gres(/|:)gpu:1\b", job), job


# --- the real workflow ----------------------------------------------------------------------


def _assert_same_json(a, b, where: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            # speed on the machine that ran the job, not physics: one list with test_rerun
            if k not in TIMING_KEYS:
                _assert_same_json(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same_json(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9), where
    else:
        assert a == b, where


#: outputs that are no product of `all`: `--report` builds results/report.html on demand, and
#: test_figures_workflow.py does so in the shared local run
NOT_FROM_ALL = {"report.html"}


def _outputs(results: Path) -> set[str]:
    """Output files of a run, without logs and benchmarks (their contents are per run)."""
    return {
        str(p.relative_to(results))
        for p in results.rglob("*")
        if p.is_file()
        and not {"logs", "benchmarks"} & set(p.relative_to(results).parts)
        and str(p.relative_to(results)) not in NOT_FROM_ALL
    }


def test_test_config_through_slurm_equals_local_run(slurm_cluster, tmp_path, request, pytestconfig):
    if not (REPO / "Snakefile").exists() or not TEST_CONFIG.exists():
        _unavailable("the workflow (Snakefile, config/test.yaml) is not there")
    # The local reference is the session's run of config/test.yaml (conftest's test_run, shared
    # with the workflow tests, so that CI runs it locally once). Asked for only now, so that a
    # machine without SLURM skips here before paying for it.
    t0 = time.perf_counter()
    local = request.getfixturevalue("test_run")
    t1 = time.perf_counter()
    # Every output of the local run but its figures and notebooks: those only draw what the
    # metrics hold (compared below), test_run has drawn them, and on SLURM they would be a
    # fifth of the jobs (the figures are local rules: drawn where Snakemake runs, also here).
    expected = {
        o for o in _outputs(local / "results") if not o.startswith(("figures/", "notebooks/"))
    }
    cluster = tmp_path / "slurm"
    cluster.mkdir()
    proc = _snakemake(
        cluster,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--configfile",
        str(TEST_CONFIG),
        *PROFILE_ARGS,
        *sorted(f"results/{o}" for o in expected),
        timeout=WORKFLOW_TIMEOUT_S,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"config/test.yaml failed through SLURM:\n{log[-6000:]}"
    subs = _submissions(log)
    assert subs, "no job went to SLURM"
    # profiles/slurm's `chunk` group: one job per chunk (names: chunk_<its rules>), not one a step
    groups = [rule for rule, _ in subs if rule.startswith("chunk_")]
    n_chunks = sum(
        ds["chunks"] for ds in yaml.safe_load(TEST_CONFIG.read_text())["datasets"].values()
    )
    assert len(groups) >= n_chunks, subs
    assert not {"simulate", "simulate_images", "cluster", "pairs"} & {r for r, _ in subs}, subs
    _report(pytestconfig, "config/test.yaml", log)
    _to_terminal(
        pytestconfig,
        f"SLURM run {time.perf_counter() - t1:.0f} s (local reference run {t1 - t0:.0f} s here, "
        "0 s when the workflow tests made it earlier in the session)",
    )
    assert _outputs(cluster / "results") == expected
    metrics = sorted((local / "results").rglob("metrics/*.json"))
    assert metrics, "the local run wrote no metrics"
    for path in metrics:
        rel = path.relative_to(local)
        _assert_same_json(
            json.loads(path.read_text()), json.loads((cluster / rel).read_text()), str(rel)
        )


@pytest.mark.parametrize(("required", "outcome"), [("1", "fail"), ("0", "skip"), (None, "skip")])
def test_unavailable_fails_only_where_slurm_is_required(monkeypatch, required, outcome):
    if required is None:
        monkeypatch.delenv("CALORECO_REQUIRE_SLURM", raising=False)
    else:
        monkeypatch.setenv("CALORECO_REQUIRE_SLURM", required)
    expected = pytest.fail.Exception if outcome == "fail" else pytest.skip.Exception
    with pytest.raises(expected, match="no SLURM here"):
        _unavailable("no SLURM here")
