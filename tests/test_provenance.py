"""Code provenance: a rule's code hash is the import closure of its stage module, derived from
the source. Editing a module changes exactly the hashes of the rules whose closure holds it; the
closure itself is checked against hand-written import graphs and against Python's own imports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from caloreco import provenance
from caloreco.provenance import (
    PACKAGE_ROOT,
    closure,
    direct_imports,
    notebook_imports,
    package_modules,
    rule_code_hash,
)

STAGES = sorted(m.rsplit(".", 1)[1] for m in package_modules() if m.startswith("caloreco.stages."))
MODULES = package_modules()


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory) -> Path:
    """A private copy of the package whose files the tests edit."""
    root = tmp_path_factory.mktemp("pkg") / "caloreco"
    shutil.copytree(PACKAGE_ROOT, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.fixture(scope="module")
def base_hashes(package_copy) -> dict[str, str]:
    return {r: rule_code_hash(r, root=package_copy) for r in STAGES}


@pytest.mark.parametrize("module", MODULES)
def test_editing_a_module_changes_exactly_the_rules_that_run_it(module, package_copy, base_hashes):
    path = provenance.module_file(module, package_copy)
    original = path.read_bytes()
    try:
        path.write_bytes(original + b"\n# an edit\n")
        changed = {r for r in STAGES if rule_code_hash(r, root=package_copy) != base_hashes[r]}
    finally:
        path.write_bytes(original)
    expected = {r for r in STAGES if module in closure(f"caloreco.stages.{r}", package_copy)}
    assert changed == expected
    # restoring the content restores every hash
    assert {r: rule_code_hash(r, root=package_copy) for r in STAGES} == base_hashes


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def test_every_import_form_is_found(tmp_path):
    """A hand-made package with each way Python code can import a module, and the closure that
    each implies (worked out by hand)."""
    root = _write(
        tmp_path / "caloreco",
        {
            "__init__.py": "",
            "plain.py": "X = 1\n",
            "lazy.py": "Y = 2\n",
            "named.py": "Z = 3\n",
            "unused.py": "W = 4\n",
            "pkg/__init__.py": '"""lean: imports nothing"""\n',
            "pkg/sub.py": "from . import sibling\nfrom .deep.leaf import f\n",
            "pkg/sibling.py": "import caloreco.plain\n",
            "pkg/deep/__init__.py": "",
            "pkg/deep/leaf.py": "def f():\n    from caloreco import lazy\n    return lazy.Y\n",
            "reg.py": 'REG = {"k": "caloreco.named:Z", "text": "not caloreco at all"}\n',
            "stages/__init__.py": "",
            "stages/a.py": "from caloreco.pkg.sub import f\n",
            "stages/b.py": "import caloreco.reg\n",
            "stages/c.py": "from caloreco.pkg import sibling\n",
        },
    )
    assert closure("caloreco.stages.a", root) == sorted(
        [
            "caloreco",
            "caloreco.stages",
            "caloreco.stages.a",
            "caloreco.pkg",
            "caloreco.pkg.sub",
            "caloreco.pkg.sibling",  # relative "from . import sibling"
            "caloreco.plain",  # absolute "import caloreco.plain" one level down
            "caloreco.pkg.deep",  # the package above leaf runs on import
            "caloreco.pkg.deep.leaf",  # "from .deep.leaf import f"
            "caloreco.lazy",  # imported inside a function
        ]
    )
    # a registry naming a module by string pulls it in; without follow_names it does not
    assert "caloreco.named" in closure("caloreco.stages.b", root)
    assert "caloreco.named" not in closure("caloreco.stages.b", root, follow_names=False)
    # "from package import module" imports the module, not the package's other modules
    assert closure("caloreco.stages.c", root) == sorted(
        [
            "caloreco",
            "caloreco.stages",
            "caloreco.stages.c",
            "caloreco.pkg",
            "caloreco.pkg.sibling",
            "caloreco.plain",
        ]
    )
    assert direct_imports("caloreco.pkg.sub", root) == {
        "caloreco",
        "caloreco.pkg",
        "caloreco.pkg.sibling",
        "caloreco.pkg.deep",
        "caloreco.pkg.deep.leaf",
    }
    with pytest.raises(ValueError, match="nope"):
        rule_code_hash("nope", root=root)


def test_imports_in_every_kind_of_block_are_found(tmp_path):
    """Imports are statements and may sit in any block; each block kind hides a different module
    (the search walks statements only, never expressions)."""
    blocks = {
        "m_class": "class C:\n    import caloreco.m_class\n",
        "m_method": "class C:\n    def f(self):\n        import caloreco.m_method\n",
        "m_async": "async def f():\n    import caloreco.m_async\n",
        "m_else": "if X:\n    pass\nelif Y:\n    pass\nelse:\n    import caloreco.m_else\n",
        "m_except": "try:\n    pass\nexcept ImportError:\n    import caloreco.m_except\n",
        "m_try_else": "try:\n    pass\nexcept E:\n    pass\nelse:\n    import caloreco.m_try_else\n",
        "m_finally": "try:\n    pass\nfinally:\n    import caloreco.m_finally\n",
        "m_with": "with ctx():\n    import caloreco.m_with\n",
        "m_for_else": "for i in x:\n    pass\nelse:\n    import caloreco.m_for_else\n",
        "m_while": "while x:\n    from caloreco import m_while\n",
        "m_case": "match x:\n    case 1:\n        import caloreco.m_case\n",
    }
    files = {"__init__.py": "", "host.py": "".join(blocks.values())}
    files.update({f"{m}.py": "" for m in blocks})
    root = _write(tmp_path / "caloreco", files)
    assert direct_imports("caloreco.host", root) == {"caloreco", *(f"caloreco.{m}" for m in blocks)}
    # a quoted name only in an expression deep inside a call is still a by-name reference
    (root / "host.py").write_text('x = f(g(["caloreco.m_case:run"]))\n')
    assert direct_imports("caloreco.host", root) == {"caloreco", "caloreco.m_case"}
    assert direct_imports("caloreco.host", root, follow_names=False) == set()


#: run in one fresh interpreter: imports the third-party libraries the stages use once, then
#: forks a child per stage module that imports it and reports the package modules it loaded
#: (the libraries load no package module, so sharing them changes nothing but the time: one
#: interpreter a stage took 2-9 s each, most of it importing torch, pandas and matplotlib)
_LOADED_BY_STAGE = r"""
import importlib, json, os, sys
for lib in ("numpy", "scipy.stats", "pandas", "pyarrow.parquet", "torch", "sklearn.ensemble",
            "matplotlib.pyplot", "numba", "iminuit", "uproot", "awkward", "yaml"):
    try:
        importlib.import_module(lib)
    except ImportError:
        pass
assert not [m for m in sys.modules if m.split(".")[0] == "caloreco"]
out = {}
for rule in sys.argv[1:]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        importlib.import_module("caloreco.stages." + rule)
        mods = sorted(m for m in sys.modules if m.split(".")[0] == "caloreco")
        os.write(w, json.dumps(mods).encode())
        os._exit(0)
    os.close(w)
    data = b"".join(iter(lambda: os.read(r, 1 << 16), b""))
    os.close(r)
    if os.waitpid(pid, 0)[1] != 0:
        sys.exit("importing caloreco.stages." + rule + " failed")
    out[rule] = json.loads(data)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def loaded_by_stage() -> dict[str, set[str]]:
    """{rule: the package modules Python loads when importing caloreco.stages.<rule>}."""
    env = {"PYTHONPATH": str(PACKAGE_ROOT.parent), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", _LOADED_BY_STAGE, *STAGES],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {rule: set(mods) for rule, mods in json.loads(proc.stdout).items()}


@pytest.mark.parametrize("rule", STAGES)
def test_closure_holds_every_module_python_imports(rule, loaded_by_stage):
    """Whatever Python itself loads when importing a stage module is in its closure (the static
    closure may hold more: imports inside functions)."""
    loaded = loaded_by_stage[rule]
    assert f"caloreco.stages.{rule}" in loaded
    assert loaded <= set(closure(f"caloreco.stages.{rule}"))


def test_the_closures_of_the_main_rules():
    """What the rules of issue 11 must (not) depend on."""
    cluster = closure("caloreco.stages.cluster")
    assert "caloreco.clustering.metrics" not in cluster  # scoring is not clustering
    assert "caloreco.clustering.connected" in cluster and "caloreco.io.raw" in cluster
    assert "caloreco.seeds" in closure("caloreco.stages.simulate")  # the random streams
    assert "caloreco.seeds" in closure("caloreco.stages.import_data")
    assert "caloreco.clustering.metrics" in closure("caloreco.stages.clustering_metrics")
    windows = closure("caloreco.stages.windows")
    assert {"caloreco.io.raw", "caloreco.geometry", "caloreco.regression.windows"} <= set(windows)
    assert "torch" not in " ".join(windows)  # classical code does not pull in the networks
    assert "caloreco.nn.training" not in closure("caloreco.regression.profile_fit")
    assert "caloreco.nn.training" not in closure("caloreco.regression.log_cog")


def test_figure_rules_depend_on_their_own_plotting_module_only(package_copy):
    from caloreco.plotting.registry import FIGURES, figure_module

    def hashes():
        return {k: rule_code_hash("figure", figure_module(k), root=package_copy) for k in FIGURES}

    path = provenance.module_file("caloreco.plotting.regression", package_copy)
    original = path.read_bytes()
    before = hashes()
    try:
        path.write_bytes(original + b"\n# an edit\n")
        after = hashes()
    finally:
        path.write_bytes(original)
    changed = {k for k in FIGURES if after[k] != before[k]}
    assert changed == {"windows", "residuals", "resolution", "abspos"}


def test_notebook_imports_are_read_from_the_code_cells(tmp_path):
    nb = {
        "cells": [
            {"cell_type": "markdown", "source": ["import caloreco.split\n"]},
            {
                "cell_type": "code",
                "source": ["%matplotlib inline\n", "from caloreco.io.raw import read_raw\n"],
            },
            {"cell_type": "code", "source": ["import caloreco.fitting as f\n", "import numpy\n"]},
        ]
    }
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(nb))
    assert notebook_imports(path) == ["caloreco.fitting", "caloreco.io.raw"]
    path.write_text("not json")
    with pytest.raises(ValueError, match=r"n\.ipynb"):
        notebook_imports(path)


def _closure_in_new_process(root: Path, module: str) -> list[str]:
    code = f"from caloreco.provenance import closure; print(closure({module!r}, {str(root)!r}))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return eval(out)  # noqa: S307 (a list of names printed by the child above)


def test_parse_cache_on_disk_is_used_only_for_the_source_it_was_parsed_from(tmp_path):
    root = _write(
        tmp_path / "caloreco",
        {"__init__.py": "", "a.py": "import caloreco.b\n", "b.py": "", "c.py": ""},
    )
    want = ["caloreco", "caloreco.a", "caloreco.b"]
    assert _closure_in_new_process(root, "caloreco.a") == want
    # the first process left its parse of a.py on disk, keyed by the source's digest
    cache = provenance._ScanCache.file(root)
    entries = json.loads(cache.read_text())
    assert entries["caloreco.a:a.py"][1] == ["caloreco.b"]
    # an entry for the same digest is trusted: a forged one shows that it is read ...
    entries["caloreco.a:a.py"][1] = ["caloreco.c"]
    cache.write_text(json.dumps(entries))
    assert _closure_in_new_process(root, "caloreco.a") == ["caloreco", "caloreco.a", "caloreco.c"]
    # ... and an edited source (another digest) is parsed again, whatever the cache says
    (root / "a.py").write_text("import caloreco.b  # edited\n")
    assert _closure_in_new_process(root, "caloreco.a") == want
    # an unreadable cache is ignored and rewritten
    cache.write_text("{not json")
    assert _closure_in_new_process(root, "caloreco.a") == want
    assert json.loads(cache.read_text())["caloreco.a:a.py"][1] == ["caloreco.b"]
