"""The report notebooks are stored clean (no outputs, no execution counts), their first code cell is the
papermill `parameters` cell defining profile/encoder/seeds/data_dir/force, and they match their generator."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NAMES = ["01_base_bert.ipynb", "02_baselines.ipynb", "03_finetune.ipynb", "04_cosine.ipynb", "05_analysis.ipynb"]
PARAMS = {"profile", "encoder", "seeds", "data_dir", "force"}


def _cells(name):
    return json.loads((NB_DIR / name).read_text())["cells"]


def _src(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_all_notebooks_present():
    assert sorted(p.name for p in NB_DIR.glob("*.ipynb")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_no_outputs(name):
    for i, c in enumerate(_cells(name)):
        if c["cell_type"] == "code":
            assert c.get("outputs") == [], f"{name} cell {i} has outputs: clear them (make_notebooks.py)"
            assert c.get("execution_count") is None, f"{name} cell {i} has an execution count"


@pytest.mark.parametrize("name", NAMES)
def test_parameters_cell(name):
    code = [c for c in _cells(name) if c["cell_type"] == "code"]
    first = code[0]
    assert "parameters" in first["metadata"].get("tags", []), f"{name}: first code cell is not tagged parameters"
    assigned = {t.id for node in ast.parse(_src(first)).body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)}
    assert PARAMS <= assigned, f"{name}: parameters cell lacks {PARAMS - assigned}"
    assert 'os.environ.get("MTBERT_PROFILE")' in _src(first)


def test_generator_reproduces_notebooks(tmp_path):
    subprocess.run([sys.executable, str(NB_DIR / "make_notebooks.py"), str(tmp_path)], check=True,
                   capture_output=True)
    for name in NAMES:
        assert (tmp_path / name).read_text() == (NB_DIR / name).read_text(), \
            f"{name} differs from what notebooks/make_notebooks.py writes: regenerate it"
