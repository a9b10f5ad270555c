"""Command line: `python -m mtbert {data,list,run,status,predict,export,report,docs}` (also installed as `mtbert`).

This is one of the two edges where settings are resolved (the other is `mtbert.notebook`): flags first, then
the environment variables of `mtbert.settings.SPEC`, then the defaults. Errors a user can fix are printed as
one message without a traceback (`--debug` shows it) and exit with status 1, or 2 for a bad argument.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from mtbert.data import datasets as D
from mtbert.data.fetch import default_mirror, fetch_data
from mtbert.errors import MtbertError, RunInterrupted, UsageError
from mtbert.results.store import load_result
from mtbert.settings import DEFAULT_SEED, PROFILE_NAMES, Settings
from mtbert.core.experiments import CORE, PROFILES, REGISTRY, SUBMISSIONS, experiments_for, run_config

# The subcommands that train, predict or render import their machinery (torch, pandas, jupyter) when they run,
# so that `data`, `list` and `status` start in a fraction of a second.


# -- settings flags shared by the subcommands --------------------------------------------------------------

SEEDS_HELP = {
    "run": "seeds of the submissions, or with --seeds-all of every named experiment "
           "(default: $MTBERT_SEEDS, else 11711)",
    "report": "seeds of the submissions to train and show (default: $MTBERT_SEEDS, else 11711; stored results of "
              "other seeds are always shown)",
    "predict": "seeds of the experiment's stored runs to re-predict, and to average with --ensemble "
               "(default: $MTBERT_SEEDS, else 11711)",
    "export": "the one seed of the stored run to export (default: $MTBERT_SEEDS, else 11711)",
    "status": "seeds to look up (default: $MTBERT_SEEDS, else 11711)",
}


def _settings_flags(p: argparse.ArgumentParser, cmd: str, train_flag=False, run_flags=False, cluster_flags=False):
    g = p.add_argument_group("settings (flag, else environment variable, else default: the README's settings table)")
    g.add_argument("--profile", choices=PROFILE_NAMES, help="default: $MTBERT_PROFILE, else full with CUDA, else quick")
    g.add_argument("--encoder", metavar="NAME_OR_DIR",
                   help="'default' (all-MiniLM-L6-v2), a checkpoint directory, or a hub id (default: $MTBERT_ENCODER)")
    g.add_argument("--encoder-dir", metavar="DIR",
                   help="a local copy of the default encoder's files ($MTBERT_ENCODER_DIR)")
    g.add_argument("--seeds", nargs="+", metavar="SEED", help=SEEDS_HELP[cmd])
    g.add_argument("--data-dir", metavar="DIR", help="folder with the data files (default: $MTBERT_DATA_DIR, else data/)")
    g.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps ($MTBERT_DEVICE)")
    g.add_argument("--store-dir", metavar="DIR",
                   help="root of results/, predictions/, checkpoints/ ($MTBERT_STORE_DIR, else the repository)")
    if train_flag:
        g.add_argument("--output-dir", metavar="DIR", help="root of report/<profile>/ and figures/<profile>/ "
                                                           "($MTBERT_OUTPUT_DIR, else the repository)")
        g.add_argument("--no-train", action="store_true", help="render from stored results only, never train")
    if run_flags:
        g.add_argument("--progress", dest="progress", action="store_true", default=None,
                       help="show progress bars (default: on when stderr is a terminal)")
        g.add_argument("--no-progress", dest="progress", action="store_false",
                       help="no progress bars, also in a terminal")
        g.add_argument("--no-unpad", action="store_true",
                       help="CPU: keep the padding tokens in the position-wise layers (slower, for timing the "
                            "unpadded execution that is on by default)")
        g.add_argument("--amp", action="store_true", default=None,
                       help="bf16 autocast (mixed precision) on a device other than CUDA, e.g. to rehearse a GPU "
                            "run on a CPU; on CUDA it is always on")
    if cluster_flags:
        g.add_argument("--jobs", type=int, default=None, metavar="N",
                       help="workers of the local Dask cluster (default: 1 on a CPU, one per 8 GiB of GPU memory)")
        g.add_argument("--scheduler", metavar="ADDRESS",
                       help="train on the Dask cluster of this scheduler (tcp://host:port, or a scheduler file) "
                            "instead of a local one ($MTBERT_SCHEDULER)")
        g.add_argument("--tensorboard", metavar="DIR",
                       help="write the training curves of each run trained as TensorBoard event files under "
                            "DIR/<profile>/<run_id>/ ($MTBERT_TENSORBOARD; off by default; changes no result)")
        g.add_argument("--cluster-timeout", type=str, default=None, metavar="SECONDS",
                       help="the longest wait for the scheduler, its file or a worker (default: "
                            "$MTBERT_CLUSTER_TIMEOUT, else 60)")


def settings_from_args(args, environ=None) -> Settings:
    environ = os.environ if environ is None else environ
    progress = getattr(args, "progress", None)
    return Settings.resolve(
        environ=environ, profile=args.profile, encoder=args.encoder, encoder_dir=args.encoder_dir,
        seeds=args.seeds, data_dir=args.data_dir, device=args.device, store_root=args.store_dir,
        output_root=getattr(args, "output_dir", None),
        train=False if getattr(args, "no_train", False) else None,
        progress=sys.stderr.isatty() if progress is None else progress,
        unpad=False if getattr(args, "no_unpad", False) else None, amp=getattr(args, "amp", None),
        scheduler=getattr(args, "scheduler", None), tensorboard=getattr(args, "tensorboard", None),
        cluster_timeout=getattr(args, "cluster_timeout", None))


# -- subcommands -------------------------------------------------------------------------------------------

def _names(args) -> list[str]:
    names = list(args.names)
    for t in args.table or []:
        names += experiments_for(t)
    if args.all:  # the paper's experiments and the X rows; table B (beyond the paper) only with --table B
        names += list(CORE)
    if not names:
        raise UsageError("name experiments, or use --table T or --all (see `python -m mtbert list`)")
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise UsageError(f"unknown experiment(s) {unknown}; valid: {', '.join(REGISTRY)}")
    return list(dict.fromkeys(names))


# settings that --set cannot change (they are flags, not config values): the flag that does
SET_BY_FLAG = {"seed": "--seeds", "seeds": "--seeds", "profile": "--profile", "encoder": "--encoder",
               "name": "the experiment's name (an argument of `run`)",
               "experiment": "the experiment's name (an argument of `run`)"}


def _overrides(pairs) -> dict:
    out = {}
    for kv in pairs or []:
        if "=" not in kv:
            raise UsageError(f"--set expects KEY=VALUE, got {kv!r}")
        k, v = kv.split("=", 1)
        if k.strip() in SET_BY_FLAG:
            raise UsageError(f"--set {kv}: {k.strip()} is not a config value that --set changes; use "
                             f"{SET_BY_FLAG[k.strip()]} instead" + (
                                 f" (e.g. `--seeds {v}`, with --seeds-all for experiments other than the "
                                 "submissions)" if k.strip() in ("seed", "seeds") else ""))
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v  # strings (e.g. pooling=mean); a config field that needs a number rejects it by name
    return out


def cmd_run(args, S: Settings) -> int:
    from mtbert.training import scheduler  # heavy: torch, dask
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    names = _names(args)
    seeds_for = lambda n: S.seeds if (n in SUBMISSIONS or args.seeds_all) else (DEFAULT_SEED,)
    runs = [(n, s) for n in names for s in seeds_for(n)]
    overrides = _overrides(args.set)
    if "device" in overrides:  # --set device=X is the --device setting: honoured (and checked) as one
        device = str(overrides.pop("device"))
        if args.device is not None and args.device.strip().lower() != device.strip().lower():
            raise UsageError(f"--set device={device} and --device {args.device} disagree: give one of them")
        S = S.replace(device=device)
    for n, s in runs:  # every bad --set value fails here, with a message, before anything trains
        run_config(n, S.profile, s, S.encoder, **overrides)
    t0 = time.time()

    def done(o):
        if o.record is None:
            return
        r = o.record
        dev = ", ".join(f"{k} {v:.3f}" for k, v in r["dev"].items())
        how = "stored" if o.status == "stored" else f"trained {r['wall_time_s']:.1f}s on {o.worker}"
        print(f"[{time.time() - t0:7.1f}s] {r['run_id']} ({how}): dev {dev}", flush=True)
    options = scheduler.RunOptions(force=args.force, n_workers=args.jobs, overrides=overrides, on_done=done)
    outcomes = scheduler.run_experiments(runs, S, options)
    trained = [o for o in outcomes if o.status != "stored"]
    if trained:
        print(scheduler.summary_table(outcomes), flush=True)
    scheduler.raise_for_failures(outcomes)
    return 0


def cmd_list(args, S=None) -> int:
    for n, e in REGISTRY.items():
        print(f"{n:26s} tables {','.join(e.tables):6s} {e.description}")
    print("\nprofiles: " + "; ".join(f"{p.name}: {p.description}" for p in PROFILES.values()))
    return 0


def cmd_status(args, S: Settings) -> int:
    for n in REGISTRY:
        r = load_result(n, S)
        print(f"{n:26s} " + (f"dev {json.dumps({k: round(v, 3) for k, v in r['dev'].items()})}" if r else "-"))
    return 0


def cmd_predict(args, S: Settings) -> int:
    """Re-predict stored runs from their best checkpoints (test-student raw outputs, CFIMDB from the SST head)
    and, with --ensemble, average the seeds into predictions/<profile>/<name>__ensemble/."""
    from mtbert.inference import ensemble, predict  # heavy: torch
    if args.name not in REGISTRY:
        raise UsageError(f"unknown experiment {args.name!r}; valid: {', '.join(REGISTRY)}")
    for s in S.seeds:
        if not args.ensemble_only:
            r = predict.predict_run(args.name, S, s)
            cf = ", ".join(f"{k} {v:.3f}" for k, v in r[predict.TRANSFER_TARGET].items())
            print(f"{r['run_id']}: {len(r['files'])} files written" + (f"; CFIMDB from the SST head: {cf}" if cf else ""))
    if args.ensemble or args.ensemble_only:
        m = ensemble.ensemble_predictions(args.name, S, S.seeds)
        print(f"{args.name} ensemble of seeds {m['seeds']}: " + "; ".join(
            f"{split} " + ", ".join(f"{k} {v:.3f}" for k, v in m[split].items()) for split in ("dev", "test")))
        for task, why in m.get("left_out", {}).items():
            print(f"{args.name} ensemble: {task} left out: {why}")
    if args.with_rules:
        from mtbert.analysis.decision_rules import write_rules_predictions
        from mtbert.results.result_set import ResultSet
        m = write_rules_predictions(args.name, ResultSet.load(S), S.seeds)
        print(f"{args.name} with the decision rules chosen on dev (STS with {m['sts_partner']}, seeds {m['seeds']}): "
              f"dev sts {m['dev']['sts']:.3f}; " + ", ".join(m["files"]))
    return 0


def cmd_export(args, S: Settings) -> int:
    """Write a stored run's selected model as a Hugging Face checkpoint with its task heads and a model card."""
    from mtbert.inference.export import export  # heavy: torch
    if len(S.seeds) != 1:
        raise UsageError(f"export writes one model: give one seed (--seeds {S.seeds[0]}), got {list(S.seeds)}")
    r = export(args.name, S, S.seeds[0], args.out, force=args.force)
    print(f"{r['run_id']} (profile {S.profile}) -> {r['out']}: " + ", ".join(r["files"]))
    return 0


def cmd_report(args, S: Settings) -> int:
    from mtbert.report.build import main as report_main  # heavy: torch, pandas, scipy, matplotlib
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    return report_main(S, jobs=args.jobs)


def cmd_docs(args, S=None) -> int:
    from mtbert.report import docs  # pandas
    stale = docs.update(check=args.check)
    for path, name in stale:
        print(f"{path}: block {name} {'is stale' if args.check else 'rewritten'}")
    if args.check and stale:
        print("run `python -m mtbert docs` to rewrite them", file=sys.stderr)
        return 1
    return 0


def cmd_data(args, S=None) -> int:
    environ = os.environ
    dest = args.data_dir or environ.get("MTBERT_DATA_DIR") or None
    mirror = args.mirror or environ.get("MTBERT_DATA_MIRROR") or default_mirror()
    summary = fetch_data(dest=dest, mirror=mirror, verbose=not args.quiet)
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
    q = D.quora_train_info(summary["dest"])
    print(f"data folder: {summary['dest']}")
    print(f"Quora train: {q['file']} ({q['pairs']:,} pairs, {q['n_skipped']} skipped; "
          f"{q['train_pairs']:,} train + {q['heldout_pairs']:,} held out)"
          + ("" if q["full"] else " -- the full official quora-train.csv was not available"))
    return 0


def set_keys_help() -> str:
    """The `--set` keys, each with the values it allows, from the knob declarations (mtbert.core.config)."""
    from mtbert.core.config import KNOBS, OVERRIDABLE
    lines = [f"  {k:17s} {KNOBS[k].allowed[1] if k in KNOBS else 'cpu, cuda, cuda:N, mps or auto'}"
             for k in OVERRIDABLE]
    return "keys of --set KEY=VALUE (VALUE is read as JSON, else as a string):\n" + "\n".join(lines)


EPILOGS = {
    "data": """examples:
  mtbert data                                   copy the files from ../shared/data, or download them
  mtbert data --mirror /path/to/data            from another local copy
  MTBERT_DATA_MIRROR=/path/to/data make test    the same for the Makefile's targets""",
    "list": """examples:
  mtbert list                                   every experiment name that run, predict and export take""",
    "run": """examples:
  mtbert run --all --profile quick              train what is missing of the paper's experiments
  mtbert run submission2 --profile smoke        one experiment (names: mtbert list)
  mtbert run --table B1 --profile full --device cpu         the one-epoch beyond-the-paper rows
  mtbert run submission2 --profile smoke --set epochs=2 --set pooling=mean --store-dir /tmp/try
                                                a variant, stored outside the repository's results
  mtbert run submission2 --profile smoke --tensorboard runs  then: tensorboard --logdir runs

Stored results are reused: a run trains only when its result is missing (or with --force, which replaces the
stored result and predictions; the quick and full profiles' results are committed, so prefer --store-dir DIR).

""",
    "status": """examples:
  mtbert status --profile full                  the dev scores of every stored run of the full profile""",
    "predict": """examples:
  mtbert predict submission2 --profile smoke    needs the run's best checkpoint under checkpoints/<profile>/,
                                                which a clone does not have: train it first (mtbert run ...)
  mtbert predict beyond_best_lr5e-5_2epoch --profile full --seeds 11711 1 2 --ensemble-only
                                                average the stored seeds' files (no checkpoint needed)""",
    "export": """examples:
  mtbert export submission2 --profile smoke --out export/submission2
                                                needs the run's best checkpoint (checkpoints are not committed:
                                                train it first with mtbert run submission2 --profile smoke)""",
    "report": """examples:
  mtbert report --profile quick --no-train      render the committed quick results (about 2 minutes on a CPU)
  mtbert report --profile smoke                 train the smoke runs (minutes), then render
  mtbert report --profile full --jobs 14        on a GPU: train what is missing, 14 runs at a time""",
    "docs": """examples:
  mtbert docs                                   rewrite the generated blocks of README.md and docs/*.md
  mtbert docs --check                           exit 1, naming each stale block, when one is out of date""",
}


def build_parser() -> argparse.ArgumentParser:
    debug = argparse.ArgumentParser(add_help=False)  # --debug before or after the subcommand
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the traceback of an error")
    p = argparse.ArgumentParser(prog="mtbert", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Each subcommand's --help lists its flags and examples.")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sp = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    def sub(name, help, epilog=None):
        return sp.add_parser(name, help=help, description=help, epilog=epilog or EPILOGS[name], parents=[debug],
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    d = sub("data", "fill the data folder from the local mirror or upstream, verifying each file's sha256")
    d.add_argument("--data-dir", metavar="DIR", help="data folder (default: $MTBERT_DATA_DIR, else data/)")
    d.add_argument("--dest", dest="data_dir", help=argparse.SUPPRESS)  # the former name of --data-dir
    d.add_argument("--mirror", metavar="DIR",
                   help="local mirror folder (default: $MTBERT_DATA_MIRROR, else ../shared/data beside the clone)")
    d.add_argument("-q", "--quiet", action="store_true", help="only print the summary table")
    sub("list", "list the experiments (the names run, predict and export take), their tables and the profiles")
    r = sub("run", "train experiments (results are stored under results/<profile>/ and reused)",
            EPILOGS["run"] + set_keys_help())
    r.add_argument("names", nargs="*", metavar="NAME", help="experiments to run (names: mtbert list)")
    r.add_argument("--table", action="append", metavar="T",
                   help="every experiment of a table: 1-5, X (the paper's); B, B1, B2 (beyond the paper); repeatable")
    r.add_argument("--all", action="store_true", help="every experiment of the paper and the X rows (not table B)")
    r.add_argument("--seeds-all", action="store_true", help="train every named experiment with --seeds, not only "
                                                            "the submissions")
    r.add_argument("--force", action="store_true", help="re-train even when a result is stored, replacing it")
    r.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one configuration value of the runs (repeatable; keys below)")
    _settings_flags(r, "run", run_flags=True, cluster_flags=True)
    pr = sub("predict", "re-predict a stored run from its best checkpoint; --ensemble averages its seeds")
    pr.add_argument("name", metavar="NAME", help="the experiment (names: mtbert list)")
    pr.add_argument("--ensemble", action="store_true", help="then average the seeds' outputs (leaderboard files)")
    pr.add_argument("--ensemble-only", action="store_true", help="only average the files the seeds already have")
    pr.add_argument("--with-rules", action="store_true", help="then write the STS leaderboard files of the seeds "
                    "combined with the STS partner chosen on dev (mtbert.analysis.decision_rules)")
    _settings_flags(pr, "predict", run_flags=True)
    ex = sub("export", "write a stored run's model as a Hugging Face checkpoint with its task heads and a model card")
    ex.add_argument("name", metavar="NAME", help="the experiment (names: mtbert list)")
    ex.add_argument("--out", required=True, metavar="DIR", help="a new or empty folder")
    ex.add_argument("--force", action="store_true", help="overwrite the export files in a non-empty --out folder")
    _settings_flags(ex, "export")
    s = sub("status", "the dev scores of the stored results of a profile")
    _settings_flags(s, "status")
    rep = sub("report", "train what is missing, run the notebooks and export report/<profile>/report.html")
    _settings_flags(rep, "report", train_flag=True, run_flags=True, cluster_flags=True)
    dc = sub("docs", "rewrite the generated blocks of README.md and docs/ from the stored results and the code")
    dc.add_argument("--check", action="store_true", help="change nothing; exit 1 when a block is stale")
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    cmd = {"data": cmd_data, "list": cmd_list, "run": cmd_run, "status": cmd_status, "report": cmd_report,
           "predict": cmd_predict, "export": cmd_export, "docs": cmd_docs}[args.cmd]
    try:
        S = settings_from_args(args) if args.cmd in ("run", "status", "report", "predict", "export") else None
        return cmd(args, S)
    except MtbertError as e:
        if args.debug:
            raise
        print(f"mtbert {args.cmd}: error: {e}", file=sys.stderr)
        if not isinstance(e, UsageError):
            print("(run with --debug for the traceback)", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:
        what = str(e) if isinstance(e, RunInterrupted) else (
            "results stored before the interrupt are kept; a run that was training resumes from its last "
            "finished epoch when the same command is re-run, if one had finished")
        print(f"mtbert {args.cmd}: interrupted; {what}", file=sys.stderr)
        return 130
