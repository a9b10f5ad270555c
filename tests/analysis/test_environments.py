"""The report's Setup names every device, torch, Python and numpy its stored runs recorded, by group of runs, with
their counts (not the environment of whichever run it read first)."""
from __future__ import annotations

import json

from mtbert.analysis.environments import run_groups
from mtbert.report.build import devices_line
from mtbert.settings import Settings
from mtbert.results.result_set import ResultSet


def _result(folder, name, device, torch_version, python, wall):
    env = {"device": device, "torch": torch_version, "python": python, "numpy": "2.4.6",
           **({"gpu": "NVIDIA H200"} if device == "cuda" else {"cpu": "x86_64"})}
    (folder / f"{name}.json").write_text(json.dumps({"run_id": name, "config_hash": "0" * 12, "wall_time_s": wall,
                                                    "environment": env}))


def test_setup_lists_each_group_of_runs(tmp_path):
    S = Settings.resolve(profile="full", device="cpu", store_root=tmp_path, output_root=tmp_path)
    S.results_dir.mkdir(parents=True)
    for i in range(3):
        _result(S.results_dir, f"cpu{i}", "cpu", "2.13.0+cpu", "3.11.7", 100.0)
    _result(S.results_dir, "gpu0", "cuda", "2.11.0+cu130", "3.12.3", 60.0)
    (S.results_dir / "partial").mkdir()
    _result(S.results_dir / "partial", "cut_off", "cuda", "2.11.0+cu130", "3.12.3", 5.0)  # not a finished run
    g = run_groups(ResultSet.load(S))
    assert g[["device", "torch", "Python", "runs"]].values.tolist() == [["cpu", "2.13.0+cpu", "3.11.7", 3],
                                                                        ["cuda", "2.11.0+cu130", "3.12.3", 1]]
    assert g["summed wall time (s)"].tolist() == [300.0, 60.0]
    line = devices_line(ResultSet.load(S))
    assert "3 runs on cpu (x86\\_64) with torch 2.13.0+cpu, Python 3.11.7" in line.replace("\\+", "+")
    assert "1 run on cuda (NVIDIA H200) with torch 2.11.0+cu130, Python 3.12.3" in line.replace("\\+", "+")


def test_no_stored_run_is_said_so(tmp_path):
    S = Settings.resolve(profile="smoke", device="cpu", store_root=tmp_path, output_root=tmp_path)
    assert devices_line(ResultSet.load(S)) == "no run is stored for this profile yet"
