"""Inference: re-prediction of stored runs (`python -m mtbert predict`), seed ensembles, the Try-it predictor and
the Hugging Face export. Nothing here trains."""
