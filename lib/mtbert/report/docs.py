"""`python -m mtbert docs`: the generated blocks of README.md and docs/*.md, rewritten from the stored results and
the code, so that no number, count or timing a reader sees there is typed by hand.

A block is a pair of HTML comments, invisible on a rendered page, around generated text (a table, or a few words
inside a sentence):

    <!-- mtbert docs: KIND ARGUMENTS -->
    ...generated...
    <!-- /mtbert docs -->

`python -m mtbert docs` rewrites every block; `python -m mtbert docs --check` changes nothing and exits 1 naming
each block whose text differs from what the code generates now (tests/report/test_docs.py runs it, so a number
edited by hand, or one that went stale when results landed, fails the tests).

Kinds (BLOCKS):

* `table PROFILE/NAME [where=COLUMN=VALUE; columns=A|B|C]`: the report's table NAME (report/PROFILE/tables/NAME.csv,
  written by the notebooks from results/PROFILE/), optionally only the rows whose COLUMN is VALUE (`^=`: starts
  with VALUE) and a few of its columns. A new results table needs no code: render
  the report, then add a marker naming the table, e.g. `<!-- mtbert docs: table full/beyond_2epoch -->`, and run
  `python -m mtbert docs`.
* `headline`: the paper, our re-run of its best recipe and our best model (full profile, held-out test).
* `sst-screen`: the SST lever screen (results/screen_sst/, scripts/screen_sst_levers.py).
* `runs PROFILE`: the stored runs grouped by device, torch, Python and numpy (as each result records them).
* `runs-total PROFILE`, `claims-count PROFILE`, `count WHAT`: a few words for a sentence.
* `bench NAME`, `bench-setup NAME`: a stored benchmark (bench/results/NAME.json) and its machine.
* `text NAME`: the report's prose lib/mtbert/report/text/NAME.md, as the report shows it.
* `settings`, `set-keys`, `profiles`: the settings table (mtbert.settings.SPEC), the keys of `run --set` (the
  knob declarations of mtbert.core.config) and the profiles (mtbert.core.experiments.PROFILES).
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Callable

import pandas as pd

from mtbert.errors import UsageError
from mtbert.settings import SPEC, Settings, repo_root

DOC_GLOBS = ("README.md", "docs/*.md")
# a marker quoted in a code span (after a backtick) is an example, not a block
BLOCK = re.compile(r"(?<!`)<!-- mtbert docs: (?P<spec>[^>]+?) -->(?P<body>.*?)(?<!`)<!-- /mtbert docs -->", re.S)


# -- formatting -------------------------------------------------------------------------------------------------

def _cell(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def markdown(df: pd.DataFrame) -> str:
    """A Markdown table: floats to 3 places, empty cells for missing values."""
    lines = ["| " + " | ".join(map(_cell, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def minutes(seconds: float) -> str:
    return f"{seconds / 60:,.0f} min" if seconds < 5400 else f"{seconds / 3600:,.1f} h"


def _table_block(df: pd.DataFrame) -> str:
    return "\n" + markdown(df) + "\n"


def _settings(profile: str, root: Path) -> Settings:
    return Settings.resolve(profile=profile, device="cpu", store_root=root, output_root=root,
                            data_dir=root / "data")


# -- the kinds of block ---------------------------------------------------------------------------------------------

def report_table(arg: str, root: Path) -> pd.DataFrame:
    """`PROFILE/NAME [columns=A|B]`: a table the report wrote (report/PROFILE/tables/NAME.csv)."""
    where, _, opts = arg.partition(" ")
    profile, _, name = where.partition("/")
    csv = root / "report" / profile / "tables" / f"{name}.csv"
    if not name or not csv.is_file():
        raise UsageError(f"table {where!r}: no report/{profile}/tables/{name}.csv (render the report: "
                         f"python -m mtbert report --profile {profile} --no-train)")
    df = pd.read_csv(csv, keep_default_na=False, na_values=[""])
    for opt in opts.split("; ") if opts else []:  # options: `where=COLUMN^=PREFIX` or `where=COLUMN=VALUE`, `columns=A|B`
        key, _, value = opt.partition("=")
        if key == "where":
            col, op, want = value.partition("^=") if "^=" in value else value.partition("=")
            _check_columns(where, df, [col])
            cells = df[col].astype(str)
            df = df[cells.str.startswith(want) if op == "^=" else cells == want]
        elif key == "columns":
            cols = value.split("|")
            _check_columns(where, df, cols)
            df = df[cols]
        else:
            raise UsageError(f"table {where!r}: unknown option {opt!r} (where=COLUMN=VALUE, where=COLUMN^=PREFIX, "
                             "columns=A|B; separated by '; ')")
    return df


def _check_columns(where: str, df: pd.DataFrame, cols: list[str]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise UsageError(f"table {where!r} has no column(s) {missing}; its columns: {list(df.columns)}")


def headline_table(root: Path) -> pd.DataFrame:
    """The paper's submission 2, our re-run of that recipe (10 epochs, GPU) and our best model (chosen on dev, mean
    over its seeds), with and without the decision rules chosen on dev; held-out test (the paper: leaderboard test)."""
    from mtbert.analysis import ablations as B
    from mtbert.analysis import decision_rules
    from mtbert.results.result_set import ResultSet
    R = ResultSet.load(_settings("full", root))
    tt, rules = B.targets_table(R), decision_rules.best_model_rules(R)["targets"]
    keep = {"paper, submission 2": "the paper: submission 2 (bert-base; leaderboard test)",
            "submission2 (paper recipe, ours, 10 epochs)": "our re-run of the paper's submission 2 (10 epochs)",
            "(best on dev": "**our best model**: {row} (chosen on dev; mean ± sd over seeds)",
            "rules chosen on dev (": "our best model with decision rules chosen on dev (Quora threshold, STS "
                                     "combined with a second model)"}
    rows = []
    for df in (tt, rules):
        for r in df.to_dict("records"):
            for key, label in keep.items():
                if key in r["row"] and "ensemble" not in r["row"]:
                    best = r["row"].split(" ")[0].rstrip(",")
                    rows.append({"system": label.format(row=f"`{best}`"), "seeds": r["n"], "SST acc": r["sst"],
                                 "Quora acc": r["quora"], "STS r": r["sts"], "overall": r["overall"]})
    out = pd.DataFrame(rows).drop_duplicates("system")
    if len(out) != len(keep):
        raise UsageError(f"headline: expected the rows {list(keep)} in the targets tables "
                         f"(mtbert.analysis.ablations.targets_table, decision_rules.best_model_rules), found "
                         f"{list(out['system']) if len(out) else 'none'}")
    out["seeds"] = [("" if v != v or v in ("", None) else str(int(float(v)))) for v in out["seeds"]]
    return out


def pinned_versions(root: Path) -> dict[str, str]:
    """{package: version} pinned in requirements.txt."""
    out = {}
    for line in (root / "requirements.txt").read_text(encoding="utf-8").splitlines():
        spec = line.split("#", 1)[0].strip()
        if "==" in spec:
            name, version = spec.split("==", 1)
            out[name.strip().lower()] = version.strip()
    return out


def runs_table(profile: str, root: Path) -> pd.DataFrame:
    from mtbert.analysis.environments import run_groups
    from mtbert.results.result_set import ResultSet
    g = run_groups(ResultSet.load(_settings(profile, root)))
    pins = pinned_versions(root)
    g["torch and numpy as pinned"] = ["yes" if t.split("+")[0] == pins.get("torch") and n == pins.get("numpy")
                                      else "no" for t, n in zip(g["torch"], g["numpy"])]
    g["summed wall time"] = [minutes(s) for s in g.pop("summed wall time (s)")]
    return g


def runs_total(profile: str, root: Path) -> str:
    from mtbert.analysis.environments import run_groups
    from mtbert.results.result_set import ResultSet
    g = run_groups(ResultSet.load(_settings(profile, root)))
    return f"{int(g['runs'].sum())} runs, {minutes(float(g['summed wall time (s)'].sum()))} of training summed"


def claims_count(profile: str, root: Path) -> str:
    cl = report_table(f"{profile}/claims", root)
    counts = cl["verdict"].value_counts()
    return (f"{counts.get('holds', 0)} of the {len(cl)} claims we test hold, {counts.get('does not hold', 0)} do not "
            f"hold and {counts.get('cannot be decided', 0)} cannot be decided")


def count(what: str, root: Path) -> str:
    from mtbert.core.experiments import REGISTRY
    if what == "experiments":
        return str(len(REGISTRY))
    if what == "notebooks":
        return str(len(sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))))
    raise UsageError(f"count {what!r}: valid: experiments, notebooks")


def sst_screen_table(root: Path) -> pd.DataFrame:
    """The SST lever screen (scripts/screen_sst_levers.py's rows): the paper recipe's SST fine-tuning, then every
    point stored under results/screen_sst/."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("screen_sst_levers", root / "scripts" / "screen_sst_levers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from mtbert.results import store
    rows = [mod.row("t1_sst_finetune", store.read_result(root / "results" / "full" / "t1_sst_finetune.json"))]
    rows += [mod.row(p.stem, store.read_result(p)) for p in sorted((root / "results" / "screen_sst").glob("*.json"))]
    return pd.DataFrame(rows)


def bench_table(name: str, root: Path) -> pd.DataFrame:
    """`bench NAME`: the rows of a stored benchmark (bench/results/NAME.json, written by bench/bench.py)."""
    from mtbert.results import store
    path = root / "bench" / "results" / f"{name}.json"
    if not path.is_file():
        raise UsageError(f"bench {name!r}: no bench/results/{name}.json (run bench/bench.py)")
    rows = store.read_json(path)["rows"]
    def num(x):
        return f"{x:,.1f}" if abs(x) >= 10 else f"{x:.3g}"
    return pd.DataFrame([{"section": r["section"], "case": " ".join(r["case"].split()), "unit": r["unit"],
                          "ours": num(r["ours"]), "reference": num(r["reference"]),
                          "ours / reference": f"{r['ratio']:.2f}x"} for r in rows
                         if isinstance(r.get("ours"), (int, float)) and isinstance(r.get("reference"), (int, float))
                         and isinstance(r.get("ratio"), (int, float))])


def bench_setup(name: str, root: Path) -> str:
    from mtbert.results import store
    d = store.read_json(root / "bench" / "results" / f"{name}.json")
    v = d.get("versions", {})
    return (f"{d['machine']}, {d['threads']} threads, {d['date'][:10]}, torch {v.get('torch', '-')}, "
            f"transformers {v.get('transformers', '-')}, batch size {d['batch_size']}")


def report_text(name: str) -> str:
    """`text NAME`: the report's shared prose lib/mtbert/report/text/NAME.md (one source for report and docs)."""
    path = Path(__file__).with_name("text") / f"{name}.md"
    if not path.is_file() or "$" in path.read_text(encoding="utf-8"):
        raise UsageError(f"text {name!r}: no placeholder-free lib/mtbert/report/text/{name}.md")
    return path.read_text(encoding="utf-8").strip()


def settings_table() -> pd.DataFrame:
    return pd.DataFrame([{"setting": name.replace("_", " "), "flag": f"`{flag}`",
                          "notebook parameter": "-" if param == "-" else f"`{param}`",
                          "environment variable": "-" if var == "-" else f"`{var}`", "default": default,
                          "what": what}
                         for name, (flag, param, var, default, what) in SPEC.items()])


def set_keys_table() -> pd.DataFrame:
    from mtbert.core.config import KNOBS, OVERRIDABLE
    return pd.DataFrame([{"key": f"`{k}`", "allowed values": KNOBS[k].allowed[1] if k in KNOBS
                          else "cpu, cuda, cuda:N, mps or auto"} for k in OVERRIDABLE])


def profiles_table() -> pd.DataFrame:
    from mtbert.core.experiments import PROFILES

    def caps(v):
        if v is None:
            return "all"
        return ", ".join(f"{t} {'all' if n is None else f'{n:,}'}" for t, n in v.items()) if isinstance(v, dict) \
            else f"{v:,}"
    return pd.DataFrame([{"profile": f"`{p.name}`", "what": p.description, "epochs": p.epochs,
                          "training rows per task": caps(p.n_train), "Quora pairs per epoch": f"{p.quora_per_epoch:,}",
                          "dev rows": caps(p.n_dev), "test rows": caps(p.n_test),
                          "learning rates": "the paper's" if p.lr_scale == 1 else f"{p.lr_scale:g}x the paper's"}
                         for p in PROFILES.values()])


BLOCKS: dict[str, Callable[[str, Path], str]] = {
    "table": lambda arg, root: _table_block(report_table(arg, root)),
    "headline": lambda arg, root: _table_block(headline_table(root)),
    "runs": lambda arg, root: _table_block(runs_table(arg, root)),
    "runs-total": lambda arg, root: runs_total(arg, root),
    "claims-count": lambda arg, root: claims_count(arg, root),
    "count": lambda arg, root: count(arg, root),
    "sst-screen": lambda arg, root: _table_block(sst_screen_table(root)),
    "bench": lambda arg, root: _table_block(bench_table(arg, root)),
    "bench-setup": lambda arg, root: bench_setup(arg, root),
    "text": lambda arg, root: "\n" + report_text(arg) + "\n",
    "settings": lambda arg, root: _table_block(settings_table()),
    "set-keys": lambda arg, root: _table_block(set_keys_table()),
    "profiles": lambda arg, root: _table_block(profiles_table()),
}


# -- rewriting ----------------------------------------------------------------------------------------------------

def render(spec: str, root: Path) -> str:
    kind, _, arg = spec.strip().partition(" ")
    if kind not in BLOCKS:
        raise UsageError(f"unknown block kind {kind!r} in <!-- mtbert docs: {spec} -->; valid: {', '.join(BLOCKS)}")
    return BLOCKS[kind](arg.strip(), root)


def rewrite(text: str, root: Path) -> tuple[str, list[str]]:
    """`text` with every block regenerated, and the specs of the blocks whose text changed."""
    changed = []

    def sub(m):
        body = render(m["spec"], root)
        if body != m["body"]:
            changed.append(m["spec"])
        return f"<!-- mtbert docs: {m['spec']} -->{body}<!-- /mtbert docs -->"
    return BLOCK.sub(sub, text), changed


def doc_files(root: Path) -> list[Path]:
    return [p for g in DOC_GLOBS for p in sorted(root.glob(g))]


def update(check: bool = False, root: Path | None = None) -> list[tuple[str, str]]:
    """Rewrite the blocks of README.md and docs/*.md (check=True: only report); [(file, block spec)] changed."""
    root = repo_root() if root is None else Path(root)
    stale = []
    for path in doc_files(root):
        text = path.read_text(encoding="utf-8")
        new, changed = rewrite(text, root)
        stale += [(str(path.relative_to(root)), spec) for spec in changed]
        if changed and not check:
            path.write_text(new, encoding="utf-8")
    return stale
