"""Export a stored run's selected model as a Hugging Face BERT checkpoint, with its task heads and a model card.

    python -m mtbert export NAME --out DIR [--profile P] [--seeds S] [--force]

DIR receives:

* `config.json`, `model.safetensors`: the fine-tuned encoder under Hugging Face's parameter names, so
  `transformers.AutoModel.from_pretrained(DIR)` loads it; `vocab.txt` and the source encoder's tokenizer files,
  so `AutoTokenizer.from_pretrained(DIR)` tokenises as training did;
* `heads.safetensors` (the task heads' tensors) and `heads.json`: for each head its task, kind, pooling, pair
  encoding, input features and output, naming its tensors; enough to rebuild every prediction from the
  encoder's `last_hidden_state` (tests/inference/test_export.py does, and matches the stored per-example outputs);
* `README.md`: a short model card: data files and their sha256, dev and held-out test scores, seed, encoder and
  its weights' sha256, limits, and the commands that reproduce the export.

The run's selected (best-dev) model is reloaded the way `python -m mtbert predict` reloads it
(`mtbert.inference.predict.load_run`: checkpoints/<profile>/<run_id>.<config hash>.best.pt, loaded with weights_only=True).
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

from safetensors.torch import save_file

from mtbert.data.fetch import sha256_file
from mtbert.errors import MtbertError, UsageError
from mtbert.model.checkpoint import DEFAULT_ENCODER, save_encoder
from mtbert.core.tasks import TASKS, get_task
from mtbert.model.heads import MultitaskBert
from mtbert.results import store
from mtbert.settings import DEFAULT_SEED, Settings
from mtbert.core.config import RunConfig
from mtbert.core.experiments import run_command
from mtbert.inference.predict import load_run

HEADS_FORMAT = "mtbert-heads/1"
EXPORT_FILES = ("config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json", "tokenizer.json",
                "special_tokens_map.json", "heads.safetensors", "heads.json", "README.md")


def class_names(task: str) -> list[str]:
    """The spec's class names of a classification task ("class <k>" where the spec names none)."""
    spec = get_task(task)
    lo = int(spec.label_range[0])
    return list(spec.class_names) or [f"class {k}" for k in range(lo, lo + spec.n_classes)]


def _plain(x):
    return int(x) if float(x).is_integer() else x

POOLING = {"cls": "last_hidden_state[:, 0] (the [CLS] state)",
           "mean": "mean of last_hidden_state over the tokens where attention_mask is 1",
           "pooler": "pooler_output = tanh(W_pooler last_hidden_state[:, 0] + b_pooler)"}
ENCODING = {"single": "u is the pooled embedding of [CLS] s [SEP]",
            "bi": "u and v are the pooled embeddings of the pair's two sentences, each encoded on its own",
            "cross": "z is the pooled embedding of the pair as one sequence [CLS] a [SEP] b [SEP], token_type_ids 0 "
                     "up to the first [SEP] inclusive, 1 after it"}
# what training did to the data files' text before tokenising it (mtbert.data.datasets)
PREPROCESSING = {"single": "lowercase, then strip surrounding whitespace",
                 "pair": "lowercase; a space before each '.', '?', ',' and \"'\"; runs of whitespace made one space"}
LIMITS = (
    "The base encoder, all-MiniLM-L6-v2 (sentence-transformers), was contrastively trained on about a billion "
    "sentence pairs, paraphrase data among them, Quora duplicate questions included: its Quora and STS numbers "
    "are therefore not comparable to the paper's bert-base ones, which start from a model that never saw such "
    "pairs. The held-out test split is carved out of the CS224N train files (the official test files have no "
    "labels). English only; SST labels are movie-review sentiment, STS scores 0-5 similarity, Quora duplicate "
    "questions: other domains are untested. Sentences are cut at 512 tokens.")


class ExportError(MtbertError):
    pass


def out_path(out) -> Path:
    """The folder `--out` names, as an absolute path: never "" (which would be the current folder), and a link
    is taken for the folder it points to (a dangling one is refused)."""
    if out is None or not str(out).strip():
        raise UsageError("--out is empty: name a new or empty folder for the export (e.g. --out exports/NAME); "
                          "nothing was written")
    path = Path(os.path.abspath(Path(str(out)).expanduser()))
    if path.is_symlink():
        target = Path(os.path.realpath(path))
        if not target.exists():
            raise ExportError(f"--out {path} is a link to {target}, which does not exist: name a new or empty "
                              "folder; nothing was written")
        return target
    return path


def _cannot_write(out: Path, e: OSError) -> ExportError:
    return ExportError(f"cannot write the export to {out}: {e.filename or out}: {e.strerror or e} "
                       f"({errno.errorcode.get(e.errno, e.errno)}); nothing was written to {out}. Fix: make its "
                       "folder writable (or free space), or name another --out")


def check_out_dir(out: Path, force: bool) -> None:
    """`out` must be a new or empty folder, or --force given; never a file."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} is a file, not a folder: name a new or empty folder")
    if out.is_dir() and not force:
        entries = sorted(p.name for p in out.iterdir())
        if entries:
            raise ExportError(f"output folder {out} is not empty ({len(entries)} entries, e.g. {entries[0]!r}): "
                              "name a new or empty folder, or add --force to overwrite the files an export writes "
                              f"({', '.join(EXPORT_FILES)})")


def heads_spec(model: MultitaskBert, cfg: RunConfig) -> list[dict]:
    """How each head of `model` turns the encoder's output into a prediction (the `heads` list of heads.json;
    `pooling` and `encoding` are keys of heads.json's `definitions`)."""
    heads = []
    for task in model.sentiment:
        heads.append({"task": task, "kind": "classification", "classes": class_names(task),
                      "pooling": cfg.pooling, "encoding": "single", "input": ["u"],
                      "output": "softmax(input @ weight.T + bias): one probability per class",
                      "tensors": {"weight": f"sentiment.{task}.weight", "bias": f"sentiment.{task}.bias"}})
    of_kind = {get_task(t).head: t for t in cfg.eval_tasks}  # a model has one binary and one regression head
    if "binary" in of_kind:
        head = {"task": of_kind["binary"], "kind": "binary", "pooling": cfg.pooling,
                "tensors": {"weight": "paraphrase.weight", "bias": "paraphrase.bias"}}
        if model.cross["binary"]:
            head.update(encoding="cross", input=["z"], output="sigmoid(input @ weight.T + bias): P(paraphrase)")
        else:
            head.update(encoding="bi", input=["|u - v|", "u * v"] + (["cos(u, v)"] * (model.para_head == "baseline+cos")),
                        output="sigmoid(concat(input) @ weight.T + bias): P(paraphrase)")
        heads.append(head)
    if "regression" in of_kind:
        spec = get_task(of_kind["regression"])
        top = f"{_plain(spec.scale)}"
        head = {"task": spec.name, "kind": "regression", "range": [_plain(x) for x in spec.label_range],
                "pooling": cfg.pooling, "tensors": {"weight": "similarity.weight", "bias": "similarity.bias"}}
        if model.cross["regression"]:
            head.update(encoding="cross", input=["z"], output=f"{top} * sigmoid(input @ weight.T + bias)")
        elif model.sts_head == "baseline":
            head.update(encoding="bi", input=["|u - v|", "u * v"], output=f"{top} * sigmoid(concat(input) @ weight.T + bias)")
        else:  # cosine heads have no parameters
            squash = {"cos_sigmoid": "sigmoid", "cos_relu": "relu"}[model.sts_head]
            head.update(encoding="bi", input=["cos(u, v)"], output=f"{top} * {squash}(input)", tensors={})
        heads.append(head)
    return heads


def export_command(name: str, profile: str, seed: int = DEFAULT_SEED, out: str = "DIR") -> str:
    seeds = "" if seed == DEFAULT_SEED else f" --seeds {seed}"
    return f"python -m mtbert export {name} --profile {profile}{seeds} --out {out}"


def model_card(cfg: RunConfig, result: dict, heads: list[dict], files: dict[str, str], out_name: str) -> str:
    enc = result["encoder"]
    tasks_named = [get_task(h["task"]).display for h in heads]
    head_names = " and ".join(filter(None, [", ".join(tasks_named[:-1]), tasks_named[-1]]))
    enc_name = DEFAULT_ENCODER if enc["name"] == "default" else enc["name"]
    train_cmd = run_command(cfg.experiment, cfg.profile, [cfg.seed])
    tasks = [t for t in (*TASKS, "overall") if t in result["test"]]
    score_rows = [f"| {split} | " + " | ".join(f"{result[split][t]:.3f}" if t in result[split] else "-" for t in tasks)
                  + " |" for split in ("dev", "test")]
    q = (result["data"].get("quora_train") or {})
    data_rows = [f"| `{name}` | `{sha}` |" for name, sha in result["data"]["files"].items()]
    scale = ("" if cfg.profile == "full" else
             f"\n**Profile `{cfg.profile}` is a scaled-down check (subsampled data, short training): this model is "
             "for trying the pipeline, not for use.**\n")
    front = ["---", "library_name: transformers", "language: en", "tags: [bert, multitask, sentiment, paraphrase, sts]"]
    if enc["name"] == "default":
        front.append("base_model: sentence-transformers/all-MiniLM-L6-v2")
    front.append("---")
    return "\n".join(front + [
        "", f"# {cfg.run_id} (profile {cfg.profile}): a BERT encoder with {head_names} heads", scale,
        f"Experiment `{cfg.experiment}`: {result.get('description', '')}. Seed {cfg.seed}; the epoch with the best "
        f"mean dev score ({result['best_epoch']} of {cfg.epochs}) is the exported model. Pooling `{cfg.pooling}`, "
        f"Quora `{cfg.para_encoding}`-encoded, STS `{cfg.sts_encoding}`-encoded (see `heads.json`).",
        "", "## Use", "",
        "```python", "from transformers import AutoModel, AutoTokenizer",
        f"tok, enc = AutoTokenizer.from_pretrained(\"{out_name}\"), AutoModel.from_pretrained(\"{out_name}\")",
        "```", "",
        "`heads.safetensors` holds the task heads; `heads.json` says, per head, how to pool the encoder's "
        "`last_hidden_state`, which features it reads and how its output becomes a prediction, and how training "
        "preprocessed the text (lowercased; pairs with a space before punctuation).",
        "", "## Scores", "",
        "Dev and held-out test (SST, Quora, CFIMDB: accuracy; STS: Pearson r; overall = (SST + Quora + (r + 1) / 2) / 3):",
        "", "| split | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks), *score_rows,
        "", "## Data", "",
        "CS224N default-project files, checked against their sha256 when training started"
        + (f"; Quora train file `{q['file']}` ({q['train_pairs']:,} pairs trained on, {q['heldout_pairs']:,} held out "
           "as the test split)" if q else "") + ":",
        "", "| file | sha256 |", "|---|---|", *data_rows,
        "", "## Encoder", "",
        f"Fine-tuned from {enc_name} ({enc['layers']} layers, hidden size {enc['hidden_size']}, {enc['params']:,} "
        f"parameters); the source weights' sha256 `{enc['weights_sha256']}`.",
        "", "## Files", "", "| file | sha256 |", "|---|---|",
        *[f"| `{name}` | `{sha}` |" for name, sha in files.items()],
        "", "## Limits", "", LIMITS,
        "", "## Reproduce", "", "```bash", train_cmd, export_command(cfg.experiment, cfg.profile, cfg.seed, out_name),
        "```", "",
        f"Checkpoints are not committed: where `checkpoints/{cfg.profile}/{cfg.run_id}.{cfg.hash()}.best.pt` is missing, add `--force` "
        "to the run command (it re-trains the stored run).", ""])


def _usual_permissions(folder: Path) -> None:
    """mkdtemp makes a private folder; an export is ordinary output, readable as the umask allows."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for p in folder.iterdir():
        p.chmod(0o666 & ~umask)


def export(name: str, S: Settings, seed: int, out, force: bool = False) -> dict:
    """Write the selected model of the stored run (name, seed) into folder `out` (see the module doc).

    Returns {"run_id", "out", "files": {name: sha256}}. Errors name the fix: no stored result (the command that
    trains it), no checkpoint (re-train with --force), `out` not empty (--force)."""
    out = out_path(out)
    check_out_dir(out, force)
    existed = out.is_dir()
    cfg, R = load_run(name, S.replace(device="cpu"), seed)  # errors name the command that fixes them
    result = store.stored(cfg, S)
    try:  # everything is written aside, into a temporary folder next to `out`, and moved into place last
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    except OSError as e:
        raise _cannot_write(out, e) from None
    try:
        save_encoder(R.model.encoder, tmp, vocab_file=R.ckpt_dir / "vocab.txt")
        spec = {"format": HEADS_FORMAT, "run_id": cfg.run_id, "experiment": cfg.experiment, "profile": cfg.profile,
                "seed": cfg.seed, "max_length": cfg.max_length, "heads": heads_spec(R.model, cfg),
                "definitions": {"pooling": {cfg.pooling: POOLING[cfg.pooling]}, "encoding": ENCODING},
                "preprocessing": PREPROCESSING}
        state = R.model.state_dict()
        save_file({t: state[t].detach().cpu().contiguous() for h in spec["heads"] for t in h["tensors"].values()},
                  str(tmp / "heads.safetensors"))
        (tmp / "heads.json").write_text(json.dumps(spec, indent=1) + "\n")
        files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
        (tmp / "README.md").write_text(model_card(cfg, result, spec["heads"], files, out.name))
        _usual_permissions(tmp)
        if existed != out.exists() or (existed and not force and any(out.iterdir())):
            raise ExportError(f"{out} appeared or changed while the export was written; nothing was written to "
                              "it. Name a new or empty folder, or add --force to overwrite the files an export "
                              "writes")
        if existed:  # an empty folder, or --force: replace the files an export writes, keep the rest
            for p in tmp.iterdir():
                os.replace(p, out / p.name)
        else:
            os.rename(tmp, out)
    except OSError as e:
        raise _cannot_write(out, e) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"run_id": cfg.run_id, "out": out, "files": {**files, "README.md": sha256_file(out / "README.md")}}
