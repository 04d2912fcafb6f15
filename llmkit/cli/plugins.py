"""`--plugin MODULE` for the commands that load pipelines or list types: the modules it names
(and `LLMKIT_PLUGINS`'s) are imported before the command runs, so the types they register
are known; naming a plugin allows it to run its code, as `--allow-import` allows a file's."""

from __future__ import annotations

import argparse
import os

__all__ = ["add_code_options", "add_option", "use"]


def add_option(parser: argparse.ArgumentParser) -> None:
    """Add a repeatable `--plugin MODULE` to `parser`."""
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                        help="import MODULE first, for the types it registers (runs its code; "
                             "repeatable; also LLMKIT_PLUGINS=a,b)")


def add_code_options(parser: argparse.ArgumentParser, files: str) -> None:
    """Add `--allow-import` (for the `module:Class` types `files` name) and `--plugin`: the
    two ways a command that loads pipeline files may run code."""
    parser.add_argument("--allow-import", action="store_true",
                        help=f"allow 'module:Class' types in {files} (runs the code named)")
    add_option(parser)


def use(args: argparse.Namespace) -> None:
    """Import the plugins a command was given; they go into `LLMKIT_PLUGINS` too, so the
    processes it starts (`serve --workers`, Dask workers) import them as well."""
    if not getattr(args, "plugin", None):
        return
    from llmkit.spec.catalog import PLUGINS_ENV, use_plugins

    named = [m for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]
    os.environ[PLUGINS_ENV] = ",".join(dict.fromkeys([*named, *args.plugin]))
    use_plugins(args.plugin)
