"""One loaded set of results: every stored run of a profile, by experiment and seed, read once.

`ResultSet.load(S)` reads results/<profile>/ once (each registry experiment's stored seeds whose config and data
hashes match, as `store.load_result` decides) and hands the report, its tables and its figures everything they read:

* `seeds(name)`, `result(name, seed)`, `results(name)`: the stored runs;
* `outputs(name, seed, task, split)`, `recorded_frame(path)`: per-example outputs, read on demand and kept;
* `missing(names, seeds)`: the runs not stored, each with the command that trains it and its hardware;
* `ensembles()`, `folder_records(folder)`: the seed-ensemble manifests and the screens' stored points.

Nothing above this layer opens the store to read a result: a table is a function of a ResultSet.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mtbert.core.experiments import REGISTRY, hardware, run_command, run_config
from mtbert.results import store
from mtbert.results.predictions import PREFIX
from mtbert.settings import DEFAULT_SEED, Settings


@dataclass(frozen=True)
class MissingRun:
    """A row a table leaves out because its run is not stored: what trains it, and on what."""
    name: str
    command: str
    hardware: str

    def markdown(self) -> str:
        return f"* `{self.name}`: `{self.command}` ({self.hardware})"


def _seeds_named(name: str, files: list[str]) -> set[int]:
    """The seeds whose result file names of `files` belong to experiment `name` (<name>[__seed<N>][__...].json)."""
    pattern = re.compile(re.escape(name) + r"(?:__seed(\d+))?(?:__.*)?\.json")
    return {int(m.group(1)) if m.group(1) else DEFAULT_SEED for f in files if (m := pattern.fullmatch(f))}


@dataclass
class ResultSet:
    """The stored runs of one profile ({experiment: {seed: result}}), the settings they were read with, and the
    per-example outputs and manifests read from the store on demand (each read once)."""
    S: Settings
    runs: dict[str, dict[int, dict]]
    _frames: dict = field(default_factory=dict, repr=False)
    _folders: dict = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, S: Settings, names=None) -> "ResultSet":
        """Every stored run of `names` (default: every experiment of the registry) in the settings' profile."""
        files = sorted(p.name for p in S.results_dir.glob("*.json")) if S.results_dir.is_dir() else []
        runs = {}
        for name in (REGISTRY if names is None else names):
            found = {s: r for s in sorted(_seeds_named(name, files)) if (r := store.load_result(name, S, s))}
            if found:
                runs[name] = found
        return cls(S, runs)

    # -- the stored runs --------------------------------------------------------------------------------

    def seeds(self, name: str) -> list[int]:
        """Seeds with a stored (config-matching) result of `name`, ascending."""
        return sorted(self.runs.get(name, {}))

    def result(self, name: str, seed: int = DEFAULT_SEED) -> dict | None:
        return self.runs.get(name, {}).get(seed)

    def results(self, name: str) -> list[dict]:
        """The stored results of `name`, by ascending seed."""
        return [self.runs[name][s] for s in self.seeds(name)]

    def run_id(self, name: str, seed: int = DEFAULT_SEED) -> str:
        return run_config(name, self.S.profile, seed, self.S.encoder).run_id

    def missing(self, names, seeds=None) -> list[MissingRun]:
        """The runs among `names` with no stored seed, each with the command that trains it for `seeds` (default:
        the settings' seeds) and the hardware that needs."""
        seeds = self.S.seeds if seeds is None else seeds
        return [MissingRun(n, run_command(n, self.S.profile, seeds), hardware(n, self.S.profile))
                for n in dict.fromkeys(names) if not self.seeds(n)]

    # -- per-example outputs, on demand -----------------------------------------------------------------

    def _csv(self, path: Path, text_ids: bool) -> pd.DataFrame:
        key = (str(path), text_ids)
        if key not in self._frames:
            self._frames[key] = pd.read_csv(path, dtype={"id": str}) if text_ids else pd.read_csv(path)
        return self._frames[key].copy()

    def outputs_file(self, run_id: str, task: str, split: str = "test") -> Path | None:
        """The stored per-example outputs of a run on `split` (test, dev, test-student): the
        <prefix>-<split>-scores.csv of mtbert.results.predictions (or <task>-<split>-scores.csv); None when absent."""
        d = self.S.predictions_dir / run_id
        for name in (f"{PREFIX[task]}-{split}-scores.csv", f"{task}-{split}-scores.csv"):
            if (d / name).exists():
                return d / name
        return None

    def outputs(self, name: str, seed: int, task: str, split: str = "test", text_ids: bool = False):
        """The per-example outputs of one stored run (columns id, gold, pred, logits or score); None when absent."""
        p = self.outputs_file(self.run_id(name, seed), task, split)
        return None if p is None else self._csv(p, text_ids)

    def recorded_frame(self, recorded: str, text_ids: bool = False):
        """A CSV a result names (store.recorded_path: relative to the store root); None when it is absent."""
        p = store.stored_file(recorded, self.S)
        return self._csv(p, text_ids) if p.exists() else None

    # -- manifests and screens --------------------------------------------------------------------------

    def ensembles(self) -> dict:
        """{configuration: ENSEMBLE.json} of the seed ensembles written by `python -m mtbert predict --ensemble`."""
        if "ensembles" not in self._folders:
            d = self.S.predictions_dir
            found = [store.read_json(p) for p in sorted(d.glob("*__ensemble/ENSEMBLE.json"))] if d.is_dir() else []
            self._folders["ensembles"] = {m["ensemble_of"]: m for m in found}
        return self._folders["ensembles"]

    def folder_records(self, folder: str) -> dict[str, dict]:
        """{file stem: record} of <store>/results/<folder>/*.json (a screen's stored points), read once."""
        if folder not in self._folders:
            d = Path(self.S.store_root) / "results" / folder
            self._folders[folder] = {p.stem: store.read_json(p) for p in sorted(d.glob("*.json"))} if d.is_dir() else {}
        return self._folders[folder]

    def folder_frame(self, folder: str, point: str, name: str, text_ids: bool = True):
        """A CSV of one stored screen point (<store>/results/<folder>/<point>/<name>); None when it is absent."""
        p = Path(self.S.store_root) / "results" / folder / point / name
        return self._csv(p, text_ids) if p.exists() else None

    def every_record(self) -> list[dict]:
        """Every finished run's result file of the profile (results/<profile>/*.json), by file name, read once:
        what the runs' environments are counted over."""
        if "every" not in self._folders:
            d = self.S.results_dir
            self._folders["every"] = [store.read_result(p) for p in sorted(d.glob("*.json"))] if d.is_dir() else []
        return self._folders["every"]

    def partial_runs(self) -> dict[str, object]:
        """{run id: epochs done} of the runs cut off by a time budget (results/<profile>/partial/*.json); None for
        a file that is not a readable partial result (a stray or damaged file must not stop a report)."""
        if "partial" not in self._folders:
            d = self.S.results_dir / "partial"
            self._folders["partial"] = {p.stem: _epochs_done(p) for p in sorted(d.glob("*.json"))} if d.is_dir() else {}
        return self._folders["partial"]

    def run_notes(self) -> str | None:
        """results/<profile>/RUN_NOTES.md, written by whoever ran the profile (e.g. on a lent GPU), or None."""
        p = self.S.results_dir / "RUN_NOTES.md"
        return p.read_text() if p.exists() else None


def _epochs_done(path: Path):
    try:
        return store.read_json(path)["epochs_done"]
    except (ValueError, KeyError, TypeError):
        return None
