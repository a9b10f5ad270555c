"""Unpack a GPU run's results archive safely: `python -m mtbert.results.unpack ARCHIVE [--profile full] [--dest DIR]`.

Nothing in the archive can run code or land outside the results: every member is checked BEFORE anything is
extracted, and the whole archive is refused if one member is bad. Allowed members: regular files and
directories under `results/<profile>/` and `predictions/<profile>/` (the folders themselves too), with relative
names without `..`; no symlinks, hard links, devices or FIFOs. Sizes are capped: each member at most
MEMBER_LIMIT_BYTES (64 MiB; the largest file a GPU run writes is under 1 MB), all members together at most
TOTAL_LIMIT_BYTES (1 GiB; a full-profile archive holds about 35 MB), and at most MEMBER_LIMIT members (10,000;
a full-profile archive has about 250). The sizes are the members' recorded (unpacked) sizes, so a small
compressed archive of a huge or sparse file is refused before anything is written. Extraction then uses
Python's tarfile `data` filter as a second line of defence. Exit status 0 when unpacked, 2 when refused
(nothing written).
"""
from __future__ import annotations

import argparse
import sys
import tarfile
from pathlib import Path, PurePosixPath

from mtbert.errors import MtbertError

ROOTS = ("results", "predictions")
MEMBER_LIMIT_BYTES = 64 * 2**20
TOTAL_LIMIT_BYTES = 2**30
MEMBER_LIMIT = 10_000


class UnsafeArchive(MtbertError):
    exit_code = 2


def member_problem(m: tarfile.TarInfo, profile: str) -> str | None:
    """Why member `m` may not be extracted (None: it may)."""
    name = m.name
    if not name or name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        return "absolute or non-POSIX name"
    parts = PurePosixPath(name).parts
    if any(p in ("..", "") for p in parts):
        return "'..' in the name"
    parts = tuple(p for p in parts if p != ".")
    if len(parts) < 2 or parts[0] not in ROOTS or parts[1] != profile:
        return f"outside results/{profile}/ and predictions/{profile}/"
    if m.issym() or m.islnk():
        return f"a {'symbolic' if m.issym() else 'hard'} link (to {m.linkname!r})"
    if m.isdir():
        return None
    if not m.isreg():
        return "not a regular file (device, FIFO or other special member)"
    if len(parts) == 2:
        return f"a file named like the folder {parts[0]}/{profile}"
    if m.size > MEMBER_LIMIT_BYTES:
        return f"{m.size:,} bytes unpacked, over the {MEMBER_LIMIT_BYTES // 2**20} MiB limit per file"
    return None


def check_members(archive, members: list[tarfile.TarInfo], profile: str) -> None:
    """UnsafeArchive naming the bad members unless every one is allowed."""
    bad = [(m.name, why) for m in members if (why := member_problem(m, profile)) is not None]
    if bad:
        shown = "; ".join(f"{n!r}: {why}" for n, why in bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise UnsafeArchive(
            f"{archive} holds {len(bad)} member(s) that may not be unpacked ({shown}). Only regular files under "
            f"results/{profile}/ and predictions/{profile}/ are allowed; nothing was unpacked")
    if not members:
        raise UnsafeArchive(f"{archive} is empty; nothing to unpack")
    total = sum(m.size for m in members if m.isreg())
    if total > TOTAL_LIMIT_BYTES:
        raise UnsafeArchive(f"{archive} would unpack {total:,} bytes, over the {TOTAL_LIMIT_BYTES // 2**30} GiB "
                            "limit for a results archive; nothing was unpacked")


def read_members(archive, tf: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """The archive's index (read whole before anything is written: no SIGPIPE race), at most MEMBER_LIMIT
    members; UnsafeArchive when it has more or cannot be read."""
    members = []
    try:
        while (m := tf.next()) is not None:
            members.append(m)
            if len(members) > MEMBER_LIMIT:
                raise UnsafeArchive(f"{archive} has more than {MEMBER_LIMIT:,} members, over the limit for a "
                                    "results archive; nothing was unpacked")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise UnsafeArchive(f"cannot read archive {archive}: {e}; nothing was unpacked") from e
    return members


def _open(archive):
    try:
        return tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise UnsafeArchive(f"cannot read archive {archive}: {e}; nothing was unpacked") from e


def unpack(archive, profile: str = "full", dest=".") -> list[str]:
    """Check then extract `archive` into `dest`; returns the names extracted. UnsafeArchive if refused."""
    with _open(archive) as tf:
        members = read_members(archive, tf)
        check_members(archive, members, profile)
        # exactly the members checked; the data filter also refuses links, absolute names and escapes
        tf.extractall(Path(dest), members=members, filter="data")
    return [m.name for m in members]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mtbert.results.unpack", description=__doc__.split("\n\n")[0])
    p.add_argument("archive")
    p.add_argument("--profile", default="full")
    p.add_argument("--dest", default=".", help="folder to unpack into (default: the current folder)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        names = unpack(args.archive, args.profile, args.dest)
    except UnsafeArchive as e:
        print(f"mtbert.results.unpack: refused: {e}", file=sys.stderr)
        return e.exit_code
    print(f"unpacked {len(names)} members of {args.archive} into {Path(args.dest).resolve()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
