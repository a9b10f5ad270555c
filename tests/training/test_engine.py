"""Training engine: every experiment runs (smoke profile), results are deterministic, resumable and cached,
heads/metrics/optimizer behave as the paper says, bad configs fail early, predictions are well formed.

All outputs go to pytest's tmp dirs (a Settings object whose store root is the tmp dir); sizes are
overridden down to a few batches so the whole module runs in about two minutes on a 2-core CPU."""
from __future__ import annotations

import gc
import math
import shutil
import time

import numpy as np
import pytest
import torch

from mtbert.results import store
from mtbert.training import checkpoints
from mtbert.training import divergence
from mtbert.training import optim
from mtbert.training import runner
from mtbert.training import engine
from mtbert.model.checkpoint import load_encoder
from mtbert.core.experiments import EPOCH_TABLES, OVERRIDABLE, REGISTRY, epochs_suffix, run_config
from mtbert.model.heads import Architecture, MultitaskBert
from mtbert.core.metrics import overall_score, pearson
from mtbert.errors import UsageError
from mtbert.settings import Settings
from mtbert.results.result_set import ResultSet

PROFILE = "smoke"


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):  # conftest.py
    yield


def tiny(name: str, **extra) -> dict:
    """Overrides that shrink an experiment's smoke run to one small batch per task (the CI machine has
    2 shared cores; what is tested is that every code path runs, not what it learns)."""
    e = REGISTRY[name]
    if "cfimdb" in e.train_tasks:  # 512-token reviews: 4 of them, cut to 128 tokens
        o = dict(n_train={"cfimdb": 4}, batch_size=4, max_length=128, n_dev=4, n_test=4, n_predict=3)
    else:
        o = dict(n_train={t: 4 for t in e.train_tasks}, batch_size=4, quora_per_epoch=4, n_dev=6, n_test=6,
                 n_predict=3)
    o["epochs"] = 1
    o.update(extra)
    return o


def strip_times(history):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


# -- 1. every experiment runs ------------------------------------------------------------------------

# t1_sst_finetune runs 2 epochs (batch 2: 3 steps each) so that the resume test can compare with it
REGISTRY_EXTRA = {"t1_sst_finetune": dict(epochs=2, n_train={"sst": 6}, batch_size=2)}


# the runs whose Runner (model, optimizer's parameters, tokenised data) a later test inspects; every other Runner
# is dropped after its run: kept for all ~40 experiments, they held about 8 GB
KEEP_RUNNER = {"t1_sst_pretrain"}


class Run:
    def __init__(self, result, root, runner):
        self.result, self.root, self.runner = result, root, runner


@pytest.fixture(scope="module")
def smoke_runs(settings_for, tmp_path_factory):
    """run(name) once per module into a shared tmp dir; later tests reuse these runs (determinism, resume,
    frozen encoder, predictions) instead of training again. Keeps the Runner of the runs in KEEP_RUNNER."""
    root = tmp_path_factory.mktemp("smoke_registry")
    cache = {}

    def get(name) -> Run:
        if name not in cache:
            runners = []

            class Recording(runner.Runner):
                def __init__(self, *a, **k):
                    super().__init__(*a, **k)
                    runners.append(self)

            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(engine, "Runner", Recording)
                r = engine.run(name, settings_for(root), **registry_overrides(name))
            cache[name] = Run(r, root, runners[-1] if name in KEEP_RUNNER else None)
            runners.clear()
            gc.collect()  # a run's model sits in reference cycles (the Recording class, autograd): free it now
        return cache[name]
    return get


def registry_overrides(name):
    return tiny(name, **REGISTRY_EXTRA.get(name, {}))


def _in_range(task, v):
    if task in ("sts",):
        return -1.0 <= v <= 1.0
    return 0.0 <= v <= 1.0  # accuracies, overall score, aggregate


def epoch_twin_of(name: str) -> str | None:
    """The row an epoch twin of tables B1/B2 (`<row>_1epoch`, `<row>_2epoch`) was made from, else None."""
    for table in EPOCH_TABLES:
        suffix = epochs_suffix(table)
        if name.endswith(suffix) and name.removesuffix(suffix) in REGISTRY:
            return name.removesuffix(suffix)
    return None


def smoke_config(name: str) -> dict:
    """An experiment's smoke-test config (registry_overrides applied), without its experiment name."""
    d = run_config(name, PROFILE, **registry_overrides(name)).to_dict()
    d.pop("experiment")
    return d


# an epoch twin differs from its row only in its epochs, which the smoke overrides set to one: its smoke run would
# train the same config as its row's, so it is checked by that equality instead of a second training
EPOCH_TWINS = [n for n in REGISTRY if epoch_twin_of(n) is not None]


@pytest.mark.parametrize("name", EPOCH_TWINS)
def test_an_epoch_twin_trains_in_smoke_profile_as_its_row_does(name):
    assert smoke_config(name) == smoke_config(epoch_twin_of(name))


@pytest.mark.training
@pytest.mark.parametrize("name", [n for n in REGISTRY if n not in EPOCH_TWINS])
def test_every_experiment_runs_in_smoke_profile(settings_for, name, smoke_runs):
    run = smoke_runs(name)
    r, root = run.result, run.root
    e = REGISTRY[name]
    assert r["experiment"] == name and r["profile"] == PROFILE
    for split in ("dev", "test"):
        for t in e.eval_tasks:
            assert _in_range(t, r[split][t]), (split, t, r[split][t])
        if set(e.eval_tasks) >= {"sst", "quora", "sts"}:
            assert 0.0 <= r[split]["overall"] <= 1.0
            assert r[split]["overall"] == pytest.approx(
                overall_score(r[split]["sst"], r[split]["quora"], r[split]["sts"]))
    assert r["config"]["epochs"] == registry_overrides(name)["epochs"]
    assert len(r["history"]) == r["config"]["epochs"] + r["config"].get("sst_phrase_stage", 0)  # a phrase stage's too
    for i, h in enumerate(r["history"]):
        assert h["epoch"] == i + 1
        trained = run_config(name, PROFILE, **registry_overrides(name)).stage_tasks(i) or e.train_tasks
        assert set(h["train_loss"]) == set(h["train"]) == set(trained)
        for t in trained:
            assert math.isfinite(h["train_loss"][t]) and h["train_loss"][t] >= 0
            assert _in_range(t, h["train"][t])
        assert set(e.eval_tasks) <= set(h["dev"])
    assert 1 <= r["best_epoch"] <= len(r["history"])
    assert r["dev"] == r["history"][r["best_epoch"] - 1]["dev"]
    path = settings_for(root).results_dir / f"{name}.json"
    assert path.exists()
    on_disk = store.read_json(path)
    assert on_disk["config_hash"] == r["config_hash"] == run_config(name, PROFILE, **registry_overrides(name)).hash()
    assert on_disk["dev"] == r["dev"] and on_disk["test"] == r["test"]
    assert on_disk["history"] == r["history"]


# -- 2. determinism ----------------------------------------------------------------------------------

@pytest.mark.training
def test_same_seed_gives_identical_results(smoke_runs, S):
    name = "mt_all_para_cos"  # multitask: interleaved plan, Quora sampling, dropout, three heads
    a = smoke_runs(name).result
    b = engine.run(name, S, force=True, **registry_overrides(name))
    assert b is not a and b["config_hash"] == a["config_hash"]
    assert a["dev"] == b["dev"] and a["test"] == b["test"]
    assert strip_times(a["history"]) == strip_times(b["history"])


# -- 3. resume -------------------------------------------------------------------------------------

class Interrupt(Exception):
    pass


@pytest.mark.training
def test_interrupted_run_resumes_and_matches(smoke_runs, S):
    name = "t1_sst_finetune"
    o = registry_overrides(name)  # 2 epochs of 3 steps: global steps 1..3, then 4..6
    assert o["epochs"] == 2
    seen = []

    def boom(epoch, step):
        seen.append((epoch, step))
        if epoch == 1 and step == 5:
            raise Interrupt

    with pytest.raises(Interrupt):
        engine.run(name, S, on_step=boom, **o)
    assert [s for e, s in seen if e == 0] == [1, 2, 3] and seen[-1] == (1, 5)
    cfg = run_config(name, PROFILE, **o)
    last = checkpoints.RunCheckpoints(cfg, S).last
    assert last.exists()
    assert not store.result_path(cfg, S).exists()
    st = torch.load(last, weights_only=True)  # plain tensors and Python values: loads without the unsafe unpickler
    assert st["epoch"] == 0 and len(st["history"]) == 1 and st["config_hash"] == cfg.hash()
    assert any(w.startswith(f"{cfg.run_id}: 1 epochs") for w in checkpoints.save_partials(S))
    part = store.read_json(S.results_dir / "partial" / f"{cfg.run_id}.json")
    assert part["epochs_done"] == 1 and part["history"] == st["history"] and part["config_hash"] == cfg.hash()
    from mtbert.report.build import _partial_line
    assert f"`{cfg.run_id}` (1 of the epochs)" in _partial_line(ResultSet.load(S))

    resumed = []
    r = engine.run(name, S, on_step=lambda e, s: resumed.append(e), **o)
    assert resumed == [1, 1, 1]  # only epoch 2 was trained again
    assert not last.exists()  # a finished run removes its resume checkpoint
    assert store.result_path(cfg, S).exists()

    u = smoke_runs(name).result  # the same config, never interrupted
    assert len(r["history"]) == len(u["history"]) == 2
    assert strip_times(r["history"]) == strip_times(u["history"])
    assert r["dev"] == u["dev"] and r["test"] == u["test"] and r["best_epoch"] == u["best_epoch"]


# -- 4. cache ---------------------------------------------------------------------------------------

@pytest.mark.training
def test_second_run_loads_cached_result(smoke_runs, tmp_path, S):
    name = "t1_sst_pretrain"
    o = registry_overrides(name)
    first = smoke_runs(name).result
    shutil.copytree(smoke_runs(name).root / "results", tmp_path / "results")  # a stored result, here
    calls = []
    t0 = time.time()
    again = engine.run(name, S, on_step=lambda e, s: calls.append(s), **o)
    assert not calls and time.time() - t0 < 1.0
    assert again["finished_at"] == first["finished_at"] and again["dev"] == first["dev"]
    assert store.load_result(name, S, **o)["finished_at"] == first["finished_at"]
    assert store.load_result(name, S, **{**o, "lr": 2e-3}) is None

    changed = engine.run(name, S, on_step=lambda e, s: calls.append(s),
                    **{**o, "lr": 2e-3})
    assert calls and changed["config"]["lr"] == 2e-3 and changed["config_hash"] != first["config_hash"]
    assert store.load_result(name, S, **o) is None  # the file now holds the changed run
    calls.clear()
    forced = engine.run(name, S, force=True, on_step=lambda e, s: calls.append(s),
                   **{**o, "lr": 2e-3})
    assert calls and forced["finished_at"] >= changed["finished_at"]
    assert forced["dev"] == changed["dev"]


# -- 5. metrics --------------------------------------------------------------------------------------

@pytest.mark.parametrize("sst,quora,sts,expected", [(0.500, 0.824, 0.452, 0.683), (0.517, 0.839, 0.498, 0.702)])
def test_overall_score_matches_paper_submissions(sst, quora, sts, expected):
    assert round(overall_score(sst, quora, sts), 3) == expected


def test_pearson_of_constant_predictions_is_zero():
    gold = np.array([0.0, 1.5, 3.0, 4.2, 5.0])
    assert pearson(np.full(5, 2.5), gold) == 0.0
    assert pearson(gold, np.full(5, 1.0)) == 0.0
    assert pearson(gold, gold) == pytest.approx(1.0)
    assert pearson(-gold, gold) == pytest.approx(-1.0)


# -- 6. heads ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def encoder():
    enc, _ = load_encoder()
    return enc


@pytest.mark.parametrize("para_head", ["baseline", "baseline+cos"])
@pytest.mark.parametrize("sts_head", ["baseline", "cos_sigmoid", "cos_relu"])
def test_head_shapes_and_ranges(encoder, para_head, sts_head):
    torch.manual_seed(0)
    H, B = encoder.config.hidden_size, 7
    arch = Architecture(tasks=("sst", "cfimdb"), pooling="cls", dropout=0.3, para_head=para_head, sts_head=sts_head)
    m = MultitaskBert(encoder, arch).eval()
    u, v = torch.randn(B, H) * 3, torch.randn(B, H) * 3
    u[0] = v[0]          # cos = 1
    u[1] = -v[1]         # cos = -1
    for task, k in (("sst", 5), ("cfimdb", 2)):
        raw, pred = m.task_outputs(task, u)
        assert raw.shape == (B, k) and pred.shape == (B,) and pred.min() >= 0 and pred.max() < k
    raw, pred = m.task_outputs("quora", u, v)
    assert raw.shape == (B,) and pred.shape == (B,) and set(pred.tolist()) <= {0, 1}
    assert m.paraphrase.in_features == 2 * H + (para_head == "baseline+cos")
    raw, pred = m.task_outputs("sts", u, v)
    assert raw.shape == (B,) and pred.shape == (B,)
    assert torch.allclose(pred, 5 * raw)
    if sts_head == "cos_relu":
        assert m.similarity is None
        assert pred.min() >= 0 and pred.max() <= 5 + 1e-5
        assert pred[0] == pytest.approx(5.0, abs=1e-4) and pred[1] == 0.0
    elif sts_head == "cos_sigmoid":
        assert m.similarity is None
        lo, hi = 5 * torch.sigmoid(torch.tensor(-1.0)), 5 * torch.sigmoid(torch.tensor(1.0))
        assert pred.min() >= lo - 1e-4 and pred.max() <= hi + 1e-4
        assert pred[0] == pytest.approx(hi.item(), abs=1e-4) and pred[1] == pytest.approx(lo.item(), abs=1e-4)
    else:
        assert m.similarity.in_features == 2 * H
        assert pred.min() >= 0 and pred.max() <= 5
    # losses are finite scalars
    y = {"sst": torch.randint(0, 5, (B,)), "quora": torch.randint(0, 2, (B,)), "sts": torch.rand(B) * 5}
    for task in y:
        raw, _ = m.task_outputs(task, u, v)
        loss = m.loss(task, raw, y[task])
        assert loss.ndim == 0 and torch.isfinite(loss)
    # an unknown task is an error everywhere, never a silent fallback to some loss
    with pytest.raises(ValueError, match="unknown task 'stsb'"):
        m.loss("stsb", raw, y["sts"])
    with pytest.raises(ValueError, match="unknown task 'stsb'"):
        m.task_outputs("stsb", u, v)


def test_paraphrase_with_cos_feature_is_linear_on_2h_plus_1(encoder):
    H = encoder.config.hidden_size
    m = MultitaskBert(encoder, Architecture(para_head="baseline+cos", sts_head="cos_relu"))
    assert tuple(m.paraphrase.weight.shape) == (1, 2 * H + 1)
    u, v = torch.randn(3, H), torch.randn(3, H)
    f = m.features(u, v, True)
    assert f.shape == (3, 2 * H + 1)
    assert torch.allclose(f[:, -1], torch.nn.functional.cosine_similarity(u, v, dim=-1))


# -- 7. frozen encoder in pretrain mode --------------------------------------------------------------

@pytest.mark.training
def test_pretrain_mode_keeps_encoder_frozen(smoke_runs):
    name = "t1_sst_pretrain"
    run = smoke_runs(name)
    R = run.runner
    assert run.result["history"][0]["steps"] > 0
    assert run.result["history"][0]["threads"] == run.result["environment"]["threads"] == torch.get_num_threads()
    fresh, _ = load_encoder()
    trained = R.model.encoder.state_dict()
    assert trained.keys() == fresh.state_dict().keys()
    for k, p in fresh.state_dict().items():
        assert torch.equal(trained[k], p), k
    assert all(not p.requires_grad for p in R.model.encoder.parameters())
    assert all(p.requires_grad for p in R.model.head_parameters())

    cfg = run_config(name, PROFILE, **registry_overrides(name))
    best = torch.load(run.root / "checkpoints" / PROFILE / f"{cfg.run_id}.{cfg.hash()}.best.pt", weights_only=True)
    assert best["config_hash"] == cfg.hash() and best["data_files"] == run.result["data"]["files"]
    best = best["model"]
    assert best and not any(k.startswith("encoder.") for k in best)
    assert set(best) == {k for k in R.model.state_dict() if not k.startswith("encoder.")}

    opt = optim.make_optimizer(R.model, cfg)
    in_opt = {id(p) for g in opt.param_groups for p in g["params"]}
    assert not in_opt & {id(p) for p in R.model.encoder.parameters()}
    assert in_opt == {id(p) for p in R.model.head_parameters()}
    assert {g["lr"] for g in opt.param_groups} == {cfg.lr}


# -- 8. layer-wise learning-rate decay ---------------------------------------------------------------

def test_layerwise_lr_decay(encoder):
    m = MultitaskBert(encoder, Architecture(sts_head="baseline"))
    L = encoder.config.num_hidden_layers
    lrs = optim.layerwise_lrs(m, 1e-5, 0.9)
    assert set(lrs) == {n for n, _ in m.named_parameters()}
    seen_layers = set()
    for n, lr in lrs.items():
        if n.startswith("encoder.layers."):
            i = int(n.split(".")[2])
            seen_layers.add(i)
            assert lr == pytest.approx(1e-5 * 0.9 ** (L - 1 - i), rel=1e-12), n
        elif n.startswith("encoder.embeddings."):
            assert lr == pytest.approx(1e-5 * 0.9 ** L, rel=1e-12), n
        else:  # pooler and heads
            assert lr == 1e-5, n
    assert seen_layers == set(range(L))
    assert any(n.startswith("encoder.pooler") for n in lrs)
    top = [lr for n, lr in lrs.items() if n.startswith(f"encoder.layers.{L - 1}.")]
    assert top and all(lr == 1e-5 for lr in top)
    assert set(optim.layerwise_lrs(m, 1e-5, 1.0).values()) == {1e-5}

    cfg = run_config("t1_sst_finetune", PROFILE, lr_decay=0.9)
    opt = optim.make_optimizer(m, cfg)
    assert sorted(g["lr"] for g in opt.param_groups) == pytest.approx(
        sorted({1e-5 * 0.9 ** k for k in range(L + 1)}))
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(m.parameters()))


# -- 9. divergence -----------------------------------------------------------------------------------

@pytest.mark.training
def test_nan_loss_raises_training_diverged(monkeypatch, S):
    monkeypatch.setattr(MultitaskBert, "loss",
                        lambda self, task, raw, y: torch.tensor(float("nan"), requires_grad=True))
    with pytest.raises(divergence.TrainingDiverged) as ei:
        engine.run("t1_sst_pretrain", S, **tiny("t1_sst_pretrain", lr=0.005))
    msg = str(ei.value)
    assert "t1_sst_pretrain" in msg and "step 0" in msg and "lr 0.005" in msg and "nan" in msg


# -- 10. bad configs fail before training ------------------------------------------------------------

def _no_training(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("training started")
    monkeypatch.setattr(engine, "train_run", fail)


def test_unknown_experiment_lists_valid_names(monkeypatch, S):
    _no_training(monkeypatch)
    with pytest.raises(UsageError) as ei:
        engine.run("nope", S)
    msg = str(ei.value)
    assert "nope" in msg and all(n in msg for n in REGISTRY)
    with pytest.raises(UsageError, match="valid profiles"):
        Settings.resolve(profile="huge")
    with pytest.raises(UsageError, match="valid profiles"):
        run_config("t1_sst_pretrain", "huge")


def test_unknown_override_lists_overridable(monkeypatch, S):
    _no_training(monkeypatch)
    with pytest.raises(UsageError) as ei:
        engine.run("t1_sst_pretrain", S, bogus=1)
    msg = str(ei.value)
    assert "bogus" in msg and all(k in msg for k in OVERRIDABLE)


@pytest.mark.parametrize("field,value", [("mode", "frozen"), ("pooling", "max"), ("lr_decay", 0),
                                         ("epochs", 0), ("lr", 0), ("dropout", 1.0), ("max_length", 4096),
                                         ("batch_size", 0), ("n_train", [8]), ("n_dev", 0), ("n_test", {"sst": -1}),
                                         ("lr", "abc"), ("dropout", "x"), ("quora_per_epoch", 1.5)])
def test_invalid_values_fail_naming_the_field(monkeypatch, field, value, S):
    _no_training(monkeypatch)
    overrides = {field: value}
    if field == "mode":  # not overridable on purpose: check the validator directly
        with pytest.raises(UsageError):
            engine.run("t1_sst_pretrain", S, **overrides)
        from dataclasses import replace
        with pytest.raises(ValueError, match="mode"):
            replace(run_config("t1_sst_pretrain", PROFILE), mode=value).validate()
        return
    with pytest.raises(ValueError, match=field):
        engine.run("t1_sst_pretrain", S, **overrides)


# -- 11. predictions ---------------------------------------------------------------------------------

def _rows(text, header):
    lines = text.splitlines(keepends=True)
    assert lines[0] == f"id \t {header} \n"
    rows = []
    for ln in lines[1:]:
        assert ln.endswith(" \n") and ln.count(" , ") == 1, ln
        i, p = ln[:-2].split(" , ")
        rows.append((i, p))
    return rows


@pytest.mark.training
@pytest.mark.parametrize("name", ["submission1", "t1_cfimdb_finetune"])
def test_leaderboard_prediction_files(name, smoke_runs):
    run = smoke_runs(name)
    r = run.result
    cfg = run_config(name, PROFILE, **registry_overrides(name))
    out = run.root / "predictions" / PROFILE / cfg.run_id
    preds = r["predictions"]
    assert set(preds) == set(cfg.eval_tasks)  # per-example outputs for every evaluated task
    for task in cfg.eval_tasks:  # dev and held-out test: one row per example, for paired statistics
        for split in ("dev", "test"):
            f = run.root / preds[task][f"{split}_scores"]
            scores = __import__("pandas").read_csv(f, dtype={"id": str})
            assert len(scores) == r["data"]["sizes"][split][task] and scores["id"].is_unique
            assert {"id", "gold", "pred"} <= set(scores.columns)
            from mtbert.training.engine import metric
            assert metric(task, scores["pred"].to_numpy(), scores["gold"].to_numpy()) == pytest.approx(
                r[split][task] if split == "test" else r["dev"][task], abs=1e-4)
    for task in cfg.predictions:
        prefix = {"sst": "sst", "cfimdb": "cfimdb", "quora": "para", "sts": "sts"}[task]
        assert (out / f"{prefix}-dev-output.csv").exists() and (out / f"{prefix}-dev-scores.csv").exists()
        if task == "quora":
            assert preds["quora"]["test"].startswith("not written")
            assert "quora-test-student.csv" in preds["quora"]["test"]
            assert not (out / "para-test-output.csv").exists()
            continue
        f = out / f"{prefix}-test-output.csv"
        n = cfg.cap("n_predict", task)
        assert f.exists() and preds[task]["test_rows"] == n
        header = "Predicted_Similiary" if task == "sts" else "Predicted_Sentiment"
        rows = _rows(f.read_text(), header)
        assert len(rows) == n and all(i for i, _ in rows)
        assert len({i for i, _ in rows}) == len(rows)
        if task == "sts":
            assert all(0.0 <= float(p) <= 5.0 for _, p in rows)
        else:
            k = 5 if task == "sst" else 2
            assert all(p.isdigit() and 0 <= int(p) < k for _, p in rows)
        dev_rows = _rows((out / f"{prefix}-dev-output.csv").read_text(), header)
        assert len(dev_rows) == r["data"]["sizes"]["dev"][task]
