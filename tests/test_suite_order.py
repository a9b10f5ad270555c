"""The order in which `make test` hands test files to its xdist workers (tests/conftest.py): whole files, longest
first, so that the end-to-end report (the longest file on a fresh clone) does not start when the other worker is
almost done."""
from __future__ import annotations

from types import SimpleNamespace

import conftest


def _item(path: str, name: str, *markers: str):
    marks = [SimpleNamespace(name=m) for m in markers]
    return SimpleNamespace(nodeid=f"{path}::{name}", iter_markers=lambda: iter(marks))


def test_files_are_ordered_report_first_then_by_training_tests_each_kept_whole_and_in_order():
    items = [_item("tests/a.py", "fast1"), _item("tests/a.py", "fast2"), _item("tests/a.py", "fast3"),
             _item("tests/train.py", "t1", "training"), _item("tests/train.py", "plain"),
             _item("tests/train.py", "t2", "training"),
             _item("tests/more_training.py", "t1", "training"), _item("tests/more_training.py", "t2", "training"),
             _item("tests/more_training.py", "t3", "training"),
             _item("tests/report.py", "r1", "report", "notebook"), _item("tests/report.py", "r2", "report")]
    before = list(items)
    conftest.pytest_collection_modifyitems(None, items)
    files = [i.nodeid.split("::")[0] for i in items]
    assert files == sorted(files, key=files.index)  # each file's tests together
    assert list(dict.fromkeys(files)) == ["tests/report.py", "tests/more_training.py", "tests/train.py", "tests/a.py"]
    for f in set(files):  # and in their collected order
        assert [i for i in items if i.nodeid.startswith(f)] == [i for i in before if i.nodeid.startswith(f)]
    assert sorted(i.nodeid for i in items) == sorted(i.nodeid for i in before)


def test_files_of_equal_cost_keep_their_collected_order():
    items = [_item("tests/b.py", "x"), _item("tests/a.py", "x"), _item("tests/c.py", "x")]
    conftest.pytest_collection_modifyitems(None, items)
    assert [i.nodeid for i in items] == ["tests/b.py::x", "tests/a.py::x", "tests/c.py::x"]


def test_make_test_keeps_this_order_under_xdist():
    from mtbert.settings import repo_root
    make = (repo_root() / "Makefile").read_text()
    line = next(ln for ln in make.splitlines() if "pytest" in ln and "--dist loadfile" in ln and "tests" in ln)
    assert "--no-loadscope-reorder" in line  # else xdist re-sorts the files by their number of tests
