"""The `llmkit` command: `commands` parses the command line and runs each command; `batch`
reads and writes JSONL runs, `output` the files they go to, `render` the drawings and
listings (the progress bar is `llmkit.core.progress`, shared with `run_many`).
docs/cli.md is the reference.
"""

from llmkit.cli.commands import main

__all__ = ["main"]
