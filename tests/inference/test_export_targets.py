"""Where `python -m mtbert export` writes: an empty --out is a usage error (never the current folder), a target
that cannot be written is one message and nothing is written, a folder that appears meanwhile is never merged into,
and a link is resolved to the folder it points to (a dangling one is refused). One stored smoke run in pytest's
tmp dirs."""
from __future__ import annotations

import errno
import os
import tempfile

import pytest

from mtbert import cli
from mtbert.data import datasets as D
from mtbert.errors import UsageError
from mtbert.settings import Settings
from mtbert.training import engine

DATA = D.default_data_dir()
needs_data = pytest.mark.skipif(not (DATA / "ids-sst-train.csv").exists(), reason="run `make data` first")
NAME = "t1_sst_pretrain"  # frozen encoder, cached features: a run takes about a second


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):  # conftest.py
    yield


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory, one_thread):
    root = tmp_path_factory.mktemp("store")
    S = Settings.resolve(profile="smoke", device="cpu", store_root=root, output_root=root, progress=False)
    engine.run(NAME, S)
    return S


@needs_data
@pytest.mark.training
@pytest.mark.parametrize("out", ["", "   "])
def test_export_to_an_empty_out_is_a_usage_error(stored_run, tmp_path, monkeypatch, capsys, out):
    from mtbert.inference.export import export
    monkeypatch.chdir(tmp_path)
    (tmp_path / "README.md").write_text("mine")
    with pytest.raises(UsageError, match="--out is empty"):
        export(NAME, stored_run, 11711, out, force=True)
    assert cli.main(["export", NAME, "--profile", "smoke", "--store-dir", str(stored_run.store_root), "--out", out,
                     "--force"]) == 2
    assert "--out is empty" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"] and (tmp_path / "README.md").read_text() == "mine"


@needs_data
@pytest.mark.training
def test_export_that_cannot_be_written_is_one_message(stored_run, tmp_path, monkeypatch):
    from mtbert.inference import export as X
    out = tmp_path / "ro" / "model"

    def read_only(*a, **k):  # what a read-only parent answers (chmod does not stop root)
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(k.get("dir", "")))
    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    with pytest.raises(X.ExportError, match=rf"cannot write the export to {out}: .*EACCES.*nothing was written"):
        X.export(NAME, stored_run, 11711, out)
    monkeypatch.undo()
    assert not out.exists()


@needs_data
@pytest.mark.training
def test_export_refuses_a_folder_that_appears_meanwhile(stored_run, tmp_path, monkeypatch):
    from mtbert.inference import export as X
    out = tmp_path / "model"
    real = X.save_encoder

    def and_someone_creates_out(*a, **k):
        out.mkdir()
        (out / "theirs.txt").write_text("theirs")
        return real(*a, **k)
    monkeypatch.setattr(X, "save_encoder", and_someone_creates_out)
    with pytest.raises(X.ExportError, match="appeared or changed while the export was written"):
        X.export(NAME, stored_run, 11711, out)
    assert sorted(p.name for p in out.iterdir()) == ["theirs.txt"]  # never merged into it
    assert not list(tmp_path.glob(".model.*.tmp"))


@needs_data
@pytest.mark.training
def test_export_through_a_link_writes_the_folder_it_points_to(stored_run, tmp_path):
    from mtbert.inference import export as X
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    r = X.export(NAME, stored_run, 11711, tmp_path / "link")
    assert r["out"] == tmp_path / "real" and (tmp_path / "real" / "model.safetensors").is_file()
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(X.ExportError, match="which does not exist"):
        X.export(NAME, stored_run, 11711, tmp_path / "dangling")
    assert not (tmp_path / "nowhere").exists()
