"""The examples in docs/*.md and README.md are checked against the code, so they cannot drift.

Conventions for writers of the docs:

- Every ```yaml block is a pipeline file: it must load (`llmkit.spec.load_pipeline`) and pass
  `llmkit validate`. A block without a top-level `llmkit:` key is a fragment (a `nodes:` or
  `resources:` excerpt): its entries are merged over `FRAGMENT_BASE` below, so a fragment may
  use the base's input `question`, resources `embedder` and `index` and node `embed`. YAML
  meant to be invalid goes in a ```text block: no yaml block is ever skipped.
- A `${VAR}` without a default is given a placeholder value, a `${VAR:-default}` its default.
  A block loads in an empty folder that links the project's top-level folders (`source: docs`
  means the project's docs; nothing is written to the project), and no socket may connect.
- Every command line shown must parse with the real argument parser: `llmkit ...` lines in
  ```bash blocks, `$ llmkit ...` lines in any block, and inline code `llmkit ...` outside
  blocks, where `[...]` marks optional parts and required arguments may be left out.
- The synopsis that opens docs/cli.md lists every command with every option, and each
  top-level command has a `## command` section there.

Each case is one test id: `file:line` of the yaml block's opening fence, or of the command.
"""

from __future__ import annotations

import argparse
import itertools
import re
import shlex
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from llmkit.cli.commands import _parser, main
from llmkit.spec import load_pipeline

ROOT = Path(__file__).parents[1]
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
FRAGMENT_BASE = """\
llmkit: 1
inputs: {question: str}
resources:
  embedder: {type: hashing, dim: 64}
  index: {type: corpus, path: null, embedder: $embedder}
nodes:
  embed: {type: embed, params: {embedder: $embedder}, inputs: {text: question}}
"""
PLACEHOLDER = "docs-placeholder"
VARIABLE = re.compile(r"(?<!\$)\$\{(\w+)(:-)?")
SHELL_OPERATORS = {"&&", "||", ";", "|", "&"}


@dataclass(frozen=True)
class Snippet:
    """A piece of a Markdown file: a fenced block (`lang`, `text`) or an inline code span."""

    file: str
    line: int
    lang: str
    text: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


def snippets(path: Path) -> Iterator[Snippet]:
    """The fenced blocks of a Markdown file, and its inline code spans outside them."""
    file = str(path.relative_to(ROOT))
    fence: Snippet | None = None
    body: list[str] = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if fence is None and line.lstrip().startswith("```"):
            fence, body = Snippet(file, number, line.strip()[3:].strip(), ""), []
        elif fence is not None and line.strip() == "```":
            yield Snippet(file, fence.line, fence.lang, "\n".join(body) + "\n")
            fence = None
        elif fence is not None:
            body.append(line)
        else:
            for span in re.findall(r"`([^`]+)`", line):
                yield Snippet(file, number, "inline", span)


ALL = [s for path in DOCS for s in snippets(path)]
YAML_BLOCKS = [s for s in ALL if s.lang == "yaml"]


def pipeline_text(block: Snippet) -> str:
    """The block as a whole pipeline file: a fragment merged over `FRAGMENT_BASE`."""
    data = yaml.safe_load(block.text)
    if "llmkit" in data:
        return block.text
    merged = yaml.safe_load(FRAGMENT_BASE)
    for key, value in data.items():
        merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
    return yaml.safe_dump(merged, sort_keys=False)


@pytest.fixture
def no_network(monkeypatch):
    """Loading a pipeline builds clients but must never connect (no server in the docs)."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"loading a documented pipeline opened a connection: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.mark.parametrize("block", YAML_BLOCKS, ids=str)
def test_yaml_block_in_the_docs_is_a_valid_pipeline(block, tmp_path, monkeypatch, capsys,
                                                     no_network):
    text = pipeline_text(block)
    env = {}
    for name, has_default in VARIABLE.findall(text):
        if has_default:
            monkeypatch.delenv(name, raising=False)
        else:
            env[name] = PLACEHOLDER
            monkeypatch.setenv(name, PLACEHOLDER)
    for entry in ROOT.iterdir():
        if not entry.name.startswith("."):
            (tmp_path / entry.name).symlink_to(entry)
    monkeypatch.chdir(tmp_path)
    try:
        load_pipeline(text, env=env)
    except Exception as exc:
        pytest.fail(in_the_docs(block, text, f"{type(exc).__name__}: {exc}"))
    (tmp_path / "block.yaml").write_text(text)
    code = main(["validate", "block.yaml"])
    assert code == 0, in_the_docs(block, text, capsys.readouterr().err)


def in_the_docs(block: Snippet, text: str, message: str) -> str:
    """An error of a block's pipeline, located in the Markdown file when the block is whole."""
    if text != block.text:
        return f"{block}: the fragment does not validate; completed, it reads\n{text}{message}"
    return re.sub(r"(<string>|block\.yaml):(\d+)",
                  lambda m: f"{block.file}:{block.line + int(m[2])}", message)


# -- command lines ---------------------------------------------------------------------------
def invocations(snippet: Snippet) -> Iterator[tuple[int, list[str]]]:
    """(line, arguments after the program name) of each `llmkit` command the snippet shows."""
    if snippet.lang == "inline":
        if not re.match(r"(python3? -m )?llmkit [a-z]", snippet.text):
            return  # the name of the program, not a command line
        lines = [(snippet.line, re.sub(r"\[|\]|\.\.\.", "", snippet.text))]
    else:
        shell = snippet.lang in ("bash", "sh", "shell")
        lines = [(snippet.line + i, line if shell else line[2:])
                 for i, line in enumerate(snippet.text.splitlines(), 1)
                 if shell or line.startswith("$ ")]
    for number, line in lines:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        segment: list[str] = []
        for token in [*lexer, ";"]:
            if token not in SHELL_OPERATORS:
                segment.append(token)
                continue
            if (args := llmkit_arguments(segment)) is not None:
                yield number, args
            segment = []


def llmkit_arguments(tokens: list[str]) -> list[str] | None:
    """The arguments of an `llmkit` command up to a redirection; None for another program."""
    redirect = next((i for i, t in enumerate(tokens) if set(t) <= set("<>&")), len(tokens))
    tokens = tokens[:redirect]
    if tokens[:1] and re.fullmatch(r"(\S*/)?llmkit", tokens[0]):
        return tokens[1:]
    if tokens[1:3] == ["-m", "llmkit"] and re.fullmatch(r"python3?", tokens[0]):
        return tokens[3:]
    return None


COMMAND_LINES = [(s, f"{s.file}:{line}", args) for s in ALL if s.lang != "yaml"
                 for line, args in invocations(s)]


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next((a.choices for a in parser._actions
                 if isinstance(a, argparse._SubParsersAction)), {})


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
         ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser with its command path: `()`, `("run",)`, ..., `("cache", "clear")`."""
    yield path, parser
    for name, sub in subcommands(parser).items():
        yield from walk(sub, (*path, name))


def commands() -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """The commands that run something (`cache clear`, not `cache`), with their parsers."""
    return {path: parser for path, parser in walk(_parser()) if not subcommands(parser)}


class ParseError(Exception):
    """What argparse would print before exiting."""


def raise_parse_error(self: argparse.ArgumentParser, message: str) -> None:
    raise ParseError(message)


@pytest.mark.parametrize(("snippet", "where", "args"), COMMAND_LINES,
                         ids=[f"{w} {' '.join(a)}" for _, w, a in COMMAND_LINES])
def test_command_line_in_the_docs_parses(snippet, where, args, monkeypatch):
    monkeypatch.setattr(argparse.ArgumentParser, "error", raise_parse_error)
    parser = _parser()
    for _, command in walk(parser):
        command.allow_abbrev = False  # `--nod` for `--node` would work, yet is not its name
    try:
        parser.parse_args(args)
    except ParseError as exc:
        mention = snippet.lang == "inline" and str(exc).startswith(
            "the following arguments are required")
        assert mention, f"{where}: `llmkit {' '.join(args)}` does not parse: {exc}"


def test_the_docs_hold_yaml_blocks_and_command_lines_of_every_kind():
    assert {s.file for s in YAML_BLOCKS} >= {"README.md", "docs/yaml.md"}
    assert {s.lang for s, _, _ in COMMAND_LINES} >= {"bash", "", "inline"}


# -- the synopsis of docs/cli.md -------------------------------------------------------------
def synopsis() -> dict[tuple[str, ...], set[str]]:
    """The synopsis block of docs/cli.md: each command path with the options it shows."""
    block = next(s for s in snippets(ROOT / "docs" / "cli.md") if s.lang == "")
    shown: dict[tuple[str, ...], set[str]] = {}
    for line in block.text.splitlines():
        if line.startswith("llmkit "):
            words = line.split()[1:]
            path = tuple(itertools.takewhile(lambda w: re.fullmatch(r"[a-z]+", w), words))
            current = shown.setdefault(path, set())
        current |= set(re.findall(r"(?<![\w-])--?[a-z][a-z-]*", line))
    return shown


def test_cli_synopsis_lists_every_command_with_every_option():
    shown = synopsis()
    expected = {}
    for path, parser in commands().items():
        expected[path] = {next((o for o in a.option_strings if o in shown.get(path, ())),
                               a.option_strings[-1])
                          for a in parser._actions if a.option_strings and a.dest != "help"}
    assert shown == expected


def test_cli_reference_has_a_section_per_command():
    text = (ROOT / "docs" / "cli.md").read_text()
    missing = [name for (name, *_) in commands()
               if not re.search(rf"^## {name}$", text, re.MULTILINE)]
    assert not missing
