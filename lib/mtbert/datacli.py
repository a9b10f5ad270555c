"""`python -m mtbert data [--dest DIR] [--mirror DIR]`: fetch + verify the data files.

The main CLI dispatches the ``data`` sub-command here (``datacli.main(argv)``, where
``argv`` holds the arguments after ``data``).  Exit status 0 on success, 1 on DataError.
"""
from __future__ import annotations

import argparse
import sys

from . import data as D


def build_parser(prog: str = "python -m mtbert data") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Fetch the CS224N multitask data files into the data folder "
                    "(copy from a local mirror, else download upstream) and verify their sha256.")
    p.add_argument("--dest", default=None,
                   help="data folder (default: $MTBERT_DATA_DIR or <repo>/data)")
    p.add_argument("--mirror", default=None,
                   help="local mirror folder (default: $MTBERT_DATA_MIRROR or <repo>/../shared/data)")
    p.add_argument("-q", "--quiet", action="store_true", help="only print the summary table")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["data"]:  # tolerate being handed the sub-command name too
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    try:
        summary = D.fetch_data(dest=args.dest, mirror=args.mirror, verbose=not args.quiet)
    except D.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1

    rows = []
    for name, info in summary["files"].items():
        if info["status"] == "unavailable":
            rows.append((name, "-", "unavailable (optional)"))
            continue
        st = D.file_stats(name, summary["dest"])
        n = f"{st['rows']:,}" + (f" (+{st['skipped']} skipped)" if st["skipped"] else "")
        rows.append((name, n, info["status"] + (" ok" if info.get("verified") else "")))
    w0 = max(len(r[0]) for r in rows + [("file", "", "")])
    w1 = max(len(r[1]) for r in rows + [("", "rows", "")])
    print(f"{'file':<{w0}}  {'rows':>{w1}}  status")
    for a, b, c in rows:
        print(f"{a:<{w0}}  {b:>{w1}}  {c}")
    q = summary["quora_train"]
    print(f"data folder: {summary['dest']}")
    print(f"Quora train: {q['file']} ({q['pairs']:,} pairs, {q['n_skipped']} skipped; "
          f"{q['train_pairs']:,} train + {q['heldout_pairs']:,} held out)"
          + ("" if q["full"] else " -- the full official quora-train.csv was not available"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
