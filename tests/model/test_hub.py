"""Encoders from the Hugging Face hub (mtbert.model.checkpoint.resolve_encoder): a silent hub times out with one
message naming the fix; typos of 'default' are caught before anything is sent to the hub, while real hub ids are
fetched as they are. Servers bind to 127.0.0.1 only."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mtbert.model.checkpoint import CheckpointError, resolve_encoder

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable


def test_silent_hub_times_out(tmp_path):
    import socket
    import time
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)  # accepts connections (the kernel completes the handshake) and never answers
    port = srv.getsockname()[1]
    code = ("from mtbert.model.checkpoint import resolve_encoder, CheckpointError\n"
            "try:\n    resolve_encoder('some-org/some-bert', timeout=2)\n"
            "except CheckpointError as e:\n    print('ERR', e)\n")
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_HOME": str(tmp_path / "hf"),
           "PYTHONPATH": str(REPO / "lib")}
    env.pop("HF_HUB_OFFLINE", None)
    t0 = time.time()
    try:
        p = subprocess.run([PY, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    finally:
        srv.close()
    assert time.time() - t0 < 30
    assert "ERR could not fetch encoder 'some-org/some-bert'" in p.stdout, p.stdout + p.stderr
    assert "within 2 s" in p.stdout and "TimeoutError" in p.stdout and "local directory" in p.stdout


@pytest.mark.parametrize("typo", ["defualt", "Default", "DEFAULT", "deafult", "dafault", "all-minilm-l6-v2",
                                  "sentence-transformers/ALL-MiniLM-L6-V2"])
def test_default_typos_are_not_sent_to_the_hub(typo, monkeypatch):
    import huggingface_hub
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: pytest.fail("sent to the hub"))
    with pytest.raises(CheckpointError) as ei:
        resolve_encoder(typo)
    assert repr(typo) in str(ei.value) and "did you mean 'default'" in str(ei.value)


def test_surrounding_spaces_are_not_a_typo():
    from mtbert.model.checkpoint import canonical_encoder
    assert canonical_encoder(" default ") == canonical_encoder("all-MiniLM-L6-v2") == "default"


@pytest.mark.parametrize("hub_id", ["sentence-transformers/all-MiniLM-L12-v2", "bert-base-uncased", "prajjwal1/bert-tiny"])
def test_real_hub_ids_are_not_taken_for_typos(hub_id, monkeypatch, tmp_path):
    from mtbert.model import checkpoint
    asked = []
    monkeypatch.setattr(checkpoint, "_hub_download", lambda name, timeout: asked.append(name) or tmp_path)
    assert resolve_encoder(hub_id) == tmp_path and asked == [hub_id]
