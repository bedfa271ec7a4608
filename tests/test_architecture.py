"""The shape of the code, checked from the source with ``ast`` (nothing is imported or run).

1. No import cycle between scanner's modules, nor between its parts (``scanner.probe``,
   ``scanner.targets``, ...): a cycle means neither side can be understood or tested alone.
2. One direction of flow: targets -> probe -> evaluate (pure) -> results -> renderers / stores.
   A stage never imports the stages after it, and the pure engine imports no I/O at all.
3. No private name of another library: an upgrade can change or drop it without a word.

Every ``import`` counts: at module level, inside functions, under ``if TYPE_CHECKING``. An import
of ``scanner.a.b`` is an edge to the module ``scanner.a.b`` (Python also runs the package
``scanner/a/__init__.py`` first, but a package that imports its own submodules is not a cycle);
``from scanner.a import name`` is an edge to ``scanner.a.name`` when that is a module, else to
the package ``scanner.a`` itself (so a submodule reading its package's ``__init__`` while that
imports the submodule is a cycle, as it should be).
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

SCANNER = Path(__file__).resolve().parent.parent / "scanner"

# ---- known offenders ------------------------------------------------------------------------
# Empty since issue 12 landed: no import cycle, no flow-rule breach, no private name of another
# library. An entry (importer module, imported module) or (file, private name) may only be added
# with a comment naming who removes it and when; an entry whose offence is gone fails
# ``test_allow_lists_are_not_stale``, and any offence not listed fails the test that finds it.
ALLOWED_EDGES: dict[tuple[str, str], str] = {
}
ALLOWED_PRIVATE: dict[tuple[str, str], str] = {
}

# ---- the flow rules: (importer part, parts it must not import, why) --------------------------
DOWNSTREAM_OF_ENGINE = ("scanner.lab", "scanner.probe", "scanner.results", "scanner.report", "scanner.cli",
                        "scanner.history")
FLOW_RULES: list[tuple[str, tuple[str, ...], str]] = [
    ("scanner.evaluate", DOWNSTREAM_OF_ENGINE, "the engine is pure: captured bytes in, verdicts out"),
    ("scanner.checks", DOWNSTREAM_OF_ENGINE, "the check catalogue is part of the pure engine"),
    ("scanner.checks", ("scanner.evaluate",), "the checks are run by the engine; they never import it"),
    ("scanner.facts", (*DOWNSTREAM_OF_ENGINE, "scanner.evaluate", "scanner.checks"),
     "the certificate model is read by the engine and the checks; it imports neither"),
    ("scanner.results", ("scanner.evaluate", "scanner.checks"),
     "the results model stores verdicts; it does not run the engine"),
    ("scanner.report", ("scanner.evaluate", "scanner.checks", "scanner.probe"),
     "renderers read only the results file (an old file must not show today's registry)"),
    ("scanner.targets", ("scanner.probe", "scanner.evaluate", "scanner.checks", "scanner.results",
                         "scanner.report", "scanner.history", "scanner.cli", "scanner.lab"),
     "targets come first: the probe reads them, never the other way round"),
    ("scanner.probe", ("scanner.evaluate", "scanner.checks", "scanner.results", "scanner.report",
                       "scanner.history", "scanner.cli", "scanner.lab"),
     "the probe captures; judging and storing happen after it"),
    ("scanner.csr", ("scanner.lab", "scanner.probe", "scanner.results", "scanner.report", "scanner.history",
                     "scanner.cli"), "the CSR checker is pure, like the engine it shares"),
]
# The test PKI and loopback servers are for tests, benchmarks and `dccscan demo` only.
LAB_USERS = ("scanner.lab", "scanner.cli")

# Names that do not start with '_' but are a library's undocumented internals.
UNDOCUMENTED = {"scan_once", "make_scanner", "c_make_scanner", "py_make_scanner", "scanstring",
                "c_scanstring", "py_scanstring"}


# ---- reading the source --------------------------------------------------------------------

@dataclass(frozen=True)
class Module:
    name: str  # scanner.probe.tls; a package is named by its folder (scanner.probe)
    path: Path
    tree: ast.Module

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"

    @property
    def relpath(self) -> str:
        return self.path.relative_to(SCANNER.parent).as_posix()


@functools.cache
def modules() -> dict[str, Module]:
    found: dict[str, Module] = {}
    for path in sorted(SCANNER.rglob("*.py")):
        parts = list(path.relative_to(SCANNER.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        found[name] = Module(name, path, ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return found


def _imported_names(module: Module, node: ast.Import | ast.ImportFrom) -> list[str]:
    """Full dotted names an import statement reaches (``from a import b`` gives ``a.b``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    return [f"{base}.{alias.name}" for alias in node.names]


def _scanner_module(dotted: str) -> str | None:
    """The most specific scanner module a dotted name lies in (None outside scanner)."""
    known = modules()
    while dotted and dotted not in known:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


@functools.cache
def graph() -> dict[str, frozenset[str]]:
    """Module -> the scanner modules it imports (anywhere in the file)."""
    edges: dict[str, frozenset[str]] = {}
    for module in modules().values():
        targets = set()
        for node in ast.walk(module.tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for dotted in _imported_names(module, node):
                    target = _scanner_module(dotted)
                    if target is not None and target != module.name:
                        targets.add(target)
        edges[module.name] = frozenset(targets)
    return edges


def allowed_graph() -> dict[str, set[str]]:
    return {source: {t for t in targets if (source, t) not in ALLOWED_EDGES} for source, targets in graph().items()}


def part(module: str) -> str:
    """The part of the code a module belongs to: ``scanner.probe`` for ``scanner.probe.tls``."""
    return ".".join(module.split(".")[:2])


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _describe_cycle(component: list[str], edges: dict[str, set[str]]) -> str:
    members = set(component)
    inner = sorted(f"{a} -> {b}" for a in component for b in edges.get(a, ()) if b in members)
    return "{" + ", ".join(component) + "}: " + "; ".join(inner)


# ---- 1. no cycles ----------------------------------------------------------------------------

def test_the_import_graph_is_read() -> None:
    """Guards the tests below against reading nothing: known edges must be seen."""
    edges = graph()
    assert "scanner.probe.tls" in edges and "scanner.probe.bio" in edges["scanner.probe.tls"]
    assert "scanner.targets" in edges["scanner.probe.runner"]  # the probe reads its targets
    assert "scanner.probe.errors" in edges["scanner.probe.tls"]  # 'from scanner.probe import errors'


def test_no_cycle_between_modules() -> None:
    edges = allowed_graph()
    found = cycles(edges)
    assert not found, "import cycles between modules (break them; a shared leaf module usually does):\n" + \
        "\n".join(_describe_cycle(c, edges) for c in found)


def test_no_cycle_between_parts() -> None:
    """``scanner.probe`` and ``scanner.targets`` (and every other pair of parts) may depend on
    each other in one direction only, even through different modules."""
    edges: dict[str, set[str]] = {}
    for source, targets in allowed_graph().items():
        for target in targets:
            if part(source) != part(target):
                edges.setdefault(part(source), set()).add(part(target))
    found = cycles(edges)
    detail = []
    for component in found:
        members = set(component)
        detail.append(_describe_cycle(component, edges) + " via " + "; ".join(
            sorted(f"{s} -> {t}" for s, ts in allowed_graph().items() for t in ts
                   if part(s) in members and part(t) in members and part(s) != part(t))))
    assert not found, "import cycles between parts of scanner:\n" + "\n".join(detail)


def test_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


# ---- 2. one direction of flow ----------------------------------------------------------------

def test_flow_rules() -> None:
    broken = []
    for source, targets in allowed_graph().items():
        for importer, forbidden, why in FLOW_RULES:
            if not within(source, importer):
                continue
            for target in sorted(targets):
                if any(within(target, f) for f in forbidden):
                    broken.append(f"{source} imports {target}: {why}")
    for source, targets in allowed_graph().items():
        if not any(within(source, user) for user in LAB_USERS):
            broken += [f"{source} imports {target}: the lab is test and demo estate, not product code"
                       for target in sorted(targets) if within(target, "scanner.lab")]
    assert not broken, "imports against the direction of flow:\n" + "\n".join(broken)


# ---- 3. no private names of other libraries --------------------------------------------------

def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def class_attributes(tree: ast.Module) -> set[str]:
    """Attribute names a file's classes define: methods, class-level names, ``self.x = ``
    assignments and ``__slots__``."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.add(item.name)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    names.add(item.target.id)
                elif isinstance(item, ast.Assign):
                    names.update(t.id for t in item.targets if isinstance(t, ast.Name))
                    if any(isinstance(t, ast.Name) and t.id == "__slots__" for t in item.targets):
                        names.update(c.value for c in ast.walk(item.value)
                                     if isinstance(c, ast.Constant) and isinstance(c.value, str))
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) \
                            and sub.value.id in ("self", "cls"):
                        names.add(sub.attr)
    return names


@functools.cache
def scanner_attributes() -> frozenset[str]:
    """Every attribute name scanner's own classes define. ``obj._x`` is ours only when ``_x`` is
    one of these: a module-level ``def _x`` does not make ``conn._x`` ours."""
    return frozenset(name for module in modules().values() for name in class_attributes(module.tree))


def _foreign_bindings(module: Module) -> dict[str, str]:
    """Local names bound by importing something outside scanner: name -> what it is."""
    bound: dict[str, str] = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _scanner_module(alias.name) is None:
                    bound[alias.asname or alias.name.split(".")[0]] = alias.name
        elif isinstance(node, ast.ImportFrom) and not node.level and _scanner_module(node.module or "") is None:
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bound


def private_uses(module: Module) -> list[tuple[int, str, str]]:
    """(line, name, how) for every private name of another library ``module`` uses."""
    found: list[tuple[int, str, str]] = []
    foreign = _foreign_bindings(module)
    ours = scanner_attributes() | class_attributes(module.tree)
    for node in ast.walk(module.tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.ImportFrom) and (node.level or _scanner_module(node.module or "")):
                continue
            for dotted in _imported_names(module, node):
                if _scanner_module(dotted) is not None:
                    continue
                # 'import a._b', 'from a._b import c', 'from a import _b'
                parts = dotted.split(".")
                for index, piece in enumerate(parts):
                    if _is_private(piece) or piece in UNDOCUMENTED:
                        found.append((node.lineno, ".".join(parts[: index + 1]), f"imports {dotted}"))
                        break
        elif isinstance(node, ast.Attribute) and (_is_private(node.attr) or node.attr in UNDOCUMENTED):
            if _foreign_attribute(node.value, node.attr, foreign, ours):
                found.append((node.lineno, node.attr, f"reads .{node.attr} of {ast.unparse(node.value)}"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("getattr", "hasattr", "setattr", "delattr") and len(node.args) >= 2 \
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
            name = node.args[1].value
            if (_is_private(name) or name in UNDOCUMENTED) and _foreign_attribute(node.args[0], name, foreign, ours):
                found.append((node.lineno, name, f"{node.func.id}({ast.unparse(node.args[0])}, {name!r})"))
    return found


def _foreign_attribute(owner: ast.expr, name: str, foreign: dict[str, str], ours: frozenset[str]) -> bool:
    """Whether ``owner.name`` reaches into another library rather than into scanner's code."""
    if isinstance(owner, ast.Name) and owner.id in foreign:
        return True  # a module or class imported from a library: SSL._x, json._x
    if isinstance(owner, ast.Name) and owner.id in modules_imported_as_names():
        return False  # another scanner module: tls._context (its own business, not a library's)
    return name not in ours


@functools.cache
def modules_imported_as_names() -> frozenset[str]:
    """Local names scanner binds to its own modules (``from scanner.report import _facts``)."""
    names: set[str] = set()
    for module in modules().values():
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ImportFrom):
                for dotted, alias in zip(_imported_names(module, node), node.names):
                    if dotted in modules():
                        names.add(alias.asname or alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if _scanner_module(alias.name) is not None:
                        names.add(alias.asname or alias.name.split(".")[0])
    return frozenset(names)


def test_no_private_names_of_other_libraries() -> None:
    offences = []
    for module in modules().values():
        for line, name, how in private_uses(module):
            if (module.relpath, name) not in ALLOWED_PRIVATE:
                offences.append(f"{module.relpath}:{line}: {how}")
    assert not offences, "private names of other libraries (use their public API):\n" + "\n".join(offences)


def test_private_name_finder_finds_what_it_should() -> None:
    """The finder on the shapes the old code used, and on what it must leave alone."""
    source = '''
import json
from OpenSSL._util import ffi
from markupsafe import _speedups
from cryptography.x509.name import _escape_dn_value
import trio._core as core
from scanner.report import _facts

class Ours:
    __slots__ = ("_slot",)
    def __init__(self):
        self._mine = 1

def f(ctx, conn, oid, other):
    ctx._context
    conn._ssl
    getattr(oid, "_name", None)
    json.JSONDecoder().scan_once
    json._private
    other._mine, other._slot, other.__class__, _facts._x
'''
    module = Module("scanner.example", SCANNER / "example.py", ast.parse(source))
    names = sorted({name for _line, name, _how in private_uses(module)})
    assert names == sorted(["OpenSSL._util", "markupsafe._speedups", "cryptography.x509.name._escape_dn_value",
                            "trio._core", "_context", "_ssl", "_name", "scan_once", "_private"])


# ---- the allow-lists shrink ------------------------------------------------------------------

def test_allow_lists_are_not_stale() -> None:
    edges = graph()
    stale = [f"edge {a} -> {b} ({owner})" for (a, b), owner in ALLOWED_EDGES.items() if b not in edges.get(a, ())]
    uses = {(m.relpath, name) for m in modules().values() for _line, name, _how in private_uses(m)}
    stale += [f"private {path}: {name} ({owner})" for (path, name), owner in ALLOWED_PRIVATE.items()
              if (path, name) not in uses]
    assert not stale, "fixed offences still allow-listed in tests/test_architecture.py; delete:\n" + "\n".join(stale)
