"""A run's checkpoints under checkpoints/<profile>/: the selected (best-epoch) weights, and the resume state
after each finished epoch (weights, optimizer, scheduler, RNG, history). Never committed; loaded with
weights_only=True, so a crafted file cannot run code.

Both belong to one configuration and one set of data files: they are named `<run_id>.<config hash>.best.pt`
and `.last.pt`, so two configurations of one run id (e.g. with and without `--set lr=...`) never share or
overwrite a checkpoint, and each carries a stamp (config hash and the sha256 of the data files it was trained
on) that is verified on load. A resume state of other data is not resumed (the run starts clean); selected
weights of other data or another configuration are never used (CheckpointError naming the file and the fix).
"""
from __future__ import annotations

from pathlib import Path

import torch

from mtbert.model.checkpoint import CheckpointError
from mtbert.model.heads import MultitaskBert
from mtbert.results import store
from mtbert.settings import Settings
from mtbert.core.config import RunConfig

RESUME_KEYS = {"config_hash", "epoch", "history", "best"}
BEST_KEYS = {"config_hash", "data_files", "model"}


class RunCheckpoints:
    """The checkpoint files of one run: one configuration (`cfg`) trained on the data files `data_files`
    ({name: sha256}; None where a caller only discards or inspects)."""

    def __init__(self, cfg: RunConfig, S: Settings, data_files: dict | None = None):
        self.cfg, self.data_files = cfg, data_files
        key = f"{cfg.run_id}.{cfg.hash()}"
        self.last = S.checkpoints_dir / f"{key}.last.pt"
        self.best = S.checkpoints_dir / f"{key}.best.pt"

    def remove_stale_tmp(self):
        for p in (self.last, self.best):
            store.remove_stale_tmp(p)  # left by a killed atomic write

    def discard_resume_state(self):
        self.last.unlink(missing_ok=True)

    def _stamp(self) -> dict:
        return {"config_hash": self.cfg.hash(), "data_files": dict(self.data_files or {})}

    def resume_state(self, map_location="cpu") -> dict | None:
        """The resume state of this config and these data files, or None (no file, or one of another config or
        other data: the run then starts clean)."""
        if not self.last.exists():
            return None
        st = load_resume_state(self.last, map_location)
        ok = st.get("config_hash") == self.cfg.hash() and st.get("data_files") == self._stamp()["data_files"]
        return st if ok else None

    def save_resume_state(self, state: dict):
        store.torch_save(self.last, {**self._stamp(), **state})

    def save_best(self, model: MultitaskBert):
        store.torch_save(self.best, {**self._stamp(), "model": trainable_state(model, self.cfg)})

    def load_best(self, model: MultitaskBert, map_location, fix: str):
        """Load the selected weights into `model`; CheckpointError naming the file and `fix` when it is missing,
        damaged, or stamped with another configuration or other data files than this run's."""
        if not self.best.exists():
            raise CheckpointError(f"the selected weights {self.best} of {self.cfg.run_id} are missing "
                                  f"(checkpoints are not committed). {fix}")
        try:
            st = torch.load(self.best, map_location=map_location, weights_only=True)
        except Exception as e:  # pickle with code (UnpicklingError), truncated file, not a torch file, ...
            raise CheckpointError(
                f"the selected weights {self.best} of {self.cfg.run_id} cannot be loaded safely ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:200] if str(e) else ''}). {fix}") from e
        if not isinstance(st, dict) or not BEST_KEYS <= set(st) or not isinstance(st["model"], dict):
            raise CheckpointError(f"{self.best} is not a selected-weights checkpoint of this version. {fix}")
        if st["config_hash"] != self.cfg.hash() or st["data_files"] != self._stamp()["data_files"]:
            what = "another configuration" if st["config_hash"] != self.cfg.hash() else "other data files"
            raise CheckpointError(f"the selected weights {self.best} were trained on {what} than {self.cfg.run_id} "
                                  f"(config {self.cfg.hash()}, the data files it records), so they are not used. {fix}")
        try:
            model.load_state_dict(st["model"], strict=False)
        except (RuntimeError, TypeError, ValueError) as e:  # shapes or types of a crafted file
            raise CheckpointError(f"the selected weights {self.best} do not fit the model of {self.cfg.run_id} "
                                  f"({str(e).splitlines()[0][:200]}). {fix}") from e


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
        rid = ck.name[:-len(".last.pt")].rsplit(".", 1)[0]  # <run_id>.<config hash>.last.pt
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
