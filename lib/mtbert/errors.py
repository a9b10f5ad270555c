"""Errors a user can fix. Each message names the file, flag or value at fault and the fix; the command line
prints it without a traceback (`--debug` shows one) and exits with status 1 (or 2 for a bad argument)."""
from __future__ import annotations


class MtbertError(RuntimeError):
    """Base of every error whose message tells the user what to do."""
    exit_code = 1


class UsageError(MtbertError, ValueError):
    """A bad flag, parameter or setting (exit status 2, like argparse)."""
    exit_code = 2


class DataError(MtbertError):
    """A data file is missing, corrupt or cannot be fetched (the message says how to fix it)."""


class CheckpointError(MtbertError):
    """An encoder or a run's checkpoint cannot be found, read or trusted (the message says why and the fix)."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) during a training run; the message says which finished epochs were kept, if any."""
