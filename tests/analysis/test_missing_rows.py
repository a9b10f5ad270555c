"""No table shows a run that is not stored: every table function returns stored rows only (never n = 0), and the
(table, missing) functions name each left-out row once, with the command that trains it and its hardware.

Read-only over the committed stores (results/quick, results/full) and an empty store in pytest's tmp dir."""
from __future__ import annotations

import pandas as pd
import pytest

from mtbert.analysis import ablations as B
from mtbert.analysis import tables as T
from mtbert.report.build import beyond_markdown
from mtbert.results import store
from mtbert.settings import Settings, repo_root
from mtbert.core.experiments import CORE, PAPER_ROWS, hardware
from mtbert.results.result_set import ResultSet

# the committed stores are audits (marker audit); the empty store is a unit test
STORES = [pytest.param("quick", marks=pytest.mark.audit), pytest.param("full", marks=pytest.mark.audit), "empty"]


@pytest.fixture(scope="module", params=STORES)
def S(request, tmp_path_factory):
    if request.param == "empty":
        root = tmp_path_factory.mktemp("empty_store")
        return Settings.resolve(profile="quick", device="cpu", store_root=root, output_root=root)
    out = tmp_path_factory.mktemp("unused_output")  # nothing here renders, but keep the repository untouched
    return Settings.resolve(profile=request.param, device="cpu", store_root=repo_root(), output_root=out)


def counts(df: pd.DataFrame) -> pd.Series:
    col = next(c for c in ("n", "n_seeds") if c in df.columns)
    return pd.to_numeric(df[col], errors="coerce").dropna()  # the paper and target rows of targets_table have no n


def test_no_table_has_a_row_without_a_stored_seed(S):
    tables = {f"paper table {t}": T.paper_table(t, ResultSet.load(S), intervals=False) for t in "12345"}
    tables.update({"scores": T.scores_table(list(CORE), ResultSet.load(S)), "extensions": T.extension_table(ResultSet.load(S)),
                   "finetune": T.finetune_table(ResultSet.load(S)), "targets": B.targets_table(ResultSet.load(S)),
                   **{f"beyond {t}": B.beyond_table(ResultSet.load(S), table=t) for t in ("B", "B1")}})
    if S.profile != "full":  # the full store's paired bootstraps take a minute; its rows come from stored runs only
        tables.update({f"differences {t}": B.differences_table(ResultSet.load(S), table=t) for t in ("B", "B1")})
    for name, df in tables.items():
        n = counts(df) if len(df) else pd.Series(dtype=float)
        assert (n > 0).all(), f"{name} shows a row with n = 0 in {S.store_root} ({S.profile})"
    runs = T.runs_table(ResultSet.load(S))
    assert all(store.load_result(e, S, s) is not None for e, s in zip(runs["experiment"], runs["seed"]))


@pytest.mark.parametrize("table", ["B", "B1"])
def test_every_beyond_row_is_shown_or_named_once(S, table):
    df, missing = B.beyond_table_with_missing(ResultSet.load(S), table=table)
    shown = {c.removesuffix(" (ensemble)") for c in df["configuration"]}
    named = [m.name for m in missing]
    assert len(named) == len(set(named)) and not shown & set(named)
    assert shown | set(named) == set(B.rows(table))
    for m in missing:
        assert not store.stored_seeds(m.name, S)
        assert m.command.startswith(f"python -m mtbert run {m.name} --profile {S.profile}")
        assert ("--seeds-all" in m.command) == ("--seeds" in m.command)
        assert m.hardware


def test_paper_tables_name_their_missing_experiments(S):
    for t in "12345":
        df, missing = T.paper_table_with_missing(t, ResultSet.load(S), intervals=False)
        want = {PAPER_ROWS[k][0] for k in PAPER_ROWS if k[0] == t}
        assert set(df["experiment"]) | {m.name for m in missing} == want
        assert not set(df["experiment"]) & {m.name for m in missing}


def test_the_report_names_each_missing_row_once(S):
    """The findings count a table's rows not stored; section 6 names each, with its command, under that table
    only (not again under the table of differences)."""
    md = beyond_markdown(ResultSet.load(S))
    for table in ("B", "B1"):
        missing = B.beyond_table_with_missing(ResultSet.load(S), table=table)[1]
        for m in missing:
            assert m.markdown() not in md
        if missing:
            assert f"{len(missing)} row{'s' if len(missing) != 1 else ''} of table {table} " in md
    assert "| 0 |" not in md
    nb = (repo_root() / "notebooks" / "06_beyond.ipynb").read_text()
    assert nb.count("T.show_with_missing(B.differences_wide(d1), [],") == 1
    assert nb.count("T.show_with_missing(B.differences_wide(d2), [],") == 1


def test_hardware_follows_the_scale():
    assert "GPU" in hardware("beyond_best", "full") and "CPU" in hardware("beyond_best_1epoch", "full")
    assert hardware("beyond_best_2epoch", "full").startswith("CPU") and "2 epochs" in hardware("beyond_best_2epoch", "full")
    assert "CPU" in hardware("beyond_best", "quick")
