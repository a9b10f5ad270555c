"""A command line that teaches: help for every argument, an example epilog per subcommand, the `--set` keys
listed from the knob declarations, one flag name per idea (`--data-dir` everywhere), `--debug` before or after
the subcommand."""
from __future__ import annotations

import argparse

import pytest

from mtbert import cli
from mtbert.core.config import OVERRIDABLE

PARSER = cli.build_parser()
SUBCOMMANDS = next(a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction)).choices


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_argument_has_help_and_every_subcommand_examples(name):
    sub = SUBCOMMANDS[name]
    for action in sub._actions:
        if action.help == argparse.SUPPRESS:  # a former name kept working, e.g. data --dest
            continue
        assert action.help and len(action.help) > 10, f"mtbert {name}: {action.option_strings or action.dest}"
    assert "examples:" in sub.epilog and f"mtbert {name}" in sub.epilog
    assert sub.description


def test_run_help_lists_every_set_key_with_its_values():
    text = SUBCOMMANDS["run"].format_help()
    for key in OVERRIDABLE:
        assert f"\n  {key} " in text, key
    assert "mtbert list" in text  # where the names come from


def test_seeds_help_says_what_the_seeds_are_for_each_command():
    def seeds_help(name):
        return next(a.help for a in SUBCOMMANDS[name]._actions if "--seeds" in a.option_strings)
    assert "submissions" in seeds_help("run") and "submissions" not in seeds_help("predict")
    assert "one seed" in seeds_help("export")


def test_debug_after_the_subcommand_and_data_dir_for_data():
    assert PARSER.parse_args(["list", "--debug"]).debug is True
    assert PARSER.parse_args(["--debug", "list"]).debug is True
    assert PARSER.parse_args(["list"]).debug is False
    assert PARSER.parse_args(["data", "--data-dir", "d"]).data_dir == "d"
    assert PARSER.parse_args(["data", "--dest", "d"]).data_dir == "d"  # the former name still works


def test_one_flag_name_per_idea():
    names = {}
    for name, sub in SUBCOMMANDS.items():
        for action in sub._actions:
            for flag in action.option_strings:
                names.setdefault(action.dest, set()).add(flag)
    assert "--dest" not in {f for sub in SUBCOMMANDS.values() for a in sub._actions if a.help != argparse.SUPPRESS
                            for f in a.option_strings}
    assert names["data_dir"] == {"--data-dir", "--dest"}
