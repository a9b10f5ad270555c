"""The package's shape: no import points up the declared layer order (the package docstring) and no import cycle
between modules of lib/mtbert (also none hidden by an import inside a function), every module imports on its own in a fresh interpreter, and no issue-tracker number in the library,
the notebooks, the scripts, the tests or the documentation (they say what is meant instead)."""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import mtbert

REPO = Path(__file__).resolve().parents[1]
LIB = REPO / "lib"


def module_files() -> dict[str, Path]:
    """{dotted name: file} of every module of lib/mtbert."""
    out = {}
    for p in sorted((LIB / "mtbert").rglob("*.py")):
        parts = p.relative_to(LIB).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def imported_modules(path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of lib/mtbert that `path` imports anywhere (at the top or inside a function):
    `from mtbert.x import y` counts as mtbert.x.y when that is a module, else as mtbert.x."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("mtbert"):
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out.add(sub if sub in modules else node.module)
    return out & set(modules)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph as [a, b, ..., a], or None (depth-first search, three colours)."""
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == "open":
                return stack[stack.index(t):] + [t]
            if t not in state:
                found = visit(t)
                if found:
                    return found
        stack.pop()
        state[m] = "done"
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_between_modules():
    modules = module_files()
    graph = {m: imported_modules(p, modules) - {m} for m, p in modules.items()}
    assert len(graph) > 20 and graph["mtbert.results.store"], "the import graph was not read"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle (counting imports inside functions): " + " -> ".join(cycle)


def third_party_imports(modules: dict[str, Path]) -> list[str]:
    """The libraries that modules of lib/mtbert import at their top (torch, pandas, ...): not mtbert's."""
    out = set()
    for p in modules.values():
        for node in ast.parse(p.read_text(encoding="utf-8")).body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            out |= {n for n in names if n.split(".")[0] not in ("mtbert", "__future__")}
    return sorted(out)


# -- layers ---------------------------------------------------------------------------------------------------

def declared_layers(doc: str) -> list[tuple[str, list[str]]]:
    """[(layer, [module prefixes])] from the indented block of the package docstring, bottom first."""
    return [(m[1], m[2].split()) for m in re.finditer(r"^    ([a-z]+) +(mtbert[\w. ]*)$", doc, re.MULTILINE)]


def layer_index(module: str, layers) -> int | None:
    """The layer of a dotted module name: the longest declared prefix that contains it."""
    best, best_len = None, -1
    for i, (_, prefixes) in enumerate(layers):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best_len:
                best, best_len = i, len(p)
    return best


def imports_of(path: Path, modules) -> list[tuple[int, str]]:
    """(line, module) of every import of a module of lib/mtbert in `path`, anywhere in the file."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {(node.lineno, a.name) for a in node.names if a.name.startswith("mtbert.")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("mtbert."):
            out |= {(node.lineno, f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module)
                    for a in node.names}
    return sorted(out)


def upward_imports(layers) -> list[str]:
    modules = module_files()
    bad = []
    for name, path in modules.items():
        if name == "mtbert":
            continue
        here = layer_index(name, layers)
        assert here is not None, f"{name} is in no declared layer"
        for line, target in imports_of(path, modules):
            there = layer_index(target, layers)
            if there is not None and there > here:
                bad.append(f"{path.relative_to(LIB)}:{line}: {layers[here][0]} imports {target} ({layers[there][0]})")
    return bad


def test_layers_are_declared_once_bottom_first():
    layers = declared_layers(mtbert.__doc__)
    names = [n for n, _ in layers]
    assert names[0] == "core" and names[-1] == "edges" and len(set(names)) == len(names) >= 8
    assert layer_index("mtbert.core.config", layers) == 0 and layer_index("mtbert.cli", layers) == len(layers) - 1


def test_no_import_points_up_the_layers():
    bad = upward_imports(declared_layers(mtbert.__doc__))
    assert bad == [], "imports that point up the declared layer order:\n" + "\n".join(bad)


def test_an_upward_import_is_found():
    layers = [("low", ["mtbert.data"]), ("high", ["mtbert.analysis"])]
    assert layer_index("mtbert.analysis.tables", layers) == 1 and layer_index("mtbert.datax", layers) is None
    upside_down = [("bottom", ["mtbert.errors", "mtbert.settings", "mtbert.core", "mtbert.report"]), *[
        (n, p) for n, p in declared_layers(mtbert.__doc__) if n not in ("core", "report")]]
    assert any("imports mtbert.report" in b for b in upward_imports(upside_down[::-1]))


# -- function size --------------------------------------------------------------------------------------------

MAX_LINES, MAX_PARAMS = 60, 6
# the functions still over the limits, each with why; the list may only shrink
OVER_THE_LIMITS: dict[str, str] = {}


def functions_over_the_limits() -> dict[str, str]:
    """{module.qualified name: "N lines, M parameters"} of every function of lib/mtbert over either limit
    (self and cls not counted)."""
    out = {}
    for name, path in module_files().items():
        def visit(node, prefix):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.ClassDef):
                    visit(child, f"{prefix}{child.name}.")
                elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    a = child.args
                    params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *filter(None, (a.vararg, a.kwarg))]
                    n = len([x for x in params if x.arg not in ("self", "cls")])
                    lines = child.end_lineno - child.lineno + 1
                    if n > MAX_PARAMS or lines > MAX_LINES:
                        out[f"{name}.{prefix}{child.name}"] = f"{lines} lines, {n} parameters"
                    visit(child, f"{prefix}{child.name}.")
        visit(ast.parse(path.read_text(encoding="utf-8")), "")
    return out


def test_no_new_function_over_the_limits():
    over = functions_over_the_limits()
    new = {k: v for k, v in over.items() if k not in OVER_THE_LIMITS}
    assert new == {}, f"functions over {MAX_LINES} lines or {MAX_PARAMS} parameters: {new}"
    assert set(OVER_THE_LIMITS) <= set(over), f"no longer over the limits, drop from the list: {set(OVER_THE_LIMITS) - set(over)}"


# -- the read side: the report, its tables and figures read results through one loaded ResultSet ------------

STORE_READERS = {"load_result", "stored_seeds", "stored", "read_result", "read_json", "stored_file", "result_path"}
# the report's docs blocks read committed files that are not a profile's runs (benchmarks, the SST lever screen)
READS_OTHER_FILES = {"mtbert.report.docs"}


def store_reads(path: Path) -> list[str]:
    """`store.<reader>` uses and `from mtbert.results.store import <reader>` imports in one file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "store" \
                and node.attr in STORE_READERS:
            out.append(f"line {node.lineno}: store.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "mtbert.results.store":
            out += [f"line {node.lineno}: imports {a.name}" for a in node.names if a.name in STORE_READERS]
    return out


def test_analysis_and_report_read_results_only_through_a_result_set():
    reads = {name: r for name, path in module_files().items()
             if name.startswith(("mtbert.analysis", "mtbert.report")) and name not in READS_OTHER_FILES
             and (r := store_reads(path))}
    assert reads == {}, f"read the store themselves instead of a ResultSet: {reads}"


def test_a_store_read_is_found(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("from mtbert.results import store\nfrom mtbert.results.store import load_result\n"
                 "def f(S):\n    return store.stored_seeds('x', S)\n")
    assert store_reads(f) == ["line 2: imports load_result", "line 4: store.stored_seeds"]


# Each module is imported first in a process of its own: one interpreter loads the third-party libraries once,
# then forks a child per module, which imports that module before any other module of mtbert is loaded.
IMPORT_EACH = r"""
import importlib, os, sys, traceback
for lib in os.environ["THIRD_PARTY"].split():  # cannot take part in a cycle of mtbert's; loaded once
    importlib.import_module(lib)
assert not [m for m in sys.modules if m.split(".")[0] == "mtbert"]
failed = []
for name in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        failed.append(name)
print("FAILED", " ".join(failed))
"""


@pytest.mark.slow  # a fresh interpreter loading torch, pandas, scipy and matplotlib: about 7 s of CPU
def test_every_module_imports_on_its_own():
    modules = module_files()
    names = sorted(m for m in modules if not m.endswith(".__main__"))  # __main__ runs the command line
    env = {**os.environ, "PYTHONPATH": str(LIB), "OMP_NUM_THREADS": "1",
           "THIRD_PARTY": " ".join(third_party_imports(modules))}
    p = subprocess.run([sys.executable, "-c", IMPORT_EACH, *names], capture_output=True, text=True, timeout=300,
                       env=env, cwd=REPO)
    assert p.returncode == 0 and p.stdout.strip() == "FAILED", p.stdout[-3000:] + p.stderr[-6000:]


# "issue 12", "Issue #13", "issues 10 and 12": numbers of the project's tracker mean nothing to a reader
ISSUE_NUMBER = re.compile(r"\bissues?\s*#?\s*\d", re.IGNORECASE)
THIS = Path(__file__).resolve()  # quotes the forbidden forms below
TEXT_SUFFIXES = {".py", ".md", ".ipynb", ".sh", ".txt", ".csv", ".toml", ".cfg"}


def _text_files():
    for root in ("lib", "notebooks", "scripts", "bench", "tests"):
        for p in sorted((REPO / root).rglob("*")):
            if p.is_file() and p.suffix in TEXT_SUFFIXES and "__pycache__" not in p.parts and p != THIS:
                yield p
    yield from sorted(REPO.glob("*.md"))
    yield from sorted((REPO / "results").rglob("*.md"))
    yield from sorted((REPO / "data").glob("*.md"))


def test_no_issue_numbers_in_code_notebooks_or_docs():
    hits = []
    files = list(_text_files())
    assert any(p.name == "06_beyond.ipynb" for p in files) and any(p.parent.name == "text" for p in files)
    for p in files:
        for i, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if ISSUE_NUMBER.search(line):
                hits.append(f"{p.relative_to(REPO)}:{i}: {line.strip()[:100]}")
    assert hits == [], "say what is meant instead of an issue number:\n" + "\n".join(hits)


def test_issue_pattern_matches_the_forms_it_forbids():
    for s in ("issue 12", "Issue 13 (reliability)", "issue #7", "issues 10", "(issue 12's targets)"):
        assert ISSUE_NUMBER.search(s), s
    for s in ("a known issue", "issues with the data", "tissue 12"):
        assert not ISSUE_NUMBER.search(s), s
