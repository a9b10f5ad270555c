"""Results: the store of run records (atomic writes) and safe unpacking of a GPU run's archive."""
