"""`llmkit graph` and `llmkit run --profile-out`: a pipeline, or a run of it, as a picture
(docs/cli.md). A bad format or a missing extra is refused before anything runs."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from llmkit.errors import LlmkitError

if TYPE_CHECKING:
    from llmkit.core.pipeline import Pipeline
    from llmkit.core.stats import Profile

__all__ = ["check_profile_out", "graph", "write_profile"]

FORMATS = ("svg", "png", "html", "mermaid", "dot")


class PictureError(LlmkitError):
    """A picture cannot be made as asked (exit code 2)."""


def graph(p: Pipeline, args: argparse.Namespace) -> None:
    """Print the picture `--format` names (mermaid by default), or write it to `--output`
    (the format by its suffix when not named)."""
    from llmkit.draw import format_of

    try:
        chosen = format_of(args.output, args.format or (None if args.output else "mermaid"))
    except ValueError as exc:
        raise PictureError(str(exc)) from None
    if chosen == "png" and args.output is None and sys.stdout.isatty():
        raise PictureError("a PNG is binary: write it to a file with -o FILE.png")
    picture = p.draw(args.output, format=chosen)
    if args.output is not None:
        return
    if isinstance(picture, bytes):
        sys.stdout.flush()
        sys.stdout.buffer.write(picture)
    else:
        print(picture.rstrip("\n"))


def check_profile_out(path: str | None) -> None:
    """Refuse, before a run, a `--profile-out` whose format, extra or folder is wrong."""
    if path is None:
        return
    from llmkit.draw import format_of
    from llmkit.draw.png import pillow

    try:
        chosen = format_of(path, None)
    except ValueError as exc:
        raise PictureError(f"--profile-out {exc}") from None
    if chosen not in ("svg", "png", "html"):
        raise PictureError(f"--profile-out {path}: a run is drawn as .svg, .png or .html")
    if chosen == "png":
        pillow()
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise PictureError(f"--profile-out {path}: no folder {folder}")


def write_profile(p: Pipeline, profile: Profile, path: str) -> None:
    """Draw the run's figures onto the pipeline at `path`, and say where."""
    profile.draw(p, path)
    print(f"llmkit: the run's picture is in {path}", file=sys.stderr)
