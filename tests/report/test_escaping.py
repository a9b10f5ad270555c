"""Nothing a result holds becomes live HTML: markup in a stored result (environment, encoder name), a partial
run's name and the run notes reaches the report page escaped, under a Content-Security-Policy that allows no script;
tables and styled frames escape their cells. Everything writes under pytest's tmp dirs."""
from __future__ import annotations

import re

import pytest

from mtbert.core.experiments import run_config
from mtbert.data import datasets as D
from mtbert.results import store
from mtbert.results.result_set import ResultSet

DATA = D.default_data_dir()
needs_data = pytest.mark.skipif(not (DATA / "ids-sst-train.csv").exists(), reason="run `make data` first")
MARKUP = '<script>alert(1)</script><img src=x onerror=alert(1)>'


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):  # conftest.py
    yield


def assert_inert(page: str) -> None:
    assert "<script" not in page.lower() and "<img src=x" not in page and "onerror=alert(1)>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, escaped
    assert re.search(r'<meta[^>]*http-equiv="Content-Security-Policy"', page)
    csp = re.search(r'<meta content="([^"]*)"[^>]*Content-Security-Policy', page).group(1)
    assert "default-src 'none'" in csp and "script-src" not in csp and "unsafe-eval" not in csp
    assert not re.search(r"<(?:script|link|iframe)[^>]*\b(?:src|href)=[\"']?https?://", page, re.I)


@needs_data
@pytest.mark.training
@pytest.mark.report
def test_markup_in_a_result_reaches_the_report_escaped(settings, tmp_path):
    """A stored smoke result with markup in environment.cpu, environment.torch, encoder.name, then the report's
    setup section exported as the report page."""
    from mtbert.report import build
    from mtbert.training import engine
    S = settings(tmp_path)
    engine.run("t1_sst_pretrain", S)
    path = store.result_path(run_config("t1_sst_pretrain", "smoke"), S)
    r = store.read_result(path)
    r["environment"].update(cpu=MARKUP, torch=MARKUP, device=MARKUP)
    r["encoder"]["name"] = MARKUP
    store.write_json(path, r)
    (S.results_dir / "partial").mkdir()
    store.write_json(S.results_dir / "partial" / f"{MARKUP.replace('/', '_')}.json", {"epochs_done": 1})
    store.write_text(S.results_dir / "RUN_NOTES.md", f"Run on a lent GPU. {MARKUP}\n")
    nb = build.merge_notebooks([], build.summary_markdown(ResultSet.load(S)), "probe")
    page = build.export_html(nb, tmp_path / "report.html", "probe").read_text()
    assert_inert(page)
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4  # encoder, device, torch, run notes


def test_tables_and_styled_frames_escape_their_cells():
    import pandas as pd
    from mtbert.analysis import tables as T
    df = pd.DataFrame({"run": [MARKUP], "device": ["cpu"]})
    assert "<" not in T.markdown_table(df)
    styled = T.show(df).to_html()
    assert "<script>" not in styled and "&lt;script&gt;" in styled
