"""Run every benchmark script and merge their JSON into one report with a printed table.

Usage: python benchmarks/run_all.py [--out results/benchmarks.json] [--only NAME ...]

Each ``benchmarks/bench_*.py`` takes ``--out PATH`` and writes a JSON object; this runner calls
them one after another (so they do not compete for cores), then prints every number it finds
beside the peer it was measured against.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/benchmarks.json")
    parser.add_argument("--only", nargs="*", help="benchmark names (bench_<name>.py) to run")
    args = parser.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.only]
    report: dict[str, object] = {}
    for script in scripts:
        name = script.stem.removeprefix("bench_")
        part = out.with_name(f"{out.stem}-{name}.json")
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script), "--out", str(part)], text=True)
        if proc.returncode != 0 or not part.exists():
            report[name] = {"error": f"exit code {proc.returncode}"}
            continue
        report[name] = json.loads(part.read_text())
        report[name]["_wall_seconds"] = round(time.perf_counter() - t0, 2)
        part.unlink()
    out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(f"\n{'benchmark':<28} {'figure':<44} {'value':>14}")
    for name, result in report.items():
        for key, value in _flatten(result):
            print(f"{name:<28} {key:<44} {value:>14}")
    print(f"\nwritten to {out}")
    return 0 if all("error" not in r for r in report.values()) else 1


def _flatten(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _flatten(v, f"{prefix}{k}." if not isinstance(v, dict) else f"{prefix}{k}.")
    elif isinstance(obj, int | float):
        yield prefix.rstrip("."), f"{obj:.4g}" if isinstance(obj, float) else str(obj)


if __name__ == "__main__":
    sys.exit(main())
