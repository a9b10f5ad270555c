"""End to end: `python -m mtbert report --profile smoke --output-dir TMP` (the repository's report/ and
figures/ stay untouched). Uses --no-train when every smoke result is stored (about 2 minutes on
a 2-core CPU, mostly kernel start-up and matplotlib); otherwise it trains the smoke runs first."""
import html
import os
import re
import subprocess
import sys

import pytest

from mtbert.analysis import tables as T
from mtbert.core.experiments import REGISTRY
from mtbert.settings import Settings, repo_root
from mtbert.results.store import load_result
from mtbert.results.result_set import ResultSet


def _smoke_stored() -> bool:
    S = Settings.resolve(profile="smoke")
    return all(load_result(n, S) is not None for n in REGISTRY)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    cmd = [sys.executable, "-m", "mtbert", "report", "--profile", "smoke", "--output-dir", str(out),
           "--no-progress"]
    if _smoke_stored():
        cmd.append("--no-train")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MTBERT_")}
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return out, (out / "report" / "smoke" / "report.html").read_text(encoding="utf-8")


def _text(h: str) -> str:
    h = re.sub(r"<(style|script)\b.*?</\1>", " ", h, flags=re.S)
    h = re.sub(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+", "IMG", h)
    return html.unescape(re.sub(r"<[^>]+>", " ", h))


@pytest.mark.report
@pytest.mark.notebook
def test_title_and_setup_section(report):
    _, h = report
    assert "<title>Multitask BERT reproduction report (profile smoke)</title>" in h
    t = _text(h)
    for s in ("all-MiniLM-L6-v2", "Quora train file", "held-out", "Device:", "Seeds with stored results:", "wall time",
              "Quora duplicate"):
        assert s in t, f"setup section lacks {s!r}"


@pytest.mark.report
@pytest.mark.notebook
def test_all_tables_and_paper_rows(report):
    out, h = report
    t = _text(h)
    for title in ("Table 1", "Table 2", "Table 3", "Table 4", "Table 5", "Every number of the paper"):
        assert title in t, f"report lacks {title}"
    for v in T.paper_tables()["variant"].unique():
        assert v in t, f"report lacks the paper row variant {v!r}"
    for name in ("table1", "table2", "table3", "table4", "table5", "paper_comparison"):
        d = out / "report" / "smoke" / "tables"
        assert (d / f"{name}.csv").exists() and (d / f"{name}.md").exists()
    assert "missing" not in t.split("Table 5")[-1].split("Beyond the paper")[0]


@pytest.mark.report
@pytest.mark.notebook
def test_no_code_and_checks_run_but_hidden(report):
    out, h = report
    assert "import torch" not in h and "paper_table(" not in h, "code cells should be hidden"
    assert "all checks passed" not in _text(h) and "Checks" not in _text(h), "checks are for us, not readers"
    for nb in ("01_base_bert", "02_baselines", "03_finetune", "04_cosine", "05_analysis", "06_beyond"):
        assert "all checks passed" in (out / "report" / "smoke" / f"{nb}.ipynb").read_text(), nb


@pytest.mark.report
@pytest.mark.notebook
def test_training_curves_embedded(report):
    out, h = report
    assert h.count("data:image/png;base64,") >= 9
    for sub in ("submission 1", "submission 2"):
        i = h.index(f"Training curves: {sub}")
        nxt = h.find("<h2", i + 1)
        assert "data:image/png;base64," in h[i:nxt], f"no embedded image under the curves of {sub}"
    for name in ("curves_submission1", "curves_submission2", "errors_submission2", "paper_vs_ours"):
        d = out / "figures" / "smoke"
        assert (d / f"{name}.png").exists() and (d / f"{name}.svg").exists()
    assert (out / "report" / "smoke" / "05_analysis.ipynb").exists()


@pytest.mark.report
@pytest.mark.notebook
def test_executed_notebooks_hold_no_machine_path(report):
    out, _ = report
    for nb in (out / "report" / "smoke").glob("*.ipynb"):
        text = nb.read_text()
        assert str(repo_root()) not in text and "IProgress" not in text, nb.name


def test_partial_results_line_survives_a_damaged_file(tmp_path, monkeypatch):
    from mtbert.report.build import _partial_line
    S = Settings.resolve(profile="full", store_root=tmp_path)
    assert _partial_line(ResultSet.load(S)) == ""
    d = tmp_path / "results" / "full" / "partial"
    d.mkdir(parents=True)
    (d / "submission2__seed1.json").write_text('{"epochs_done": 5}')
    (d / "stray.json").write_text("{not json")
    line = _partial_line(ResultSet.load(S))
    assert "`submission2__seed1` (5 of the epochs)" in line
    assert "`stray` (unreadable" in line


@pytest.mark.report
@pytest.mark.notebook
def test_reads_like_a_paper(report):
    """Findings first (headline numbers, the claims table with verdicts), the five sections, a conclusion; the
    contents list links to unique headings; every image has alternative text."""
    _, h = report
    t = _text(h)
    assert t.index("Findings") < t.index("1. Base BERT") < t.index("5. Analysis") < t.index("Conclusion")
    assert "scaled-down check" in t  # the smoke profile says what it is
    findings = t.split("Our reading")[0]
    assert "verdict" in findings and any(v in findings for v in ("holds", "does not hold", "cannot be decided"))
    ids = re.findall(r'\bid="([^"]+)"', h)
    dup = {i for i in ids if ids.count(i) > 1}
    assert not dup, f"duplicate ids: {sorted(dup)[:5]}"
    for target in re.findall(r'href="#([^"]+)"', h):
        assert target in ids, f"contents link #{target} has no target"
    alts = re.findall(r"<img [^>]*alt=\"([^\"]*)\"", h)
    assert len(alts) >= 9 and not any("No description" in a for a in alts), alts[:3]
    assert "IProgress" not in h and "[nan" not in t and "NaN" not in t.split("Setup of this run")[0]


def test_report_images_are_palette_pngs_of_the_same_size():
    import base64
    import io
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image
    from mtbert.report.build import _palette_png
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot(range(10), [x * x for x in range(10)])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    full = buf.getvalue()
    small = base64.b64decode(_palette_png(base64.b64encode(full).decode()))
    a, b = Image.open(io.BytesIO(full)), Image.open(io.BytesIO(small))
    assert b.mode == "P" and b.size == a.size and len(small) < len(full)
