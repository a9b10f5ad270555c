"""An empty or fully invalid split is an error naming the file, the reason and the fix (the splits of
mtbert.data.datasets as mtbert.training.batches prepares them, and a run's check before it trains), never a run
scored on nothing: a header-only dev file stores nothing, even past the checksum. Everything writes under pytest's
tmp dirs."""
from __future__ import annotations

import pytest

from mtbert.data import datasets as D
from mtbert.data import identity as datahash
from mtbert.model.checkpoint import resolve_encoder
from mtbert.training import batches

DATA = D.default_data_dir()
needs_data = pytest.mark.skipif(not (DATA / "ids-sst-train.csv").exists(), reason="run `make data` first")


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):  # conftest.py
    yield


def _prepare(task, split, data_dir):
    batches.prepare.cache_clear()
    return batches.prepare(batches.SplitKey(task, split, str(resolve_encoder(None)), 64, None, str(data_dir)))


@needs_data
@pytest.mark.parametrize("content,reason", [
    ("id\tsentence\tsentiment\n", "no data rows"),
    ("id\tsentence\tsentiment\na1\tfine film\t9\na2\tbad film\tx\n", "2 invalid label"),
])
def test_empty_or_invalid_sst_dev_split_is_an_error(data, content, reason):
    (data / "ids-sst-dev.csv").write_text(content)
    with pytest.raises(D.DataError) as ei:
        _prepare("sst", "dev", data)
    msg = str(ei.value)
    assert "ids-sst-dev.csv" in msg and reason in msg and "empty" in msg and f"mtbert data --dest {data}`" in msg


@needs_data
def test_sts_comma_decimals_are_skipped_rows_and_an_error(tmp_path):
    rows = ["id\tsentence1\tsentence2\tsimilarity"] + [f"s{i}\ta man sings\ta man plays\t{i % 5},5" for i in range(8)]
    (tmp_path / "sts-dev.csv").write_text("\n".join(rows) + "\n")
    d = D.load("sts", "dev", tmp_path)
    assert len(d) == 0 and d.n_skipped == 8 and d.skip_reasons == {"invalid label": 8}
    with pytest.raises(D.DataError, match=r"sts-dev.csv.*8 rows skipped: 8 invalid label"):
        _prepare("sts", "dev", tmp_path)


@needs_data
def test_header_only_dev_file_stores_nothing(S, data, run, paths):
    (data / "ids-sst-dev.csv").write_text("id\tsentence\tsentiment\n")
    with pytest.raises(D.DataError, match="ids-sst-dev.csv"):
        run(S, data)
    monkeypatched = pytest.MonkeyPatch()
    try:  # even past the checksum (a file not in the published list), the empty split stops the run
        monkeypatched.setattr(datahash, "verify_full", lambda cfg, data_dir=None: {})
        with pytest.raises(D.DataError, match="sst dev split is empty"):
            run(S, data)
    finally:
        monkeypatched.undo()
    assert not paths(S)[1].exists()
