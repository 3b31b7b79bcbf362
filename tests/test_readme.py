"""The README is a first page that keeps its word: short, with the set-up commands CI runs, links that lead
somewhere, and `lamp` command lines (there and in docs/cli.md) that the real parser accepts.

The README's Python example is run by tests/test_readme_python.py.
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from lamp_motion.cli.main import build_parser

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
CLI_DOC = REPO / "docs" / "cli.md"
PAGES = [README, CLI_DOC, REPO / "CONTRIBUTING.md", REPO / "docs" / "results.md", REPO / "docs" / "experiments.md"]
VENV = "python3 -m venv .venv && . .venv/bin/activate && "

if not README.is_file() or not (REPO / ".ci" / "run").is_file():
    pytest.skip("not a source checkout", allow_module_level=True)


def section(text: str, heading: str) -> str:
    """The body of the section that starts at the line ``heading``, up to the next heading of its level or above."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    start = lines.index(heading) + 1
    fenced = [False] * len(lines)  # inside a code block, "# ..." is a shell comment, not a heading
    for i in range(1, len(lines)):
        fenced[i] = fenced[i - 1] != lines[i - 1].startswith("```")
    end = next((i for i in range(start, len(lines))
                if not fenced[i] and re.match(rf"#{{1,{level}}} ", lines[i])), len(lines))
    return "\n".join(lines[start:end])


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    return {slug(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


def subcommands() -> dict[str, argparse.ArgumentParser]:
    def children(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return dict(actions[0].choices) if actions else {}

    return children(build_parser())


def flags_of(parser: argparse.ArgumentParser) -> set[str]:
    found = {flag for action in parser._actions for flag in action.option_strings}
    for child in [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]:
        for sub in child.choices.values():
            found |= flags_of(sub)
    return found


def lamp_command_lines(page: Path) -> list[str]:
    """Every `lamp ...` command of the page's bash blocks, continuation lines joined, `cmd && lamp ...` split."""
    commands = []
    for block in code_blocks(page.read_text(encoding="utf-8"), "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words[:1] == ["lamp"]:
                    commands.append(words[1:])
    return commands


def test_the_readme_is_a_first_page() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 160, f"README.md has {len(lines)} lines; move reference and findings into docs/"


def test_the_set_up_commands_are_the_two_that_ci_and_the_demo_run() -> None:
    blocks = code_blocks(section(README.read_text(encoding="utf-8"), "## Set-up commands"), "bash")
    assert len(blocks) == 2, "the set-up section holds exactly two bash blocks: the demo, then the tests"
    demo, tests = (block.strip() for block in blocks)
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    marker = next(index for index, line in enumerate(ci) if line.startswith("# The README's test command"))
    ci_command = ci[marker + 1].strip()
    assert tests == VENV + ci_command, ".ci/run must run the README's test command (after making its own venv)"
    assert demo == VENV + "pip install torch==2.13.0 && pip install -e . && lamp demo --out lamp-demo"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_leads_to_a_file_and_heading(page: Path) -> None:
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    relative = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert relative, f"{page.name} links to nothing"
    for link in relative:
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        assert target.exists(), f"{page.name}: {link} -> {target} does not exist"
        if anchor:
            assert anchor in anchors(target), f"{page.name}: {link}: no heading #{anchor} in {target.name}"


@pytest.mark.parametrize("page", [README, CLI_DOC], ids=lambda page: page.name)
def test_every_lamp_command_line_parses(page: Path) -> None:
    commands = lamp_command_lines(page)
    assert commands, f"{page.name} shows no lamp command"
    parser, known = build_parser(), subcommands()
    for words in commands:
        try:
            parser.parse_args(words)
        except SystemExit:
            pytest.fail(f"{page.name}: `lamp {shlex.join(words)}` does not parse")
        spelt = {word.split("=")[0] for word in words if word.startswith("--")}
        unknown = spelt - flags_of(known[words[0]])  # argparse takes abbreviations; the docs spell flags out
        assert not unknown, f"{page.name}: `lamp {shlex.join(words)}`: {sorted(unknown)} are not its flags"


def test_each_command_section_of_the_reference_names_only_its_own_flags() -> None:
    """A `## `lamp NAME`` section of docs/cli.md names only NAME's flags, besides other commands' in `lamp OTHER ...`
    spans and accelerate's (spelt with _)."""
    text = CLI_DOC.read_text(encoding="utf-8")
    commands = subcommands()
    headings = re.findall(r"^## `lamp (\w+)`$", text, flags=re.M)
    assert set(headings) == set(commands), "docs/cli.md has one section per lamp sub-command"
    for name in headings:
        body = section(text, f"## `lamp {name}`")
        body = re.sub(rf"`lamp (?!{name}\b)\w+[^`]*`", "", body)  # `lamp eval --suite` may be named anywhere
        named = set(re.findall(r"(?<![\w-])--[a-z][\w-]*", body))
        unknown = {flag for flag in named if "_" not in flag} - flags_of(commands[name])
        assert not unknown, f"docs/cli.md, lamp {name}: {sorted(unknown)} are not flags of lamp {name}"


def test_configs_named_in_the_reference_exist() -> None:
    named = set(re.findall(r"\bconfigs/[\w/.-]+\.yaml", CLI_DOC.read_text(encoding="utf-8")))
    assert named, "docs/cli.md names no config"
    for name in sorted(named):
        assert (REPO / name).is_file(), name
