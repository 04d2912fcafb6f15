"""The `llmkit` command: `commands` parses the command line and runs each command; `batch`
reads and writes JSONL runs, `output` the files they go to, `progress` the status line,
`render` the drawings and listings. docs/cli.md is the reference.
"""

from llmkit.cli.commands import main

__all__ = ["main"]
