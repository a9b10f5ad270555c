"""Stop a diverging run early, with a message that names the task, the value and the learning rate.

Rule: per task, the reference is the loss of the task's first batch in the run (before any step on that task:
about ln(classes) for a fresh classification head), floored at LOSS_FLOOR. Training stops when a loss is not
finite, when the mean of the task's last DIVERGE_WINDOW batch losses (once it has DIVERGE_MIN_BATCHES of them)
or its mean epoch loss exceeds DIVERGE_FACTOR x the reference.
"""
from __future__ import annotations

import os

import numpy as np

from mtbert.errors import MtbertError
from mtbert.core.config import RunConfig

DIVERGE_FACTOR = 10.0
DIVERGE_WINDOW = 10
DIVERGE_MIN_BATCHES = 5
LOSS_FLOOR = 0.1


class TrainingDiverged(MtbertError):
    pass


class DivergenceGuard:
    """Stops a diverging run (the rule is stated at DIVERGE_FACTOR): TrainingDiverged names the task, the value,
    the learning rate, and the resume checkpoint only when one exists."""

    def __init__(self, cfg: RunConfig, last_ck=None, ref: dict | None = None):
        self.cfg, self.last_ck = cfg, last_ck
        self.ref = dict(ref or {})  # task -> first-batch loss (kept in the resume checkpoint)
        self.recent: dict[str, list] = {}

    def _fail(self, task, what, epoch, step):
        kept = (f" Earlier epochs are kept in {self.last_ck} (lowering lr changes the config, so that run starts "
                f"afresh)." if self.last_ck is not None and os.path.exists(self.last_ck)
                else " No epoch had finished, so nothing was kept.")
        raise TrainingDiverged(
            f"experiment {self.cfg.run_id}: {task} {what} at epoch {epoch + 1}, step {step} (lr {self.cfg.lr:g}); "
            f"lower the learning rate (e.g. --set lr=...) or check the data. Nothing was stored as a result." + kept)

    def limit(self, task) -> float:
        return DIVERGE_FACTOR * max(self.ref[task], LOSS_FLOOR)

    def batch(self, task, loss: float, epoch, step):
        if not np.isfinite(loss):
            self._fail(task, f"loss is {loss}", epoch, step)
        self.ref.setdefault(task, loss)
        w = self.recent.setdefault(task, [])
        w.append(loss)
        del w[:-DIVERGE_WINDOW]
        if len(w) >= DIVERGE_MIN_BATCHES and np.mean(w) > self.limit(task):
            self._fail(task, f"running loss (mean of the last {len(w)} batches) is {np.mean(w):.4g}, over "
                             f"{DIVERGE_FACTOR:g}x its starting value {self.ref[task]:.4g}", epoch, step)

    def epoch_end(self, losses: dict, epoch, step):
        for t, v in losses.items():
            if v and np.mean(v) > self.limit(t):
                self._fail(t, f"mean epoch loss is {np.mean(v):.4g}, over {DIVERGE_FACTOR:g}x its starting value "
                              f"{self.ref[t]:.4g}", epoch, step)
