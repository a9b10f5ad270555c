"""A run's checkpoints under checkpoints/<profile>/: the selected (best-epoch) weights, and the resume state
after each finished epoch (weights, optimizer, scheduler, RNG, history). Never committed; loaded with
weights_only=True, so a crafted file cannot run code."""
from __future__ import annotations

from pathlib import Path

import torch

from mtbert.model.checkpoint import CheckpointError
from mtbert.model.heads import MultitaskBert
from mtbert.results import store
from mtbert.settings import Settings
from mtbert.training.config import RunConfig

RESUME_KEYS = {"config_hash", "epoch", "history", "best"}


class RunCheckpoints:
    """The checkpoint files of one run."""

    def __init__(self, cfg: RunConfig, S: Settings):
        self.cfg = cfg
        self.last = S.checkpoints_dir / f"{cfg.run_id}.last.pt"
        self.best = S.checkpoints_dir / f"{cfg.run_id}.best.pt"

    def remove_stale_tmp(self):
        for p in (self.last, self.best):
            store.remove_stale_tmp(p)  # left by a killed atomic write

    def discard_resume_state(self):
        self.last.unlink(missing_ok=True)

    def resume_state(self, map_location="cpu") -> dict | None:
        """The resume state of this config, or None (no file, or one written by another config)."""
        if not self.last.exists():
            return None
        st = load_resume_state(self.last, map_location)
        return st if st.get("config_hash") == self.cfg.hash() else None

    def save_resume_state(self, state: dict):
        store.torch_save(self.last, {"config_hash": self.cfg.hash(), **state})

    def save_best(self, model: MultitaskBert):
        store.torch_save(self.best, trainable_state(model, self.cfg))

    def load_best(self, model: MultitaskBert, map_location):
        model.load_state_dict(torch.load(self.best, map_location=map_location, weights_only=True), strict=False)


def load_resume_state(path, map_location="cpu") -> dict:
    """A resume checkpoint, loaded with weights_only=True (tensors and plain Python values only, so a crafted
    file cannot run code); CheckpointError naming the file when it cannot be loaded that way."""
    try:
        st = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # pickle with code (UnpicklingError), truncated file, not a torch file, ...
        raise CheckpointError(
            f"resume checkpoint {path} cannot be loaded safely ({type(e).__name__}: {str(e).splitlines()[0][:200]}). "
            f"Delete it; the run then starts from its first epoch.") from e
    if not isinstance(st, dict) or not RESUME_KEYS <= set(st):
        raise CheckpointError(f"resume checkpoint {path} is not a resume checkpoint of this version; delete it.")
    return st


def trainable_state(model: MultitaskBert, cfg: RunConfig) -> dict:
    sd = model.state_dict()
    if cfg.mode == "pretrain":  # the frozen encoder is the checkpoint on disk; keep only the heads
        sd = {k: v for k, v in sd.items() if not k.startswith("encoder.")}
    return {k: v.detach().clone() for k, v in sd.items()}


def save_partials(S: Settings) -> list[str]:
    """Runs cut off before their last epoch (e.g. by a GPU lease) keep their per-epoch history: one JSON per
    resume checkpoint under results/<profile>/partial/, which the report lists but puts in no table."""
    written = []
    for ck in sorted(Path(S.checkpoints_dir).glob("*.last.pt")):
        rid = ck.name[:-len(".last.pt")]
        try:
            st = load_resume_state(ck)
        except CheckpointError as e:  # one bad file must not cost the others their history
            written.append(f"{rid}: skipped: {e}")
            continue
        store.write_json(S.results_dir / "partial" / f"{rid}.json", {
            "run_id": rid, "partial": True, "config_hash": st["config_hash"], "epochs_done": st["epoch"] + 1,
            "best": st["best"], "history": st["history"], "seconds": st.get("seconds")})
        written.append(f"{rid}: {st['epoch'] + 1} epochs done")
    return written
