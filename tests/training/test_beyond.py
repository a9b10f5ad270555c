"""Beyond the paper: cross-encoding, the recipe options (head lr, warm-up + decay, task sampling),
config hashes of stored results, scheduler resume, the resumable search and the seed ensemble.

Smoke profile, tiny overrides, every output in pytest's tmp dirs; one intra-op thread."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch

from mtbert.analysis import ablations as B
from mtbert.data import datasets as D
from mtbert.training import search as X
from mtbert.results import store
from mtbert.training import batches
from mtbert.training.checkpoints import RunCheckpoints
from mtbert.training import optim
from mtbert.training import runner
from mtbert.training import engine
from mtbert.model.checkpoint import load_encoder
from mtbert.errors import UsageError
from mtbert.inference.ensemble import average_seeds
from mtbert.core.experiments import CORE, REGISTRY, experiments_for, run_config
from mtbert.model.heads import Architecture, MultitaskBert
from mtbert.core.metrics import accuracy, overall_score, pearson
from mtbert.settings import DEFAULT_SEED
from mtbert.results.result_set import ResultSet

PROFILE = "smoke"


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):  # conftest.py
    yield


def tiny(**extra) -> dict:
    o = dict(n_train={"sst": 4, "quora": 4, "sts": 4}, batch_size=4, quora_per_epoch=4, n_dev=6, n_test=6,
             n_predict=3, epochs=1)
    o.update(extra)
    return o


@pytest.mark.parametrize("field,value", [("para_encoding", "cross"), ("sts_encoding", "cross"), ("head_lr", 1e-3),
                                         ("warmup", 0.1), ("lr_schedule", "linear"), ("task_sampling", "sqrt")])
def test_a_new_field_off_its_default_changes_the_hash(field, value):
    base = run_config("submission2", "full")
    assert run_config("submission2", "full", **{field: value}).hash() != base.hash()


def declared_changes(name: str) -> dict:
    """What a table-B row declares changed from the paper's recipe: its experiment fields that differ from
    submission 2's, and the RunConfig fields it sets (`beyond`)."""
    e, s2 = REGISTRY[name], REGISTRY[B.PAPER_RECIPE]
    own = {"name", "tables", "description", "beyond"}
    fields = {f.name for f in dataclasses.fields(e)} - own
    return {**{f: getattr(e, f) for f in fields if getattr(e, f) != getattr(s2, f)}, **dict(e.beyond)}


def test_table_b_rows_differ_from_submission2_only_in_their_declared_changes():
    rows = B.rows("B")
    assert rows[0] == B.PAPER_RECIPE and set(rows[1:]) == set(experiments_for("B")) - {B.PAPER_RECIPE}
    with pytest.raises(ValueError, match="valid: B, B1"):
        B.rows("C")
    s2 = run_config(B.PAPER_RECIPE, "full").to_dict()
    configs = set()
    for n in rows[1:]:
        declared = declared_changes(n)
        d = run_config(n, "full").to_dict()  # full profile: no learning-rate scaling
        diff = {k: d[k] for k in d if d[k] != s2[k] and k != "experiment"}
        assert declared and diff == declared, (n, diff, declared)
        configs.add(json.dumps(diff, sort_keys=True))
    assert len(configs) == len(rows) - 1  # no two rows train the same thing
    # the all-changes rows (last in the table) combine changes that one-change rows test on their own
    combined = [n for n in rows if n.startswith(B.BEST_ROWS_PREFIX)]
    single = {(k, json.dumps(v)) for n in rows[1:] if n not in combined for k, v in declared_changes(n).items()}
    for n in combined:
        assert {(k, json.dumps(v)) for k, v in declared_changes(n).items()} <= single, n
    assert combined and rows[-len(combined):] == combined  # one-change rows first, then the all-changes rows
    assert set(experiments_for("X")) <= set(CORE)  # the extensions train with the paper's experiments


@pytest.mark.parametrize("table,epochs", [("B1", 1), ("B2", 2)])
def test_tables_b1_b2_are_table_b_for_fewer_epochs(table, epochs):
    """B<n> holds the n-epoch twins of submission 2 and of table-B rows, nothing else changed (B1: every B row);
    CORE has none."""
    names = experiments_for(table)
    suffix = f"_{epochs}epoch"
    assert B.rows(table)[0] == B.recipe(table) == "submission2" + suffix and set(B.rows(table)) == set(names)
    assert all(n.endswith(suffix) and n.removesuffix(suffix) in REGISTRY for n in names)
    if table == "B1":
        assert sorted(names) == sorted(["submission2_1epoch"] + [n + "_1epoch" for n in experiments_for("B")])
    for n in names:
        twin = run_config(n, "full").to_dict()
        other = run_config(n.removesuffix(suffix), "full", epochs=epochs).to_dict()
        assert {k for k in twin if twin[k] != other[k]} == {"experiment"}, n
        assert twin["epochs"] == epochs
    assert not set(names) & set(CORE)


@pytest.mark.training
def test_a_task_loss_weight_reaches_training(settings_for, tmp_path):
    """The same seed and data with the STS loss weighted 0.01 trains another model (and is another config)."""
    o = tiny(n_train={"sst": 8, "quora": 8, "sts": 8})  # two batches per task
    plain = engine.run("beyond_sts_cosent", settings_for(tmp_path / "plain"), **o)
    weighted = engine.run("beyond_sts_cosent", settings_for(tmp_path / "weighted"), **o, loss_weights={"sts": 0.01})
    assert weighted["config"]["loss_weights"] == {"sts": 0.01} and weighted["config_hash"] != plain["config_hash"]
    assert weighted["dev"]["sts"] != plain["dev"]["sts"]
    # the logged loss is the unweighted one: the first STS batch is scored before any STS update
    assert weighted["history"][0]["train_loss"]["sts"] > 0.01 * plain["history"][0]["train_loss"]["sts"]


def test_bad_beyond_values_fail_naming_the_field():
    for field, value in [("para_encoding", "triple"), ("warmup", 1.5), ("head_lr", 0.0), ("lr_schedule", "cos"),
                         ("task_sampling", "uniform")]:
        with pytest.raises(UsageError, match=field):
            run_config("submission2", PROFILE, **{field: value})
    with pytest.raises(UsageError, match="cross-encoding needs mode 'finetune'"):
        run_config("t1_sst_pretrain", PROFILE, para_encoding="cross")


# -- 2. cross-encoding --------------------------------------------------------------------------------

def test_token_types_with_unpadding_match_transformers():
    """The engine's CPU path (unpad=True) with token types 0/1 against transformers' BertModel."""
    transformers = pytest.importorskip("transformers")
    ours, ckpt = load_encoder()
    ours.eval().unpad = True
    hf = transformers.BertModel.from_pretrained(ckpt, attn_implementation="sdpa").eval()
    from mtbert.model.tokenizer import Tokenizer
    tok = Tokenizer.from_checkpoint(ckpt)
    ids, types = tok.encode_pairs_with_types(["how do i learn python?", "what is the capital of france"],
                                             ["best way to learn python", "is paris the capital of france?"])
    ids_p, mask = tok.pad_batch(ids + [ids[0][:5]])
    tt = torch.zeros_like(ids_p)
    for i, t in enumerate(types):
        tt[i, :len(t)] = torch.as_tensor(t)
    assert tt.any() and not mask.all()
    with torch.no_grad():
        o = ours(ids_p, mask, tt).last_hidden_state
        h = hf(input_ids=ids_p, attention_mask=mask, token_type_ids=tt).last_hidden_state
        o0 = ours(ids_p, mask).last_hidden_state  # token types all 0: must differ where types are 1
    m = mask.bool()
    assert (o - h).abs()[m].max().item() <= 1e-5
    assert (o0 - h).abs()[tt.bool()].max().item() > 1e-3


def test_cross_sequences_are_berts_pair_encoding(settings_for, tmp_path):
    """[CLS] a [SEP] b [SEP] with types 0/1, as the tokenizer encodes a pair (and as BERT was pre-trained)."""
    S = settings_for(tmp_path)
    cfg = run_config("beyond_para_cross", PROFILE, **tiny())
    R = runner.Runner(cfg, S, torch.device("cpu"))
    td = R.data("quora", "dev", 6)
    captured = {}

    def embed(ids, mask, token_type_ids=None):
        captured.update(ids=ids, mask=mask, types=token_type_ids)
        return torch.zeros(len(ids), 384)
    R.model.embed = embed
    u, v = R.embed(td, np.arange(len(td)))
    assert v is None and u.shape == (len(td), 384)
    raw = D.load("quora", "dev")
    pos = {i: k for k, i in enumerate(raw.ids)}
    a = [raw.sents1[pos[i]] for i in td.ids]
    b = [raw.sents2[pos[i]] for i in td.ids]
    ref_ids, ref_types = R.tok.encode_pairs_with_types(a, b)
    for r in range(len(td)):
        n = int(captured["mask"][r].sum())
        assert captured["ids"][r, :n].tolist() == ref_ids[r]
        assert captured["types"][r, :n].tolist() == ref_types[r]
    # truncation keeps both [SEP]s and the length limit
    R.cfg = run_config("beyond_para_cross", PROFILE, **tiny(max_length=12))
    R.embed(td, np.arange(len(td)))
    ids, mask = captured["ids"], captured["mask"]
    assert ids.shape[1] <= 12
    for r in range(len(td)):
        row = ids[r, : int(mask[r].sum())].tolist()
        assert row[0] == R.tok.cls_id and row.count(R.tok.sep_id) == 2 and row[-1] == R.tok.sep_id


def test_cross_heads_shapes():
    enc, _ = load_encoder()
    H = enc.config.hidden_size
    m = MultitaskBert(enc, Architecture(pooling="mean", dropout=0.0, para_head="baseline+cos", sts_head="cos_relu",
                                        para_encoding="cross", sts_encoding="cross"))
    assert m.paraphrase.in_features == H and m.similarity.in_features == H
    z = torch.randn(5, H)
    logit, pred = m.task_outputs("quora", z)
    score, sts_pred = m.task_outputs("sts", z)
    assert logit.shape == (5,) and set(pred.tolist()) <= {0, 1}
    assert ((score > 0) & (score < 1)).all() and torch.allclose(sts_pred, 5 * score)
    mixed = MultitaskBert(enc, Architecture(pooling="mean", dropout=0.0, para_head="baseline+cos",
                                            sts_head="cos_relu", para_encoding="cross"))
    u, v = torch.randn(5, H), torch.randn(5, H)
    assert mixed.similarity is None  # STS stays the bi-encoder cosine
    assert torch.allclose(mixed.task_outputs("sts", u, v)[0], torch.relu(torch.cosine_similarity(u, v)))


@pytest.mark.training
@pytest.mark.parametrize("name,extra", [("beyond_para_cross", dict(sts_encoding="cross")),
                                        ("beyond_para_cross", {})])
def test_cross_encoder_trains_and_predicts(settings_for, tmp_path, name, extra):
    S = settings_for(tmp_path)
    o = tiny(**extra)
    r = engine.run(name, S, **o)
    cfg = run_config(name, PROFILE, **o)
    assert r["config"]["para_encoding"] == "cross" and r["config"]["sts_encoding"] == extra.get("sts_encoding", "bi")
    for split in ("dev", "test"):
        assert 0 <= r[split]["quora"] <= 1 and -1 <= r[split]["sts"] <= 1
    assert np.isfinite(r["history"][0]["train_loss"]["quora"]) and np.isfinite(r["history"][0]["train_loss"]["sts"])
    out = S.predictions_dir / cfg.run_id
    for prefix in ("sst", "para", "sts"):
        assert (out / f"{prefix}-dev-output.csv").exists()
        sc = pd.read_csv(out / f"{prefix}-dev-scores.csv")
        assert len(sc) == r["data"]["sizes"]["dev"][{"para": "quora"}.get(prefix, prefix)]
    lines = (out / "sts-test-output.csv").read_text().splitlines()  # test-student file, leaderboard format
    assert lines[0].strip() == "id \t Predicted_Similiary".strip() and len(lines) == 1 + cfg.cap("n_predict", "sts")
    assert all(0.0 <= float(ln.split(" , ")[1]) <= 5.0 for ln in lines[1:])
    # the stored result is found again (its hash includes the non-default fields)
    assert store.load_result(name, S, **o)["finished_at"] == r["finished_at"]


# -- 3. the recipe options -----------------------------------------------------------------------------

def test_head_lr_goes_to_the_heads_only():
    enc, _ = load_encoder()
    m = MultitaskBert(enc, Architecture(pooling="mean", dropout=0.3, para_head="baseline+cos", sts_head="cos_relu",
                                        para_encoding="cross"))
    cfg = run_config("beyond_best_cross", PROFILE)
    opt = optim.make_optimizer(m, cfg)
    lr_of = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    for n, p in m.named_parameters():
        assert lr_of[id(p)] == (cfg.lr if n.startswith("encoder.") else cfg.head_lr), n
    assert cfg.head_lr != cfg.lr  # else the test could not tell the two rates apart


def test_warmup_and_linear_decay_factors():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    cfg = run_config("submission2", PROFILE, warmup=0.25, lr_schedule="linear")
    sched = optim.make_scheduler(opt, cfg, total_steps=8)
    lrs = []
    for _ in range(8):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.5, 1.0, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6])
    assert optim.make_scheduler(opt, run_config("submission2", PROFILE), 8) is None  # paper: constant, no scheduler
    opt2 = torch.optim.SGD([p], lr=1.0)
    s2 = optim.make_scheduler(opt2, run_config("submission2", PROFILE, warmup=0.5), 4)  # warm-up, then constant
    got = []
    for _ in range(4):
        got.append(opt2.param_groups[0]["lr"])
        opt2.step()
        s2.step()
    assert got == pytest.approx([0.5, 1.0, 1.0, 1.0])


def test_sqrt_sampling_keeps_steps_and_shifts_the_share():
    cfg = run_config("beyond_sqrt_sampling", PROFILE, batch_size=4, quora_per_epoch=10**9)
    prop = run_config("submission2", PROFILE, batch_size=4, quora_per_epoch=10**9)

    class TD:
        units = None  # sentences, not phrases

        def __init__(self, n):
            self.lengths = np.ones(n, int)

        def __len__(self):
            return len(self.lengths)
    train = {"sst": TD(40), "quora": TD(400), "sts": TD(8)}
    count = lambda plan: {t: sum(1 for u, _ in plan if u == t) for t in train}  # noqa: E731
    a, b = count(batches.epoch_plan(train, prop, 0)), count(batches.epoch_plan(train, cfg, 0))
    assert a == {"sst": 10, "quora": 100, "sts": 2}
    assert sum(b.values()) == pytest.approx(sum(a.values()), abs=2)
    assert b["sts"] > a["sts"] and b["quora"] < a["quora"]
    rows = np.concatenate([i for t, i in batches.epoch_plan(train, cfg, 0) if t == "sts"])
    assert set(rows) == set(range(8))  # whole passes over the small task


@pytest.mark.training
def test_scheduler_resumes_and_matches(settings_for, tmp_path):
    S = settings_for(tmp_path)
    name = "beyond_warmup"
    o = tiny(epochs=2, n_train={"sst": 4, "quora": 4, "sts": 4})  # 3 steps per epoch, 6 in all
    seen = []

    class Interrupt(Exception):
        pass

    def boom(epoch, step):
        seen.append(step)
        if epoch == 1 and step == 5:
            raise Interrupt
    with pytest.raises(Interrupt):
        engine.run(name, S, on_step=boom, **o)
    cfg = run_config(name, PROFILE, **o)
    st = torch.load(RunCheckpoints(cfg, S).last, weights_only=True)
    assert st["scheduler"] is not None and st["scheduler"]["last_epoch"] == 3  # after epoch 1's 3 steps
    orig = engine.train_epoch

    def run_recording(S_):
        """Run, recording (epoch, scheduler step, learning rates) at the start of every trained epoch."""
        rec = []

        def spy(run, epoch):
            rec.append((epoch, run.sched.last_epoch, [g["lr"] for g in run.opt.param_groups]))
            return orig(run, epoch)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(engine, "train_epoch", spy)
            return engine.run(name, S_, **o), rec

    r, lrs_resumed = run_recording(S)
    assert [e for e, _, _ in lrs_resumed] == [1] and lrs_resumed[0][1] == 3
    u, lrs_plain = run_recording(settings_for(tmp_path / "uninterrupted"))
    assert [e for e, _, _ in lrs_plain] == [0, 1]
    # warm-up 10% of 6 steps = 1 step, then linear decay: epoch 2 starts (after 3 steps) at (6 - 3) / (6 - 1)
    assert lrs_plain[1][2] == pytest.approx([0.6 * x for x in lrs_plain[0][2]])
    assert lrs_plain[1] == lrs_resumed[0]  # epoch 2 starts at the same step with the same rates
    strip = lambda h: [{k: v for k, v in x.items() if k != "seconds"} for x in h]  # noqa: E731
    assert strip(r["history"]) == strip(u["history"]) and r["dev"] == u["dev"] and r["test"] == u["test"]


# -- 4. the search ------------------------------------------------------------------------------------------

SCALE = dict(n_train={"sst": 4, "quora": 4, "sts": 4}, quora_per_epoch=4, epochs=1, n_dev=6, n_test=6,
             predictions=(), batch_size=4)


def test_search_grid_is_unique_and_starts_with_the_references():
    g = X.grid()
    ids = [X.point_id(p) for p in g]
    assert len(set(ids)) == len(ids) and ids[0] == "paper" and ids[1] == "mean"
    assert len(g) == 2 + 2 ** len(X.AXES)  # the references + the factorial grid (centre and its neighbours in it)
    assert X.point_id(g[2]) == "mean_lr2e-05_hlr0.001_wu0.1_qcross_sbi" and g[2]["lr_schedule"] == "linear"
    for p in g:
        X.config_of(p)  # every point is a valid config


@pytest.mark.training
def test_search_point_is_skipped_when_stored(tmp_path):
    S = X.search_settings(tmp_path)
    out = X.search(S, "grid", n_trials=1, scale=SCALE)
    [pid] = out["trained"]
    path = tmp_path / "results" / "search" / f"{pid}.json"
    assert path.exists() and store.read_json(path)["search_point"]["id"] == pid
    assert not (tmp_path / "results" / "quick").exists()  # nothing lands in a profile's own results
    p = X.point_of(out["study"].trials[0].params)
    assert X.point_id(p) == pid and X.stored_point(p, S, SCALE)["finished_at"] == store.read_json(path)["finished_at"]
    assert X.stored_point(p, S, {**SCALE, "n_dev": 5}) is None  # another scale is another point config
    again = X.search(S, "grid", n_trials=0, scale=SCALE)
    assert again["trained"] == [] and len(again["study"].trials) == 1


# -- 5. the ensemble -----------------------------------------------------------------------------------

def _fake_runs(S, name, seeds, outputs):
    """Stored results (so the seeds count as stored) and <prefix>-test-scores.csv files for each seed."""
    for s in seeds:
        cfg = run_config(name, S.profile, s)
        from mtbert.data import identity as datahash
        store.write_json(store.result_path(cfg, S), {"run_id": cfg.run_id, "config_hash": cfg.hash(),
                                                     "data": {"files": datahash.current(cfg, S.data_dir)},
                                                     "test": {"sst": 0.5, "quora": 0.5, "sts": 0.5,
                                                              "overall": 0.5}})
        d = S.predictions_dir / cfg.run_id
        d.mkdir(parents=True, exist_ok=True)
        for prefix, df in outputs[s].items():
            df.to_csv(d / f"{prefix}-test-scores.csv", index=False)


def test_ensemble_averages_probabilities_and_scores(settings_for, tmp_path):
    S = settings_for(tmp_path)
    rng = np.random.default_rng(0)
    n, seeds = 7, [11711, 1, 2]
    ids = [f"id{i}" for i in range(n)]
    gold_sst, gold_q, gold_s = rng.integers(0, 5, n), rng.integers(0, 2, n), rng.uniform(0, 5, n)
    outputs, logits, qlog, sscore = {}, {}, {}, {}
    for s in seeds:
        logits[s], qlog[s], sscore[s] = rng.normal(size=(n, 5)) * 2, rng.normal(size=n) * 2, rng.uniform(0, 1, n)
        perm = rng.permutation(n)  # rows in another order per seed: matched by id
        sst = pd.DataFrame({"id": ids, "gold": gold_sst, "pred": logits[s].argmax(1),
                            **{f"logit_{k}": logits[s][:, k] for k in range(5)}}).iloc[perm]
        para = pd.DataFrame({"id": ids, "gold": gold_q, "pred": (qlog[s] > 0).astype(int), "score": qlog[s]}).iloc[perm]
        sts = pd.DataFrame({"id": ids, "gold": gold_s, "pred": 5 * sscore[s], "score": sscore[s]}).iloc[perm]
        outputs[s] = {"sst": sst, "para": para, "sts": sts}
    _fake_runs(S, "beyond_best", seeds, outputs)

    e = B.ensemble("beyond_best", ResultSet.load(S))
    order = np.argsort(ids)  # the ensemble's rows are sorted by id; metrics do not depend on the order
    p = np.mean([np.exp(logits[s]) / np.exp(logits[s]).sum(1, keepdims=True) for s in seeds], 0)
    q = np.mean([1 / (1 + np.exp(-qlog[s])) for s in seeds], 0)
    sc = np.mean([sscore[s] for s in seeds], 0)
    exp = {"sst": accuracy(p.argmax(1), gold_sst), "quora": accuracy((q > 0.5).astype(int), gold_q),
           "sts": pearson(5 * sc, gold_s)}
    assert e["seeds"] == sorted(seeds) and e["n"] == {"sst": n, "quora": n, "sts": n}
    for t in exp:
        assert e[t] == pytest.approx(exp[t]), t
    assert e["overall"] == pytest.approx(overall_score(exp["sst"], exp["quora"], exp["sts"]))
    c = average_seeds("sst", [outputs[s]["sst"] for s in seeds])
    assert np.allclose(c[[f"prob_{k}" for k in range(5)]].to_numpy(), p[order])

    tab = B.beyond_table(ResultSet.load(S))
    row = tab[tab["configuration"] == "beyond_best (ensemble)"].iloc[0]
    assert row["n"] == 3 and row["sts"] == f"{exp['sts']:.3f}"
    assert tab[tab["configuration"] == "beyond_best"].iloc[0]["n"] == 3
    fig = B.beyond_figure(ResultSet.load(S), path=tmp_path / "beyond.png")
    assert (tmp_path / "beyond.png").stat().st_size > 1000
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_ensemble_refuses_mismatched_rows(settings_for, tmp_path):
    a = pd.DataFrame({"id": ["x", "y"], "gold": [1.0, 2.0], "pred": [1.0, 2.0], "score": [0.2, 0.4]})
    b = pd.DataFrame({"id": ["x", "z"], "gold": [1.0, 2.0], "pred": [1.0, 2.0], "score": [0.2, 0.4]})
    with pytest.raises(ValueError, match="different rows"):
        average_seeds("sts", [a, b])
    with pytest.raises(B.MissingTestScores):
        B.ensemble("beyond_best", ResultSet.load(settings_for(tmp_path)), seeds=[1])


def test_best_row_is_chosen_on_dev_and_set_against_the_targets(settings_for, tmp_path):
    """best_configuration looks at dev only: the row with the better held-out test but worse dev loses."""
    S = settings_for(tmp_path)
    from mtbert.data import identity as datahash

    def fake(name, seed, dev, test):
        cfg = run_config(name, S.profile, seed)
        store.write_json(store.result_path(cfg, S), {
            "run_id": cfg.run_id, "config_hash": cfg.hash(), "data": {"files": datahash.current(cfg, S.data_dir)},
            "config": cfg.to_dict(), "dev": {"overall": dev}, "test": {"sst": test, "quora": test, "sts": test, "overall": test}})
    fake("submission2_1epoch", 11711, 0.60, 0.60)
    fake("beyond_mean_1epoch", 11711, 0.70, 0.90)   # best test, worse dev
    fake("beyond_best_1epoch", 11711, 0.75, 0.70)
    fake("beyond_best_1epoch", 1, 0.73, 0.72)
    assert B.best_configuration(ResultSet.load(S)) == "beyond_best_1epoch"
    tt = B.targets_table(ResultSet.load(S))
    assert list(tt["row"]) == ["paper, submission 2 (bert-base, leaderboard test)", "target (beyond-the-paper work)",
                               "submission2_1epoch (paper recipe, ours, 1 epoch)",
                               "beyond_best_1epoch (best on dev, 1 epoch)"]
    assert tt.iloc[0]["overall"] == "0.702" and tt.iloc[1]["sts"] == f"≥ {B.TARGETS['sts']:.2f}"
    assert tt.iloc[3]["n"] == 2 and tt.iloc[3]["sst"] == "0.710 ± 0.014"
    assert B.cfimdb_transfer_table(ResultSet.load(S)).empty
    fake("beyond_best_2epoch", 11711, 0.76, 0.50)  # a better dev score two epochs long: the best of all tables
    assert B.best_configuration(ResultSet.load(S)) == "beyond_best_2epoch" and B.best_configuration(ResultSet.load(S), ("B1",)) == "beyond_best_1epoch"
    assert list(B.targets_table(ResultSet.load(S))["row"])[3:] == ["beyond_best_1epoch (best of table B1 on dev, 1 epoch)",
                                                   "beyond_best_2epoch (best on dev, 2 epochs)"]


def test_best_model_needs_its_seeds_but_a_row_with_fewer_still_leads_its_table(settings_for, tmp_path):
    """The best model is a mean over BEST_MODEL_SEEDS seeds: a row with a higher dev mean over fewer seeds leads
    its table, is listed as that table's best, and does not become the model the targets and rules are about."""
    S = settings_for(tmp_path)
    from mtbert.data import identity as datahash

    def fake(name, seed, dev):
        cfg = run_config(name, S.profile, seed)
        store.write_json(store.result_path(cfg, S), {
            "run_id": cfg.run_id, "config_hash": cfg.hash(), "data": {"files": datahash.current(cfg, S.data_dir)},
            "config": cfg.to_dict(), "dev": {"overall": dev}, "test": {t: 0.5 for t in ("sst", "quora", "sts", "overall")}})
    seeds = [11711, 1, 2][:B.BEST_MODEL_SEEDS]
    for s in seeds:
        fake("beyond_best_2epoch", s, 0.74)
    for s in seeds[:-1]:
        fake("beyond_best_lr5e-5_2epoch", s, 0.75)
    assert B.best_configuration(ResultSet.load(S), ("B2",)) == "beyond_best_lr5e-5_2epoch"
    assert B.best_model(ResultSet.load(S)) == "beyond_best_2epoch"
    rows = list(B.targets_table(ResultSet.load(S))["row"])
    assert "beyond_best_lr5e-5_2epoch (best of table B2 on dev, 2 epochs)" in rows
    assert f"beyond_best_2epoch (best on dev with {B.BEST_MODEL_SEEDS} seeds, 2 epochs)" in rows
    fake("beyond_best_lr5e-5_2epoch", seeds[-1], 0.75)  # its last seed: now it is the best model
    assert B.best_model(ResultSet.load(S)) == "beyond_best_lr5e-5_2epoch"
    assert "beyond_best_lr5e-5_2epoch (best on dev, 2 epochs)" in list(B.targets_table(ResultSet.load(S))["row"])


def test_dev_curves_list_every_epoch_of_the_stored_runs_and_the_kept_one(settings_for, tmp_path):
    S = settings_for(tmp_path)
    from mtbert.data import identity as datahash
    dev = [{"sst": 0.40, "quora": 0.80, "sts": 0.80, "overall": 0.70}, {"sst": 0.45, "quora": 0.78, "sts": 0.84, "overall": 0.72}]
    for seed in (1, DEFAULT_SEED):
        cfg = run_config("beyond_best_2epoch", S.profile, seed)
        store.write_json(store.result_path(cfg, S), {
            "run_id": cfg.run_id, "config_hash": cfg.hash(), "data": {"files": datahash.current(cfg, S.data_dir)},
            "config": cfg.to_dict(), "best_epoch": 2, "dev": dev[1], "test": dev[1],
            "history": [{"epoch": i + 1, "dev": d, "seconds": 600.4 + i, **({"threads": 2} if i else {})}
                        for i, d in enumerate(dev)]})  # epoch 1 as stored before epochs recorded their threads
    c = B.dev_curves(ResultSet.load(S), table="B2")
    assert list(c["seed"]) == [DEFAULT_SEED, DEFAULT_SEED, 1, 1]  # the default seed first, as in the tables
    c = c[c["seed"] == 1]
    assert list(c["epoch"]) == [1, 2] and set(c["configuration"]) == {"beyond_best_2epoch"}
    assert list(c["dev sts"]) == [0.80, 0.84] and list(c["kept"]) == ["", "best"]
    assert list(c["epoch s (train + dev)"]) == [600, 601]
    assert c["threads"].isna().tolist() == [True, False] and c["threads"].iloc[1] == 2
    assert B.dev_curves(ResultSet.load(S), table="B1").empty
