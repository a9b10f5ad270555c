"""The report's prose (mtbert.report.build): the helpers write sentences, never a raw dict, and notebook 03 takes
its batch size from them instead of a typed number."""
from __future__ import annotations

import json
from pathlib import Path

from mtbert.results.result_set import ResultSet

REPO = Path(__file__).resolve().parents[2]


def test_prose_helpers_print_no_raw_dict(settings, tmp_path):
    from mtbert.report import build
    S = settings(tmp_path)
    fake = {"submission1": [{"seed": 11711}, {"seed": 1}], "submission2": [{"seed": 11711}]}
    for text in (build.seed_counts_prose(fake), build.seeds_table_markdown(["submission1"], ResultSet.load(S)), build.seeds_prose(ResultSet.load(S)),
                 build.batch_size_prose({"a": {"config": {"batch_size": 8}}, "b": {"config": {"batch_size": 8}}}, S)):
        assert "{" not in text and "'" not in text.replace("'s", "")
    assert "Batch size 8" in build.batch_size_prose({"a": {"config": {"batch_size": 8}}}, S)


def test_notebook_03_derives_the_batch_size():
    nb = json.loads((REPO / "notebooks" / "03_finetune.ipynb").read_text())
    text = "".join("".join(c["source"]) for c in nb["cells"])
    assert "batch size 32" not in text and "batch_size_prose(" in text
