"""The hyperparameter search (mtbert.training.search) as its user meets it: a bad study storage or database is
one message naming the fix (an empty database is rebuilt), a bad argument of `mtbert search` one line, a second
search on the same storage is refused naming the first; TPE moves on from points already stored, and a trial below
the stored points' median is pruned. Fake drivers and stored points: nothing trains."""
from __future__ import annotations

import os

import pytest


@pytest.fixture
def search_S(tmp_path):
    from mtbert.training import search
    return search.search_settings(tmp_path / "store")


# -- the study's storage and database get one message; searches side by side -------------------------------------------

@pytest.mark.parametrize("case", ["garbage url", "folder", "random bytes", "truncated", "read-only"])
def test_bad_study_storage_is_one_message(search_S, tmp_path, monkeypatch, case):
    import optuna
    from mtbert.training import search
    db = search.search_dir(search_S) / "study.db"
    db.parent.mkdir(parents=True)
    url = f"sqlite:///{db}"
    if case == "garbage url":
        url, said = "garbage", "is not a database URL"
    elif case == "folder":
        db.mkdir()
        said = "is a folder, not a database file"
    elif case == "random bytes":
        db.write_bytes(os.urandom(4096))
        said = "is not an SQLite database.*move it aside .*rebuilds the study from the stored points"
    elif case == "truncated":
        search.open_study(search_S, url)
        db.write_bytes(db.read_bytes()[:3000])
        said = "cannot be used .*DatabaseError.*move it aside"
    else:
        import sqlite3
        import sqlalchemy.exc

        def read_only(*a, **k):
            err = sqlite3.OperationalError("attempt to write a readonly database")
            raise optuna.exceptions.StorageInternalError("an error occurred") from \
                sqlalchemy.exc.OperationalError("INSERT", {}, err)
        monkeypatch.setattr(optuna, "create_study", read_only)
        said = "cannot be used .*readonly.*make it \\(and its folder\\) writable"
    with pytest.raises(search.StudyUnavailable, match=said):
        search.open_study(search_S, url)
    with pytest.raises(search.StudyUnavailable, match=said):
        search.search(search_S, storage=url, n_trials=1)


def test_an_empty_study_database_is_rebuilt(search_S):
    from mtbert.training import search
    db = search.search_dir(search_S) / "study.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"")
    study = search.open_study(search_S, f"sqlite:///{db}")
    assert study.study_name == search.study_name(search.SCALE) and db.stat().st_size > 0


@pytest.mark.parametrize("argv,said", [
    (["--epochs", "0"], "--epochs must be at least 1, got 0"),
    (["--n-trials", "0"], "--n-trials must be at least 1"),
    (["--storage", "garbage"], "--storage 'garbage' is not a database URL"),
    (["--store-dir", ""], "--store-dir is empty"),
])
def test_search_command_errors_are_one_line(argv, said, search_S, capsys):
    from mtbert.training import search
    assert search.main(["--no-references", "--store-dir", str(search_S.store_root)] + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("mtbert search: error: ") and said in err and err.count("\n") == 1


def test_a_second_search_on_the_same_storage_is_refused_naming_the_first(search_S):
    from mtbert.training import search
    url = search.default_study_url(search_S)
    search.search_dir(search_S).mkdir(parents=True)
    with search.search_lock(search_S, url):
        with pytest.raises(search.StudyUnavailable, match=rf"another search is using .* \(pid {os.getpid()} on "):
            search.search(search_S, storage=url, n_trials=1)
    assert not (search.search_dir(search_S) / "study.db").exists()  # refused before the database was created


# -- the samplers and the pruner on stored points ----------------------------------------------------------------------

class _Cluster:
    def __init__(self, *a, **k):
        pass

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


class _FailingDriver:
    """Takes jobs and ends each as failed at once (nothing trains); records what was submitted."""
    submitted: list = []

    def __init__(self, client, progress=None, on_epoch=None, **kw):
        self.jobs = []

    @property
    def pending(self):
        return len(self.jobs)

    def submit(self, job, attempt=1):
        _FailingDriver.submitted.append(job.key)
        self.jobs.append(job)

    def collect(self, timeout=1.0):
        out, self.jobs = [(j, None, RuntimeError("not trained in this test"), 1) for j in self.jobs], []
        return out

    def cancel(self):
        self.jobs = []


def test_a_tpe_search_that_asks_for_stored_points_moves_on_to_new_ones(search_S, monkeypatch):
    import itertools
    from mtbert.training import search
    points = [search.point_of(dict(zip(search.AXES, c))) for c in itertools.product(*search.AXES.values())]
    new = {search.point_id(p) for p in points[-3:]}
    fake = {"dev": {"overall": 0.5, "sst": 0.4}, "test": {"overall": 0.5}, "wall_time_s": 1.0,
            "history": [{"epoch": 1, "dev": {"overall": 0.5}}]}
    monkeypatch.setattr(search, "stored_point", lambda p, S, scale=None: None if search.point_id(p) in new else fake)
    monkeypatch.setattr(search.scheduler, "Cluster", _Cluster)
    monkeypatch.setattr(search.scheduler, "Driver", _FailingDriver)
    _FailingDriver.submitted = []
    out = search.search(search_S, sampler="tpe", n_trials=1)
    assert len(_FailingDriver.submitted) == 1 and _FailingDriver.submitted[0] in new  # a new point, once
    assert [k for k, _ in out["failed"]] == _FailingDriver.submitted


class _EpochDriver(_FailingDriver):
    """Sends each job's first epoch score (0.1) to the search's on_epoch: a job it prunes ends pruned after
    that epoch, any other as failed."""

    def __init__(self, client, progress=None, on_epoch=None, **kw):
        super().__init__(client)
        self.on_epoch = on_epoch

    def collect(self, timeout=1.0):
        from types import SimpleNamespace
        out = [(j, SimpleNamespace(pruned_after=1, output=None), None, 1) if self.on_epoch(j.key, 1, 0.1)
               else (j, None, RuntimeError("not pruned"), 1) for j in self.jobs]
        self.jobs = []
        return out


def test_a_trial_below_the_median_of_the_stored_points_is_pruned(search_S, monkeypatch):
    """A two-epoch search: each trial reports its first epoch's dev score, and one below the stored points'
    median at that epoch is pruned (its score kept as its intermediate value)."""
    from mtbert.training import search
    new = {search.point_id(search.point_of(params)) for params in search.factorial()[-2:]}
    fake = {"dev": {"overall": 0.5}, "test": {"overall": 0.5}, "wall_time_s": 1.0,
            "history": [{"epoch": 1, "dev": {"overall": 0.5}}, {"epoch": 2, "dev": {"overall": 0.5}}]}
    monkeypatch.setattr(search, "stored_point", lambda p, S, scale=None: None if search.point_id(p) in new else fake)
    monkeypatch.setattr(search.scheduler, "Cluster", _Cluster)
    monkeypatch.setattr(search.scheduler, "Driver", _EpochDriver)
    out = search.search(search_S, n_trials=2, scale=search.scale_for(epochs=2))
    assert set(out["pruned"]) == new and out["failed"] == [] and out["trained"] == []
    pruned = [t for t in out["study"].trials if t.state.name == "PRUNED"]
    assert {t.user_attrs["point"] for t in pruned} == new
    assert all(t.intermediate_values == {1: 0.1} and t.value == 0.1 for t in pruned)
