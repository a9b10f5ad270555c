"""`python -m mtbert report --profile P [--no-train]`: train (or load) every experiment, execute the five
notebooks with papermill, and export one self-contained HTML report.

Outputs (under $MTBERT_REPORT_DIR when set, else <repo>/report; figures under <that>/figures when the env
var is set, else <repo>/figures):

* report/<profile>/NN_name.ipynb  - the executed notebooks
* report/tables/<name>.csv|.md    - every table (written by the notebooks)
* report/report.html              - the five notebooks as one reader-friendly page (code hidden,
                                    images embedded), opened by a setup section
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from . import data as D
from . import store
from .experiments import CHOICES, DEFAULT_SEED, PROFILES, REGISTRY

NOTEBOOKS = ("01_base_bert.ipynb", "02_baselines.ipynb", "03_finetune.ipynb", "04_cosine.ipynb",
             "05_analysis.ipynb")
DROP_TAGS = {"parameters", "injected-parameters", "setup", "differences"}

DIFFERENCES_MD = """\
* **Encoder.** The paper fine-tuned `bert-base-uncased` (12 layers, hidden 768). We use
  `all-MiniLM-L6-v2` (6 layers, hidden 384, about 22.7M parameters) in our own BERT implementation. That
  checkpoint was *contrastively trained on paraphrase and similarity data, including Quora duplicate
  questions*, so our Quora and STS numbers (zero-shot ones especially) are **not comparable** to the paper's:
  they mostly reflect what the checkpoint already knows.
* **Quora data.** Unless the official `quora-train.csv` (141,506 pairs) is present, Quora training uses
  the partial official file `quora-train-partial.csv` (pairs counted above), minus the held-out rows.
* **Test split.** The official test files are unlabelled and the CS224N leaderboard is gone: every "test"
  number is on a *held-out labelled split carved out of each train file* (SST 1,000, CFIMDB 200,
  STS 600, Quora 2,000 rows; never used for training or model selection), not the hidden leaderboard set.
* **Scale.** `smoke` and `quick` subsample the data and train 1-2 epochs; only `full` approaches the paper's
  scale (all data, 10 epochs, 14,150 Quora pairs per epoch).
* **Unstated choices.** Where the paper is silent we use CS224N starter defaults or a stated choice (below).
"""


# -- settings --------------------------------------------------------------------------------------------

def default_profile() -> str:
    p = os.environ.get("MTBERT_PROFILE")
    if p:
        return p
    import torch
    return "full" if torch.cuda.is_available() else "quick"


def report_dir() -> Path:
    d = os.environ.get("MTBERT_REPORT_DIR")
    return Path(d) if d else D.repo_root() / "report"


def env_seeds() -> list[int]:
    """Submission seeds from $MTBERT_SEEDS ("11711 1 2" or "11711,1,2"); default: the default seed."""
    s = os.environ.get("MTBERT_SEEDS", "").replace(",", " ").split()
    return [int(x) for x in s] or [DEFAULT_SEED]


def _fmt_s(s) -> str:
    if s is None or s != s:
        return "-"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


# -- markdown --------------------------------------------------------------------------------------------

def _any_result(profile: str, encoder=None):
    from .tables import _load
    for n in REGISTRY:
        r = _load(n, profile, None, encoder)
        if r is not None:
            return r
    return None


def _quora_line(data_dir=None) -> str:
    try:
        q = D.quora_train_info(data_dir)
    except Exception as e:  # data not fetched: say so rather than fail the notebook
        return f"Quora train file: unavailable ({e})"
    kind = "the full official file" if q["full"] else "the partial official file"
    return (f"Quora train file: `{q['file']}` ({kind}) with {q['pairs']:,} pairs, of which "
            f"{q['heldout_pairs']:,} are held out as the labelled test split and {q['train_pairs']:,} train")


def _encoder_line(profile: str, encoder="default") -> str:
    r = _any_result(profile, None if encoder in (None, "default") else encoder)
    if r is None:
        return f"Encoder: `{encoder}` (all-MiniLM-L6-v2 by default; no stored result yet to describe it)"
    e = r["encoder"]
    name = "all-MiniLM-L6-v2" if e["name"] == "default" else e["name"]
    line = f"Encoder: {name} ({e['layers']} layers, hidden {e['hidden_size']}, {e['params']:,} parameters)"
    if "from-fp16" in e.get("dir", ""):
        line += (" (carried to the GPU machine in float16, as the 91 MB float32 file is over the 64 MiB transfer "
                 "limit, and restored to float32 there; its measured effect is in the run notes below)")
    return line


def setup_markdown(profile: str, encoder="default", data_dir=None) -> str:
    """The short setup block at the top of each notebook."""
    p = PROFILES[profile]
    return "\n".join([
        f"**Profile `{profile}`**: {p.description} ({p.epochs} epoch{'s' if p.epochs > 1 else ''}).  ",
        _encoder_line(profile, encoder) + ".  ",
        _quora_line(data_dir) + ".",
    ])


def _caps(v) -> str:
    if v is None:
        return "all"
    return ", ".join(f"{t} {n}" for t, n in v.items()) if isinstance(v, dict) else str(v)


def _partial_line(profile: str) -> str:
    """Runs cut off by a time budget keep their per-epoch history under results/<profile>/partial/."""
    d = store.results_dir(profile) / "partial"
    parts = sorted(d.glob("*.json")) if d.is_dir() else []
    if not parts:
        return ""
    def done(p):
        try:
            return f"{json.loads(p.read_text())['epochs_done']} of the epochs"
        except (ValueError, KeyError, TypeError):  # a stray or damaged file must not stop the report
            return "unreadable: not a partial-result file with `epochs_done`"
    desc = ", ".join(f"`{p.stem}` ({done(p)})" for p in parts)
    return (f" (not finished within the GPU lease, so in no table: {desc}; their per-epoch history is "
            f"kept in `results/{profile}/partial/`)")


def _run_notes(profile: str) -> list[str]:
    """results/<profile>/RUN_NOTES.md, written by whoever ran the profile (e.g. on a lent GPU), if any."""
    p = store.results_dir(profile) / "RUN_NOTES.md"
    return ["### How these results were produced", "", p.read_text(), ""] if p.exists() else []


def summary_markdown(profile: str, seeds, encoder="default", data_dir=None, notebook_times=None,
                     total_s=None) -> str:
    """The report's first section: profile, encoder, data, device, seeds, wall times, differences."""
    from .tables import SUBMISSIONS, runs_table, stored_seeds, submission_seeds
    enc = None if encoder in (None, "default") else encoder
    runs = runs_table(profile, seeds, enc)
    seeds = submission_seeds(profile, seeds, enc)
    r = _any_result(profile, enc)
    env = (r or {}).get("environment", {})
    device = env.get("gpu") or env.get("cpu") or "-"
    device = f"{env.get('device', '-')} ({device}), torch {env.get('torch', '-')}, {env.get('threads', '-')} threads"
    p = PROFILES[profile]
    lines = [
        f"# Multitask BERT: a re-run of \"A Rigorous Analysis on Bert's Language Capabilities\" "
        f"(profile `{profile}`)",
        "",
        "This report re-runs every experiment of the CS224N paper (SST sentiment, Quora paraphrase, STS "
        "similarity with a shared BERT encoder) and puts each of our numbers next to the paper's. It is "
        "generated by `python -m mtbert report`; sections 1-5 are the executed notebooks in `notebooks/`.",
        "",
        "## Setup of this run",
        "",
        f"* **Profile:** `{profile}`: {p.description}; {p.epochs} epoch(s), training rows per task "
        + ", ".join(f"{t} {'all' if n is None else n}" for t, n in p.n_train.items())
        + f", dev rows {_caps(p.n_dev)}, test rows {_caps(p.n_test)}.",
        f"* **Encoder:** {_encoder_line(profile, encoder).removeprefix('Encoder: ')}.",
        f"* **Data:** {_quora_line(data_dir)}. SST, CFIMDB and STS from the CS224N starter files "
        f"(sha256-verified, see `data/README.md`).",
        f"* **Device:** {device}.",
        f"* **Seeds:** {DEFAULT_SEED} for every experiment; "
        + "; ".join(f"{n}: {', '.join(map(str, stored_seeds(n, profile, enc) or [DEFAULT_SEED]))}" for n in SUBMISSIONS)
        + _partial_line(profile) + ".",
        f"* **Training wall time:** {_fmt_s(runs['wall_time_s'].sum())} in total over {int(runs['stored'].sum())} "
        f"stored runs (per run below)."
        + (f" Report build (training + notebooks + export): {_fmt_s(total_s)}." if total_s else ""),
        "",
        *_run_notes(profile),
        "### How this differs from the paper",
        "",
        DIFFERENCES_MD,
        "### Choices where the paper is silent",
        "",
        *[f"* **{k}:** {v}" for k, v in CHOICES.items()],
        "",
        "### Runs and wall times",
        "",
        "| run | tables | device | epochs | best epoch | wall time |",
        "|---|---|---|---|---|---|",
        *[f"| `{x.run_id}` | {x.tables} | {x.device} | {x.epochs if x.stored else '-'} | "
          f"{x.best_epoch if x.stored else '-'} | {_fmt_s(x.wall_time_s) if x.stored else 'not run'} |"
          for x in runs.itertuples()],
        f"| **total** | | | | | **{_fmt_s(runs['wall_time_s'].sum())}** |",
    ]
    if notebook_times:
        lines += ["", "Notebook execution: " + ", ".join(f"{n} {_fmt_s(s)}" for n, s in notebook_times.items())
                  + "."]
    lines += ["", "### Contents", "",
              "1. Base BERT on sentiment (Table 1)", "2. Multitask baseline (Table 2)",
              "3. Multitask fine-tuning on all three tasks (\"+ train data\" rows)",
              "4. Cosine heads and the submissions (Tables 3, 4, 5; mean pooling beyond the paper)",
              "5. Analysis: training curves, every paper number vs ours, error analysis"]
    return "\n".join(lines)


# -- steps -----------------------------------------------------------------------------------------------

def train_all(profile: str, seeds, encoder="default", data_dir=None, force=False) -> None:
    """Run (or load) every experiment of the registry; submissions once per seed."""
    from .train import run
    jobs = [(n, s) for n in REGISTRY for s in (seeds if n.startswith("submission") else [DEFAULT_SEED])]
    t0 = time.time()
    for i, (n, s) in enumerate(jobs, 1):
        t = time.time()
        r = run(n, profile, seed=s, encoder=None if encoder == "default" else encoder, force=force,
                data_dir=data_dir)
        dev = ", ".join(f"{k} {v:.3f}" for k, v in r["dev"].items())
        took = time.time() - t
        how = f"trained in {took:.1f}s" if took >= 0.5 * r["wall_time_s"] else \
            f"stored result loaded (trained in {r['wall_time_s']:.1f}s)"
        print(f"[{time.time() - t0:7.1f}s] ({i}/{len(jobs)}) {r['run_id']}: {how}; dev {dev}", flush=True)


def ensure_kernel(name: str = "python3") -> None:
    from jupyter_client.kernelspec import KernelSpecManager
    if name not in KernelSpecManager().find_kernel_specs():
        subprocess.check_call([sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", name])


def execute(profile: str, seeds, encoder="default", data_dir=None, out_dir=None) -> dict:
    """Execute the five notebooks with papermill into <out_dir>; returns {notebook: seconds}."""
    import papermill as pm
    src = D.repo_root() / "notebooks"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {"profile": profile, "encoder": encoder, "seeds": list(seeds), "data_dir": data_dir, "force": False}
    times = {}
    for nb in NOTEBOOKS:
        t = time.time()
        print(f"executing notebooks/{nb} -> {out_dir / nb}", flush=True)
        pm.execute_notebook(str(src / nb), str(out_dir / nb), parameters=params, kernel_name="python3",
                            cwd=str(src), progress_bar=False, log_output=False)
        times[nb] = time.time() - t
    return times


def combine(paths, intro_md: str, title: str):
    """One notebook: the intro, then every executed notebook's cells minus parameters, setup boilerplate,
    stderr and code cells without output."""
    import nbformat
    from nbformat.v4 import new_markdown_cell, new_notebook
    out = new_notebook(cells=[new_markdown_cell(intro_md)])
    for p in paths:
        nb = nbformat.read(str(p), as_version=4)
        for c in nb.cells:
            if DROP_TAGS & set(c.metadata.get("tags", [])):
                continue
            if c.cell_type == "code":
                c = copy.deepcopy(c)
                c.outputs = [o for o in c.outputs if not (o.output_type == "stream" and o.name == "stderr")]
                if not c.outputs:
                    continue
            out.cells.append(c)
    out.metadata["title"] = title
    out.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return out


def export_html(nb, path: Path, title: str) -> Path:
    from nbconvert import HTMLExporter
    exp = HTMLExporter(template_name="lab")
    exp.exclude_input = True
    exp.exclude_input_prompt = True
    exp.exclude_output_prompt = True
    html, _ = exp.from_notebook_node(nb, resources={"metadata": {"name": title}})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def build(profile: str, seeds=None, encoder="default", data_dir=None, train=True, out=None) -> Path:
    t0 = time.time()
    seeds = list(seeds or [DEFAULT_SEED])
    out = Path(out) if out else report_dir()
    if train:
        print(f"== training / loading every experiment of profile {profile} (submission seeds {seeds})", flush=True)
        train_all(profile, seeds, encoder, data_dir)
    ensure_kernel()
    nb_dir = out / profile
    print(f"== executing notebooks into {nb_dir}", flush=True)
    times = execute(profile, seeds, encoder, data_dir, nb_dir)
    title = f"Multitask BERT reproduction report (profile {profile})"
    intro = summary_markdown(profile, seeds, encoder, data_dir, times, time.time() - t0)
    nb = combine([nb_dir / n for n in NOTEBOOKS], intro, title)
    html = export_html(nb, out / "report.html", title)
    print(f"== wrote {html} ({html.stat().st_size / 1e6:.1f} MB) in {time.time() - t0:.1f}s", flush=True)
    return html


def main(args) -> int:
    profile = args.profile or default_profile()
    if profile not in PROFILES:
        raise SystemExit(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    os.environ["MTBERT_PROFILE"] = profile
    if getattr(args, "no_train", False):  # the notebooks' kernels inherit it: load stored results, never train
        os.environ["MTBERT_NO_TRAIN"] = "1"
    encoder = os.environ.get("MTBERT_ENCODER") or "default"
    try:
        build(profile, env_seeds(), encoder, None, train=not getattr(args, "no_train", False))
    except Exception as e:
        if type(e).__name__ == "PapermillExecutionError":
            print(f"report failed: a notebook cell raised {e.ename}: {e.evalue}\n(see the executed notebook "
                  f"under {report_dir() / profile})", file=sys.stderr)
            return 1
        raise
    return 0
