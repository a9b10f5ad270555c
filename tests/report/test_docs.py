"""README.md and docs/: a README read in five minutes, whose numbers, counts and timings are generated blocks
(`python -m mtbert docs`, lib/mtbert/report/docs.py) that are current, that fail this check when a number in
them is edited by hand, and no number typed outside them; every relative link resolves; every setting of
mtbert.settings.SPEC is a flag of the command line."""
from __future__ import annotations

import re
import shutil

import pytest

from mtbert import cli
from mtbert.report import docs
from mtbert.settings import SPEC, repo_root

ROOT = repo_root()
DOCS = docs.doc_files(ROOT)
README_MAX_LINES = 200


def test_readme_is_short_and_links_to_the_docs():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    for page in ("paper", "beyond", "scaling", "performance", "gpu", "extending"):
        assert f"(docs/{page}.md)" in text, page
    assert "report/full/report.html" in text


def test_generated_blocks_are_current():
    assert docs.update(check=True, root=ROOT) == [], "run `python -m mtbert docs`"


def test_a_number_edited_by_hand_fails_the_check(tmp_path):
    """A copy of the project whose README has one digit of the headline table changed: the check names the block
    (and rewriting restores the text)."""
    for name in ("results", "predictions", "data", "report", "scripts", "bench", "notebooks", "requirements.txt"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / "docs").mkdir()
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- mtbert docs: headline -->.*?\| (0\.\d{3}) \|", readme, re.S)
    edited = readme[:m.start(1)] + f"{float(m[1]) + 0.001:.3f}" + readme[m.end(1):]
    (tmp_path / "README.md").write_text(edited)
    assert docs.update(check=True, root=tmp_path) == [("README.md", "headline")]
    assert (tmp_path / "README.md").read_text() == edited  # --check changes nothing
    assert docs.update(root=tmp_path) == [("README.md", "headline")]
    assert (tmp_path / "README.md").read_text() == readme


def test_docs_check_command_exits_1_on_a_stale_block(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(docs, "update", lambda check=False, root=None: [("README.md", "headline")])
    assert cli.main(["docs", "--check"]) == 1
    assert "README.md: block headline is stale" in capsys.readouterr().out


def _prose(text: str) -> str:
    """The text a reader sees that no block generates: blocks, code fences, inline code and links' targets out."""
    text = docs.BLOCK.sub(" ", text)
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"`[^`]*`", " ", text)
    return re.sub(r"\]\([^)]*\)", "]", text)


# a score (0.485), a duration (82 min, 3,909 s), or a count of runs, tests, seeds or claims typed in prose
TYPED_NUMBER = re.compile(r"\b0\.\d{2,}\b|\b\d[\d,.]*\s?(?:s|min|minutes|h|hours|seconds)\b"
                          r"|\b\d[\d,]*\s(?:runs|tests|claims|experiments|notebooks|rows)\b")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_no_number_is_typed_outside_a_block(path):
    found = [m.group(0) for m in TYPED_NUMBER.finditer(_prose(path.read_text()))]
    assert not found, f"{path.name}: numbers typed by hand (put them in a generated block): {found}"


def test_the_typed_number_rule_catches_what_it_is_for():
    assert TYPED_NUMBER.search("the suite has 243 tests") and TYPED_NUMBER.search("14 runs, 68 min summed")
    assert TYPED_NUMBER.search("SST 0.485 on test") and not TYPED_NUMBER.search("lr 5e-5, 10% warm-up, §3.2")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_relative_links_resolve(path):
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", path.read_text()):
        if "://" not in target:
            assert (path.parent / target).exists(), f"{path.name}: link to {target}"


def test_every_setting_is_a_flag_of_the_command_line():
    parser = cli.build_parser()
    flags = {s for a in parser._subparsers._group_actions for sub in a.choices.values()
             for act in sub._actions for s in act.option_strings}
    for name, (flag, *_rest) in SPEC.items():
        for f in re.findall(r"--[a-z-]+", flag):
            assert f in flags, f"setting {name}: {f} is in no subcommand"


def test_example_markers_in_code_spans_are_not_blocks():
    text = "add `<!-- mtbert docs: table full/NAME -->` and `<!-- /mtbert docs -->` where it should appear"
    assert docs.rewrite(text, ROOT) == (text, [])


def test_unknown_block_kind_is_named(tmp_path):
    with pytest.raises(Exception, match="unknown block kind 'nope'"):
        docs.rewrite("<!-- mtbert docs: nope -->x<!-- /mtbert docs -->", ROOT)


def test_a_new_report_table_needs_only_a_marker(tmp_path):
    (tmp_path / "report" / "full" / "tables").mkdir(parents=True)
    (tmp_path / "report" / "full" / "tables" / "new.csv").write_text("row,score\na,0.5\nb,0.25\n")
    text = "<!-- mtbert docs: table full/new where=row=b -->\n<!-- /mtbert docs -->"
    new, changed = docs.rewrite(text, tmp_path)
    assert changed == ["table full/new where=row=b"]
    assert "| row | score |\n|---|---|\n| b | 0.250 |" in new
    shutil.rmtree(tmp_path / "report")
