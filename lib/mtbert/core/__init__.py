"""Core: the shared vocabulary every layer speaks — task specs, metrics, the run config and the experiment
registry, the encoder's canonical name, probabilities from raw outputs, durations, atomic file IO."""
