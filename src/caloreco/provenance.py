"""Code provenance: which package modules a rule runs, derived from the source, and their hash.

Snakemake's code trigger sees a rule's script only, not the package code it imports. Every rule
therefore passes :func:`rule_code_hash` as a param: the hash of the transitive import closure of
its stage module ``caloreco.stages.<rule>`` inside the package, read from the source with
:mod:`ast` (nothing is imported). A change to a module re-runs exactly the rules whose closure
holds it; no table is kept by hand.

What counts as an import of module ``m``:

* ``import caloreco.a.b`` and ``from caloreco.a import b`` (also relative, ``from .b import f``),
  at module level or inside a function (lazy imports run too);
* the packages above a module (``caloreco/a/__init__.py`` runs when ``caloreco.a.b`` is
  imported);
* a string literal naming a package module, ``"caloreco.a.b"`` or ``"caloreco.a.b:function"``:
  how a registry loads code by name (the figure registry), followed only with
  ``follow_names=True``.
"""

from __future__ import annotations

import ast
import atexit
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

__all__ = [
    "PACKAGE",
    "PACKAGE_ROOT",
    "module_file",
    "package_modules",
    "direct_imports",
    "closure",
    "code_hash",
    "rule_code_hash",
    "notebook_imports",
]

PACKAGE = "caloreco"
PACKAGE_ROOT = Path(__file__).resolve().parent

_NAMED = re.compile(rf"^({PACKAGE}(?:\.[A-Za-z_][A-Za-z0-9_]*)+)(?::[A-Za-z_][A-Za-z0-9_]*)?$")


def module_file(name: str, root: Path = PACKAGE_ROOT) -> Path | None:
    """The source file of package module ``name`` (``caloreco.a.b``), or None if there is none."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = Path(root).joinpath(*parts[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def package_modules(root: Path = PACKAGE_ROOT) -> list[str]:
    """Every module of the package under ``root`` (sorted dotted names)."""
    root = Path(root)
    names = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).with_suffix("")
        parts = [PACKAGE, *rel.parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return sorted(names)


def _is_package(name: str, root: Path) -> bool:
    path = module_file(name, root)
    return path is not None and path.name == "__init__.py"


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _resolve_from(module: str, level: int, target: str | None, root: Path) -> str:
    """The absolute name of ``from <level dots><target> import ...`` inside ``module``."""
    if level == 0:
        return target or ""
    base = module.split(".")
    if not _is_package(module, root):
        base = base[:-1]  # a plain module's relative imports start from its package
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


# a quoted package module name somewhere in the source: only then are string constants looked at
_QUOTED_NAME = re.compile(
    rb"""["']%s(?:\.[A-Za-z_][A-Za-z0-9_]*)+(?::[A-Za-z_][A-Za-z0-9_]*)?["']""" % PACKAGE.encode()
)
# the fields of a statement that hold statements: imports are statements, so the search for them
# never descends into expressions (most of a module's nodes)
_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")


def _import_statements(tree: ast.Module) -> Iterable[ast.Import | ast.ImportFrom]:
    """Every import statement of a module, at any depth (functions, classes, if/try blocks)."""
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        for field in _BLOCKS:
            stack.extend(getattr(node, field, None) or ())


def _parse_imports(name: str, path: Path, src: bytes, root: Path) -> tuple[list[str], list[str]]:
    """(imported names, by-name references) of module ``name`` from one parse of ``src``."""
    tree = ast.parse(src, filename=str(path))
    imported: set[str] = set()
    for node in _import_statements(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        else:
            base = _resolve_from(name, node.level, node.module, root)
            imported.add(base)
            # ``from pkg import sub`` imports the submodule ``pkg.sub`` when there is one
            imported.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    named: set[str] = set()
    if _QUOTED_NAME.search(src):
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                m = _NAMED.match(node.value)
                if m:
                    named.add(m.group(1))
    return sorted(imported), sorted(named)


class _ScanCache:
    """Parse results kept on disk, like bytecode: ``<root>/__pycache__/provenance.<tag>.json``.

    Every Snakemake process (each SLURM job starts two) hashes every rule's closure, and parsing
    the package's sources is most of that. An entry is keyed by module name and file name and
    holds the SHA-256 of the source it was parsed from: a changed file is parsed again, so the
    cache can be stale but never wrong. It is written once at exit, merged with what other
    processes wrote meanwhile (atomic replace); an unreadable or unwritable cache is ignored.
    """

    def __init__(self) -> None:
        self._entries: dict[Path, dict[str, list]] = {}
        self._dirty: set[Path] = set()
        atexit.register(self.save)

    @staticmethod
    def file(root: Path) -> Path:
        return root / "__pycache__" / f"provenance.{sys.implementation.cache_tag}.json"

    @classmethod
    def _read(cls, root: Path) -> dict[str, list]:
        try:
            data = json.loads(cls.file(root).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def lookup(self, root: Path, key: str, digest: str) -> tuple[list[str], list[str]] | None:
        if root not in self._entries:
            self._entries[root] = self._read(root)
        hit = self._entries[root].get(key)
        if isinstance(hit, list) and len(hit) == 3 and hit[0] == digest:
            return hit[1], hit[2]
        return None

    def store(self, root: Path, key: str, digest: str, found: tuple[list[str], list[str]]) -> None:
        self._entries.setdefault(root, {})[key] = [digest, *found]
        self._dirty.add(root)

    def save(self) -> None:
        for root in sorted(self._dirty):
            path = self.file(root)
            merged = {**self._read(root), **self._entries[root]}
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            try:
                path.parent.mkdir(exist_ok=True)
                tmp.write_text(json.dumps(merged, sort_keys=True))
                os.replace(tmp, path)
            except OSError:
                tmp.unlink(missing_ok=True)
        self._dirty.clear()


_SCAN_CACHE = _ScanCache()


@lru_cache(maxsize=4096)
def _scan(name: str, root: Path, stamp: tuple[int, int]) -> tuple[frozenset[str], frozenset[str]]:
    """(imported names, by-name references) of module ``name``; ``stamp`` (mtime, size) makes
    an edited file be read again, the source's digest an edited file be parsed again."""
    path = module_file(name, root)
    assert path is not None
    src = path.read_bytes()
    key, digest = f"{name}:{path.name}", hashlib.sha256(src).hexdigest()
    found = _SCAN_CACHE.lookup(root, key, digest)
    if found is None:
        found = _parse_imports(name, path, src, root)
        _SCAN_CACHE.store(root, key, digest, found)
    return frozenset(found[0]), frozenset(found[1])


@lru_cache(maxsize=4096)
def _direct(name: str, root: Path, stamp: tuple[int, int], follow_names: bool) -> frozenset[str]:
    imported, named = _scan(name, root, stamp)
    found = imported | named if follow_names else imported
    out: set[str] = set()
    for mod in found:
        if module_file(mod, root) is not None:
            out.add(mod)
            out.update(p for p in _parents(mod) if module_file(p, root) is not None)
    out.discard(name)
    return frozenset(out)


def direct_imports(name: str, root: Path = PACKAGE_ROOT, follow_names: bool = True) -> set[str]:
    """Package modules that module ``name`` imports itself (and the packages above them).

    Raises:
        ValueError: ``name`` is not a module of the package under ``root``.
    """
    path = module_file(name, Path(root))
    if path is None:
        raise ValueError(f"module: {name!r} is not a module of {PACKAGE} under {root}")
    st = path.stat()
    return set(_direct(name, Path(root), (st.st_mtime_ns, st.st_size), follow_names))


def closure(
    names: str | Iterable[str], root: Path = PACKAGE_ROOT, follow_names: bool = True
) -> list[str]:
    """The transitive import closure of one or more package modules, themselves and the
    packages above them included (sorted dotted names)."""
    todo = [names] if isinstance(names, str) else list(names)
    seen: set[str] = set()
    for name in list(todo):
        todo.extend(p for p in _parents(name) if module_file(p, Path(root)) is not None)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(direct_imports(name, root, follow_names) - seen)
    return sorted(seen)


def code_hash(modules: Iterable[str], root: Path = PACKAGE_ROOT) -> str:
    """SHA-256 (16 hex digits) of the named modules' sources (names and bytes, sorted)."""
    h = hashlib.sha256()
    for name in sorted(set(modules)):
        path = module_file(name, Path(root))
        if path is None:
            raise ValueError(f"module: {name!r} is not a module of {PACKAGE} under {root}")
        h.update(name.encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def rule_code_hash(rule: str, *extra: str, root: Path = PACKAGE_ROOT) -> str:
    """The code hash of a rule: the closure of its stage module ``caloreco.stages.<rule>``.

    ``extra`` names further modules whose closures count (e.g. the one figure module a figure
    rule draws with); with ``extra`` the stage module's by-name references are not followed,
    so that a figure depends on its own plotting module only.
    """
    stage = f"{PACKAGE}.stages.{rule}"
    if module_file(stage, Path(root)) is None:
        raise ValueError(f"rule {rule!r}: no stage module {stage} under {root}")
    mods = set(closure(stage, root, follow_names=not extra))
    if extra:
        mods.update(closure(extra, root))
    return code_hash(mods, root)


def notebook_imports(path: str | Path, root: Path = PACKAGE_ROOT) -> list[str]:
    """Package modules imported by the code cells of a Jupyter notebook (sorted).

    A notebook executed by a rule runs package code that its stage module does not import; its
    imports count towards the rule's code hash. IPython magics (``%``, ``!`` lines) are skipped.
    """
    import json

    path = Path(path)
    try:
        cells = json.loads(path.read_text())["cells"]
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"notebook {path}: cannot be read as a Jupyter notebook ({exc})") from exc
    found: set[str] = set()
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        src = "".join(cell.get("source", []))
        code = "\n".join(ln for ln in src.splitlines() if not ln.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(code, filename=str(path))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
    return sorted(m for m in found if module_file(m, Path(root)) is not None)
