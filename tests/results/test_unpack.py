"""Unpacking a results archive (mtbert.results.unpack, scripts/gpu_unpack.sh): an archive that could run code or
write outside results/<profile> and predictions/<profile> (a link, a '..' or absolute member, a Makefile, another
profile's files) is refused whole, before anything is extracted; member sizes, the total and the member count are
capped. Everything writes under pytest's tmp dirs."""
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

from mtbert.results import unpack as U

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable


def _tar(path: Path, members) -> Path:
    """members: (name, bytes) for a regular file, (name, size) for one of `size` zero bytes, (name, ('sym'|'lnk',
    target)) for a link, (name, None) for a directory."""
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
                data = b"\0" * data if isinstance(data, int) else data
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    return path


EVIL_MAKEFILE = b"setup data:\n\ttouch pwned\n"
PADDING = [(f"results/full/pad{i:05d}.json", b"{}") for i in range(3000)]


# -- archives cannot run code or escape --------------------------------------------------------------------------------

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


# -- sizes are capped --------------------------------------------------------------------------------------------------

def test_unpacked_member_size_is_capped(tmp_path):
    arc = _tar(tmp_path / "a.tar.gz", [("results/full/big.json", U.MEMBER_LIMIT_BYTES + 1)])
    assert arc.stat().st_size < 200_000  # a small archive of a huge file
    with pytest.raises(U.UnsafeArchive, match="MiB limit per file"):
        U.unpack(arc, "full", tmp_path / "dest")
    assert not (tmp_path / "dest" / "results").exists()


def test_unpacked_total_and_member_count_are_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(U, "TOTAL_LIMIT_BYTES", 3000)
    arc = _tar(tmp_path / "a.tar.gz", [(f"results/full/{i}.json", 1000) for i in range(4)])
    with pytest.raises(U.UnsafeArchive, match="GiB limit"):
        U.unpack(arc, "full", tmp_path)
    monkeypatch.setattr(U, "MEMBER_LIMIT", 50)
    arc = _tar(tmp_path / "b.tar.gz", [(f"results/full/d{i}", None) for i in range(51)])
    with pytest.raises(U.UnsafeArchive, match="more than 50 members"):
        U.unpack(arc, "full", tmp_path)
    assert not (tmp_path / "results").exists()
