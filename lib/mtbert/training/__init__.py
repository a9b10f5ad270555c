"""Training: the experiment registry and run configs, the engine, prediction files, re-prediction, search."""
