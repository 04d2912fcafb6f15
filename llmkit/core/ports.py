"""Port types: whether a wire's source type fits its target's, and how a type is written in
messages. Checked once when a pipeline is validated, never per value.

The rule (docs/concepts.md, "Port types"): a wire fits when every value its source declares
is a value its target takes.

- `Any`, `object`, an undeclared port, or a type this rule cannot judge (a string annotation
  that does not resolve, a TypeVar, a non-runtime Protocol) fits anything, both ways.
- A class fits itself and its base classes (`bool` → `int`); `int` also fits `float`.
- A union source (`str | None`) fits when each of its members does; a union target takes
  what fits one of its members. `None` fits `None` (and `Optional[...]`) only.
- A parameterized type fits by its origin, then parameter by parameter where both sides give
  parameters: `list[str]` → `list[int]` is refused; a bare `list` is `list[Any]`.
- `Literal[...]` is the types of its values; a `NewType` is its base type; `Annotated[T, ...]`
  is `T`. A type given a name with `named` (`Hits`) is its definition, shown by its name.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

__all__ = ["fits", "function_ports", "mismatch", "named", "type_name"]

_NAMES: dict[Any, str] = {}
_NONE = type(None)


def named(name: str, tp: Any) -> Any:
    """`tp`, shown as `name` in messages and listings (`Hits = named("Hits", list[Hit])`)."""
    _NAMES[tp] = name
    return tp


def _plain(tp: Any) -> Any:
    """`tp` with what the rule sees through removed (Annotated, NewType, forward references
    and TypeVars become Any)."""
    while True:
        if tp is None:
            return _NONE
        if isinstance(tp, (str, typing.ForwardRef, typing.TypeVar)) or tp is object:
            return Any
        if typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif hasattr(tp, "__supertype__"):  # a NewType
            tp = tp.__supertype__
        else:
            return tp


def _members(tp: Any) -> tuple[Any, ...] | None:
    """The members of a union (`Literal` values count by their types), else None."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(tp)
    if origin is typing.Literal:
        return tuple({type(v) for v in typing.get_args(tp)})
    return None


def fits(source: Any, target: Any) -> bool:
    """Whether every value of type `source` is a value of type `target` (the module's rule)."""
    source, target = _plain(source), _plain(target)
    if source is Any or target is Any:
        return True
    members = _members(source)
    if members is not None:
        return all(fits(m, target) for m in members)
    members = _members(target)
    if members is not None:
        return any(fits(source, m) for m in members)
    s_origin, t_origin = typing.get_origin(source) or source, typing.get_origin(target) or target
    if not (isinstance(s_origin, type) and isinstance(t_origin, type)):
        return True  # a form this rule does not know: not its place to refuse
    try:
        if not (issubclass(s_origin, t_origin) or (issubclass(s_origin, int)
                                                    and t_origin is float)):
            return False
    except TypeError:  # TypedDict, a non-runtime Protocol: cannot be judged
        return True
    s_args, t_args = typing.get_args(source), typing.get_args(target)
    if not s_args or not t_args or s_origin is not t_origin:
        return True
    if len(s_args) != len(t_args):
        return True  # tuple[int, ...] vs tuple[int, int]: not judged
    return all(s is Ellipsis or t is Ellipsis or fits(s, t)
               for s, t in zip(s_args, t_args, strict=True))


def type_name(tp: Any) -> str:
    """How a port type is written in messages: `str`, `ndarray`, `list[str]`, `str | None`,
    `Hits`."""
    name = _NAMES.get(tp) if _hashable(tp) else None
    if name is not None:
        return name
    if tp is None or tp is _NONE:
        return "None"
    if tp is Any:
        return "Any"
    if tp is Ellipsis:
        return "..."
    if isinstance(tp, str):
        return tp
    members = _members(tp) if typing.get_origin(tp) is not typing.Literal else None
    if members is not None:
        return " | ".join(type_name(m) for m in members)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return f"Literal[{', '.join(repr(a) for a in args)}]"
    if origin is typing.Annotated:
        return type_name(args[0])
    base = origin or tp
    name = getattr(base, "__name__", None) or repr(base).replace("typing.", "")
    return f"{name}[{', '.join(type_name(a) for a in args)}]" if args else name


def _hashable(tp: Any) -> bool:
    try:
        hash(tp)
    except TypeError:
        return False
    return True


def function_ports(fn: Callable[..., Any], outputs: tuple[str, ...], single: bool, batch: bool
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """A `@node` function's input and output port types, from its annotations: a parameter's,
    and the return annotation when the function returns its one output itself (`single`);
    with `batch=True`, the element type of `list[X]`. Unannotated, or an annotation that does
    not resolve: Any."""
    hints = {name: _resolve(fn, a) for name, a in getattr(fn, "__annotations__", {}).items()}

    def port(tp: Any) -> Any:
        if not batch:
            return tp
        args = typing.get_args(tp)
        return args[0] if len(args) == 1 else Any  # list[X], Sequence[X]: X

    inputs = {p: port(hints.get(p, Any)) for p in inspect.signature(fn).parameters}
    returned = port(hints.get("return", Any)) if single else Any
    return inputs, dict.fromkeys(outputs, returned)


def _resolve(fn: Callable[..., Any], annotation: Any) -> Any:
    """An annotation as a type: a string one (`from __future__ import annotations`) evaluated
    as `typing.get_type_hints` does, one by one, so a name that exists only for type checkers
    makes its own port Any, not all of them."""
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, getattr(fn, "__globals__", {}))  # the caller's own code
    except Exception:
        return Any


def mismatch(source: str, source_type: Any, target: str, target_type: Any) -> str | None:
    """The message for a wire whose types do not fit (`source`, `target`: `node.port` or an
    input's name), or None when they fit."""
    if fits(source_type, target_type):
        return None
    s, t = type_name(source_type), type_name(target_type)
    return (f"{source} ({s}) → {target} ({t}): the types do not fit; wire a source that "
            f"gives {t} there (docs/concepts.md, 'Port types')")
