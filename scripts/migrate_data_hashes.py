#!/usr/bin/env python3
"""One-off, idempotent: add `data.files` ({file name: sha256}) to the committed results under results/full/ and
results/quick/, which were produced from exactly the published (sha256-verified) data files.

A stored result is current only while its recorded data hashes equal the data folder's (mtbert.training.engine._stored);
results written before that field existed would otherwise never count as current again. For each result, the
files are those a run of its config reads (mtbert.data.identity.files_for, with the Quora train file the result
itself names), and the hashes are the published ones (mtbert.data.datasets.FILES), after checking that the files in the
data folder match them. Nothing else in a result changes; a result that already has `data.files` is left as is.

Usage: PYTHONPATH=lib python scripts/migrate_data_hashes.py [--check] [results/full results/quick]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))

from mtbert.data import datasets as D  # noqa: E402
from mtbert.data import identity as datahash  # noqa: E402
from mtbert.core.experiments import RunConfig  # noqa: E402


def files_of(r: dict) -> dict[str, str]:
    cfg = RunConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in r["config"].items()})
    if cfg.hash() != r["config_hash"]:
        raise SystemExit(f"{r['run_id']}: config does not reproduce its config_hash; not touching it")
    names = [p.name for p in datahash.files_for(cfg)]
    qt = (r.get("data") or {}).get("quora_train")
    if qt:  # the Quora train file the run actually used
        names = [qt["file"] if n in (D.QUORA_TRAIN_FULL, D.QUORA_TRAIN_PARTIAL) else n for n in names]
    out = {}
    for n in names:
        if D.FILES.get(n) is None:
            raise SystemExit(f"{r['run_id']}: {n} has no published sha256; cannot migrate")
        out[n] = D.FILES[n]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="*", default=[str(REPO / "results" / "full"), str(REPO / "results" / "quick")])
    p.add_argument("--check", action="store_true", help="only report what would change")
    args = p.parse_args(argv)
    # the data folder must hold the published files (the hashes recorded are theirs)
    present = {f.name: f for f in D.default_data_dir().iterdir() if f.name in D.FILES}
    bad = [n for n, f in present.items() if D.FILES[n] and datahash.sha256s([f])[n] != D.FILES[n]]
    if bad:
        raise SystemExit(f"data files {bad} do not match their published sha256; run `make data` first")
    changed = 0
    for folder in map(Path, args.folders):
        for f in sorted(folder.glob("*.json")):
            text = f.read_text()
            r = json.loads(text)
            if "files" in (r.get("data") or {}):
                continue
            r["data"]["files"] = files_of(r)
            changed += 1
            print(f"{'would add' if args.check else 'added'} data.files to {f.relative_to(REPO)}")
            if not args.check:
                # same layout as mtbert.results.store.write_json (indent=1), so only the added lines differ
                new = json.dumps(r, indent=1)
                f.write_text(new + ("\n" if text.endswith("\n") else ""))
    print(f"{changed} result(s) {'to migrate' if args.check else 'migrated'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
