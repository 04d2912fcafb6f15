"""Cache keys: a 16-byte BLAKE2b hash of a value's canonical encoding, and item keys.

The canonical encoding is a type-tagged, length-prefixed byte stream fed straight into the
hasher (nothing is built in memory but dict keys). Its rules:

- every value starts with a one-byte type tag, so `1`, `1.0`, `True`, `"1"`, `b"1"` and `None`
  differ; strings, bytes and containers carry their length, so `["ab", "c"] != ["a", "bc"]`;
- list and tuple are both "sequence" (msgpack gives lists back, and a value read from the
  cache must hash like the fresh one); sets hash as their sorted element hashes;
- dict entries are sorted by the canonical encoding of their key, so insertion order and
  mixed key types do not matter;
- a numpy array is its dtype string, shape and C-order bytes; a numpy scalar hashes like the
  0-d array of its dtype; a dataclass is its qualified class name and fields;
- an object with a `llmkit_fingerprint()` method is its class name and the hash of what the
  method returns (how a vector index or a model client states its content version).

Anything else raises `UnhashableError`. `hash_function` identifies a function (a `@node`'s
body) by its code and the values it reads. `item_key` combines a node fingerprint with the hashes
of an item's inputs, so downstream keys chain on upstream value hashes without re-hashing.
"""

from __future__ import annotations

import dataclasses
import functools
import struct
import threading
import types
from collections.abc import Mapping
from hashlib import blake2b
from operator import itemgetter
from typing import Any, Protocol

import numpy as np

from llmkit.errors import LlmkitError
from llmkit.secrets import without_secrets

__all__ = ["KEY_FORMAT_VERSION", "UnhashableError", "hash_function", "hash_value", "item_key"]

KEY_FORMAT_VERSION = 1
"""Bump to invalidate every cache key (when the encoding or the key layout changes)."""

_DIGEST = 16
_ITEM_PERSON = b"llmkit-item"  # separates item keys from value hashes
_HEAD = struct.Struct("<cQ").pack  # tag + length or count
_INT = struct.Struct("<cq").pack
_FLOAT = struct.Struct("<cd").pack
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class UnhashableError(LlmkitError, TypeError):
    """A value has no canonical encoding, so no cache key can be computed for it."""


class _Sink(Protocol):
    def update(self, data: Any, /) -> None: ...


class _Buffer(bytearray):
    """A sink that collects an encoding (for sorting dict keys) instead of hashing it."""

    update = bytearray.extend


def hash_value(value: object) -> bytes:
    """The 16-byte BLAKE2b hash of `value`'s canonical encoding (see the module docstring)."""
    h = blake2b(digest_size=_DIGEST)
    _feed(value, h)
    return h.digest()


def item_key(fingerprint: bytes, input_hashes: Mapping[str, bytes]) -> bytes:
    """The 16-byte key of one item at one node: format version, node fingerprint, and the
    (port name, value hash) pairs sorted by port."""
    h = blake2b(digest_size=_DIGEST, person=_ITEM_PERSON)
    h.update(_HEAD(b"v", KEY_FORMAT_VERSION))
    h.update(_HEAD(b"n", len(fingerprint)))
    h.update(fingerprint)
    h.update(_HEAD(b"p", len(input_hashes)))
    for port, value_hash in sorted(input_hashes.items()):
        name = port.encode()
        h.update(_HEAD(b"s", len(name)) + name + _HEAD(b"h", len(value_hash)) + value_hash)
    return h.digest()


_CONSTANT = (str, bytes, int, float, complex, type(None))  # globals a function's hash includes
_NAMED = (type, types.BuiltinFunctionType, types.MethodDescriptorType)  # count by name
_in_progress = threading.local()  # functions being hashed on this thread (recursion guard)


def hash_function(fn: types.FunctionType) -> bytes:
    """The 16-byte hash of what `fn` computes: its qualified name, its code (nested functions
    and attribute names included), its default arguments, the values of its closure cells,
    and the module globals it reads that are plain constants (str, bytes, numbers, None).

    Functions among those values hash the same way; modules, classes and builtins count by
    name; other globals (helper functions, objects) are left out, and so are secret-named
    variables (`api_key`), as in node params. A value with no canonical encoding raises
    `UnhashableError` naming it.
    """
    active: set[int] = _in_progress.__dict__.setdefault("ids", set())
    h = blake2b(digest_size=_DIGEST)
    h.update(_str_encoding(f"{fn.__module__}:{fn.__qualname__}"))
    if id(fn) in active:  # a recursive closure: the name stands for the function
        return h.digest()
    active.add(id(fn))
    try:
        code = fn.__code__
        names = _feed_code(code, h)
        defaults = fn.__defaults__ or ()
        positional = code.co_varnames[:code.co_argcount]
        parts = {
            "default": dict(zip(positional[len(positional) - len(defaults):], defaults,
                                strict=True)),
            "keyword default": fn.__kwdefaults__ or {},
            "closure variable": dict(zip(code.co_freevars, _cell_values(fn.__closure__ or ()),
                                         strict=True)),
        }
        for kind, values in parts.items():
            values = without_secrets(values)
            h.update(_HEAD(b"d", len(values)))
            for name, value in values.items():
                h.update(_str_encoding(name) + _read_value(fn, kind, name, value))
        scope = fn.__globals__
        _feed(without_secrets({name: scope[name] for name in names
                               if name in scope and isinstance(scope[name], _CONSTANT)}), h)
    finally:
        active.discard(id(fn))
    return h.digest()


_EMPTY_CELL = object()  # a closure variable not assigned yet


def _cell_values(cells: tuple[types.CellType, ...]) -> list[Any]:
    values: list[Any] = []
    for cell in cells:
        try:
            values.append(cell.cell_contents)
        except ValueError:
            values.append(_EMPTY_CELL)
    return values


def _read_value(fn: types.FunctionType, kind: str, name: str, value: object) -> bytes:
    """The hash of a value `fn` reads (a default or a closure cell), for `hash_function`."""
    if isinstance(value, types.FunctionType):
        return hash_function(value)
    if isinstance(value, types.ModuleType):
        return hash_value(("module", value.__name__))
    if isinstance(value, _NAMED):
        return hash_value(("named", value.__module__, value.__qualname__))
    if value is _EMPTY_CELL:
        return hash_value(("empty cell",))
    try:
        return hash_value(value)
    except UnhashableError as exc:
        raise UnhashableError(f"{kind} '{name}' of {fn.__qualname__}: {exc}") from None


def _feed_code(code: types.CodeType, h: _Sink) -> set[str]:
    """Feed a code object (bytecode, names, constants, nested code); return every name it
    and its nested code objects read (candidate globals)."""
    h.update(_HEAD(b"C", len(code.co_code)) + code.co_code)
    _feed((code.co_names, code.co_varnames, code.co_freevars), h)
    names = set(code.co_names)
    h.update(_HEAD(b"l", len(code.co_consts)))
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _feed_code(const, h)
        elif const is Ellipsis:
            h.update(b"...")
        else:
            _feed(const, h)
    return names


def _type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _str_encoding(value: str) -> bytes:
    data = value.encode("utf-8", "surrogatepass")
    return _HEAD(b"s", len(data)) + data


@functools.lru_cache(maxsize=1024)
def _array_key_head(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """Tag, dtype and shape of an array (cached: hashing many same-shaped vectors is the norm)."""
    if dtype.hasobject or dtype.fields is not None:
        raise UnhashableError(
            f"cannot compute a cache key for a numpy array of dtype {dtype}: only arrays of "
            "plain (non-object, non-structured) dtypes have a canonical encoding"
        )
    name = dtype.str.encode()
    return _HEAD(b"a", len(name)) + name + struct.pack(f"<B{len(shape)}Q", len(shape), *shape)


@functools.singledispatch
def _feed(value: object, h: _Sink) -> None:
    """Write the canonical encoding of `value` into `h` (one encoder per type)."""
    if callable(getattr(type(value), "llmkit_fingerprint", None)):  # on the class: no proxies
        h.update(b"R" + _str_encoding(_type_name(type(value))))
        h.update(hash_value(getattr(value, "llmkit_fingerprint")()))  # noqa: B009
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        h.update(_HEAD(b"D", len(fields)) + _str_encoding(_type_name(type(value))))
        for field in fields:
            h.update(_str_encoding(field.name))
            _feed(getattr(value, field.name), h)
    else:
        raise UnhashableError(
            f"cannot compute a cache key for a value of type {_type_name(type(value))}: "
            "give its class a method llmkit_fingerprint(self) returning plain data "
            "(str, numbers, lists, dicts) that identifies it, or turn the cache off for this node"
        )


@_feed.register(type(None))
def _feed_none(value: None, h: _Sink) -> None:
    h.update(b"N")


@_feed.register(bool)
def _feed_bool(value: bool, h: _Sink) -> None:
    h.update(b"T" if value else b"F")


@_feed.register(int)
def _feed_int(value: int, h: _Sink) -> None:
    if _INT64_MIN <= value <= _INT64_MAX:
        h.update(_INT(b"i", value))
    else:
        data = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
        h.update(_HEAD(b"I", len(data)) + data)


@_feed.register(float)
def _feed_float(value: float, h: _Sink) -> None:
    h.update(_FLOAT(b"f", value))


@_feed.register(complex)
def _feed_complex(value: complex, h: _Sink) -> None:
    h.update(_FLOAT(b"c", value.real) + struct.pack("<d", value.imag))


@_feed.register(str)
def _feed_str(value: str, h: _Sink) -> None:
    h.update(_str_encoding(value))


@_feed.register(bytes)
@_feed.register(bytearray)
@_feed.register(memoryview)
def _feed_bytes(value: bytes | bytearray | memoryview, h: _Sink) -> None:
    if isinstance(value, memoryview):
        value = value.tobytes()
    h.update(_HEAD(b"b", len(value)))
    h.update(value)


@_feed.register(list)
@_feed.register(tuple)
def _feed_sequence(value: list[Any] | tuple[Any, ...], h: _Sink) -> None:
    h.update(_HEAD(b"l", len(value)))
    for item in value:
        _feed(item, h)


@_feed.register(dict)
def _feed_dict(value: dict[Any, Any], h: _Sink) -> None:
    h.update(_HEAD(b"d", len(value)))
    entries = []
    for key, item in value.items():
        if type(key) is str:  # the common case, without the detour through a buffer
            entries.append((_str_encoding(key), item))
        else:
            buffer = _Buffer()
            _feed(key, buffer)
            entries.append((bytes(buffer), item))
    entries.sort(key=itemgetter(0))
    for encoded, item in entries:
        h.update(encoded)
        _feed(item, h)


@_feed.register(set)
@_feed.register(frozenset)
def _feed_set(value: set[Any] | frozenset[Any], h: _Sink) -> None:
    h.update(_HEAD(b"S", len(value)))
    h.update(b"".join(sorted(hash_value(item) for item in value)))


@_feed.register(np.ndarray)
def _feed_array(value: np.ndarray, h: _Sink) -> None:
    h.update(_array_key_head(value.dtype, value.shape))
    if not value.flags.c_contiguous:
        value = np.ascontiguousarray(value)
    try:
        h.update(value)  # the buffer itself: no copy
    except (ValueError, BufferError, TypeError):  # dtypes with no buffer format (datetime64)
        h.update(value.reshape(-1).view(np.uint8))


@_feed.register(np.ma.MaskedArray)
def _feed_masked(value: np.ma.MaskedArray, h: _Sink) -> None:
    raise UnhashableError(
        "cannot compute a cache key for a numpy masked array: pass .filled() or the data and "
        "the mask as two arrays"
    )


@_feed.register(np.generic)
@_feed.register(np.str_)  # np.str_ and np.bytes_ also subclass str and bytes: be explicit
@_feed.register(np.bytes_)
def _feed_numpy_scalar(value: np.generic, h: _Sink) -> None:
    _feed_array(np.asarray(value), h)
