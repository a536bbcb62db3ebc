"""Workflow-level timings: DAG build versus chunk count, a run from scratch and a no-op re-run,
and the memory of chunk jobs as a dataset grows.

Usage: python benchmarks/bench_workflow.py [--out results/benchmarks/workflow.json] [--full]

* ``dag_seconds``: wall time of ``snakemake --dry-run`` on config/test.yaml with 2, 20, 200 and
  1000 chunks per dataset (the peer of each point is the 2-chunk DAG);
* ``test_config``: wall time of config/test.yaml from scratch on 2 cores and of the no-op re-run;
* ``default_config`` (with ``--full``): the same for config/config.yaml (several minutes);
* ``memory``: the largest max_rss (MB, Snakemake's per-job benchmark) of the simulate and cluster
  jobs and of the dataset-level simulation_qa and clustering_metrics jobs of ecal_stage2 with 2
  and with 8 chunks of the same size: streaming per chunk keeps it flat while the dataset grows
  4x.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
#: chunk jobs and the dataset-level jobs that stream over chunks
MEMORY_RULES = ("simulate", "cluster", "simulation_qa", "clustering_metrics")


def snakemake(work: Path, *args: str) -> float:
    exe = Path(sys.executable).with_name("snakemake")
    cmd = [str(exe), "--snakefile", str(REPO / "Snakefile"), "--directory", str(work), *args]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=work)
    return time.perf_counter() - t0


def config_with(work: Path, name: str, chunks: int | None = None, only=None) -> str:
    cfg = yaml.safe_load((REPO / "config/test.yaml").read_text())
    if only:
        cfg["datasets"] = {k: v for k, v in cfg["datasets"].items() if k in only}
    if chunks:
        for ds in cfg["datasets"].values():
            ds["chunks"] = chunks
    (work / name).write_text(yaml.safe_dump(cfg))
    return name


def max_rss(work: Path, dataset: str, rule: str) -> float:
    values = []
    bench = work / f"results/{dataset}/benchmarks"
    for f in [*bench.glob(f"{rule}/*.tsv"), *bench.glob(f"{rule}.tsv")]:
        with f.open() as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                if row.get("max_rss") not in (None, "", "-", "NA"):
                    values.append(float(row["max_rss"]))
    return max(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/benchmarks/workflow.json")
    parser.add_argument("--full", action="store_true", help="also time config/config.yaml")
    args = parser.parse_args()
    result: dict = {"dag_seconds": {}, "memory_max_rss_mb": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for n in (2, 20, 200, 1000):
            name = config_with(work, f"c{n}.yaml", chunks=n)
            result["dag_seconds"][str(n)] = snakemake(work, "--configfile", name, "--dry-run")
        name = config_with(work, "t.yaml")
        result["test_config"] = {
            "from_scratch_seconds": snakemake(work, "--configfile", name, "--cores", "2"),
            "noop_rerun_seconds": snakemake(work, "--configfile", name, "--cores", "2"),
        }
        for n in (2, 8):
            sub = work / f"mem{n}"
            sub.mkdir()
            name = config_with(sub, "m.yaml", chunks=n, only={"ecal_stage2"})
            targets = [
                f"results/ecal_stage2/metrics/{m}.json" for m in ("simulation", "clustering")
            ]
            snakemake(sub, "--configfile", name, "--cores", "2", *targets)
            result["memory_max_rss_mb"][f"{n}_chunks"] = {
                rule: max_rss(sub, "ecal_stage2", rule) for rule in MEMORY_RULES
            }
            shutil.rmtree(sub)
        if args.full:
            full = work / "full"
            full.mkdir()
            cfg = ["--configfile", str(REPO / "config/config.yaml"), "--cores", "2"]
            result["default_config"] = {
                "from_scratch_seconds": snakemake(full, *cfg),
                "noop_rerun_seconds": snakemake(full, *cfg),
            }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
