#!/usr/bin/env python
"""Speed benchmark: our encoder + training engine against Hugging Face transformers, in one process.

    python bench/bench.py [--quick] [--device cpu|cuda] [--encoder DIR] [--out DIR] [--threads N]

Same pretrained weights (default encoder all-MiniLM-L6-v2, or --encoder DIR), same real batches (SST and
Quora sentences, 32 per batch, each batch padded to its own longest sequence), same thread count. Every
measurement interleaves the contenders (ours, reference, ours, reference, ... with the order rotated each
round) after warm-up, and reports medians; ratios are throughput(ours) / throughput(reference), so > 1
means ours is faster. Sections (see bench/README.md):

  train    one training step (forward + backward + optimizer step, encoder + linear head)
  infer    encoder forward in eval mode under no_grad
  epoch    one SST fine-tuning epoch end to end (data loading, batching, padding, steps)
  scaling  training-step throughput (and CUDA peak memory) vs sequence length and batch size
  limit    achieved FLOP/s of our training step vs the machine's peak

Writes bench/results/<device>-<date>.json (and a .md with the table). Needs transformers (the reference),
no network. Not part of the test suite.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))  # run from a plain checkout too (mtbert not pip-installed)

try:  # mtbert.training.engine imports tqdm for its progress bar; the benchmark never shows one
    import tqdm.auto  # noqa: F401
except ImportError:
    _tq = types.ModuleType("tqdm.auto")
    _tq.tqdm = lambda it=None, *a, **k: it
    sys.modules.setdefault("tqdm", types.ModuleType("tqdm"))
    sys.modules["tqdm.auto"] = _tq

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import transformers  # noqa: E402
from mtbert.data import datasets as D  # noqa: E402
from mtbert.training import batches  # noqa: E402
from mtbert.training import optim  # noqa: E402
from mtbert.training import runner  # noqa: E402
from mtbert.training import engine  # noqa: E402
from mtbert.model.checkpoint import load_encoder  # noqa: E402
from mtbert.core.experiments import run_config  # noqa: E402
from mtbert.model.heads import Architecture, MultitaskBert  # noqa: E402
from mtbert.model.tokenizer import Tokenizer  # noqa: E402

transformers.logging.set_verbosity_error()
BS = 32
N_CLASSES = 5
H100_BF16_DENSE = 989e12


# -- plumbing ----------------------------------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.dev = torch.device(args.device)
        self.cuda = self.dev.type == "cuda"
        self.rows: list[dict] = []
        self.extra: dict = {}

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.cuda else contextlib.nullcontext()

    def timed(self, fn, *a):
        self.sync()
        t = time.perf_counter()
        fn(*a)
        self.sync()
        return time.perf_counter() - t

    def interleave(self, cases: dict, batches: list, warmup: int, rounds: int) -> dict:
        """Run every case on every batch, rounds times, alternating cases batch by batch (order rotated
        each round). Returns {case: array (rounds, len(batches)) of seconds}."""
        names = list(cases)
        for _ in range(warmup):
            for n in names:
                for b in batches[:2]:
                    cases[n](b)
        out = {n: np.zeros((rounds, len(batches))) for n in names}
        for r in range(rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for j, b in enumerate(batches):
                for n in order:
                    out[n][r, j] = self.timed(cases[n], b)
        return out

    def row(self, section, case, unit, ours, ref, ratio, note="", **kw):
        r = {"section": section, "case": case, "unit": unit, "ours": ours, "reference": ref, "ratio": ratio,
             "note": note, **kw}
        self.rows.append(r)
        fmt = lambda v: "-" if v is None else (f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}")  # noqa: E731
        print(f"  {section:8s} {case:38s} {unit:10s} ours {fmt(ours):>10s}  ref {fmt(ref):>10s}  "
              f"ratio {fmt(ratio):>6s}  {note}", flush=True)
        return r


def paired_ratio(t_ref, t_ours) -> float:
    """Median over (round, batch) of t_ref / t_ours measured back to back: robust to drifting CPU load."""
    return float(np.median(np.asarray(t_ref) / np.asarray(t_ours)))


def tokens(batches) -> int:
    return int(sum(int(b[1].sum()) for b in batches))


def padded_tokens(batches) -> int:
    return int(sum(b[1].numel() for b in batches))


# -- models ----------------------------------------------------------------------------------------

def build(bench: Bench, ckpt_dir: Path):
    dev = bench.dev
    cfg = run_config("t1_sst_finetune", "full", encoder=str(ckpt_dir), batch_size=BS)
    torch.manual_seed(0)
    enc, _ = load_encoder(ckpt_dir)
    enc.unpad = not bench.cuda  # as the training engine runs it (Runner: on CPU only)
    ours = MultitaskBert(enc, Architecture(tasks=("sst",), pooling="cls", dropout=cfg.dropout)).to(dev)
    opt_ours = optim.make_optimizer(ours, cfg)
    hf = transformers.BertModel.from_pretrained(str(ckpt_dir), attn_implementation="sdpa",
                                            dtype=torch.float32).to(dev)  # fp32 weights, as ours
    head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(hf.config.hidden_size, N_CLASSES)).to(dev)
    # PyTorch's AdamW defaults (foreach where available, not fused), same lr / weight decay as ours
    opt_ref = torch.optim.AdamW(list(hf.parameters()) + list(head.parameters()), lr=cfg.lr,
                                weight_decay=cfg.weight_decay)
    bench.extra["optimizers"] = {"ours": {"class": "AdamW", "fused": opt_ours.defaults.get("fused")},
                                 "reference": {"class": "AdamW", "fused": opt_ref.defaults.get("fused"),
                                               "foreach": opt_ref.defaults.get("foreach")}}
    return cfg, ours, opt_ours, hf, head, opt_ref


def step_fns(bench: Bench, ours, opt_ours, hf, head, opt_ref):
    ac = bench.autocast

    def ours_step(b):
        ids, mask, y = b
        with ac():
            u = ours.embed(ids, mask)
            raw, _ = ours.task_outputs("sst", u)
            loss = ours.loss("sst", raw, y)
        opt_ours.zero_grad(set_to_none=True)
        loss.backward()
        opt_ours.step()

    def ref_step(b):
        ids, mask, y = b
        with ac():
            out = hf(input_ids=ids, attention_mask=mask)
            loss = F.cross_entropy(head(out.last_hidden_state[:, 0]).float(), y)
        opt_ref.zero_grad(set_to_none=True)
        loss.backward()
        opt_ref.step()

    return ours_step, ref_step


@contextlib.contextmanager
def unpadded(model, on: bool):
    old = model.encoder.unpad
    model.encoder.unpad = on
    try:
        yield
    finally:
        model.encoder.unpad = old


# -- data ----------------------------------------------------------------------------------------------

def real_batches(bench: Bench, tok: Tokenizer, n_each: int, seed=0):
    """n_each random SST batches and n_each random Quora-sentence batches of 32, each padded to its own
    longest sequence; labels are random classes (the loss value is irrelevant to speed)."""
    d = bench.args.data_dir
    sst = D.load("sst", "train", d).sents
    q = D.load("quora", "train", d)
    quora = list(q.sents1) + list(q.sents2)
    rng = np.random.default_rng(seed)
    out = []
    for src in (sst, quora):
        for _ in range(n_each):
            idx = rng.choice(len(src), BS, replace=False)
            ids, mask = tok.pad_batch(tok.encode([src[i] for i in idx]))
            y = torch.as_tensor(rng.integers(0, N_CLASSES, BS))
            out.append((ids.to(bench.dev), mask.to(bench.dev), y.to(bench.dev)))
    order = rng.permutation(len(out))
    return [out[i] for i in order]


def full_batches(bench: Bench, tok: Tokenizer, B: int, L: int, n: int, seed=1):
    """n batches of B sequences of exactly L tokens ([CLS] text [SEP], no padding), cut from a stream of
    real SST sentences."""
    sst = D.load("sst", "train", bench.args.data_dir).sents
    rng = np.random.default_rng(seed)
    stream: list[int] = []
    need = B * n * (L - 2)
    while len(stream) < need:
        idx = rng.choice(len(sst), 256, replace=False)
        for s in tok.encode([sst[i] for i in idx]):
            stream += s[1:-1]
    out = []
    for k in range(n):
        rows = [[tok.cls_id] + stream[(k * B + i) * (L - 2):(k * B + i + 1) * (L - 2)] + [tok.sep_id] for i in range(B)]
        ids = torch.tensor(rows)
        y = torch.as_tensor(rng.integers(0, N_CLASSES, B))
        out.append((ids.to(bench.dev), torch.ones_like(ids).to(bench.dev), y.to(bench.dev)))
    return out


# -- FLOPs ------------------------------------------------------------------------------------------------

def train_flops(model, batches) -> float:
    """Useful FLOPs of the training steps over `batches`: 6 x non-embedding params x real tokens, plus
    attention 12 L t^2 H per sequence of t real tokens (forward + backward)."""
    c = model.encoder.config
    N = model.encoder.num_params(non_embedding=True)
    total = 0.0
    for b in batches:
        lens = b[1].sum(1).double()
        total += 6 * N * float(lens.sum()) + 12 * c.num_hidden_layers * c.hidden_size * float((lens ** 2).sum())
    return total


def matmul_peak(bench: Bench) -> dict:
    if bench.cuda:
        n, dtype, reps = 8192, torch.bfloat16, 20
    else:
        n, dtype, reps = (1024 if bench.args.quick else 2048), torch.float32, (5 if bench.args.quick else 8)
    a = torch.randn(n, n, device=bench.dev, dtype=dtype)
    b = torch.randn(n, n, device=bench.dev, dtype=dtype)
    for _ in range(2):
        a @ b
    ts = [bench.timed(torch.matmul, a, b) for _ in range(reps)]
    flops = 2 * n ** 3
    return {"n": n, "dtype": str(dtype).replace("torch.", ""), "median_s": statistics.median(ts),
            "flops_per_s": flops / statistics.median(ts), "best_flops_per_s": flops / min(ts)}


# -- sections -----------------------------------------------------------------------------------------------

def section_train(bench, ours, ours_step, ref_step, batches, warmup, rounds):
    def ours_variant(b):
        with unpadded(ours, not ours.encoder.unpad):
            ours_step(b)
    cases = {"ours": ours_step, "ours_variant": ours_variant, "ref": ref_step}
    if not bench.args.variants:
        cases.pop("ours_variant")
    t = bench.interleave(cases, batches, warmup, rounds)
    ntok = tokens(batches)
    med = {k: float(np.median(v, axis=0).sum()) for k, v in t.items()}  # one pass over the batch set
    r = bench.row("train", f"step, {len(batches)} real batches of {BS}", "tokens/s",
                  ntok / med["ours"], ntok / med["ref"], paired_ratio(t["ref"], t["ours"]),
                  f"padding {1 - ntok / padded_tokens(batches):.0%} of the padded grid")
    r["median_step_s"] = {k: v / len(batches) for k, v in med.items()}
    if "ours_variant" in t:
        bench.row("train", f"  ours with unpad={not ours.encoder.unpad} (variant)", "tokens/s", ntok / med["ours_variant"],
                  ntok / med["ref"], paired_ratio(t["ref"], t["ours_variant"]))
    return t


def section_infer(bench, ours, hf, batches, warmup, rounds):
    ours.eval()
    hf.eval()

    @torch.no_grad()
    def o(b):
        with bench.autocast():
            ours.encoder(b[0], b[1])

    @torch.no_grad()
    def op(b):
        with unpadded(ours, not ours.encoder.unpad), bench.autocast():
            ours.encoder(b[0], b[1])

    @torch.no_grad()
    def r(b):
        with bench.autocast():
            hf(input_ids=b[0], attention_mask=b[1])

    cases = {"ours": o, "ours_variant": op, "ref": r}
    if not bench.args.variants:
        cases.pop("ours_variant")
    t = bench.interleave(cases, batches, warmup, rounds)
    ntok = tokens(batches)
    med = {k: float(np.median(v, axis=0).sum()) for k, v in t.items()}
    bench.row("infer", f"eval forward, {len(batches)} real batches of {BS}", "tokens/s", ntok / med["ours"],
              ntok / med["ref"], paired_ratio(t["ref"], t["ours"]))
    if "ours_variant" in t:
        bench.row("infer", f"  ours with unpad={not ours.encoder.unpad} (variant)", "tokens/s", ntok / med["ours_variant"],
                  ntok / med["ref"], paired_ratio(t["ref"], t["ours_variant"]))
    ours.train()
    hf.train()


def _clear_data_caches():
    for f in (getattr(D, "_load_cached", None), getattr(D, "_parse_cached", None)):
        if f is not None and hasattr(f, "cache_clear"):
            f.cache_clear()


def section_epoch(bench, cfg, ckpt_dir, hf, head, opt_ref, n_sst, rounds):
    """Ours: the engine (Runner + prepare + length-grouped train_epoch). Reference: the CS224N starter's
    loop - shuffled batches, each tokenised and padded by BertTokenizerFast when it is drawn - on the HF
    model. Both read the same rows with the same data loader; caches are cleared before every epoch."""
    args, dev = bench.args, bench.dev
    cfg = run_config("t1_sst_finetune", "full", encoder=str(ckpt_dir), batch_size=BS, n_train={"sst": n_sst})
    from mtbert.settings import Settings
    R = runner.Runner(cfg, Settings.resolve(profile="full", data_dir=args.data_dir, device=str(dev)), dev)
    opt = optim.make_optimizer(R.model, cfg)
    try:
        hf_tok = transformers.BertTokenizerFast.from_pretrained(str(ckpt_dir))
    except Exception:  # a directory with vocab.txt only
        hf_tok = transformers.BertTokenizerFast(vocab_file=str(ckpt_dir / "vocab.txt"), do_lower_case=True)
    state = {"epoch": 0}

    def ours_epoch():
        _clear_data_caches()
        td = batches.prepare.__wrapped__(batches.SplitKey("sst", "train", str(R.ckpt_dir), cfg.max_length, n_sst,
                                                          args.data_dir))
        _, _, n_steps = engine.train_epoch(engine.Training(R, {"sst": td}, opt), state["epoch"])
        state["ours_tokens"] = int(td.lengths.sum())
        state["ours_padded_tokens"] = int(sum(len(i) * td.lengths[i].max()
                                              for _, i in batches.epoch_plan({"sst": td}, cfg, state["epoch"])))

    def ref_epoch():
        _clear_data_caches()
        d = D.load("sst", "train", args.data_dir)
        idx = batches.subsample(len(d), n_sst, "sst/train")  # the same rows as the engine's subsample
        if idx is not None:
            d = d.subset(idx)
        sents, labels = list(d.sents), np.asarray(d.labels)
        hf.train()
        head.train()
        perm = np.random.default_rng([7, state["epoch"]]).permutation(len(sents))
        pad = 0
        for s in range(0, len(perm), BS):
            b = perm[s:s + BS]
            enc = hf_tok([sents[i] for i in b], padding=True, truncation=True, max_length=cfg.max_length,
                         return_tensors="pt")
            ids, mask = enc["input_ids"].to(dev), enc["attention_mask"].to(dev)
            y = torch.as_tensor(labels[b]).to(dev)
            with bench.autocast():
                out = hf(input_ids=ids, attention_mask=mask)
                logits = head(out.last_hidden_state[:, 0]).float()
                loss = F.cross_entropy(logits, y)
            opt_ref.zero_grad(set_to_none=True)
            loss.backward()
            opt_ref.step()
            loss.item()
            pad += ids.numel()
        state["ref_padded_tokens"] = pad

    cases = {"ours": ours_epoch, "ref": ref_epoch}
    times = {k: [] for k in cases}
    for k in cases:  # warm-up epoch for each
        cases[k]()
    for r in range(rounds):
        for k in (list(cases) if r % 2 == 0 else list(cases)[::-1]):
            times[k].append(bench.timed(cases[k]))
            state["epoch"] += 1
    mo, mr = statistics.median(times["ours"]), statistics.median(times["ref"])
    bench.row("epoch", f"SST fine-tuning epoch, {n_sst} sentences", "sent/s", n_sst / mo, n_sst / mr,
              float(np.median(np.array(times["ref"]) / np.array(times["ours"]))),
              f"padded grid: ours {state['ours_padded_tokens']:,}, ref {state['ref_padded_tokens']:,} tokens "
              f"(real {state['ours_tokens']:,})",
              seconds={"ours": times["ours"], "ref": times["ref"]})
    del R, opt


def section_scaling(bench, ours, ours_step, ref_step, tok, seq_lens, batch_sizes, B_for_T, T_for_B, rounds):
    res = []
    cases = {"ours": ours_step, "ref": ref_step}
    grid = [(B_for_T, L) for L in seq_lens] + [(B, T_for_B) for B in batch_sizes if B != B_for_T or T_for_B not in seq_lens]
    for B, L in grid:
        batches = full_batches(bench, tok, B, L, 1)
        mem = {}
        for k in cases:
            if bench.cuda:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            cases[k](batches[0])  # warm-up; also where the CUDA peak is read
            if bench.cuda:
                bench.sync()
                mem[k] = torch.cuda.max_memory_allocated() / 2 ** 20
        t = bench.interleave(cases, batches, 0, rounds)
        ntok = B * L
        mo, mr = float(np.median(t["ours"])), float(np.median(t["ref"]))
        r = bench.row("scaling", f"B={B:3d} T={L:3d} (no padding)", "tokens/s", ntok / mo, ntok / mr,
                      paired_ratio(t["ref"], t["ours"]),
                      (f"peak MiB ours {mem['ours']:.0f} ref {mem['ref']:.0f}" if mem else ""),
                      B=B, T=L, peak_mib=mem or None,
                      flops_per_s_ours=train_flops(ours, batches) / mo)
        res.append(r)
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short CPU run (a few minutes)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=("cpu", "cuda"))
    ap.add_argument("--encoder", default=None, help="checkpoint directory (default: the default encoder)")
    ap.add_argument("--data-dir", default=None, help="data directory (default: mtbert's, i.e. <repo>/data)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"), help="where the JSON/markdown go")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    ap.add_argument("--sections", default="train,infer,epoch,scaling,limit")
    ap.add_argument("--no-variants", dest="variants", action="store_false",
                    help="skip the rows of ours with the other unpad setting")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    bench = Bench(args)
    sections = set(args.sections.split(","))
    cuda, quick = bench.cuda, args.quick
    t_start = time.time()

    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 is fp32 (bf16 autocast does the speed on CUDA)
    ours_enc_dir = load_encoder(args.encoder)[1]
    tok = Tokenizer.from_checkpoint(ours_enc_dir)
    cfg, ours, opt_ours, hf, head, opt_ref = build(bench, ours_enc_dir)
    ours.train()
    hf.train()
    ours_step, ref_step = step_fns(bench, ours, opt_ours, hf, head, opt_ref)

    # plan: (batches per source, warm-up rounds, timed rounds)
    if cuda:
        n_each, warm, rounds, ep_n, ep_rounds = 8, 3, 5, None, 3
        seq_lens, batch_sizes, B_for_T, T_for_B, sc_rounds = (32, 64, 128, 256, 512), (8, 16, 32, 64), 32, 128, 10
    elif quick:
        n_each, warm, rounds, ep_n, ep_rounds = 1, 1, 3, 64, 2
        seq_lens, batch_sizes, B_for_T, T_for_B, sc_rounds = (32, 64, 128), (8, 16), 8, 64, 2
    else:
        n_each, warm, rounds, ep_n, ep_rounds = 4, 1, 5, 512, 3
        seq_lens, batch_sizes, B_for_T, T_for_B, sc_rounds = (32, 64, 128, 256, 512), (8, 16, 32, 64), 8, 64, 3

    print(f"bench: device {bench.dev} ({machine(bench)}), torch {torch.__version__}, transformers "
          f"{transformers.__version__}, threads {torch.get_num_threads()}, encoder {ours_enc_dir}", flush=True)
    batches = real_batches(bench, tok, n_each)

    # correctness guard: the unpadded encoder equals the reference on every real token
    with torch.no_grad():
        ours.eval()
        hf.eval()
        b = batches[0]
        o = ours.encoder(b[0], b[1]).last_hidden_state.float()
        h = hf(input_ids=b[0], attention_mask=b[1]).last_hidden_state.float()
        m = b[1].bool()
        bench.extra["max_abs_diff_real_tokens"] = float((o[m] - h[m]).abs().max())
        print(f"  check: max |ours - reference| over real tokens (eval, fp32) = "
              f"{bench.extra['max_abs_diff_real_tokens']:.2e}", flush=True)
        ours.train()
        hf.train()

    peak = None
    if "train" in sections:
        section_train(bench, ours, ours_step, ref_step, batches, warm, rounds)
    if "infer" in sections:
        section_infer(bench, ours, hf, batches, warm, rounds)
    if "epoch" in sections:
        section_epoch(bench, cfg, ours_enc_dir, hf, head, opt_ref, ep_n if ep_n else len(D.load("sst", "train", args.data_dir)), ep_rounds)
    scaling = []
    if "scaling" in sections:
        scaling = section_scaling(bench, ours, ours_step, ref_step, tok, seq_lens, batch_sizes, B_for_T, T_for_B,
                                  sc_rounds)
    if "limit" in sections:
        peak = matmul_peak(bench)
        tr = next((r for r in bench.rows if r["section"] == "train" and "median_step_s" in r), None)
        pk = peak["flops_per_s"]
        what = f"measured {peak['dtype']} {peak['n']}^3 matmul"
        if tr is not None:
            f = train_flops(ours, batches) / len(batches)
            ach = f / tr["median_step_s"]["ours"]
            bench.row("limit", "train step, real batches (useful FLOPs)", "TFLOP/s", ach / 1e12, pk / 1e12,
                      ach / pk, f"fraction of {what}")
            if cuda:
                bench.row("limit", "  same, vs nominal H100/H200 bf16 dense", "TFLOP/s", ach / 1e12,
                          H100_BF16_DENSE / 1e12, ach / H100_BF16_DENSE, "989 TFLOP/s")
        if scaling:
            best = max(scaling, key=lambda r: r["flops_per_s_ours"])
            bench.row("limit", f"train step, best scaling point B={best['B']} T={best['T']}", "TFLOP/s",
                      best["flops_per_s_ours"] / 1e12, pk / 1e12, best["flops_per_s_ours"] / pk, f"fraction of {what}")
        bench.extra["matmul_peak"] = peak

    write(bench, ours_enc_dir, time.time() - t_start)


def machine(bench) -> str:
    if bench.cuda:
        return torch.cuda.get_device_name()
    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return f"{name}, {os.cpu_count()} logical CPUs"


def write(bench, ckpt_dir, seconds):
    import tokenizers
    commit = None
    with contextlib.suppress(Exception):
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
    now = dt.datetime.now(dt.timezone.utc)
    res = {
        "date": now.isoformat(timespec="seconds"), "device": bench.dev.type, "machine": machine(bench),
        "host": platform.node(), "threads": torch.get_num_threads(), "quick": bench.args.quick,
        "autocast": "bf16" if bench.cuda else None, "load_average": os.getloadavg(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                     "numpy": np.__version__, "mtbert_commit": commit},
        "encoder": str(ckpt_dir), "batch_size": BS, "seconds": seconds,
        "ratio_definition": "throughput(ours) / throughput(reference): median over back-to-back pairs",
        "rows": bench.rows, **bench.extra,
    }
    out = Path(bench.args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{bench.dev.type}{'-quick' if bench.args.quick else ''}-{now:%Y-%m-%d}"
    (out / f"{stem}.json").write_text(json.dumps(res, indent=1))
    (out / f"{stem}.md").write_text(markdown(res))
    print(f"\n{markdown(res)}\nwrote {out / (stem + '.json')} ({seconds:.0f} s)")


def markdown(res) -> str:
    f = lambda v: "-" if v is None else (f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}")  # noqa: E731
    lines = [f"{res['machine']}, {res['threads']} threads, torch {res['versions']['torch']}, transformers "
             f"{res['versions']['transformers']}{', bf16 autocast' if res['autocast'] else ''}"
             f"{', --quick' if res['quick'] else ''}; {res['date']}", "",
             "| section | case | unit | ours | reference | ours/ref | note |", "|---|---|---|---:|---:|---:|---|"]
    for r in res["rows"]:
        lines.append(f"| {r['section']} | {r['case'].strip()} | {r['unit']} | {f(r['ours'])} | {f(r['reference'])} "
                     f"| {f(r['ratio'])} | {r['note']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
