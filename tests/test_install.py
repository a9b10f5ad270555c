"""Installing anywhere: pyproject.toml declares every package lib/ imports (the default install runs training;
the `report` extra renders), with the versions requirements.txt pins as floors; requirements.txt and
environment.yml pin the same versions; paths resolve from the clone that holds the working directory, not from
where the package sits; the Makefile takes torch's CPU build from the PyTorch CPU wheel index when asked."""
from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mtbert.settings import is_project_root, repo_root

ROOT = repo_root()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
OPTIONAL_IMPORTS = {"huggingface_hub", "tabulate"}  # used when present: hub ids, prettier Markdown tables


def pins(lines) -> dict[str, str]:
    out = {}
    for line in lines:
        spec = str(line).split("#", 1)[0].strip()
        if "==" in spec:
            r = Requirement(spec)
            out[canonicalize_name(r.name)] = str(r.specifier).removeprefix("==")
    return out


REQUIREMENTS = pins((ROOT / "requirements.txt").read_text().splitlines())


def declared() -> dict[str, Requirement]:
    project = PYPROJECT["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    reqs += [Requirement(r) for extra in project["optional-dependencies"].values() for r in extra]
    return {canonicalize_name(r.name): r for r in reqs if canonicalize_name(r.name) != "mtbert"}


def test_requirements_and_environment_yml_pin_the_same_versions():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert pins(p for p in pip if p != "-e .") == REQUIREMENTS
    assert "-e ." in pip


def test_pyproject_declares_what_requirements_pin_with_the_pins_as_floors():
    dec = declared()
    assert set(dec) == set(REQUIREMENTS), f"only in pyproject: {set(dec) - set(REQUIREMENTS)}, only pinned: " \
                                          f"{set(REQUIREMENTS) - set(dec)}"
    for name, req in dec.items():
        assert req.specifier, f"{name} is declared without a version"
        assert req.specifier.contains(REQUIREMENTS[name], prereleases=True), f"{name}: {req} vs {REQUIREMENTS[name]}"


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_every_third_party_import_of_the_library_is_declared():
    project = PYPROJECT["project"]
    runtime = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    for extra in ("report", "tensorboard"):
        runtime |= {canonicalize_name(Requirement(r).name) for r in project["optional-dependencies"][extra]}
    dists = packages_distributions()
    modules = set().union(*(_imports(p) for p in (ROOT / "lib" / "mtbert").rglob("*.py")))
    third_party = {m for m in modules - set(sys.stdlib_module_names) - {"mtbert", "__future__"} - OPTIONAL_IMPORTS}
    undeclared = {m: dists.get(m) for m in third_party
                  if not {canonicalize_name(d) for d in dists.get(m, [m])} & runtime}
    assert not undeclared, f"imported by lib/mtbert but not declared in pyproject.toml: {undeclared}"


def _fake_clone(folder: Path) -> Path:
    (folder / "notebooks").mkdir(parents=True)
    (folder / "notebooks" / "01_base_bert.ipynb").write_text("{}")
    (folder / "pyproject.toml").write_text("")
    return folder


def test_paths_resolve_from_the_clone_of_the_working_directory(tmp_path):
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages" / "mtbert" / "settings.py"  # `pip install .`
    clone = _fake_clone(tmp_path / "clone")
    (clone / "results" / "quick").mkdir(parents=True)
    assert repo_root(cwd=clone, package_file=str(site)) == clone
    assert repo_root(cwd=clone / "results" / "quick", package_file=str(site)) == clone
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert repo_root(cwd=outside, package_file=str(site)) == outside  # no clone anywhere: the working directory
    source = _fake_clone(tmp_path / "source")  # an editable install, run outside any clone: the package's clone
    assert repo_root(cwd=outside, package_file=str(source / "lib" / "mtbert" / "settings.py")) == source
    assert is_project_root(ROOT) and not is_project_root(outside)


def test_the_command_line_resolves_its_folders_from_the_working_directory(tmp_path):
    clone = _fake_clone(tmp_path / "clone")
    code = ("from mtbert.settings import Settings; S = Settings.resolve(profile='smoke', device='cpu'); "
            "print(S.results_dir, S.data_dir, sep='\\n')")
    out = subprocess.run([sys.executable, "-c", code], cwd=clone, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT / "lib"), "PATH": "/usr/bin:/bin"}).stdout.split()
    assert out == [str(clone / "results" / "smoke"), str(clone / "data")]


@pytest.mark.parametrize("args,index", [((), None), (("TORCH_CPU=1",), "https://download.pytorch.org/whl/cpu"),
                                         (("TORCH_INDEX=https://example.org/simple",), "https://example.org/simple")])
def test_makefile_installs_torch_from_the_index_asked_for(tmp_path, args, index):
    out = subprocess.run(["make", "-n", "-B", "setup", f"VENV={tmp_path}/venv", *args], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    torch_line = next(ln for ln in out.splitlines() if "pip install torch==" in ln)
    assert (f"--index-url {index}" in torch_line) if index else "--index-url" not in torch_line
