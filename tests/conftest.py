"""Shared test fixtures: one intra-op thread, the settings of a test whose store is a tmp dir, and a private copy
of the SST data files."""
import shutil

import pytest
import torch

from mtbert.data import datasets as D
from mtbert.settings import Settings

SST_FILES = ("ids-sst-train.csv", "ids-sst-dev.csv")


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
