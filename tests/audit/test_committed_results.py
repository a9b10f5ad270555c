"""Audits of the committed results (results/full, results/quick): every stored result keeps its config hash, its
run id and the data hashes of the files it was trained on, and is current for the data here. They read the
repository's stores, not a test's tmp dir, so they run behind their own marker (`make test-audit`; `make test`
runs them too)."""
from __future__ import annotations

import json

import pytest

from mtbert.core.config import HASH_OMITTED_DEFAULTS, RunConfig
from mtbert.core.experiments import run_config
from mtbert.data import datasets as D
from mtbert.data import identity as datahash
from mtbert.results import store
from mtbert.settings import Settings, repo_root

REPO = repo_root()
pytestmark = pytest.mark.audit
needs_data = pytest.mark.skipif(not (D.default_data_dir() / "ids-sst-train.csv").exists(), reason="run `make data` first")


def test_submission2_hash_matches_the_stored_full_result():
    stored = json.loads((REPO / "results" / "full" / "submission2.json").read_text())
    cfg = run_config("submission2", "full", stored["seed"])
    assert cfg.hash() == stored["config_hash"]
    assert {k: getattr(cfg, k) for k in HASH_OMITTED_DEFAULTS} == HASH_OMITTED_DEFAULTS  # later knobs, at defaults


@needs_data
@pytest.mark.parametrize("folder", ["full", "quick"])
def test_every_committed_result_keeps_its_hashes_and_stays_current(folder):
    """The registry rebuilds each result's config (same hash, same run id), the stored config hashes to its
    recorded hash, the data hashes are those of the files here, and the store finds it current."""
    files = sorted((REPO / "results" / folder).glob("*.json"))
    assert files
    for p in files:
        r = json.loads(p.read_text())
        c = r["config"]
        rebuilt = run_config(c["experiment"], c["profile"], c["seed"], c["encoder"])
        assert rebuilt.hash() == r["config_hash"] and rebuilt.run_id == r["run_id"], p.name
        cfg = RunConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in c.items()})
        assert cfg.hash() == r["config_hash"], p.name
        assert r["data"]["files"] == {f.name: D.FILES[f.name] for f in datahash.files_for(cfg)}, p.name
        assert store.stored(cfg, Settings.resolve(profile=folder)) is not None, p.name
