"""Shared test fixtures: one intra-op thread, the settings of a test whose store is a tmp dir, a private copy
of the SST data files, and the tiny run that the tests of failures and their messages start, stop and damage."""
import shutil

import pytest
import torch

from mtbert.data import datasets as D
from mtbert.settings import Settings

SST_FILES = ("ids-sst-train.csv", "ids-sst-dev.csv")
# the tiny run: frozen encoder, cached features, about a second (its tests name it NAME and its overrides TINY)
TINY_RUN = "t1_sst_pretrain"
TINY = dict(n_train={"sst": 6}, batch_size=2, n_dev=6, n_test=6, epochs=2)


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread: on a small shared CPU, two threads waiting on each other make a tiny run
    5x slower and its time erratic; results are the same."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def smoke_settings(root, **kw) -> Settings:
    """The smoke profile on the CPU, no progress bars, results, checkpoints, predictions, report and figures under
    `root` (never the repository's); `kw` overrides any of these (profile=, store_root=, data_dir=, ...)."""
    return Settings.resolve(**{"profile": "smoke", "device": "cpu", "store_root": root, "output_root": root,
                               "progress": False, **kw})


@pytest.fixture(scope="session")
def settings_for():
    """smoke_settings, for tests and fixtures that need the settings of several tmp stores."""
    return smoke_settings


@pytest.fixture
def S(tmp_path) -> Settings:
    """The settings of one test: its results, checkpoints and predictions go to its tmp dir."""
    return smoke_settings(tmp_path)


@pytest.fixture
def data(tmp_path):
    """A private copy of the SST train and dev files (tests may damage it)."""
    d = tmp_path / "data"
    d.mkdir()
    for n in SST_FILES:
        shutil.copy(D.default_data_dir() / n, d / n)
    return d


@pytest.fixture
def settings(settings_for):
    """settings(root, data_dir=None): the store under root/store, the report and figures under root/out."""
    return lambda root, data_dir=None: settings_for(root / "store", output_root=root / "out", data_dir=data_dir)


@pytest.fixture
def sst(settings, tmp_path, data):
    """Settings with the private copy of the SST files (`data`) as the data folder and a store in tmp."""
    return settings(tmp_path, data)


@pytest.fixture(scope="session")
def run():
    """run(S, data_dir, steps=None, **kw): the tiny run (TINY_RUN with TINY, `kw` on top) with `data_dir` as its
    data folder; `steps`, a list, collects each (epoch, step)."""
    from mtbert.training import engine

    def run(S, data_dir, steps=None, **kw):
        o = {**TINY, **kw}
        return engine.run(TINY_RUN, S.replace(data_dir=data_dir),
                          on_step=(lambda e, s: steps.append((e, s))) if steps is not None else None, **o)
    return run


@pytest.fixture(scope="session")
def paths():
    """paths(S, **kw): the tiny run's config (TINY with `kw` on top), its result file and its resume checkpoint."""
    from mtbert.core.experiments import run_config
    from mtbert.results import store
    from mtbert.training.checkpoints import RunCheckpoints

    def paths(S, **kw):
        cfg = run_config(TINY_RUN, "smoke", **{**TINY, **kw})
        return cfg, store.result_path(cfg, S), RunCheckpoints(cfg, S).last
    return paths


@pytest.fixture(scope="session")
def lock_holder():
    """lock_holder(store_root, name, **overrides): a context manager running another process that holds the run
    lock of `name` (smoke profile, `overrides`) in the store at `store_root`; it yields that process (Popen) once
    the lock is held, and kills it on exit (which releases the lock)."""
    import contextlib
    import os
    import subprocess
    import sys
    from pathlib import Path

    lib = Path(__file__).resolve().parents[1] / "lib"
    env = {**os.environ, "PYTHONPATH": str(lib), "OMP_NUM_THREADS": "1"}

    @contextlib.contextmanager
    def hold(store_root, name, **overrides):
        code = (f"import time; from mtbert.results import store; from mtbert.settings import Settings\n"
                f"from mtbert.core.experiments import run_config\n"
                f"S = Settings.resolve(profile='smoke', store_root={str(store_root)!r})\n"
                f"with store.run_lock(run_config({name!r}, 'smoke', **{overrides!r}), S):\n"
                f"    print('locked', flush=True); time.sleep(60)\n")
        holder = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "locked"
            yield holder
        finally:
            holder.kill()
            holder.wait()
    return hold


# -- the order of the test files -------------------------------------------------------------------------------------

def _file_cost(items) -> tuple:
    """A file's expected cost, for ordering: the end-to-end report first (on a fresh clone it trains the smoke runs
    and executes every notebook, the longest file by far), then the files with most training tests, then the rest
    by their number of tests."""
    marked = [{m.name for m in item.iter_markers()} for item in items]
    return (sum("report" in m for m in marked), sum("training" in m for m in marked), len(items))


def pytest_collection_modifyitems(config, items):
    """Longest files first, each file's tests kept together and in order: `make test` gives xdist whole files
    (--dist loadfile --no-loadscope-reorder), and a long file handed out last ran alone at the end (on a fresh
    clone, the end-to-end report started when the other worker was almost done)."""
    files: dict[str, list] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::")[0], []).append(item)
    ordered = sorted(files.values(), key=_file_cost, reverse=True)  # stable: equal costs keep collection order
    items[:] = [item for group in ordered for item in group]
