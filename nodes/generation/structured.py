"""Structured output: a JSON Schema (or a Pydantic model class) the answer must follow.

The schema goes to the server (`response_format` / `format`), and the reply is checked
here: a Pydantic model validates it itself; a schema from YAML is checked by `check`, a
validator of the subset that structured-output servers accept (type, properties, required,
additionalProperties, items, enum, const, anyOf, $ref to #/$defs). A keyword outside that
subset is refused when the node is built, so a schema is never half-checked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["Schema", "SchemaMismatch"]

_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "format",
                          "$schema", "$id", "$comment", "strict"})
_CHECKED = frozenset({"type", "properties", "required", "additionalProperties", "items",
                      "enum", "const", "anyOf", "$ref", "$defs", "definitions",
                      "minimum", "maximum", "minLength", "maxLength", "minItems",
                      "maxItems"})
_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
_BOUNDS = {"minimum": (lambda v: v, ">="), "maximum": (lambda v: v, "<="),
           "minLength": (len, ">="), "maxLength": (len, "<="),
           "minItems": (len, ">="), "maxItems": (len, "<=")}


class SchemaMismatch(ValueError):
    """A reply that is not JSON, or does not follow the schema."""


class Schema:
    """A JSON Schema for a reply: `json` is what the server gets, `parse(text)` the checked
    object, `properties` the top-level property names (the node's extra output ports)."""

    def __init__(self, schema: Any) -> None:
        self.model = schema if _is_model(schema) else None
        if self.model is not None:
            self.json: dict[str, Any] = self.model.model_json_schema()
        elif isinstance(schema, Mapping):
            self.json = json.loads(json.dumps(schema))  # plain data, a copy
            _refuse_unknown(self.json, "schema")
        else:
            raise TypeError("schema must be a JSON Schema (a mapping) or a Pydantic model "
                            f"class, not {type(schema).__name__}")
        if self.json.get("type") != "object" or not isinstance(
                self.json.get("properties"), Mapping):
            raise ValueError("schema: the top level must be {type: object, properties: "
                             "{...}}: its properties become the node's outputs")
        self.properties = tuple(self.json["properties"])

    def parse(self, text: str) -> dict[str, Any]:
        """The reply's object; a SchemaMismatch saying where it does not follow the schema."""
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise SchemaMismatch(f"the reply is not JSON ({exc}): {text[:80]!r}") from None
        if self.model is not None:
            from pydantic import ValidationError

            try:
                return self.model.model_validate(value).model_dump(mode="json")
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "the reply"
                raise SchemaMismatch(f"{where}: {first['msg']}") from None
        _check(value, self.json, "the reply", self.json)
        return value


def _is_model(schema: Any) -> bool:
    return isinstance(schema, type) and callable(getattr(schema, "model_json_schema", None))


def _refuse_unknown(schema: Any, where: str) -> None:
    """A ValueError for a keyword the validator does not check."""
    if not isinstance(schema, Mapping):
        if isinstance(schema, bool):
            return
        raise ValueError(f"{where} must be a mapping, not {schema!r}")
    for key, value in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key not in _CHECKED:
            raise ValueError(f"{where}: keyword '{key}' is not supported (supported: "
                             f"{', '.join(sorted(_CHECKED))})")
        if key in ("properties", "$defs", "definitions"):
            for name, sub in value.items():
                _refuse_unknown(sub, f"{where}.{key}.{name}")
        elif key in ("items", "additionalProperties"):
            _refuse_unknown(value, f"{where}.{key}")
        elif key == "anyOf":
            for i, sub in enumerate(value):
                _refuse_unknown(sub, f"{where}.anyOf[{i}]")


def _check(value: Any, schema: Any, where: str, root: Mapping[str, Any]) -> None:
    """Raise a SchemaMismatch naming `where` if `value` does not follow `schema`."""
    if schema is True or schema == {}:
        return
    if schema is False:
        raise SchemaMismatch(f"{where} is not allowed")
    if "$ref" in schema:
        ref = schema["$ref"]
        _, _, name = ref.rpartition("/")
        target = (root.get("$defs") or root.get("definitions") or {}).get(name)
        if not ref.startswith("#/") or target is None:
            raise SchemaMismatch(f"{where}: cannot resolve $ref {ref!r}")
        _check(value, target, where, root)
    if "anyOf" in schema:
        for sub in schema["anyOf"]:
            try:
                _check(value, sub, where, root)
                break
            except SchemaMismatch:
                continue
        else:
            raise SchemaMismatch(f"{where} matches none of anyOf")
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        if not any(_TYPES[kind](value) for kind in kinds if kind in _TYPES):
            raise SchemaMismatch(f"{where} must be {' or '.join(kinds)}, not "
                                 f"{json.dumps(value)[:40]}")
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaMismatch(f"{where} must be one of {schema['enum']}, not {value!r}")
    if "const" in schema and value != schema["const"]:
        raise SchemaMismatch(f"{where} must be {schema['const']!r}, not {value!r}")
    for key, (measure, op) in _BOUNDS.items():
        if key in schema and _measurable(value, key):
            got, bound = measure(value), schema[key]
            if not (got >= bound if op == ">=" else got <= bound):
                raise SchemaMismatch(f"{where}: {key} is {bound}, got {got}")
    if isinstance(value, dict):
        _check_object(value, schema, where, root)
    if isinstance(value, list) and isinstance(schema.get("items"), (Mapping, bool)):
        for i, item in enumerate(value):
            _check(item, schema["items"], f"{where}[{i}]", root)


def _measurable(value: Any, key: str) -> bool:
    if key in ("minimum", "maximum"):
        return _TYPES["number"](value)
    return isinstance(value, str) if key.endswith("Length") else isinstance(value, list)


def _check_object(value: dict[str, Any], schema: Mapping[str, Any], where: str,
                  root: Mapping[str, Any]) -> None:
    properties = schema.get("properties") or {}
    for name in schema.get("required") or ():
        if name not in value:
            raise SchemaMismatch(f"{where}: missing required property '{name}'")
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            _check(item, properties[name], f"{where}.{name}", root)
        elif extra is False:
            raise SchemaMismatch(f"{where}: unexpected property '{name}'")
        elif isinstance(extra, Mapping):
            _check(item, extra, f"{where}.{name}", root)
