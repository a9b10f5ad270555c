"""Issue 13 (reliability and security): each defect found by probing, as a test so that none can come back.

Archives cannot run code or escape (mtbert.unpack, scripts/gpu_unpack.sh); checkpoints load with
weights_only=True; data files are verified and part of a result's identity; empty splits, divergence, a silent
hub and damaged files are errors that name what to fix; interrupted or forced runs leave no stale state.
Everything writes under pytest's tmp dirs; runs use the smoke profile with tiny overrides."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from mtbert import unpack as U
from mtbert.errors import MtbertError

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable


# -- 1. archives -------------------------------------------------------------------------------------

def _tar(path: Path, members) -> Path:
    """members: (name, bytes) for a regular file, (name, ('sym'|'lnk', target)) for a link, (name, None) dir."""
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            if data is None:
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            elif isinstance(data, tuple):
                ti.type = tarfile.SYMTYPE if data[0] == "sym" else tarfile.LNKTYPE
                ti.linkname = data[1]
                tf.addfile(ti)
            else:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    return path


EVIL_MAKEFILE = b"setup data:\n\ttouch pwned\n"
PADDING = [(f"results/full/pad{i:05d}.json", b"{}") for i in range(3000)]


@pytest.mark.parametrize("case,members", [
    ("first member outside, then padding (the SIGPIPE case)", [("Makefile", EVIL_MAKEFILE), *PADDING]),
    ("symlink member", [("results/full/", None), ("results/full/x.json", ("sym", "/etc/passwd"))]),
    ("hard link member", [("results/full/a.json", b"{}"), ("results/full/b.json", ("lnk", "results/full/a.json"))]),
    ("'..' member", [("results/full/ok.json", b"{}"), ("results/full/../../../x", b"boom")]),
    ("absolute member", [("results/full/ok.json", b"{}"), ("/tmp/mtbert-abs-x", b"boom")]),
    ("other profile", [("results/quick/x.json", b"{}")]),
    ("bad member last", [*PADDING[:50], ("scripts/gpu_unpack.sh", b"echo pwned")]),
])
def test_unsafe_archive_is_refused_whole(tmp_path, case, members):
    arc = _tar(tmp_path / "results.tar.gz", members)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(U.UnsafeArchive) as ei:
        U.unpack(arc, "full", dest)
    assert "nothing was unpacked" in str(ei.value) and str(arc) in str(ei.value)
    assert list(dest.iterdir()) == []  # refused before anything was extracted
    assert U.main([str(arc), "--profile", "full", "--dest", str(dest)]) == 2
    assert list(dest.iterdir()) == []


def test_safe_archive_unpacks(tmp_path):
    arc = _tar(tmp_path / "results.tar.gz", [("results/full", None), ("results/full/a.json", b'{"x": 1}'),
                                             ("results/full/partial/b.json", b"{}"),
                                             ("predictions/full/sub/sts-dev-output.csv", b"id\n")])
    assert U.main([str(arc), "--profile", "full", "--dest", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "results/full/a.json").read_text()) == {"x": 1}
    assert (tmp_path / "predictions/full/sub/sts-dev-output.csv").is_file()


def _fake_repo(tmp_path) -> Path:
    """A copy of the repo's layout for gpu_unpack.sh: its script, the library, a Makefile that only marks."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "gpu_unpack.sh", repo / "scripts")
    (repo / "lib").symlink_to(REPO / "lib")
    (repo / ".venv" / "bin").mkdir(parents=True)
    (repo / ".venv" / "bin" / "python").symlink_to(PY)
    (repo / "Makefile").write_text("setup data:\n\ttouch made\n")
    return repo


def test_gpu_unpack_script_refuses_makefile_archive_and_runs_nothing(tmp_path):
    repo = _fake_repo(tmp_path)
    arc = _tar(tmp_path / "results.tar.gz", [("Makefile", EVIL_MAKEFILE), *PADDING])
    p = subprocess.run(["bash", str(repo / "scripts" / "gpu_unpack.sh"), str(arc)], cwd=tmp_path,
                       env={**os.environ, "PROFILE": "full"}, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "refused" in p.stderr and "Makefile" in p.stderr
    assert (repo / "Makefile").read_text() == "setup data:\n\ttouch made\n"
    assert not (repo / "pwned").exists() and not (repo / "made").exists() and not (repo / "results").exists()
