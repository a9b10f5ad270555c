"""Command line: `python -m mtbert {data,list,run,status,report}` (also installed as `mtbert`)."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from .experiments import DEFAULT_SEED, PROFILES, REGISTRY, experiments_for


def _names(args) -> list[str]:
    names = list(args.names)
    for t in args.table or []:
        names += experiments_for(t)
    if args.all:
        names += list(REGISTRY)
    if not names:
        raise SystemExit("name experiments, or use --table T or --all (see `python -m mtbert list`)")
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise SystemExit(f"unknown experiment(s) {unknown}; valid: {', '.join(REGISTRY)}")
    return list(dict.fromkeys(names))


def _overrides(pairs) -> dict:
    out = {}
    for kv in pairs or []:
        if "=" not in kv:
            raise SystemExit(f"--set expects key=value, got {kv!r}")
        k, v = kv.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def cmd_run(args):
    from .train import run
    names, seeds = _names(args), args.seeds or [None]
    jobs = [(n, s) for n in names for s in (seeds if n.startswith("submission") or args.seeds_all else [None])]
    overrides = _overrides(args.set)
    from .experiments import run_config
    try:  # every bad --set/--encoder value fails here, with a message, before anything trains
        for n, s in jobs:
            run_config(n, args.profile, s, args.encoder, **overrides)
    except (KeyError, TypeError, ValueError) as e:
        raise SystemExit(f"mtbert run: {e.args[0] if isinstance(e, KeyError) else e}")
    t0 = time.time()
    if args.jobs > 1:  # independent processes; on a GPU small models run side by side well
        # Paper rows first (long multitask runs before single-task ones), extra seeds last.
        jobs.sort(key=lambda j: (j[1] not in (None, DEFAULT_SEED), j[0].startswith("t1_")))
        def sub(job):
            n, s = job
            cmd = [sys.executable, "-m", "mtbert", "run", n, "--profile", args.profile, "--jobs", "1"]
            cmd += (["--seeds", str(s)] if s is not None else []) + (["--force"] if args.force else [])
            cmd += (["--encoder", args.encoder] if args.encoder else []) + (["--device", args.device] if args.device else [])
            cmd += sum((["--set", x] for x in args.set or []), [])
            t = time.time()
            rc = subprocess.call(cmd, env={**os.environ, "MTBERT_PROGRESS": "0"})
            print(f"[{time.time() - t0:7.1f}s] {n} seed={s}: {'ok' if rc == 0 else f'FAILED rc={rc}'} "
                  f"({time.time() - t:.1f}s)", flush=True)
            return rc
        with ThreadPoolExecutor(args.jobs) as ex:
            rcs = list(ex.map(sub, jobs))
        if any(rcs):
            raise SystemExit(1)
        return
    for n, s in jobs:
        t = time.time()
        r = run(n, args.profile, seed=s, encoder=args.encoder, force=args.force, device=args.device, **overrides)
        dev = ", ".join(f"{k} {v:.3f}" for k, v in r["dev"].items())
        print(f"[{time.time() - t0:7.1f}s] {r['run_id']} ({time.time() - t:.1f}s; trained {r['wall_time_s']:.1f}s): "
              f"dev {dev}", flush=True)


def cmd_list(args):
    for n, e in REGISTRY.items():
        print(f"{n:26s} tables {','.join(e.tables):6s} {e.description}")
    print("\nprofiles: " + "; ".join(f"{p.name}: {p.description}" for p in PROFILES.values()))


def cmd_status(args):
    from .train import load_result
    for n in REGISTRY:
        r = load_result(n, args.profile)
        print(f"{n:26s} " + (f"dev {json.dumps({k: round(v, 3) for k, v in r['dev'].items()})}" if r else "-"))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["data"]:
        from .datacli import main as data_main
        return data_main(argv[1:])
    p = argparse.ArgumentParser(prog="mtbert", description=__doc__)
    sp = p.add_subparsers(dest="cmd", required=True)
    sp.add_parser("data", help="fill data/ from the local mirror or upstream, verifying sha256")
    sp.add_parser("list", help="list experiments and profiles")
    r = sp.add_parser("run", help="run experiments (results are cached under results/<profile>/)")
    r.add_argument("names", nargs="*")
    r.add_argument("--table", action="append", help="all experiments of a paper table (1-5, X)")
    r.add_argument("--all", action="store_true")
    r.add_argument("--profile", default=os.environ.get("MTBERT_PROFILE", "quick"), choices=list(PROFILES))
    r.add_argument("--seeds", type=int, nargs="+", help="seeds for the submissions (others use the default seed)")
    r.add_argument("--seeds-all", action="store_true", help="apply --seeds to every experiment")
    r.add_argument("--encoder", help="'default', a checkpoint directory, or a hub id")
    r.add_argument("--device", help="cpu, cuda, auto (default)")
    r.add_argument("--force", action="store_true", help="re-run even when a result exists")
    r.add_argument("--jobs", type=int, default=1, help="experiments run in parallel processes")
    r.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value")
    s = sp.add_parser("status", help="which results exist for a profile")
    s.add_argument("--profile", default=os.environ.get("MTBERT_PROFILE", "quick"), choices=list(PROFILES))
    rep = sp.add_parser("report", help="run the notebooks and export report/report.html")
    rep.add_argument("--profile", default=None, choices=list(PROFILES))
    rep.add_argument("--no-train", action="store_true", help="render from stored results only")
    args = p.parse_args(argv)
    if args.cmd == "report":
        from .report import main as report_main
        return report_main(args)
    return {"run": cmd_run, "list": cmd_list, "status": cmd_status}[args.cmd](args)
