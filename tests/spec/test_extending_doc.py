"""docs/extending.md, executed: its files are written out (a fenced block whose info string
names a path is that file), the plugin package is installed (its module into a site folder,
with a dist-info holding the entry points its pyproject.toml declares: what `pip install`
writes, without a build backend, offline), and every `$ llmkit ...` line shown is run in a
subprocess and must print what the page shows."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "extending.md"


def fenced(text: str) -> list[tuple[str, str]]:
    """(info string, body) of each fenced block."""
    return re.findall(r"^```([^\n]*)\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)


def examples(body: str) -> list[tuple[str, list[str]]]:
    """(command line, the lines it prints) of each `$ ` line of a block."""
    out: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif out:
            out[-1][1].append(line)
    return out


def install(package: Path, site: Path) -> None:
    """Install `package` (a folder with pyproject.toml) into `site` as pip would lay it out."""
    project = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    name, version = project["name"], project["version"]
    for module in package.iterdir():
        if (module / "__init__.py").exists():
            shutil.copytree(module, site / module.name)
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()) + "\n"
        for group, points in project["entry-points"].items()))


def run(command: str, cwd: Path, site: Path | None) -> subprocess.CompletedProcess[str]:
    """A shown command line (`cd DIR && VAR=value llmkit ...`) with this interpreter's llmkit;
    `site` (the installed plugin) on the path, or not."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LLMKIT_PLUGINS")}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    words = shlex.split(command)
    if words[:1] == ["cd"]:
        cwd, words = cwd / words[1], words[3:]
    while "=" in words[0]:
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    assert words[0] == "llmkit", command
    return subprocess.run([sys.executable, "-m", "llmkit", *words[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def walk_through(tmp_path_factory):
    """The page's files written out in a folder, and the site its package is installed in."""
    work = tmp_path_factory.mktemp("extending")
    blocks = fenced(DOC.read_text())
    for info, body in blocks:
        _, _, path = info.partition(" ")
        if path:
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).write_text(body)
    site = work / "site"
    install(work / "acme-sentiment", site)
    return work, site, blocks


def test_the_page_has_the_steps(walk_through):
    _, _, blocks = walk_through
    named = {info.partition(" ")[2] for info, _ in blocks} - {""}
    assert named == {"acme-sentiment/acme_sentiment/__init__.py",
                     "acme-sentiment/pyproject.toml", "review.yaml"}
    assert sum(len(examples(body)) for info, body in blocks if info == "") >= 5


def test_every_command_shown_prints_what_the_page_shows(walk_through):
    work, site, blocks = walk_through
    for info, body in blocks:
        for command, shown in examples(body) if info == "" else ():
            error = bool(shown) and shown[0].startswith("llmkit: error:")
            # a plugin from the current folder, or a type nobody made visible: not installed
            done = run(command, work, None if error or command.startswith("cd ") else site)
            if error:
                assert (done.returncode, done.stderr.splitlines()) == (2, shown), command
                continue
            assert done.returncode == 0, f"{command}\n{done.stderr}"
            lines = done.stdout.splitlines()
            starts = [i for i, line in enumerate(lines) if line == shown[0]]
            assert any(lines[i:i + len(shown)] == shown for i in starts), \
                f"{command} printed\n{done.stdout}\nnot\n" + "\n".join(shown)
            assert not done.stderr, command


def test_the_python_example_writes_names_that_load_back(walk_through):
    work, site, blocks = walk_through
    code = next(body for info, body in blocks if info == "python")
    check = code + (
        "\nimport yaml\n"
        "types = {n['type'] for n in yaml.safe_load(text)['nodes'].values()}\n"
        "assert types == {'sentiment', 'acme_sentiment:words'}, types\n"
        "assert [n.fingerprint for n in q.nodes.values()] == "
        "[n.fingerprint for n in p.nodes.values()]\n"
        "print(q.run(review='love it')['label'])\n")
    done = subprocess.run([sys.executable, "-c", check], cwd=work, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(site)})
    assert (done.returncode, done.stdout, done.stderr) == (0, "positive\n", "")
