"""Data: fetch and verify the files, task specs, parse them into splits, and a run's data identity."""
