"""Cache values as bytes: msgpack, with ext types for numpy and registered dataclasses.

What comes back from `decode(encode(v))`:

- equal to `v`, and hashing like it (`keys.hash_value`), for None, bool, int (64-bit), float,
  str, bytes, lists, dicts (insertion order kept), numpy arrays and scalars, and instances of
  dataclasses registered with `register_dataclass`;
- except that tuples come back as lists (they hash the same), bytearray and memoryview as
  bytes, subclasses of str/int/float/list/dict as the base type, and a numpy array as a
  fresh, writable, C-contiguous copy (copying a 384-float vector costs ~0.2 µs).

Anything else (sets, objects, object or structured arrays, ints beyond 64 bits) raises
`CodecError` on encode. Decoding never imports or runs code found in the data: a dataclass is
looked up by its registered name.

The bytes are the msgpack encoding followed by its CRC-32 (4 bytes, little-endian), so damage
anywhere in a stored entry (a torn write, a flipped bit) is detected, not decoded into a wrong
value. Damaged, truncated or garbage bytes raise `CodecError`, never another exception, so a
caller can treat any bad entry as a miss.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import struct
import threading
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

import msgpack
import numpy as np

from llmkit.errors import LlmkitError

__all__ = ["CodecError", "decode", "encode", "register_dataclass"]

_ARRAY, _SCALAR, _DATACLASS, _NUMPY_TEXT = 1, 2, 3, 4  # msgpack ext type codes
_CRC = struct.Struct("<I")

T = TypeVar("T", bound=type)

# tuples and subclasses of native types, turned into the plain type (ignoring overrides)
_PLAIN: tuple[tuple[type, Callable[[Any], Any]], ...] = (
    (tuple, list), (list, list), (dict, dict), (str, str.__str__),
    (bytes, lambda b: bytes(memoryview(b))), (int, int.__int__), (float, float.__float__),
)
_classes: dict[str, type] = {}  # registered name -> dataclass
_names: dict[type, str] = {}  # dataclass -> registered name
_local = threading.local()  # one reusable Packer per thread (Packers are not thread-safe)


class CodecError(LlmkitError, ValueError):
    """A value cannot be encoded for the cache, or cached bytes cannot be decoded."""


def register_dataclass(cls: T, name: str | None = None) -> T:
    """Allow instances of dataclass `cls` in cached values, stored under `name` (default:
    `module.QualName`). Usable as a decorator. A later registration of a name replaces the
    earlier one (a reloaded module)."""
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"register_dataclass expects a dataclass, got {cls!r}")
    name = name or f"{cls.__module__}.{cls.__qualname__}"
    _classes[name] = cls
    _names[cls] = name
    return cls


def encode(value: object) -> bytes:
    """The msgpack bytes of `value`; `CodecError` when a part of it is not encodable."""
    packer = getattr(_local, "packer", None)
    if packer is None:
        packer = _local.packer = _packer()
    try:
        body: bytes = packer.pack(value)
    except CodecError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise CodecError(f"cannot encode a cache value: {exc}") from exc
    return body + _CRC.pack(zlib.crc32(body))


def decode(data: bytes) -> Any:
    """The value encoded in `data`; `CodecError` when the bytes are damaged or foreign."""
    try:
        view = memoryview(data)
        body = view[:-4]
        if len(view) < 4 or zlib.crc32(body) != _CRC.unpack_from(view, len(body))[0]:
            raise CodecError(f"damaged cache value ({len(view)} bytes): checksum mismatch")
        try:
            return _unpack(body)
        except TypeError:  # a tuple used as a dict key came back as an (unhashable) list
            return _unpack(body, object_pairs_hook=_dict_with_tuple_keys)
    except CodecError:
        raise
    except Exception as exc:
        raise CodecError(f"cannot decode a cache value: {exc!r}") from exc


def _packer() -> msgpack.Packer:
    # strict_types: subclasses (np.float64 is a float, np.str_ a str, tuple) go to _default
    return msgpack.Packer(default=_default, strict_types=True, use_bin_type=True)


def _unpack(data: bytes | memoryview, **options: Any) -> Any:
    return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False, **options)


def _default(obj: Any) -> Any:
    """Turn what msgpack does not pack natively into something it does."""
    if isinstance(obj, np.ndarray) and not isinstance(obj, np.ma.MaskedArray):
        return msgpack.ExtType(_ARRAY, _array_bytes(obj))
    if isinstance(obj, np.str_ | np.bytes_):
        # exact text: through an array, trailing NULs are lost ('' and '\x00' look alike)
        exact = str.__str__(obj) if isinstance(obj, str) else bytes(obj)  # str() drops NULs
        return msgpack.ExtType(_NUMPY_TEXT, _packer().pack(exact))
    if isinstance(obj, np.generic):
        return msgpack.ExtType(_SCALAR, _array_bytes(np.asarray(obj)))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        name = _names.get(type(obj))
        if name is None:
            raise CodecError(
                f"cannot encode a {type(obj).__qualname__} for the cache: register it with "
                "llmkit.cache.register_dataclass"
            )
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        return msgpack.ExtType(_DATACLASS, _packer().pack([name, fields]))
    for base, plain in _PLAIN:
        if isinstance(obj, base):
            return plain(obj)
    raise CodecError(
        f"cannot encode a value of type {type(obj).__module__}.{type(obj).__qualname__} for "
        "the cache: use plain data, numpy arrays or a registered dataclass"
    )


def _array_bytes(arr: np.ndarray) -> bytes:
    return _array_head(arr.dtype, arr.shape) + arr.tobytes()  # tobytes() is C order


@functools.lru_cache(maxsize=1024)
def _array_head(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """dtype name and shape before an array's bytes (cached: vectors share their shape)."""
    if dtype.hasobject or dtype.fields is not None:
        raise CodecError(f"cannot encode a numpy array of dtype {dtype} for the cache")
    name = dtype.str.encode()
    return struct.pack(f"<B{len(name)}sB{len(shape)}Q", len(name), name, len(shape), *shape)


@functools.lru_cache(maxsize=256)
def _dtype(name: bytes) -> np.dtype:
    dtype = np.dtype(name.decode("ascii"))
    if dtype.hasobject or dtype.fields is not None:
        raise CodecError(f"refusing to decode a numpy array of dtype {dtype}")
    return dtype


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _ARRAY:
        return _array_from(data)
    if code == _SCALAR:
        return _array_from(data)[()]
    if code == _NUMPY_TEXT:
        text = _unpack(data)
        return np.str_(text) if isinstance(text, str) else np.bytes_(text)
    if code == _DATACLASS:
        return _dataclass_from(data)
    raise CodecError(f"unknown msgpack ext type {code}")


def _array_from(data: bytes) -> np.ndarray:
    shape_at = 1 + data[0]
    dtype = _dtype(data[1:shape_at])
    ndim = data[shape_at]
    shape = struct.unpack_from(f"<{ndim}Q", data, shape_at + 1)
    offset = shape_at + 1 + 8 * ndim
    count = math.prod(shape)
    if len(data) - offset != count * dtype.itemsize:
        raise CodecError(f"numpy array data has {len(data) - offset} bytes, expected "
                         f"{count * dtype.itemsize} for {dtype} {shape}")
    flat = np.frombuffer(data, dtype, count, offset)
    return (flat if ndim == 1 else flat.reshape(shape)).copy()


def _dataclass_from(data: bytes) -> Any:
    name, fields = _unpack(data)
    cls = _classes.get(name)
    if cls is None:
        raise CodecError(f"dataclass {name!r} is not registered in this process")
    init = {f.name for f in dataclasses.fields(cls) if f.init}
    obj = cls(**{k: v for k, v in fields.items() if k in init})
    for key, value in fields.items():
        if key not in init:
            object.__setattr__(obj, key, value)  # restore fields set outside __init__
    return obj


def _dict_with_tuple_keys(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    return {_tuple_key(k): v for k, v in pairs}


def _tuple_key(key: Any) -> Any:
    return tuple(_tuple_key(k) for k in key) if isinstance(key, list) else key

