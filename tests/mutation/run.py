"""Mutation testing of the physics and metrics modules: mutmut, module by module, one worker.

Usage (``make mutation`` runs the first form)::

    python tests/mutation/run.py                       # every module of [tool.mutmut] only_mutate
    python tests/mutation/run.py --modules fitting split   # a subset (substring of the path)
    python tests/mutation/run.py --tests-from /work/main   # judge with another checkout's tests
    python tests/mutation/run.py --sample 60               # 60 seeded random mutants a module

The repository's ``[tool.mutmut]`` (pyproject.toml) names the modules and the unit-test files
that judge the mutants. Everything runs in a scratch copy (``--workdir``, default
``.mutation/``), so the checkout is never touched: mutmut mutates the copy's ``src``, runs the
tests once to learn which test calls which function, then for each mutant only those tests.

The score of a module is killed / total: a mutant counts as killed when a test fails (or it
times out); a mutant that no selected test reaches ("no tests") counts as survived. The result,
per module with the names of the surviving mutants, is written to ``results/mutation.json``
after every module (``mutmut show <name>`` in the workdir prints a mutant's diff).

``--sample N`` judges a seeded random sample of N mutants per module instead of all of them (the
full run of every module takes hours on two cores): the score is then an estimate, written with
its binomial standard error, and the same seed draws the same mutants for any ``--tests-from``
(the mutants depend on ``src`` only), so two test suites are compared on the same mutants.
``--reuse`` keeps an existing workdir (its mutants, test statistics and earlier results).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: what the tests need besides src/ and tests/ (the workflow tests are deselected, but
#: conftest and a few unit tests read config/, workflow/ and the lock)
TREE = ("src", "config", "workflow", "profiles", "envs", "Snakefile", "requirements.lock")
KILLED = {"killed", "timeout", "caught by type check"}


def module_name(path: str) -> str:
    """``src/caloreco/clustering/metrics.py`` -> ``caloreco.clustering.metrics``."""
    p = Path(path).with_suffix("")
    parts = p.parts[1:] if p.parts[0] == "src" else p.parts
    return ".".join(parts)


def toml_value(v) -> str:
    """A TOML value for the strings, lists, numbers and booleans of the mutmut config."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a TOML basic string
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def prepare(workdir: Path, tests_from: Path, config: dict, pytest_ini: dict) -> dict:
    """A fresh scratch copy with the tests of ``tests_from`` and the mutmut config."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache")
    for name in TREE:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, workdir / name, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, workdir / name)
    shutil.copytree(tests_from / "tests", workdir / "tests", ignore=ignore)
    cfg = dict(config)
    # test files named in the selection that this set of tests does not have are left out
    selection = []
    for arg in cfg.get("pytest_add_cli_args_test_selection", []):
        if arg.startswith("tests/") and not (workdir / arg.split("::")[0]).exists():
            continue
        selection.append(arg)
    cfg["pytest_add_cli_args_test_selection"] = selection
    lines = ["[tool.pytest.ini_options]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in pytest_ini.items() if k != "testpaths"]
    lines += ["", "[tool.mutmut]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in cfg.items()]
    (workdir / "pyproject.toml").write_text("\n".join(lines) + "\n")
    return cfg


def statuses(workdir: Path, source: str) -> dict[str, str]:
    """mutant name -> mutmut status, from the meta file mutmut keeps beside the mutated file."""
    from mutmut.stats import status_by_exit_code

    meta = workdir / "mutants" / (source + ".meta")
    if not meta.exists():
        return {}
    data = json.loads(meta.read_text())
    return {k: status_by_exit_code[v] for k, v in data["exit_code_by_key"].items()}


def summarize(status: dict[str, str], seconds: float, population: int | None = None) -> dict:
    """killed / total of ``status``; with ``population`` (a sample of that many mutants) also
    the binomial standard error of the score."""
    counts: dict[str, int] = {}
    for s in status.values():
        counts[s] = counts.get(s, 0) + 1
    total = len(status)
    killed = sum(n for s, n in counts.items() if s in KILLED)
    out = {
        "total": total,
        "killed": killed,
        "score": round(killed / total, 4) if total else None,
        "by_status": dict(sorted(counts.items())),
        "seconds": round(seconds, 1),
        "not_killed": sorted(k for k, s in status.items() if s not in KILLED),
    }
    if population is not None and total:
        p = killed / total
        out["sampled_of"] = population
        out["score_stderr"] = round(math.sqrt(p * (1 - p) / total), 4)
    return out


def sample_names(workdir: Path, source: str, n: int, seed: int) -> tuple[list[str], int]:
    """A seeded sample of ``n`` mutant names of ``source`` (all when it has fewer) and the
    number of its mutants."""
    meta = workdir / "mutants" / (source + ".meta")
    names = sorted(json.loads(meta.read_text())["exit_code_by_key"])
    rng = random.Random(f"{seed}:{source}")  # independent of the order the modules run in
    return sorted(rng.sample(names, min(n, len(names)))), len(names)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modules", nargs="*", help="substrings of the module paths to run")
    ap.add_argument("--workdir", type=Path, default=REPO / ".mutation")
    ap.add_argument("--tests-from", type=Path, default=REPO, help="checkout whose tests/ judge")
    ap.add_argument("--out", type=Path, default=REPO / "results/mutation.json")
    ap.add_argument("--sample", type=int, help="judge this many random mutants per module")
    ap.add_argument("--sample-seed", type=int, default=17)
    ap.add_argument("--reuse", action="store_true", help="keep an existing workdir")
    args = ap.parse_args(argv)

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    config = project["tool"]["mutmut"]
    sources = list(config["only_mutate"])
    if args.modules:
        sources = [s for s in sources if any(m in s for m in args.modules)]
        if not sources:
            ap.error(f"--modules {args.modules} match none of {config['only_mutate']}")
    workdir = args.workdir.resolve()
    if args.reuse and (workdir / "pyproject.toml").exists():
        cfg = tomllib.loads((workdir / "pyproject.toml").read_text())["tool"]["mutmut"]
    else:
        cfg = prepare(
            workdir, args.tests_from.resolve(), config, project["tool"]["pytest"]["ini_options"]
        )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the copy's src must win
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1", MPLBACKEND="Agg")
    mutmut = Path(sys.executable).with_name("mutmut")
    from mutmut import __version__

    result = {
        "tool": f"mutmut {__version__}",
        "tests_from": str(args.tests_from.resolve()),
        "test_selection": cfg["pytest_add_cli_args_test_selection"],
        "score": "killed / total; 'no tests' and 'survived' count as not killed",
        "modules": {},
    }
    if args.out.exists():  # keep the modules of an earlier run that this run does not redo
        try:
            old = json.loads(args.out.read_text())
            if old.get("tests_from") == result["tests_from"]:
                result["modules"] = old.get("modules", {})
        except (OSError, ValueError):
            pass
    if args.sample:
        result["sample"] = {"per_module": args.sample, "seed": args.sample_seed}
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    if args.sample and not all((workdir / "mutants" / (s + ".meta")).exists() for s in sources):
        # mutmut generates the mutants and the test statistics before it filters by name: a
        # name that matches nothing makes it stop right after (with an error, ignored here)
        with open(logs / "generate.log", "w") as log:
            subprocess.run(
                [str(mutmut), "run", "--max-children", "1", "no.such.mutant"],
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    if args.sample:
        # one mutmut run for the samples of every module: its clean-test run and start-up
        # are paid once (the seconds are those of the whole run)
        picked = {s: sample_names(workdir, s, args.sample, args.sample_seed) for s in sources}
        names = [n for ns, _ in picked.values() for n in ns]
        t0 = time.monotonic()
        with open(logs / "sample.log", "w") as log:
            proc = subprocess.run(
                [str(mutmut), "run", "--max-children", "1", *names],
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        seconds = time.monotonic() - t0
        if proc.returncode != 0:
            print(f"mutmut failed ({proc.returncode}), see {logs / 'sample.log'}")
            return proc.returncode
        result["sample"]["seconds"] = round(seconds, 1)
        for source, (ns, population) in picked.items():
            status = statuses(workdir, source)
            entry = summarize({k: status[k] for k in ns}, 0.0, population)
            del entry["seconds"]
            result["modules"][module_name(source)] = entry
            print(f"{module_name(source)}: {entry['killed']}/{entry['total']} sampled killed")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        return 0
    for source in sources:
        name = module_name(source)
        t0 = time.monotonic()
        with open(logs / f"{name}.log", "w") as log:
            proc = subprocess.run(
                [str(mutmut), "run", "--max-children", "1", f"{name}.*"],
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        seconds = time.monotonic() - t0
        if proc.returncode != 0:
            print(f"{name}: mutmut failed ({proc.returncode}), see {logs / (name + '.log')}")
            return proc.returncode
        # mutant keys carry the module name; functions of other modules are not in this file
        entry = summarize(statuses(workdir, source), seconds)
        result["modules"][name] = entry
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"{name}: {entry['killed']}/{entry['total']} killed ({seconds:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
