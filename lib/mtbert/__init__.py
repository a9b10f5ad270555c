"""Multitask BERT (SST, Quora, STS): a reproducible re-run of a CS224N paper.

Layers, bottom to top. A module imports only modules of its own layer or of the layers below it, at the top of
the file or inside a function (tests/test_package.py enforces the order, and that no import cycle hides inside a layer):

    core       mtbert.errors mtbert.settings mtbert.core
    data       mtbert.data
    model      mtbert.model
    results    mtbert.results
    training   mtbert.training
    inference  mtbert.inference
    analysis   mtbert.analysis
    report     mtbert.report
    edges      mtbert.cli mtbert.notebook mtbert.__main__

* core: the vocabulary every layer speaks: errors, the resolved Settings, task specs, metrics, the run config and
  the experiment registry, the encoder's canonical name, probabilities, durations, atomic file IO.
* data: fetch and verify the files, parse them into splits, a run's data identity.
* model: the BERT encoder, its tokenizer, Hugging Face checkpoints, the task heads.
* results: the store of run records and the per-example output and leaderboard file formats.
* training: batches, optimiser, the engine, checkpoints during training, the Dask scheduler, the search.
* inference: re-prediction of stored runs, seed ensembles, the Try-it predictor, the Hugging Face export.
* analysis: statistics, the paper's claims, tables, figures, the ablation tables, decision rules.
* report: executes the notebooks and builds the HTML report.
* edges: the command line and the notebooks' setup, where settings are resolved from flags and the environment.
"""
