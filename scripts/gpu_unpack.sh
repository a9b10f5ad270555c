#!/usr/bin/env bash
# Here (CPU machine), after scripts/gpu_full_run.sh ran on the GPU: unpack its results.tar.gz, drop partial
# results that a finished run now supersedes, and render the notebooks + HTML report from the stored results
# (nothing is retrained). Usage: PROFILE=full bash scripts/gpu_unpack.sh /path/to/results.tar.gz
# The archive is checked member by member by mtbert.results.unpack (regular files under results/$PROFILE/ and
# predictions/$PROFILE/ only; no links, no '..', no absolute names) and refused whole, before anything is
# extracted or run, if one member is bad.
set -euo pipefail
ARCHIVE=$(realpath "${1:?usage: [PROFILE=full] bash scripts/gpu_unpack.sh PATH/results.tar.gz}")
PROFILE=${PROFILE:-full}
cd "$(dirname "$0")/.."
PY=python3; [ -x .venv/bin/python ] && PY=.venv/bin/python
if ! PYTHONPATH="$PWD/lib" "$PY" -m mtbert.results.unpack "$ARCHIVE" --profile "$PROFILE" --dest .; then
  echo "gpu_unpack: $ARCHIVE refused (see above); nothing was unpacked or run" >&2
  exit 2
fi
for p in results/"$PROFILE"/partial/*.json; do
  [ -f "$p" ] || continue
  if [ -f "results/$PROFILE/$(basename "$p")" ]; then rm "$p"; echo "superseded by a finished run: $p"; fi
done
rmdir results/"$PROFILE"/partial 2>/dev/null || true
make setup data
.venv/bin/python -m mtbert report --profile "$PROFILE" --no-train
