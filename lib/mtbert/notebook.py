"""The notebooks' edge: turn a notebook's papermill parameters into Settings, once, at the top of the notebook.

Every notebook calls `setup(...)` with its parameters, as keywords, right after its parameters cell. The
parameters are the notebook column of `mtbert.settings.SPEC` (`PARAMETERS`). Parameters left at None fall back
to the environment variables of SPEC (e.g. MTBERT_PROFILE=smoke under nbval), then to the defaults. `setup` also
shows the preamble every notebook shares (setup + differences from the paper), written once in
lib/mtbert/report/text/.
"""
from __future__ import annotations

import os

from mtbert.errors import UsageError
from mtbert.report.build import preamble_markdown
from mtbert.settings import SPEC, Settings

# notebook parameter -> setting (the notebook column of the README's settings table)
PARAMETERS = {param: name for name, (_, param, *_) in SPEC.items() if param != "-"}


def setup(*, show: bool = True, **parameters) -> Settings:
    """Settings from the notebook's parameters (keywords named in PARAMETERS; None: not given); `show` displays
    the shared preamble. An unknown parameter is a UsageError naming it and the valid ones."""
    unknown = sorted(set(parameters) - set(PARAMETERS))
    if unknown:
        raise UsageError(f"unknown notebook parameter(s) {unknown}; valid: {', '.join(PARAMETERS)}")
    S = Settings.resolve(environ=os.environ, **{PARAMETERS[k]: v for k, v in parameters.items()})
    theme()
    if show:
        from IPython.display import Markdown, display  # only inside a notebook kernel
        display(Markdown(preamble_markdown(S)))
    return S


def theme() -> None:
    """One look for every figure: seaborn's whitegrid theme, inline PNGs at a readable size."""
    import seaborn as sns  # heavy: matplotlib
    sns.set_theme(style="whitegrid", context="notebook")


def train_and_load(S: Settings, names=(), every_submission_seed: bool = False):
    """Train (or load) the experiments `names` at the default seed and, with `every_submission_seed`, both
    submissions at the default seed and every seed of the settings; then every stored run of the profile, loaded
    once: the ResultSet the notebook's tables and figures read. With training off (train=False) a run that is not
    stored is an error naming the command that trains it."""
    from mtbert.core.experiments import SUBMISSIONS
    from mtbert.results.result_set import ResultSet
    from mtbert.settings import DEFAULT_SEED
    from mtbert.training.engine import run
    for name in names:
        run(name, S)
    if every_submission_seed:
        for seed in dict.fromkeys([DEFAULT_SEED, *S.seeds]):
            for name in SUBMISSIONS:
                run(name, S, seed=seed)
    return ResultSet.load(S)
