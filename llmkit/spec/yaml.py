"""Safe YAML parsing that remembers where every key and value was written.

`parse` composes the YAML node tree with PyYAML's pure-Python safe loader and converts it
to plain data (dicts, lists, str, int, float, bool, None) itself, so that it can

- record the 1-based (line, column) of every value and every mapping key by path
  (a tuple of keys and list indexes from the document root);
- refuse duplicate keys, which PyYAML silently accepts (the last one would win);
- refuse every tag outside plain data (`!!python/object`, `!!binary`, custom `!tags`);
- bound alias expansion, refuse recursive aliases, and keep timestamps as strings;
- refuse a scalar its type cannot hold (`!!int abc`, `0x_`, an int of 5,000 digits).

Every problem is a `SpecError` starting with `file:line:column:`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from llmkit.errors import SpecError

__all__ = ["MAX_VALUES", "Doc", "Path", "ScalarError", "parse", "plain_scalar"]

Path = tuple[Any, ...]
MAX_VALUES = 100_000  # values after alias expansion: a "billion laughs" file stops here

_STD = "tag:yaml.org,2002:"
_SCALARS = {f"{_STD}{t}" for t in ("str", "int", "float", "bool", "null")}
_MERGE = f"{_STD}merge"


class _Loader(yaml.SafeLoader):
    """The safe loader, with timestamps and the odd `=` value tag read as plain strings."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers
                if tag not in (f"{_STD}timestamp", f"{_STD}value")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


_CONSTRUCT: dict[str, Callable[[Any, ScalarNode], Any]] = {
    tag: yaml.SafeLoader.yaml_constructors[tag] for tag in _SCALARS}
_CONSTRUCTOR = _Loader("")  # the scalar constructors are stateless: one instance serves all


_KINDS = {f"{_STD}int": "an integer", f"{_STD}float": "a number",
          f"{_STD}bool": "true or false"}


class ScalarError(ValueError):
    """A scalar its type cannot hold (`!!int abc`, `0x_`, an int of 5,000 digits); the
    message is a phrase that follows "this value", and never shows the value."""


def _scalar(node: ScalarNode) -> Any:
    try:
        return _CONSTRUCT[node.tag](_CONSTRUCTOR, node)
    except Exception as exc:  # PyYAML's constructors fail with ValueError, KeyError, ...
        digits = len(node.value.lstrip("+-").replace("_", ""))
        if "Exceeds the limit" in str(exc):  # Python's cap on decimal digits of an int
            raise ScalarError(f"is an integer of {digits:,} digits, more than Python reads "
                              f"({sys.get_int_max_str_digits():,})") from None
        raise ScalarError(f"cannot be read as {_KINDS.get(node.tag, 'its type')} "
                          f"({_short_tag(node.tag)})") from None


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_STD):] if tag.startswith(_STD) else tag


class Doc:
    """A parsed file: its plain `data` and the position of each value and key by path."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.data: Any = None
        self.values: dict[Path, tuple[int, int]] = {}
        self.keys: dict[Path, tuple[int, int]] = {}

    def where(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """(line, column) of the value at `path` (or of its key), else of the nearest
        enclosing value that was written; (1, 1) for the document itself."""
        if key and path in self.keys:
            return self.keys[path]
        while path:
            if path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get((), (1, 1))

    def error(self, path: Path, message: str, *, key: bool = False) -> SpecError:
        """A `SpecError` located at the value (or key) at `path`."""
        line, column = self.where(path, key=key)
        return SpecError(message, file=self.file, line=line, column=column)


def plain_scalar(text: str) -> Any:
    """The value `text` would have as a plain (unquoted) YAML scalar: `4` → 4, `no` → False.
    Raises `ScalarError` for text that looks like a number but is none (`0x_`)."""
    tag = _Loader.resolve(_Loader, ScalarNode, text, (True, False))  # type: ignore[arg-type]
    if tag not in _CONSTRUCT:
        return text
    return _scalar(ScalarNode(tag, text))


def parse(text: str | bytes, file: str) -> Doc:
    """Parse one YAML document into a `Doc`; any problem is a located `SpecError`."""
    doc = Doc(file)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            line, column = _position(text, exc.start)
            raise SpecError(f"the file is not UTF-8 text (byte {text[exc.start]:#x})",
                            file=file, line=line, column=column) from None
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        context = f" ({exc.context}, line {exc.context_mark.line + 1})" if (
            exc.context and exc.context_mark and exc.problem_mark) else ""
        raise SpecError(f"invalid YAML: {exc.problem or exc.context}{context}", file=file,
                        line=mark.line + 1 if mark else None,
                        column=mark.column + 1 if mark else None) from None
    except yaml.reader.ReaderError as exc:
        line, column = _position(text, exc.position)
        raise SpecError(f"invalid YAML: character U+{exc.character:04X} is not allowed",
                        file=file, line=line, column=column) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}", file=file) from None
    except RecursionError:
        raise SpecError("invalid YAML: nested too deeply", file=file) from None
    if root is not None:
        _Converter(doc).run(root)
    return doc


def _position(text: str | bytes, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset."""
    newline = b"\n" if isinstance(text, bytes) else "\n"
    line = text.count(newline, 0, offset) + 1  # type: ignore[arg-type]
    return line, offset - (text.rfind(newline, 0, offset) + 1) + 1  # type: ignore[arg-type]


class _Converter:
    """Turns composed YAML nodes into plain data, recording positions in the `Doc`."""

    def __init__(self, doc: Doc) -> None:
        self.doc = doc
        self.count = 0
        self.active: set[int] = set()  # nodes being converted: an alias to one is a loop

    def run(self, root: Node) -> None:
        try:
            self.doc.data = self.value(root, ())
        except RecursionError:
            raise self.doc.error((), "invalid YAML: nested too deeply") from None

    def error(self, node: Node, message: str) -> SpecError:
        return SpecError(message, file=self.doc.file, line=node.start_mark.line + 1,
                         column=node.start_mark.column + 1)

    def value(self, node: Node, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise self.error(node, f"the file holds more than {MAX_VALUES} values once its "
                                   "aliases are expanded")
        self.doc.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, ScalarNode):
            if node.tag not in _CONSTRUCT:
                raise self._tag_error(node)
            return self.scalar(node)
        if id(node) in self.active:
            raise self.error(node, "an alias refers to a value that contains it")
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode) and node.tag == f"{_STD}seq":
                return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
            if isinstance(node, MappingNode) and node.tag == f"{_STD}map":
                return self.mapping(node, path)
            raise self._tag_error(node)
        finally:
            self.active.discard(id(node))

    def scalar(self, node: ScalarNode) -> Any:
        try:
            return _scalar(node)
        except ScalarError as exc:
            raise self.error(node, f"this value {exc}; correct it, or quote it (with no "
                                   "tag) to keep it as text") from None

    def _tag_error(self, node: Node) -> SpecError:
        return self.error(node, f"tags are not allowed (found '{_short_tag(node.tag)}'): "
                                "a pipeline file never runs code")

    def key(self, node: Node) -> Any:
        if not isinstance(node, ScalarNode) or node.tag == _MERGE:
            raise self.error(node, "a mapping key must be a plain value (a name or a number)")
        if node.tag not in _CONSTRUCT:
            raise self._tag_error(node)
        return self.scalar(node)

    def mapping(self, node: MappingNode, path: Path) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        merges = [value for key, value in node.value if key.tag == _MERGE]
        for source in reversed(merges):  # `<<: [*a, *b]`: a's keys win over b's
            sources = source.value if isinstance(source, SequenceNode) else [source]
            for each in reversed(sources):
                if not isinstance(each, MappingNode):
                    raise self.error(each, "'<<' merges mappings only")
                out.update(self.value(each, path))
        self.doc.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self.key(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise self.error(key_node, f"duplicate key '{key}' (lines {seen[key]} and "
                                           f"{line}): each key may appear once")
            seen[key] = line
            self.doc.keys[(*path, key)] = (line, key_node.start_mark.column + 1)
            out[key] = self.value(value_node, (*path, key))
        return out

