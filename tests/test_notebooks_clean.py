"""The notebooks are the source: stored clean (nbstripout finds nothing to strip), with the kernelspec that
JupyterLab writes, and a tagged papermill `parameters` cell whose names the notebook edge accepts. The checks
hold for any edited notebook, not for one fixed list of cells (see the edited-notebook test)."""
import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbstripout import strip_output

from mtbert import notebook
from mtbert.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NAMES = ["01_base_bert.ipynb", "02_baselines.ipynb", "03_finetune.ipynb", "04_cosine.ipynb", "05_analysis.ipynb",
         "06_beyond.ipynb"]
# what JupyterLab (ipykernel) writes: opening a notebook must not change its metadata
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def committed_text(path: Path) -> str:
    """What the next commit holds for `path`: its staged blob when git tracks it (`git add` runs the nbstripout
    filter, so a working copy that JupyterLab saved with outputs is fine), else the file itself."""
    p = None
    if path.is_relative_to(ROOT):
        p = subprocess.run(["git", "show", f":{path.relative_to(ROOT).as_posix()}"], cwd=ROOT, capture_output=True,
                           text=True)
    return p.stdout if p is not None and p.returncode == 0 else path.read_text()


def check_clean(path: Path) -> None:
    nb = nbformat.reads(committed_text(path), as_version=4)
    stripped = strip_output(nbformat.from_dict(json.loads(json.dumps(nb))), keep_output=False, keep_count=False,
                            keep_id=False)
    assert nbformat.writes(stripped) == nbformat.writes(nb), \
        f"{path.name} has outputs, execution counts or random cell ids: run `nbstripout {path}` (or " \
        "`make setup` once, which installs nbstripout as a git filter)"
    assert nb.metadata.get("kernelspec") == KERNELSPEC, f"{path.name}: kernelspec is not JupyterLab's"


def check_parameters(path: Path) -> None:
    nb = nbformat.read(str(path), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0] is code[0], f"{path.name}: the first code cell must be tagged parameters"
    assigned = {t.id for node in ast.parse(tagged[0].source).body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)}
    accepted = set(notebook.PARAMETERS)
    assert accepted <= assigned, f"{path.name}: parameters cell lacks {accepted - assigned}"
    assert "notebook.setup(" in code[1].source, f"{path.name}: the cell after the parameters must call notebook.setup"
    passed = {k.arg for node in ast.walk(ast.parse(code[1].source)) if isinstance(node, ast.Call)
              and ast.unparse(node.func) == "notebook.setup" for k in node.keywords}
    assert accepted <= passed, f"{path.name}: notebook.setup is not given {accepted - passed} (as keywords)"


def test_all_notebooks_present():
    # `jupyter nbconvert --execute` by hand leaves NN_name.nbconvert.ipynb (git-ignored): not a source notebook
    assert sorted(p.name for p in NB_DIR.glob("*.ipynb") if not p.name.endswith(".nbconvert.ipynb")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_clean(name):
    check_clean(NB_DIR / name)


@pytest.mark.parametrize("name", NAMES)
def test_parameters_cell(name):
    check_parameters(NB_DIR / name)


def test_nbstripout_verify_agrees(tmp_path):
    files = []
    for n in NAMES:  # what the next commit holds (see committed_text)
        files.append(tmp_path / n)
        files[-1].write_text(committed_text(NB_DIR / n))
    p = subprocess.run([sys.executable, "-m", "nbstripout", "--verify", *map(str, files)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_an_edited_notebook_passes_once_stripped(tmp_path):
    """A user adds a markdown and a code cell in JupyterLab and runs it: outputs and a random id appear; the
    git filter (nbstripout) strips them, and the result passes every check: nothing compares cell lists."""
    path = tmp_path / NAMES[0]
    shutil.copy(NB_DIR / NAMES[0], path)
    nb = nbformat.read(str(path), as_version=4)
    md = nbformat.v4.new_markdown_cell("## My note\n\nA remark of mine.")
    code = nbformat.v4.new_code_cell("t1.describe()")
    code.outputs = [nbformat.v4.new_output("stream", text="some output\n")]
    code.execution_count = 7
    nb.cells += [md, code]
    nbformat.write(nb, str(path))
    with pytest.raises(AssertionError, match="nbstripout"):
        check_clean(path)
    subprocess.run([sys.executable, "-m", "nbstripout", str(path)], check=True)
    check_clean(path)
    check_parameters(path)
    assert "## My note" in path.read_text() and "t1.describe()" in path.read_text()


def test_setup_takes_the_parameters_by_name_and_refuses_an_unknown_one(tmp_path):
    S = notebook.setup(show=False, profile="smoke", store_dir=str(tmp_path), output_dir=None, train=False)
    assert (S.profile, S.store_root, S.train) == ("smoke", tmp_path, False)
    with pytest.raises(UsageError, match=r"unknown notebook parameter\(s\) \['store_root'\]; valid: profile, "):
        notebook.setup(show=False, profile="smoke", store_root=str(tmp_path))
