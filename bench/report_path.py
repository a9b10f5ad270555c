"""The report build's path through the package: which modules it enters, in what order, and how often it goes back.

Traces the part of `python -m mtbert report --no-train` that runs in the build's own process after the notebooks
(the claims table, the summary and the conclusion of report/build.py) on the stored results of a profile, and
prints one JSON object:

* modules: the mtbert modules entered, in order of first entry;
* moves: calls from one mtbert module into another (consecutive repeats of the same move counted once);
* returns: moves into a module the path had already left, i.e. modules entered more than once;
* up: moves into a module of a higher layer than the caller's (the layers of mtbert/__init__.py's docstring);
* store_callers: {module: calls it makes into mtbert.results.store} (where results are read from the store).

Every module of the package is imported before the trace starts, so import-time code is not part of the path, and
the path starts in mtbert.report.build (the build's own step).

Run it against any checkout (e.g. an older commit in a git worktree) to compare:
    python bench/report_path.py [--lib PATH/lib] [--profile full]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path


def layers_of(doc: str) -> list[list[str]]:
    return [m[2].split() for m in re.finditer(r"^    ([a-z]+) +(mtbert[\w. ]*)$", doc, re.MULTILINE)]


def layer(module: str, layers) -> int:
    best, best_len = -1, -1
    for i, prefixes in enumerate(layers):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best_len:
                best, best_len = i, len(p)
    return best


def build_summary(profile: str):
    """The report build's own steps after the notebooks, as this checkout's report/build.py does them."""
    from mtbert.analysis import claims as C
    from mtbert.report import build
    from mtbert.settings import Settings
    S = Settings.resolve(profile=profile, device="cpu", progress=False)
    try:
        from mtbert.results.result_set import ResultSet
    except ImportError:  # a checkout from before the loaded set of results: every step takes the settings
        cl = C.claims_table(S)
        return build.summary_markdown(S, None, None, cl) + build.conclusion_markdown(S, cl)
    R = ResultSet.load(S)
    cl = C.claims_table(R)
    return build.summary_markdown(R, None, None, cl) + build.conclusion_markdown(S, cl)


def import_everything() -> None:
    import importlib
    import pkgutil
    import mtbert
    for m in pkgutil.walk_packages(mtbert.__path__, "mtbert."):
        if m.name != "mtbert.__main__":
            importlib.import_module(m.name)


def trace(profile: str) -> dict:
    import mtbert
    import_everything()
    layers = layers_of(mtbert.__doc__)
    root = str(Path(mtbert.__file__).parent)
    stack: list[str] = ["mtbert.report.build"]   # the mtbert module of each frame entered, innermost last
    moves: list[tuple[str, str]] = []
    store_callers: dict[str, int] = {}

    def module_of(frame) -> str | None:
        f = frame.f_code.co_filename
        if not f.startswith(root):
            return None
        return frame.f_globals.get("__name__")

    def on_event(frame, event, arg):
        if event not in ("call", "return"):
            return
        m = module_of(frame)
        if m is None:
            return
        if event == "call":
            caller = stack[-1]
            if caller != m:
                if m == "mtbert.results.store":
                    store_callers[caller] = store_callers.get(caller, 0) + 1
                if not moves or moves[-1] != (caller, m):
                    moves.append((caller, m))
            stack.append(m)
        elif len(stack) > 1:
            stack.pop()

    sys.setprofile(on_event)
    try:
        build_summary(profile)
    finally:
        sys.setprofile(None)
    entered, left, returns = ["mtbert.report.build"], set(), 0
    for caller, callee in moves:
        left.add(caller)
        if callee in entered and callee in left:
            returns += 1
        if callee not in entered:
            entered.append(callee)
    up = sum(layer(b, layers) > layer(a, layers) for a, b in moves)
    return {"profile": profile, "modules": entered, "moves": len(moves), "returns": returns, "up": up,
            "store_callers": dict(sorted(store_callers.items(), key=lambda kv: -kv[1]))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lib", help="the lib/ folder of the checkout to trace (default: this one's)")
    p.add_argument("--profile", default="full")
    a = p.parse_args(argv)
    sys.path.insert(0, a.lib or str(Path(__file__).resolve().parents[1] / "lib"))
    out = trace(a.profile)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
