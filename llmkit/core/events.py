"""What a running pipeline reports as it goes: for `astream`, `on_event=` callbacks,
progress bars and profiles."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from llmkit.core.usage import Usage

Kind = Literal["node_started", "node_finished", "node_skipped", "token", "run_finished",
               "result"]


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened.

    - node_started / node_finished: a call of `node` on `size` items of `runs`; finished
      events carry `seconds`, when the call failed for some items `errors`, and when its
      model backends reported tokens `usage` (these runs' share of the call's);
    - node_skipped: a route skipped `node` for run `runs[0]` (docs/control-flow.md): it
      was neither called nor looked up in the cache;
    - token: a piece of streamed text from `node` for run `runs[0]` (in `data`);
    - run_finished: run `runs[0]` is done (`data`: its outputs or its error; `usage`: the
      tokens its calls spent, when any);
    - result: the last event of `astream`, `data` holding the outputs.
    """

    kind: Kind
    node: str | None = None
    runs: tuple[int, ...] = ()
    size: int = 0
    seconds: float = 0.0
    errors: int = 0
    data: Any = None
    usage: Usage | None = None


class TokenSink:
    """Where the tokens of one run at one node go, counting them: once a token was shown, a
    retry of the call would show it again, so the engine no longer retries it."""

    __slots__ = ("delivered", "send")

    def __init__(self, send: Callable[[str], None]) -> None:
        self.send = send
        self.delivered = 0

    def __call__(self, text: str) -> None:
        self.delivered += 1
        self.send(text)


_token_sink: ContextVar[TokenSink | None] = ContextVar("llmkit_tokens", default=None)


def emit_token(text: str) -> None:
    """Report a piece of streamed text from inside a node's `run` (no-op when no one listens)."""
    sink = _token_sink.get()
    if sink is not None:
        sink(text)


def streaming() -> bool:
    """True when the current call's tokens are being listened to (`astream`, `RAGChain.stream`),
    so a generator can stream its answer instead of waiting for all of it."""
    return _token_sink.get() is not None


def tokens_delivered() -> int:
    """How many tokens the current context has given a listener so far (0 when none listens)."""
    sink = _token_sink.get()
    return 0 if sink is None else sink.delivered
