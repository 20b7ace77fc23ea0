"""The README's commands and code are checked, so it cannot drift from what the project does."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from calab import cli

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_readme_opens_with_the_two_fresh_machine_commands() -> None:
    commands = [line.split("#")[0].strip() for line in README.splitlines()
                if line.startswith("    make ")]
    assert commands[:2] == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("demo", "test"):
        assert re.search(rf"^{target}:", makefile, flags=re.M), target
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci


@pytest.mark.parametrize("block", _blocks("python"))
def test_readme_python_blocks_run(block: str) -> None:
    exec(compile(block, "README.md", "exec"), {})  # noqa: S102 - our own documentation


def test_readme_cli_lines_parse() -> None:
    lines = [line.split("#")[0].split(">")[0].strip() for block in _blocks("sh")
             for line in block.splitlines()]
    calls = [shlex.split(line) for line in lines if line.startswith("calab ")]
    assert len(calls) >= 4
    parser = cli.build_parser()
    for argv in calls:
        args = parser.parse_args(argv[1:])
        assert callable(args.func), argv
