"""Conda environments (envs/*.yaml) agree with requirements.lock, and the rules name existing ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conftest import REPO

ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))
RULE_FILES = sorted((REPO / "workflow/rules").glob("*.smk"))
#: conda/pip requirement: name, operator, version (a version-less entry has no operator)
REQUIREMENT = re.compile(
    r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:(==|=|>=|<=|~=|!=|<|>)\s*(\S+))?\s*$"
)
#: a `conda:` directive whose value is a string literal on the same or the next line
CONDA_DIRECTIVE = re.compile(r"^\s*conda:\s*(?:#.*)?\n?\s*[\"']([^\"']+)[\"']", re.MULTILINE)


def canonical(name: str) -> str:
    """Package name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = REQUIREMENT.match(line)
        assert m and m.group(2) == "==", f"requirements.lock: {line!r} is not an exact pin"
        pins[canonical(m.group(1))] = m.group(3)
    return pins


def env_requirements(path: Path) -> tuple[list[str], list[str]]:
    """(conda dependencies, pip requirements) of a conda environment file."""
    env = yaml.safe_load(path.read_text())
    assert isinstance(env, dict) and "dependencies" in env, f"{path.name}: no dependencies"
    conda, pip = [], []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            assert set(dep) == {"pip"}, f"{path.name}: unexpected entry {dep}"
            pip.extend(str(p) for p in dep["pip"])
        else:
            conda.append(str(dep))
    return conda, pip


@pytest.fixture(scope="module")
def lock() -> dict[str, str]:
    return read_lock()


def test_there_are_environments():
    assert ENV_FILES, "envs/ holds no conda environment"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_pins_agree_with_lock(path, lock):
    conda, pip = env_requirements(path)
    python = [d for d in conda if re.match(r"python\b", d)]
    assert python, f"{path.name}: Python is not pinned"
    m = re.fullmatch(r"python\s*==?\s*(\d+)\.(\d+)(?:\.\d+)?", python[0])
    assert m, f"{path.name}: pin Python to a version (python=3.11), not {python[0]!r}"
    assert (int(m.group(1)), int(m.group(2))) >= (3, 11), "caloreco needs Python >= 3.11"
    pinned = 0
    for req in pip:
        if req.startswith("-"):  # options (-e .., --extra-index-url ...) carry no pin
            continue
        m = REQUIREMENT.match(req)
        assert m, f"{path.name}: cannot read pip requirement {req!r}"
        name, op, version = canonical(m.group(1)), m.group(2), m.group(3)
        assert name in lock, f"{path.name}: {req!r} is not in requirements.lock"
        assert op == "==", f"{path.name}: {req!r} must be pinned with == like the lock"
        assert version == lock[name], f"{path.name}: {req!r} but requirements.lock has {lock[name]}"
        pinned += 1
    for dep in conda:  # conda packages that are also in the lock must agree with it too
        m = REQUIREMENT.match(dep)
        assert m, f"{path.name}: cannot read conda dependency {dep!r}"
        name = canonical(m.group(1))
        if name in lock and name != "pip":
            assert m.group(3) is not None, f"{path.name}: {dep!r} has no version"
            assert m.group(3).lstrip("=") == lock[name], (
                f"{path.name}: {dep!r} vs lock {lock[name]}"
            )
            pinned += 1
    assert pinned, f"{path.name}: pins nothing"


def test_main_environment_is_the_whole_lock(lock):
    """envs/caloreco.yaml is the .venv of `make venv`: every locked package, same version."""
    _, pip = env_requirements(REPO / "envs/caloreco.yaml")
    names = {canonical(REQUIREMENT.match(r).group(1)) for r in pip if not r.startswith("-")}
    missing = sorted(set(lock) - names)
    assert not missing, f"envs/caloreco.yaml lacks locked packages: {missing}"
    assert "torch" in names


def test_every_conda_directive_names_an_existing_env():
    found = 0
    for smk in [REPO / "Snakefile", *RULE_FILES]:
        if not smk.exists():
            continue
        text = smk.read_text()
        for m in CONDA_DIRECTIVE.finditer(text):
            found += 1
            target = (smk.parent / m.group(1)).resolve()
            line = text.count("\n", 0, m.start()) + 1
            assert target.is_file(), f"{smk.name}:{line}: conda env {m.group(1)!r} does not exist"
            assert target.parent == REPO / "envs", f"{smk.name}:{line}: env outside envs/"
            env = yaml.safe_load(target.read_text())
            assert env.get("dependencies"), f"{smk.name}:{line}: {target.name} is empty"
    if not RULE_FILES:
        pytest.skip("no rule files yet")
    assert found, "no rule has a conda: directive"


def test_conda_directive_pattern_reads_both_layouts():
    text = 'rule a:\n    conda:\n        "../../envs/x.yaml"\nrule b:\n    conda: "envs/y.yaml"\n'
    assert [m.group(1) for m in CONDA_DIRECTIVE.finditer(text)] == [
        "../../envs/x.yaml",
        "envs/y.yaml",
    ]
