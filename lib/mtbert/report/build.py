"""`python -m mtbert report`: load every experiment (training the missing ones side by side as Dask tasks,
mtbert.training.scheduler), execute the notebooks with papermill,
and export one self-contained HTML report. Everything goes under the profile's folders (mtbert.settings):

* report/<profile>/NN_name.ipynb  - the executed notebooks
* report/<profile>/tables/        - every table (written by the notebooks)
* figures/<profile>/              - every figure (written by the notebooks)
* report/<profile>/report.html    - the five notebooks as one reader-friendly page (code hidden,
                                    images embedded), opened by a setup section

The prose of the report lives in Markdown files under lib/mtbert/report/text/ and in the notebooks.

Nothing read from a result, a results folder or a run note becomes live HTML: every such string is escaped
before it is put into Markdown (`md_text`, `md_block`; tables through `mtbert.analysis.tables`), and the page
(template `templates/mtbert_report`) loads nothing from the network and declares a Content-Security-Policy
(CONTENT_SECURITY_POLICY) that forbids every script.
"""
from __future__ import annotations

import base64
import copy
import html
import io
import json
import re
import subprocess
import sys
import time
from html import escape
from pathlib import Path
from string import Template

from mtbert.analysis import ablations as B
from mtbert.analysis import claims as C
from mtbert.analysis import stats as st
from mtbert.analysis.environments import run_groups
from mtbert.analysis.tables import markdown_table, missing_markdown, paper_table, runs_table_with_missing
from mtbert.core.durations import format_duration
from mtbert.data import datasets as D
from mtbert.core.atomic import write_text
from mtbert.results.result_set import ResultSet
from mtbert.settings import DEFAULT_SEED, Settings, repo_root
from mtbert.training.engine import run
from mtbert.core.experiments import CHOICES, CORE, PROFILES, REGISTRY, SUBMISSIONS

# papermill, nbformat, nbconvert and jupyter_client (slow to import) are imported by the steps that use them

NOTEBOOKS = ("01_base_bert.ipynb", "02_baselines.ipynb", "03_finetune.ipynb", "04_cosine.ipynb",
             "05_analysis.ipynb", "06_beyond.ipynb")
# cells the combined report leaves out: papermill parameters, each notebook's own setup preamble, checks
DROP_TAGS = {"parameters", "injected-parameters", "setup", "checks"}
TEXT = Path(__file__).with_name("text")
TEMPLATES = Path(__file__).with_name("templates")

# The report needs no script and no request: images are data: URLs, styles are inline.
CONTENT_SECURITY_POLICY = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
                           "base-uri 'none'; form-action 'none'")

_MD_PUNCTUATION = re.compile(r"([\\`*_\[\]{}()#+!|~^-])")


def md_text(value) -> str:
    """`value` as literal text inside Markdown: Markdown punctuation backslash-escaped, HTML escaped, no line
    breaks (so neither markup nor a Markdown link can come of a string from a result)."""
    s = " ".join(str(value).split())
    return html.escape(_MD_PUNCTUATION.sub(r"\\\1", s), quote=True)


def md_code(value) -> str:
    """`value` as inline code (a run id, a file name): a Markdown code span, whose content is never markup;
    HTML-escaped in a <code> element when it holds a backtick, which would end the span."""
    s = " ".join(str(value).split())
    return f"`{s}`" if "`" not in s else f"<code>{html.escape(s, quote=True)}</code>"


def md_block(text: str) -> str:
    """A Markdown document from a file of the store (e.g. a run note), with any HTML in it made inert: `<` and
    `&` escaped, so Markdown formatting stays but no tag or entity of its own reaches the page."""
    return text.replace("&", "&amp;").replace("<", "&lt;")


def text(name: str, **values) -> str:
    """A Markdown file of lib/mtbert/report/text/, with $placeholders filled in."""
    return Template((TEXT / name).read_text()).substitute(**values)


# -- markdown --------------------------------------------------------------------------------------------

def _any_result(R: ResultSet):
    return next((R.result(n) for n in REGISTRY if R.result(n) is not None), None)


def _quora_line(data_dir=None) -> str:
    try:
        q = D.quora_train_info(data_dir)
    except Exception as e:  # data not fetched: say so rather than fail the notebook
        return f"Quora train file: unavailable ({md_text(e)})"
    kind = "the full official file" if q["full"] else "the partial official file"
    return (f"Quora train file: `{q['file']}` ({kind}) with {q['pairs']:,} pairs, of which "
            f"{q['heldout_pairs']:,} are held out as the labelled test split and {q['train_pairs']:,} train")


def _encoder_line(R: ResultSet) -> str:
    r = _any_result(R)
    if r is None:
        return f"Encoder: `{R.S.encoder}` (all-MiniLM-L6-v2 by default; no stored result yet to describe it)"
    e = r["encoder"]
    name = "all-MiniLM-L6-v2" if e["name"] == "default" else md_text(e["name"])
    params = f"{e['params']:,}" if isinstance(e.get("params"), int) else md_text(e.get("params"))
    line = (f"Encoder: {name} ({md_text(e.get('layers'))} layers, hidden {md_text(e.get('hidden_size'))}, "
            f"{params} parameters)")
    if e.get("transfer") == "fp16":
        line += (" (carried to the GPU machine in float16, as the 91 MB float32 file is over the 64 MiB transfer "
                 "limit, and restored to float32 there; its measured effect is in the run notes below)")
    return line


def seeds_prose(R: ResultSet, names=None) -> str:
    """'<code>run</code>: 11711, 1, 2; ...' for the experiments `names` (default: every experiment with a stored
    result, and the paper's experiments)."""
    seeds = {n: R.seeds(n) for n in (REGISTRY if names is None else names)}
    shown = [n for n, ss in seeds.items() if ss or n in CORE] if names is None else list(seeds)
    return "; ".join(f"{md_code(n)}: {', '.join(map(str, seeds[n])) or 'none'}" for n in shown)


def seeds_table_markdown(names, R: ResultSet) -> str:
    """A Markdown table: each experiment of `names` and the seeds it has stored results for."""
    rows = ["| experiment | seeds with stored results |", "|---|---|"]
    rows += [f"| {md_code(n)} | {', '.join(map(str, R.seeds(n))) or 'none'} |" for n in names]
    return "\n".join(rows)


def seed_counts_prose(runs_by_name: dict) -> str:
    """'Seeds of each submission ...: submission1: 3 seeds (11711, 1, 2); ...' from {name: [result, ...]}."""
    parts = [f"{md_code(n)}: {len(rs)} seed{'s' if len(rs) != 1 else ''} ({', '.join(md_text(r['seed']) for r in rs)})"
             for n, rs in runs_by_name.items()]
    return "Seeds of each submission in the analysis below: " + "; ".join(parts) + "."


def batch_size_prose(results: dict, S: Settings) -> str:
    """The batch size of the runs `results` ({name: result}) as a sentence, from their recorded configs."""
    sizes: dict = {}
    for n, r in results.items():
        sizes.setdefault(r["config"]["batch_size"], []).append(n)
    if len(sizes) == 1:
        return f"Batch size {md_text(next(iter(sizes)))} for every run of this section (profile `{S.profile}`)."
    return "Batch sizes (profile `{}`): {}.".format(
        S.profile, "; ".join(f"{md_text(b)} for {', '.join(map(md_code, ns))}" for b, ns in sizes.items()))


def setup_markdown(R: ResultSet) -> str:
    """The short setup block at the top of each notebook."""
    S = R.S
    p = PROFILES[S.profile]
    return "\n".join([
        f"**Profile `{S.profile}`**: {p.description} ({p.epochs} epoch{'s' if p.epochs > 1 else ''}).  ",
        _encoder_line(R) + ".  ",
        _quora_line(S.data_dir) + ".",
    ])


def preamble_markdown(S: Settings) -> str:
    """What every notebook opens with: its setup (from the profile's results, loaded here: a notebook's first
    cell has not trained yet) and how our setup differs from the paper (written once)."""
    return text("notebook_preamble.md", setup=setup_markdown(ResultSet.load(S)), differences=text("differences.md"))


def _caps(v) -> str:
    if v is None:
        return "all"
    return ", ".join(f"{t} {n}" for t, n in v.items()) if isinstance(v, dict) else str(v)


def _partial_line(R: ResultSet) -> str:
    """Runs cut off by a time budget keep their per-epoch history under results/<profile>/partial/."""
    profile = R.S.profile
    parts = R.partial_runs()
    if not parts:
        return ""
    def done(epochs):  # None: a stray or damaged file, which must not stop the report
        return "unreadable: not a partial-result file with `epochs_done`" if epochs is None else \
            f"{md_text(epochs)} of the epochs"
    desc = ", ".join(f"{md_code(stem)} ({done(epochs)})" for stem, epochs in parts.items())
    return (f" (not finished within the GPU lease, so in no table: {desc}; their per-epoch history is "
            f"kept in `results/{profile}/partial/`)")


def _run_notes(R: ResultSet) -> str:
    """results/<profile>/RUN_NOTES.md, written by whoever ran the profile (e.g. on a lent GPU), if any."""
    notes = R.run_notes()
    return f"### How these results were produced\n\n{md_block(notes)}\n" if notes is not None else ""


def choices(profile: str) -> dict:
    """CHOICES, with the entries that a profile scales stated for that profile."""
    p, out = PROFILES[profile], dict(CHOICES)
    if p.lr_scale != 1:
        out["learning rate"] = (f"{1e-3 * p.lr_scale:g} in pretrain mode, {1e-5 * p.lr_scale:g} in finetune mode in this "
                                f"profile ({p.lr_scale:g}x the paper's 1e-3 and 1e-5, which the full profile uses)")
    if p.batch_size:
        out["batch size"] = f"{p.batch_size} for every experiment in this profile (full profile: {CHOICES['batch size']})"
    if profile != "full":
        out["epochs"] = f"{p.epochs} in this profile (10 in the full profile: the CS224N starter default)"
        out["quora per epoch"] = (f"{p.quora_per_epoch:,} pairs per epoch in this profile (full profile: 14,150, "
                                  "1/10 of the official train split)")
    return out


def _md_table(df) -> str:
    return markdown_table(df)


def headline_markdown(R: ResultSet) -> str:
    t5 = paper_table("5", R)
    t5 = t5.assign(submission=t5["variant"].str.extract(r"^(submission \d)")[0])
    view = t5[["submission", "dataset", "paper", "ours (mean ± std, n)", "95% CI", "diff"]]
    return _md_table(view.round(3))


def reading_markdown(cl) -> str:
    """Our reading, generated from the claims table: which claims hold, which do not, which stay open."""
    out = []
    for verdict, label in (("holds", "Hold on our runs"), ("does not hold", "Do not hold on our runs"),
                           ("cannot be decided", "Cannot be decided at our sample size")):
        rows = cl[cl["verdict"] == verdict]
        if len(rows):
            items = "; ".join(f"{r['claim']} ({r['source']}: difference {r['difference [95% CI]']})"
                              if r["difference [95% CI]"] != "-" else f"{r['claim']} ({r['source']})"
                              for _, r in rows.iterrows())
            out.append(f"* **{label} ({len(rows)} of {len(cl)}):** {items}.")
    out.append("* **Why the pair tasks differ from the paper.** The encoder (all-MiniLM-L6-v2) was trained on "
               "paraphrase pairs, Quora duplicates among them: its zero-shot cosine is already a good STS and "
               "paraphrase score, so the cosine rows start high and the learnable `[|u-v|, u*v]` heads, trained from "
               "scratch at lr 1e-5, lag behind it. SST is a real fine-tuning result, a little below the paper's "
               "bert-base numbers as expected from a 6-layer, 384-wide encoder.")
    return "\n".join(out)


def beyond_markdown(R: ResultSet) -> str:
    """The beyond-the-paper rows stored for this profile (section 6): tables B1 and B2 (one and two epochs),
    table B, the targets; below each table the count of its rows not stored (section 6 names each once, with the
    command that trains it and its hardware)."""
    out = []
    for table, what in (("B1", "one epoch at full data"), ("B2", "two epochs"),
                        ("B", "the profile's epochs")):
        df, missing = B.beyond_table_with_missing(R, table=table)
        n = len(B.rows(table))
        if len(df):
            out.append(f"{n - len(missing)} of {n} rows of table {table} ({what}) are stored; held-out test "
                       "(mean ± std over seeds):\n\n" + _md_table(df))
        else:
            out.append(f"No row of table {table} ({what}) is stored for this profile.")
        if missing:  # named once, with their commands, under the table in section 6
            out.append(f"{len(missing)} row{'s' if len(missing) != 1 else ''} of table {table} "
                       f"{'are' if len(missing) != 1 else 'is'} not stored yet: section 6 names each with the command "
                       "that trains it.")
    out.append("Against the paper's bert-base test scores and the targets set for the beyond-the-paper work (best "
               "row chosen on dev):\n\n"
               + _md_table(B.targets_table(R)))
    return "\n\n".join(x for x in out if x)


def devices_line(R: ResultSet) -> str:
    """The devices, torch, Python and numpy of the stored runs, by group of runs, as each result records them."""
    groups = run_groups(R).to_dict("records")
    if not groups:
        return "no run is stored for this profile yet"
    return "by group of runs, as each result records them: " + "; ".join(
        f"{md_text(g['runs'])} run{'s' if g['runs'] != 1 else ''} on {md_text(g['device'])} ({md_text(g['hardware'])}) "
        f"with torch {md_text(g['torch'])}, Python {md_text(g['Python'])}, numpy {md_text(g['numpy'])}, "
        f"{format_duration(g['summed wall time (s)'])} of training summed" for g in groups)


def _scale_note(S: Settings) -> str:
    if S.profile == "full":
        return ("**Profile `full`:** all data, 10 epochs, the paper's scale (run on a lent GPU); the one- and two-epoch "
                "rows of tables B1 and B2 (section 6) ran on a 2-core CPU, as the runs table's device column says.")
    return (f"**Profile `{S.profile}`: a scaled-down check.** Data are subsampled and training is short, so the "
            "numbers below are not the paper-scale results (see the full profile's report, "
            "`report/full/report.html`); the claims table says what this small run can and cannot resolve.")


def summary_markdown(R: ResultSet, notebook_times=None, total_s=None, cl=None) -> str:
    """The report's opening: findings (headline numbers, the claims table, our reading), then the setup of the
    run (profile, encoder, data, device, seeds, wall times, differences, choices)."""
    S = R.S
    runs, not_run = runs_table_with_missing(R)
    cl = C.claims_table(R) if cl is None else cl
    p = PROFILES[S.profile]
    setup = [
        f"* **Profile:** `{S.profile}`: {p.description}; {p.epochs} epoch(s), training rows per task "
        + ", ".join(f"{t} {'all' if n is None else n}" for t, n in p.n_train.items())
        + f", Quora pairs per epoch {p.quora_per_epoch:,}, dev rows {_caps(p.n_dev)}, test rows {_caps(p.n_test)}.",
        f"* **Encoder:** {_encoder_line(R).removeprefix('Encoder: ')}.",
        f"* **Data:** {_quora_line(S.data_dir)}. SST, CFIMDB and STS from the CS224N starter files "
        f"(sha256-verified, see `data/README.md`).",
        f"* **Device:** {devices_line(R)}.",
        f"* **Seeds with stored results:** {seeds_prose(R)}" + _partial_line(R) + ".",
        f"* **Training wall time:** {format_duration(runs['wall_time_s'].sum())} in total over {len(runs)} "
        f"stored runs (per run below)."
        + (f" Report build (training + notebooks + export): {format_duration(total_s)}." if total_s else ""),
    ]
    table = [
        "| run | tables | device | epochs | best epoch | wall time |",
        "|---|---|---|---|---|---|",
        *[f"| {md_code(x.run_id)} | {md_text(x.tables)} | {md_text(x.device)} | {md_text(x.epochs)} | "
          f"{md_text(x.best_epoch)} | {format_duration(x.wall_time_s)} |"
          for x in runs.itertuples()],
        f"| **total** | | | | | **{format_duration(runs['wall_time_s'].sum())}** |",
    ]
    if not_run:
        table += ["", missing_markdown(not_run)]
    if notebook_times:
        table += ["", "Notebook execution: " + ", ".join(f"{n} {format_duration(s)}" for n, s in notebook_times.items())
                  + "."]
    return text("report_intro.md", profile=S.profile, scale_note=_scale_note(S), headline=headline_markdown(R),
                verdict_rule=st.VERDICT_RULE.format(margin=st.NEAR_MARGIN),
                claims=_md_table(C.display_columns(cl)), reading=reading_markdown(cl), beyond=beyond_markdown(R),
                setup="\n".join(setup), run_notes=_run_notes(R), differences=text("differences.md"),
                choices="\n".join(f"* **{k}:** {v}" for k, v in choices(S.profile).items()),
                runs="\n".join(table))


def conclusion_markdown(S: Settings, cl) -> str:
    counts = cl["verdict"].value_counts()
    summary = (f"Of the paper's {len(cl)} claims we test, {counts.get('holds', 0)} hold on our `{S.profile}` runs, "
               f"{counts.get('does not hold', 0)} do not hold, and {counts.get('cannot be decided', 0)} cannot be "
               "decided at our sample size (the findings at the top list them).")
    if S.profile == "full":
        scale = ("These are paper-scale runs (all data, 10 epochs); most rows have one seed, and the GPU runs "
                 "stored per-example outputs only for the submissions, so most intervals come from the metric and "
                 "the number of examples (stated in the method column).")
    else:
        scale = (f"The `{S.profile}` profile is a scaled-down check: short training on subsampled data. Its "
                 "verdicts say what a small run shows; the full profile's report is the comparison with the paper.")
    return text("conclusion.md", summary=summary, scale_sentence=scale)


# -- steps -----------------------------------------------------------------------------------------------

def train_all(S: Settings, force=False, jobs: int | None = None) -> list:
    """Load every experiment of the registry (submissions once per seed) and train the missing ones side by side
    on the Dask cluster (mtbert.training.scheduler: S.scheduler, else a local one of `jobs` workers). Raises
    TrainingFailed naming each failed run after the others are stored."""
    from mtbert.training import scheduler  # heavy: dask
    runs = [(n, s) for n in CORE for s in (S.seeds if n in SUBMISSIONS else [DEFAULT_SEED])]
    t0 = time.time()

    def done(o):
        if o.record is not None:
            dev = ", ".join(f"{k} {v:.3f}" for k, v in o.record["dev"].items())
            how = (f"stored result loaded (trained in {o.record['wall_time_s']:.1f}s)" if o.status == "stored"
                   else f"trained in {o.record['wall_time_s']:.1f}s on {o.worker}")
            print(f"[{time.time() - t0:7.1f}s] {o.job.key}: {how}; dev {dev}", flush=True)
    outcomes = scheduler.run_experiments(runs, S, scheduler.RunOptions(force=force, n_workers=jobs, on_done=done))
    if any(o.status != "stored" for o in outcomes):
        print(scheduler.summary_table(outcomes), flush=True)
    scheduler.raise_for_failures(outcomes)
    return outcomes


def ensure_kernel(name: str = "python3") -> None:
    from jupyter_client.kernelspec import KernelSpecManager
    if name not in KernelSpecManager().find_kernel_specs():
        subprocess.check_call([sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", name])


def notebook_parameters(S: Settings) -> dict:
    """Papermill parameters that reproduce S in a kernel. Defaults are passed as None, so that no machine
    path is written into the executed notebooks."""
    default = Settings.resolve(profile=S.profile)
    def path(name):
        v = getattr(S, name)
        return None if v == getattr(default, name) else str(v)
    return {"profile": S.profile, "encoder": S.encoder, "seeds": list(S.seeds), "data_dir": path("data_dir"),
            "device": S.device, "store_dir": path("store_root"), "output_dir": path("output_root"),
            "train": S.train}


def ipc_kernel_manager():
    """A kernel manager whose kernels talk over local IPC sockets (files only this user can reach) instead of
    TCP ports on the loopback interface: nothing listens on the network while the notebooks run, and the kernel
    does not warn that it runs "over TCP without encryption"."""
    from jupyter_client import AsyncKernelManager
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):
        @default("transport")
        def _transport_default(self):
            return "ipc"
    return IPCKernelManager


def execute(S: Settings) -> dict:
    """Execute the five notebooks with papermill into report/<profile>/; returns {notebook: seconds}."""
    import nbformat
    import papermill as pm
    src = repo_root() / "notebooks"
    out_dir = S.report_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    params = notebook_parameters(S)
    times = {}
    for nb in NOTEBOOKS:
        t = time.time()
        print(f"executing notebooks/{nb} -> {out_dir / nb}", flush=True)
        pm.execute_notebook(str(src / nb), str(out_dir / nb), parameters=params, kernel_name="python3",
                            cwd=str(src), progress_bar=False, log_output=False,
                            kernel_manager_class=ipc_kernel_manager())
        times[nb] = time.time() - t
        # papermill records absolute paths of this machine; keep them relative to the repository
        done = nbformat.read(str(out_dir / nb), as_version=4)
        pmeta = done.metadata.get("papermill", {})
        pmeta["input_path"] = f"notebooks/{nb}"
        pmeta["output_path"] = f"report/{S.profile}/{nb}"
        nbformat.write(done, str(out_dir / nb))
    return times


def _with_alt(output):
    """An image output with alternative text (from its metadata) as an HTML <img>, so the exported report keeps
    the text; nbconvert's lab template drops it."""
    from nbformat.v4 import new_output
    data = output.get("data", {})
    alt = (output.get("metadata", {}).get("image/png") or {}).get("alt") or output.get("metadata", {}).get("alt")
    if "image/png" not in data or not alt:
        return output
    tag = f'<img src="data:image/png;base64,{_palette_png(data["image/png"])}" alt="{escape(alt)}">'
    return new_output("display_data", data={"text/html": tag})


def _palette_png(b64: str) -> str:
    """A figure's PNG re-encoded with a 256-colour palette: about a third of the bytes for matplotlib's flat
    colours, which keeps the self-contained report small (figures/ keeps the full-colour files)."""
    from PIL import Image
    out = io.BytesIO()
    Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB").quantize(256).save(out, "PNG", optimize=True)
    return base64.b64encode(out.getvalue()).decode()


def merge_notebooks(paths, intro_md: str, title: str, outro_md: str = ""):
    """One notebook: the intro, then every executed notebook's cells minus parameters, setup boilerplate,
    checks, stderr and code cells without output, then the outro."""
    import nbformat
    from nbformat.v4 import new_markdown_cell, new_notebook
    out = new_notebook(cells=[new_markdown_cell(intro_md)])
    for k, p in enumerate(paths, 1):
        nb = nbformat.read(str(p), as_version=4)
        for i, c in enumerate(nb.cells):
            if DROP_TAGS & set(c.metadata.get("tags", [])):
                continue
            c = copy.deepcopy(c)
            c["id"] = f"s{k}-{i}"  # unique across the combined notebooks
            if c.cell_type == "code":
                c.outputs = [_with_alt(o) for o in c.outputs
                             if not (o.output_type == "stream" and o.name == "stderr")]
                if not c.outputs:
                    continue
            out.cells.append(c)
    if outro_md:
        out.cells.append(new_markdown_cell(outro_md))
    out.metadata["title"] = title
    out.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return out


def export_html(nb, path: Path, title: str) -> Path:
    """The combined notebook as one HTML page: code hidden, no script, no request (template mtbert_report)."""
    from nbconvert import HTMLExporter
    exp = HTMLExporter(template_name="mtbert_report", extra_template_basedirs=[str(TEMPLATES)])
    exp.exclude_input = True
    exp.exclude_input_prompt = True
    exp.exclude_output_prompt = True
    page, _ = exp.from_notebook_node(nb, resources={"metadata": {"name": title},
                                                    "content_security_policy": CONTENT_SECURITY_POLICY})
    write_text(path, page)
    return path


def build(S: Settings, jobs: int | None = None) -> Path:
    t0 = time.time()
    if S.train:
        print(f"== training / loading every experiment of profile {S.profile} (submission seeds {list(S.seeds)})",
              flush=True)
        train_all(S, jobs=jobs)
    ensure_kernel()
    print(f"== executing notebooks into {S.report_dir}", flush=True)
    times = execute(S)
    title = f"Multitask BERT reproduction report (profile {S.profile})"
    R = ResultSet.load(S)  # every stored run, read once: the summary's tables and the claims read it
    cl = C.claims_table(R)
    intro = summary_markdown(R, times, time.time() - t0, cl)
    nb = merge_notebooks([S.report_dir / n for n in NOTEBOOKS], intro, title, conclusion_markdown(S, cl))
    html = export_html(nb, S.report_dir / "report.html", title)
    print(f"== wrote {html} ({html.stat().st_size / 1e6:.1f} MB) in {time.time() - t0:.1f}s", flush=True)
    return html


def main(S: Settings, jobs: int | None = None) -> int:
    from papermill.exceptions import PapermillExecutionError
    try:
        build(S, jobs)
    except PapermillExecutionError as e:
        print(f"report failed: a notebook cell raised {e.ename}: {e.evalue}\n(see the executed notebook "
              f"under {S.report_dir})", file=sys.stderr)
        return 1
    return 0
