"""`python -m mtbert export`: a stored run's model as a Hugging Face checkpoint that transformers loads, with
outputs equal to ours, and task heads that heads.json describes well enough to rebuild the stored predictions;
and the Predictor that notebook 06's "Try it" section runs on typed sentences."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from mtbert.cli import main as cli_main
from mtbert.data import datasets as D
from mtbert.errors import MtbertError
from mtbert.results import store
from mtbert.training.checkpoints import RunCheckpoints
from mtbert.training.engine import run
from mtbert.core.experiments import run_config
from mtbert.inference.export import export
from mtbert.results.predictions import PREFIX
from mtbert.inference.predictor import TRY_IT_STORE, Predictor, candidates, choose, try_it_store
from mtbert.inference.predict import load_run

transformers = pytest.importorskip("transformers")

# the paper's recipe ([CLS] pooling, bi-encoders, cosine STS head) and a row with mean pooling, a Quora
# cross-encoder and a separate head learning rate
NAMES = ("submission2", "beyond_best_cross")
SENTENCES = ["a gripping , funny and moving film .", "it 's a dull , lifeless mess .",
             "the cast is fine but the script never finds its footing , and two hours feel like four ."]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, one_thread, settings_for):
    root = tmp_path_factory.mktemp("store")
    S = settings_for(root)
    for n in NAMES:
        run(n, S)
    return S


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    out = {}
    for n in NAMES:
        d = tmp_path_factory.mktemp("export") / n
        assert cli_main(["export", n, "--profile", "smoke", "--store-dir", str(trained.store_root),
                         "--out", str(d)]) == 0
        out[n] = d
    return out


def pooled(hidden, mask, pooling, model):
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "mean":
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return model.pooler(hidden)


def embed(tok, model, pooling, a, b=None):
    enc = tok(a, b, padding=True, return_tensors="pt") if b is not None else tok(a, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    return pooled(hidden, enc["attention_mask"], pooling, model)


def head_outputs(folder, task, a, b=None):
    """A user's reading of heads.json: (raw output as our per-example files store it, prediction)."""
    spec = json.loads((folder / "heads.json").read_text())
    head = next(h for h in spec["heads"] if h["task"] == task)
    tensors = load_file(str(folder / "heads.safetensors"))
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModel.from_pretrained(folder).eval()
    if head["encoding"] == "cross":
        feats = {"z": embed(tok, model, head["pooling"], a, b)}
    else:
        u = embed(tok, model, head["pooling"], a)
        v = embed(tok, model, head["pooling"], b) if b is not None else u
        feats = {"u": u, "|u - v|": (u - v).abs(), "u * v": u * v,
                 "cos(u, v)": F.cosine_similarity(u, v, dim=-1).unsqueeze(-1)}
    x = torch.cat([feats[f] for f in head["input"]], -1)
    if head["tensors"]:
        x = x @ tensors[head["tensors"]["weight"]].T + tensors[head["tensors"]["bias"]]
    if head["kind"] == "classification":
        return x.numpy(), x.argmax(-1).numpy()
    if head["kind"] == "binary":
        return x[:, 0].numpy(), (x[:, 0] > 0).long().numpy()
    score = torch.relu(x[:, 0]) if "relu" in head["output"] else torch.sigmoid(x[:, 0])
    return score.numpy(), 5 * score.numpy()


@pytest.mark.training
@pytest.mark.parametrize("name", NAMES)
def test_transformers_loads_the_export_and_matches_our_encoder(trained, exported, name):
    folder = exported[name]
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    hf = transformers.AutoModel.from_pretrained(folder).eval()
    _, R = load_run(name, trained, 11711)
    ours = R.model.encoder.eval()
    ids = R.tok.encode(SENTENCES)
    enc = tok(SENTENCES, padding=True, return_tensors="pt")
    input_ids, mask = R.tok.pad_batch(ids)
    assert torch.equal(enc["input_ids"], input_ids), "the exported tokenizer splits differently from ours"
    with torch.no_grad():
        theirs = hf(**enc).last_hidden_state
        mine = ours(input_ids, mask).last_hidden_state
    real = mask.bool()
    assert torch.allclose(theirs[real], mine[real], atol=1e-5), (theirs[real] - mine[real]).abs().max()


@pytest.mark.training
@pytest.mark.parametrize("name", NAMES)
def test_the_heads_reproduce_the_stored_test_outputs(trained, exported, name):
    S, folder = trained, exported[name]
    spec = json.loads((folder / "heads.json").read_text())
    assert [h["task"] for h in spec["heads"]] == ["sst", "quora", "sts"]
    assert {h["pooling"] for h in spec["heads"]} <= set(spec["definitions"]["pooling"])
    for task in ("sst", "quora", "sts"):
        stored = pd.read_csv(S.predictions_dir / name / f"{PREFIX[task]}-test-scores.csv", dtype={"id": str})
        d = D.load(task, "test", S.data_dir)
        row = {i: k for k, i in enumerate(d.ids)}
        idx = [row[i] for i in stored["id"]]
        if task == "sst":
            raw, pred = head_outputs(folder, task, [d.sents[k] for k in idx])
            want = stored[[f"logit_{k}" for k in range(5)]].to_numpy()
        else:
            raw, pred = head_outputs(folder, task, [d.sents1[k] for k in idx], [d.sents2[k] for k in idx])
            want = stored["score"].to_numpy()
        np.testing.assert_allclose(raw, want, atol=1e-4, err_msg=f"{name} {task}")
        np.testing.assert_allclose(pred, stored["pred"].to_numpy(), atol=1e-3, err_msg=f"{name} {task}")


@pytest.mark.training
def test_the_model_card_names_data_scores_encoder_and_limits(trained, exported):
    card = (exported["submission2"] / "README.md").read_text()
    r = json.loads((trained.results_dir / "submission2.json").read_text())
    for name, sha in r["data"]["files"].items():
        assert f"`{name}` | `{sha}`" in card
    assert r["encoder"]["weights_sha256"] in card and "Quora" in card and "paraphrase" in card
    assert f"{r['test']['sst']:.3f}" in card and f"{r['dev']['overall']:.3f}" in card and "Seed 11711" in card
    assert "python -m mtbert export submission2 --profile smoke" in card


@pytest.mark.training
def test_errors_name_the_fix(trained, exported, tmp_path, capsys):
    S = trained
    with pytest.raises(MtbertError, match="train it first: python -m mtbert run submission1 --profile smoke"):
        export("submission1", S, 11711, tmp_path / "new")
    ck = RunCheckpoints(run_config("submission2", S.profile), S).best
    ck.rename(tmp_path / ck.name)
    try:
        with pytest.raises(MtbertError, match=r"re-train .*--force"):
            export("submission2", S, 11711, tmp_path / "new")
    finally:
        (tmp_path / ck.name).rename(ck)
    assert not (tmp_path / "new").exists(), "a failed export leaves no folder"

    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("mine")
    with pytest.raises(MtbertError, match=rf"{full} is not empty .*--force"):
        export("submission2", S, 11711, full)
    assert cli_main(["export", "submission2", "--profile", "smoke", "--store-dir", str(S.store_root),
                     "--out", str(full)]) == 1
    err = capsys.readouterr().err
    assert "not empty" in err and "Traceback" not in err
    export("submission2", S, 11711, full, force=True)
    assert (full / "notes.txt").read_text() == "mine", "--force replaces the export's files only"
    assert (full / "model.safetensors").read_bytes() == (exported["submission2"] / "model.safetensors").read_bytes()
    assert cli_main(["export", "submission2", "--profile", "smoke", "--store-dir", str(S.store_root),
                     "--seeds", "1", "2", "--out", str(tmp_path / "two")]) == 2
    assert "one seed" in capsys.readouterr().err


@pytest.mark.training
def test_predictor_on_typed_text_agrees_with_the_stored_test_outputs(trained):
    S = trained
    P = Predictor.from_stored("submission2", S)
    outs = {"sst": None, "quora": None, "sts": None}
    for task in outs:
        stored = pd.read_csv(S.predictions_dir / "submission2" / f"{PREFIX[task]}-test-scores.csv", dtype={"id": str})
        d = D.load(task, "test", S.data_dir)
        row = {i: k for k, i in enumerate(d.ids)}
        idx = [row[i] for i in stored["id"]][:12]
        want = stored["pred"].to_numpy()[:12]
        if task == "sst":
            p = P.sentiment([d.sents[k].upper() for k in idx])  # typed text: preprocessing lowercases it
            assert np.allclose(p.sum(1), 1) and (p.argmax(1) == want).all()
        elif task == "quora":
            p = P.paraphrase([d.sents1[k] for k in idx], [d.sents2[k] for k in idx])
            assert ((p > 0.5).astype(int) == want).all() and ((p >= 0) & (p <= 1)).all()
        else:
            s = P.similarity([d.sents1[k] for k in idx], [d.sents2[k] for k in idx])
            np.testing.assert_allclose(s, want, atol=1e-3)
    table = P.pairs_table([("How do I learn Python?", "What is the best way to learn Python?")])
    assert list(table.columns) == ["sentence 1", "sentence 2", "P(paraphrase)", "similarity (0-5)"]
    with pytest.raises(MtbertError, match="in pairs"):
        P.similarity(["one"], ["two", "three"])


@pytest.mark.training
def test_choose_takes_the_best_on_dev_and_falls_back_when_its_checkpoint_is_absent(trained, tmp_path):
    S = trained
    runs = candidates(S)
    assert [n for n, _, _ in runs] == sorted(NAMES, key=lambda n: -store.load_result(n, S)["dev"]["overall"])
    best, second = runs[0][0], runs[1][0]
    assert choose(S).name == best and choose(S).notes == []
    ck = RunCheckpoints(run_config(best, S.profile), S).best
    ck.rename(tmp_path / ck.name)
    try:
        c = choose(S)
        assert c.name == second and f"run {best} --profile smoke" in c.notes[0] and "--force" not in c.notes[0]
        assert f"--store-dir {S.store_root / TRY_IT_STORE}" in c.notes[0] and c.store_dir is None
        # the advised command, followed: the model trained into the Try-it store is the one tried
        scratch, shown = try_it_store(S)
        shutil.copytree(S.results_dir, scratch.results_dir)
        (scratch.checkpoints_dir).mkdir(parents=True)
        shutil.copy(tmp_path / ck.name, scratch.checkpoints_dir / ck.name)
        c = choose(S)
        assert c.name == best and c.store_dir == shown and "Try-it store" in c.notes[-1]
    finally:
        (tmp_path / ck.name).rename(ck)
    empty = S.replace(store_root=tmp_path / "empty")
    c = choose(empty)
    assert c.predictor is None and "python -m mtbert run submission2 --profile smoke" in c.notes[0]
