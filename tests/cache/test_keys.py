"""Cache keys and the value codec: canonical, distinct where values differ, stable through
the cache (a value read back hashes like the fresh one)."""

from __future__ import annotations

import contextlib
import dataclasses
import struct
import threading
import zlib
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from llmkit.cache import keys
from llmkit.cache.codec import CodecError, decode, encode, register_dataclass
from llmkit.cache.keys import KEY_FORMAT_VERSION, UnhashableError, hash_value, item_key
from llmkit.errors import LlmkitError


@register_dataclass
@dataclasses.dataclass(frozen=True)
class Hit:
    doc: str
    score: float


@dataclasses.dataclass
class Unregistered:
    doc: str


@dataclasses.dataclass(frozen=True)
class LookAlike:  # same fields as Hit, another class
    doc: str
    score: float


class Index:
    """A resource whose cache identity is its content version, not its secret."""

    def __init__(self, version: int, api_key: str) -> None:
        self.version, self.api_key = version, api_key

    def llmkit_fingerprint(self) -> dict[str, Any]:
        return {"version": self.version}


# -- strategies ---------------------------------------------------------------------------

_dtypes = st.sampled_from(["<f4", "<f8", "<i8", "|u1", "|b1", ">i4", "<U3", "<M8[s]"]).map(
    np.dtype
)
arrays = _dtypes.flatmap(
    lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
)
numpy_scalars = st.one_of(
    st.floats(width=32).map(np.float32),
    st.integers(-(2**63), 2**63 - 1).map(np.int64),
    st.booleans().map(np.bool_),
    st.text(max_size=3).map(np.str_),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.text(),
    st.binary(),
)
dict_keys = st.one_of(st.text(max_size=5), st.integers(-5, 5), st.binary(max_size=3))
values = st.recursive(
    st.one_of(scalars, arrays, numpy_scalars, st.builds(Hit, st.text(), st.floats())),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(dict_keys, inner, max_size=4),
    ),
    max_leaves=12,
)


def normal(value: Any) -> Any:
    """A comparable form: tuples as lists, exact float bits, arrays and numpy scalars as
    (dtype, shape, bytes), dicts as their ordered items."""
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, np.generic):
        return ("scalar", type(value), value.dtype.str, value.tobytes())
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    if isinstance(value, (list, tuple)):
        return [normal(v) for v in value]
    if isinstance(value, dict):
        return ("dict", [(normal(k), normal(v)) for k, v in value.items()])
    if dataclasses.is_dataclass(value):
        return (type(value), normal(dataclasses.astuple(value)))
    return (type(value), value)


# -- hash_value ---------------------------------------------------------------------------

@given(st.dictionaries(dict_keys, values, min_size=2, max_size=6))
@settings(max_examples=50)
def test_dict_order_does_not_change_the_hash(d):
    assert hash_value(d) == hash_value(dict(reversed(list(d.items()))))
    reordered = dict(reversed(list(d.items())))
    assert hash_value({"outer": d, "n": 1}) == hash_value({"n": 1, "outer": reordered})


def test_mixed_key_types_sort_without_error():
    assert hash_value({1: "a", "1": "b", b"1": "c", None: 0}) == hash_value(
        {None: 0, b"1": "c", "1": "b", 1: "a"}
    )


@given(st.lists(values, max_size=5))
@settings(max_examples=50)
def test_list_and_tuple_hash_the_same(items):
    assert hash_value(items) == hash_value(tuple(items))
    assert hash_value({"x": [items, 1]}) == hash_value({"x": (tuple(items), 1)})


def test_values_of_different_types_hash_differently():
    distinct = [1, 1.0, True, "1", b"1", None, 0, 0.0, -0.0, False, "", b"", [], {}, set(),
                np.int64(1), np.float64(1.0), np.array([1]), 2**64, 1 + 0j]
    assert len({hash_value(v) for v in distinct}) == len(distinct)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (["ab", "c"], ["a", "bc"]),
        ([b"ab", b"c"], [b"a", b"bc"]),
        ([[1], [2]], [[1, 2]]),
        ([[], [1]], [[1], []]),
        ({"a": "bc"}, {"ab": "c"}),
        ({"a": 1, "b": 2}, {"a": 2, "b": 1}),
        ({"a": [1]}, [("a", [1])]),
    ],
)
def test_boundaries_between_parts_are_part_of_the_hash(a, b):
    assert hash_value(a) != hash_value(b)


def test_same_bytes_with_another_dtype_or_shape_hash_differently():
    a = np.arange(6, dtype=np.int32)
    variants = [a, a.view(np.float32), a.reshape(2, 3), a.reshape(3, 2), a.astype(">i4"),
                a.view(np.uint8)]
    assert len({hash_value(v) for v in variants}) == len(variants)


def test_array_layout_does_not_change_the_hash():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert hash_value(a.T) == hash_value(np.ascontiguousarray(a.T))
    assert hash_value(np.asfortranarray(a)) == hash_value(a)
    assert hash_value(a[:, ::2]) == hash_value(a[:, ::2].copy())


def test_numpy_scalar_hashes_like_its_zero_d_array_not_like_python():
    assert hash_value(np.float32(1.5)) == hash_value(np.array(1.5, dtype=np.float32))
    assert hash_value(np.str_("ab")) == hash_value(np.array("ab"))
    assert hash_value(np.float64(1.5)) != hash_value(1.5)
    assert hash_value(np.float32(1.5)) != hash_value(np.float64(1.5))


def test_arrays_without_buffer_format_hash_by_their_bytes():
    days = np.array(["2024-01-01", "2024-01-02"], dtype="M8[D]")
    assert hash_value(days) == hash_value(days.copy())
    assert hash_value(days) != hash_value(days[::-1])


def test_dataclass_hashes_by_class_and_fields():
    assert hash_value(Hit("a", 0.5)) == hash_value(Hit("a", 0.5))
    assert hash_value(Hit("a", 0.5)) != hash_value(Hit("a", 0.25))
    assert hash_value(Hit("a", 0.5)) != hash_value(LookAlike("a", 0.5))


def test_sets_hash_as_sorted_element_hashes():
    assert hash_value({3, 1, 2}) == hash_value(frozenset([1, 2, 3]))
    assert hash_value({1, 2}) != hash_value([1, 2])
    assert hash_value({"a", 1}) == hash_value({1, "a"})


def test_equal_sets_iterated_in_different_orders_hash_alike():
    # 1, 9 and 17 share a slot of an 8-slot set table, so the insertion order decides the
    # iteration order, whatever PYTHONHASHSEED is (ints hash to themselves).
    forward, backward = set(), set()
    for x in (1, 9, 17):
        forward.add(x)
    for x in (17, 9, 1):
        backward.add(x)
    assert list(forward) != list(backward)  # the premise of this test
    assert hash_value(forward) == hash_value(backward)
    assert hash_value(frozenset(forward)) == hash_value(frozenset(backward))
    assert hash_value({"s": forward}) == hash_value({"s": backward})


def test_resource_hashes_by_its_fingerprint_method():
    assert hash_value(Index(3, api_key="sk-one")) == hash_value(Index(3, api_key="sk-two"))
    assert hash_value(Index(3, "k")) != hash_value(Index(4, "k"))
    assert hash_value(Index(3, "k")) != hash_value({"version": 3})


@pytest.mark.parametrize("value", [object(), np.array([object()]), [1, {"x": lambda: 0}],
                                   np.ma.array([1, 2], mask=[0, 1])])
def test_unhashable_values_raise_a_helpful_error(value):
    with pytest.raises(UnhashableError) as info:
        hash_value(value)
    assert isinstance(info.value, TypeError)
    assert isinstance(info.value, LlmkitError)


def test_unhashable_error_names_the_type_and_the_remedy():
    class Client:
        pass

    with pytest.raises(UnhashableError, match=r"Client.*llmkit_fingerprint"):
        hash_value({"client": Client()})


def test_big_ints_hash_distinctly():
    assert hash_value(2**64) != hash_value(2**64 + 1)
    assert hash_value(-(2**70)) != hash_value(2**70)


# -- item_key -----------------------------------------------------------------------------

FP = hash_value("embed:v1")
INPUTS = {"text": hash_value("hello"), "lang": hash_value("en")}


def test_item_key_is_16_bytes_and_ignores_mapping_order():
    key = item_key(FP, INPUTS)
    assert len(key) == 16
    assert key == item_key(FP, dict(reversed(list(INPUTS.items()))))


@pytest.mark.parametrize(
    ("fingerprint", "inputs"),
    [
        (hash_value("embed:v2"), INPUTS),
        (FP, {**INPUTS, "text": hash_value("hello!")}),
        (FP, {**INPUTS, "lang": hash_value("fr")}),
        (FP, {"body": INPUTS["text"], "lang": INPUTS["lang"]}),
        (FP, {"text": INPUTS["text"]}),
        (FP, {**INPUTS, "extra": hash_value(None)}),
        (FP, {"text": INPUTS["lang"], "lang": INPUTS["text"]}),
    ],
)
def test_item_key_changes_with_fingerprint_input_hash_or_port(fingerprint, inputs):
    assert item_key(fingerprint, inputs) != item_key(FP, INPUTS)


def test_item_key_changes_with_the_format_version(monkeypatch):
    before = item_key(FP, INPUTS)
    monkeypatch.setattr(keys, "KEY_FORMAT_VERSION", KEY_FORMAT_VERSION + 1)
    assert item_key(FP, INPUTS) != before


def test_item_key_differs_from_a_value_hash_of_the_same_bytes():
    assert item_key(FP, {}) != hash_value(FP)


# -- codec --------------------------------------------------------------------------------

@given(values)
@settings(max_examples=150, deadline=None)
def test_codec_roundtrip_keeps_value_and_hash(value):
    back = decode(encode(value))
    assert hash_value(back) == hash_value(value)
    assert normal(back) == normal(value)


def test_dicts_keep_insertion_order_and_tuple_keys():
    value = {"b": 1, "a": 2, (1, (2, 3)): "t"}
    back = decode(encode(value))
    assert list(back) == ["b", "a", (1, (2, 3))]
    assert back == value


def test_decoded_arrays_are_writable_and_c_contiguous():
    back = decode(encode(np.arange(6, dtype=np.float32).reshape(2, 3).T))
    assert back.flags.writeable and back.flags.c_contiguous
    back[0, 0] = 1.0


@pytest.mark.parametrize("value", [np.str_("0\x00"), np.str_(""), np.str_("\x00"),
                                   np.bytes_(b"a\x00"), np.bytes_(b"")])
def test_numpy_text_scalars_keep_trailing_nuls(value):
    # found by hypothesis: read back through a 0-d array, np.str_('0\x00') became '0'
    back = decode(encode(value))
    assert normal(back) == normal(value) and hash_value(back) == hash_value(value)


def test_numpy_scalars_decode_as_numpy_scalars():
    for value in (np.float32(1.5), np.float64(2.5), np.int8(-3), np.bool_(True), np.str_("x")):
        back = decode(encode(value))
        assert type(back) is type(value) and back == value


@pytest.mark.parametrize("value", [{1, 2}, object(), 2**64, np.array([None]),
                                   Unregistered("x"), Index(1, "k"),
                                   np.zeros(2, dtype=[("a", "<i4")])])
def test_unencodable_values_raise_codec_error(value):
    with pytest.raises(CodecError):
        encode(value)


def test_decoding_never_constructs_an_unregistered_class(monkeypatch):
    blob = encode(Hit("a", 1.0))
    monkeypatch.setattr("llmkit.cache.codec._classes", {})
    with pytest.raises(CodecError, match="not registered"):
        decode(blob)


@given(values)
@settings(max_examples=50, deadline=None)
def test_truncated_blobs_raise_codec_error(value):
    blob = encode(value)
    for end in range(len(blob) - 1, -1, -max(1, len(blob) // 7)):
        with pytest.raises(CodecError):
            decode(blob[:end])


@given(st.binary(max_size=64))
@settings(max_examples=300)
def test_garbage_with_a_valid_checksum_decodes_or_raises_codec_error_only(body):
    # the checksum is right, so this exercises the msgpack and ext-type parsers
    with contextlib.suppress(CodecError):
        decode(body + struct.pack("<I", zlib.crc32(body)))


@given(values, st.data())
@settings(max_examples=50, deadline=None)
def test_any_damaged_byte_is_detected(value, data):
    blob = bytearray(encode(value))
    i = data.draw(st.integers(0, len(blob) - 1))
    blob[i] ^= data.draw(st.integers(1, 255))
    with pytest.raises(CodecError):
        decode(bytes(blob))


@pytest.mark.parametrize(
    "body",
    [
        b"\xc7\x03\x01\x02<i",  # array ext cut inside the dtype name
        b"\xc7\x05\x01\x03<i8\x01",  # array ext cut inside the shape
        b"\xc7\x0d\x01\x03<i8\x01\x02\x00\x00\x00\x00\x00\x00\x00",  # shape 2, no data
        b"\xc7\x05\x01\x03|O8\x00",  # object dtype
        b"\xc7\x01\x63\x00",  # unknown ext code
        b"\xc7\x02\x03\x91\xa1",  # dataclass ext with a broken payload
    ],
)
def test_malformed_ext_payloads_raise_codec_error(body):
    with pytest.raises(CodecError):
        decode(body + struct.pack("<I", zlib.crc32(body)))


def test_encode_is_safe_from_many_threads():
    inputs = [{"i": i, "v": np.full(50, i, dtype=np.float32), "t": (i, str(i))} for i in range(8)]
    expected = [encode(v) for v in inputs]
    results: dict[int, list[bytes]] = {}

    def work(i: int) -> None:
        results[i] = [encode(inputs[i]) for _ in range(300)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[i] == [expected[i]] * 300 for i in range(8))


def test_keys_are_stable_across_releases_unless_format_version_changes():
    # Caches on disk outlive a release: an encoding change that keeps KEY_FORMAT_VERSION would
    # silently mix old and new entries. Change these digests only with KEY_FORMAT_VERSION.
    value = {"s": "é", "b": b"x", "i": [1, -(2**70), 2.5, 1j, True, None], "t": (1,),
             "set": {3, 1}, "a": np.arange(3, dtype="<i4"), "n": np.float32(1.5),
             "h": Hit("d", 0.5), 7: "int key"}
    assert KEY_FORMAT_VERSION == 1
    assert hash_value(value).hex() == "e8f01baee3cfdde556903210ffc3c311"
    assert item_key(FP, INPUTS).hex() == "9051130888c532164693e84a6cb9fa83"


def test_strings_with_lone_surrogates_hash_distinctly():
    # Lone surrogates reach nodes from JSON input ("\ud800"); hashing them must not fail.
    assert hash_value("\ud800") != hash_value("\ud801")
    assert hash_value("\ud800") != hash_value("")
