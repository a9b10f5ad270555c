"""Model: the BERT encoder, its tokenizer, loading Hugging Face checkpoints, and the task heads."""
