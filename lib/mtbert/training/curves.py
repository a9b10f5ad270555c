"""Training curves as TensorBoard event files, written only when asked (`--tensorboard DIR`, MTBERT_TENSORBOARD).

One folder per run, `DIR/<profile>/<run_id>/`, one point per trained epoch (the epoch number is the step):
`train_loss/<task>`, `train/<task>`, `dev/<task>` (accuracy or Pearson r; `dev/aggregate` selects the best epoch)
and `time/epoch_seconds`. Writing reads the epoch's history entry after it is recorded and changes nothing in the
run: the setting is not part of the run's configuration, its hash or its result. `tensorboard` (the `tensorboard`
extra) is imported only when the setting is on.

    tensorboard --logdir DIR      # then open the page it prints
"""
from __future__ import annotations

from pathlib import Path

from mtbert.errors import UsageError


def run_dir(root: Path, profile: str, run_id: str) -> Path:
    return Path(root) / profile / run_id


def scalars(entry: dict) -> dict[str, float]:
    """The scalars of one epoch's history entry, by TensorBoard tag."""
    out = {}
    for group in ("train_loss", "train", "dev"):
        for task, value in (entry.get(group) or {}).items():
            out[f"{group}/{task}"] = float(value)
    if entry.get("seconds") is not None:
        out["time/epoch_seconds"] = float(entry["seconds"])
    return out


def log_epoch(root: Path | None, profile: str, run_id: str, entry: dict) -> Path | None:
    """Append one epoch's scalars to the run's event files under `root` (nothing when `root` is None)."""
    if root is None:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:  # torch's writer needs the tensorboard package
        raise UsageError("--tensorboard needs the tensorboard package: pip install tensorboard "
                         "(or the project's extra: pip install '.[tensorboard]')") from e
    folder = run_dir(root, profile, run_id)
    with SummaryWriter(log_dir=str(folder)) as w:
        for tag, value in scalars(entry).items():
            w.add_scalar(tag, value, global_step=int(entry["epoch"]))
    return folder


def read_curves(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(epoch, value), ...]} read back from a run's event files (the tests use it)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
