"""Copy a screen point's result JSON into the screen's folder with a `screen_point` record beside it, and say its
dev and test scores (scripts/screen_sst_levers.sh, scripts/screen_phrases.sh).

    python scripts/store_screen_point.py SRC DST LABEL KEY=VALUE...
"""
import json
import sys

src, dst, label, *fields = sys.argv[1:]
r = json.load(open(src))
r["screen_point"] = dict(f.split("=", 1) for f in fields)
json.dump(r, open(dst, "w"), indent=1, sort_keys=True)
print(f"{label}: dev {r['dev']} test {r['test']} -> {dst}")
