"""An intake from a request body: read as its ``Content-Type`` says, with every hostile body refused cheaply.

``application/json`` is read as JSON and ``application/yaml`` as YAML (through the library's one safe YAML
loader); any other type, or none, is a 415. Before the intake model sees the data, its shape is held against the
intake's own JSON Schema: a list longer than the schema's ``maxItems`` for it, or an object with more fields than
the schema knows there, is refused naming that list or object. Without this, a 256 KiB body holding a
131,000-item list costs the validator a tenth of a second in one call that never releases the GIL, and a
12 MB list of problems after it. YAML is read up to :data:`MAX_YAML` bytes, and YAML with more collection
openers than the fast C parser takes is refused before it is parsed (no intake needs that many).

Everything here is plain CPU work; the routes run it in the worker's screening threads, off the event loop.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import orjson

from needlescreen import FieldProblem, Intake, IntakeError, parse_intake
from needlescreen import _yaml as safe_yaml
from needlescreen.screening import not_an_object, validate_json

__all__ = ["MAX_YAML", "MEDIA_TYPES", "UnsupportedMediaTypeError", "intake_schema", "read_intake"]

JSON = "application/json"
YAML = "application/yaml"
#: The request body types ``POST /screenings`` accepts.
MEDIA_TYPES = (JSON, YAML)
#: The largest YAML body read (about thirty times the largest example intake): YAML costs several times what JSON
#: costs to parse, and most of it while the GIL is held.
MAX_YAML = 64 * 1024


class UnsupportedMediaTypeError(Exception):
    """The body is not in a type the endpoint reads (answered 415)."""


def _media_type(header: str | None) -> str:
    if not header:
        raise UnsupportedMediaTypeError(
            "the request has no Content-Type: send the intake as application/json or application/yaml"
        )
    kind, *params = (p.strip() for p in header.split(";"))
    kind = kind.lower()
    if kind not in MEDIA_TYPES:
        raise UnsupportedMediaTypeError(
            f"Content-Type {kind!r} is not read here: send the intake as application/json or application/yaml"
        )
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise UnsupportedMediaTypeError(
                f"charset {value.strip()!r} is not read here: send the intake as UTF-8, application/json or "
                "application/yaml"
            )
    return kind


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid number")


def _invalid(message: str) -> IntakeError:
    return IntakeError([FieldProblem("", message)])


def _list_too_long(value: list[Any], items: int) -> bool:
    return len(value) > items or any(type(v) is list and _list_too_long(v, items) for v in value)


# Whether the body being parsed in this thread holds a list or object larger than the schema allows anywhere.
_parsing = threading.local()


def _pairs(found: list[tuple[str, Any]]) -> dict[str, Any]:
    items, fields = _largest()
    if len(found) > fields:
        _parsing.oversized = True
    out: dict[str, Any] = {}
    for key, value in found:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
        if type(value) is list and not _parsing.oversized and _list_too_long(value, items):
            _parsing.oversized = True
    return out


_QUICK_FROM = 16 * 1024
# One decoder for every body: making one per call (json.loads with hooks does) costs as much as parsing an intake.
_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_reject_constant)


def _load_json(text: str) -> tuple[Any, bool]:
    """The parsed JSON, and whether a list or object in it is larger than the schema allows anywhere.

    Duplicate keys and NaN/Infinity are refused as the library refuses them. Sizes are checked in the hook that
    sees every object as it is built, which costs next to nothing beside the parse itself.
    """
    if len(text) > _QUICK_FROM:
        # A large body is first parsed by orjson (ten times faster on a 131,000-item list, and holding the GIL that
        # much less): if it holds something too large it is refused on that parse; otherwise it is parsed again
        # below, where duplicate keys are found.
        try:
            quick = orjson.loads(text)
        except orjson.JSONDecodeError:
            quick = None  # the parse below says where
        if type(quick) is dict and not _within_largest(quick):
            return quick, True
    _parsing.oversized = False
    data = _DECODER.decode(text)
    return data, _parsing.oversized or (type(data) is list and _list_too_long(data, _largest()[0]))


def _too_many_openers(text: str) -> bool:
    """More collection openers than the safe loader's fast C parser takes (past it only its slow Python one is left).

    The same count the loader makes, stopped at the limit; skipped when even a count of the bare characters stays
    under it (a few string scans, against a regex match per opener).
    """
    limit = safe_yaml.C_PARSER_MAX_OPENERS
    if sum(text.count(c) for c in "[{-:?") <= limit:
        return False
    return sum(1 for _ in itertools.islice(safe_yaml._OPENERS.finditer(text), limit + 1)) > limit


def _load(text: str, kind: str) -> tuple[Any, bool]:
    """The parsed body, and whether a list or object in it is larger than the schema allows anywhere."""
    if not text.strip():
        raise _invalid("the body is empty: send one intake")
    try:
        if kind == JSON:
            try:
                return _load_json(text)
            except ValueError as exc:
                if text.lstrip()[:1] not in ("{", "[", '"'):
                    raise UnsupportedMediaTypeError(
                        "the body is not JSON although its Content-Type says application/json (YAML is sent as "
                        "application/yaml)"
                    ) from None
                raise _invalid(f"not valid JSON: {exc}") from None
        if len(text) > MAX_YAML:
            raise _invalid(f"a YAML intake may be at most {MAX_YAML} bytes (larger intakes are sent as JSON)")
        if _too_many_openers(text):
            raise _invalid(f"too complex: more than {safe_yaml.C_PARSER_MAX_OPENERS} lists and mappings")
        try:
            data = safe_yaml.load(text)
        except safe_yaml.YAMLError as exc:
            raise _invalid(f"not valid YAML: {safe_yaml.describe(exc)}") from None
    except RecursionError:
        raise _invalid("input is nested too deeply") from None
    return data, not _within_largest(data)


@lru_cache(maxsize=1)
def intake_schema() -> dict[str, Any]:
    """The intake's JSON Schema as the service publishes it (and holds bodies against).

    The model's own schema, plus what its validators check that JSON Schema can say: a site is placed by a region,
    a muscle or a nerve (at least one of them); a perineural site names its nerve; circuits only for electrical
    needling. What no schema can say is checked on receipt and answered 422 naming the field: names that must be
    in the vocabulary or the body model, unique site ids, circuits between planned sites.
    """
    schema = Intake.model_json_schema()
    defs = schema.get("$defs", {})

    def given(name: str) -> dict[str, Any]:
        return {"required": [name], "properties": {name: {"type": "string"}}}

    if "Site" in defs:
        defs["Site"]["anyOf"] = [given(name) for name in ("region", "muscle", "nerve")]
        defs["Site"]["if"] = {"required": ["technique"], "properties": {"technique": {"const": "perineural"}}}
        defs["Site"]["then"] = given("nerve")
    if "Plan" in defs:
        defs["Plan"]["if"] = {"required": ["circuits"], "properties": {"circuits": {"minItems": 1}}}
        defs["Plan"]["then"] = {"properties": {"technique": {"const": "electrical"}}}
    return schema


def _resolve(node: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref")
    return defs[ref.rsplit("/", 1)[-1]] if isinstance(ref, str) else node


def _branch(node: Mapping[str, Any], defs: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    """The part of a schema node that describes a value of JSON type ``kind`` (None: no such part)."""
    node = _resolve(node, defs)
    if node.get("type") == kind or (kind == "object" and "properties" in node):
        return node
    for option in node.get("anyOf", ()):
        found = _branch(option, defs, kind)
        if found is not None:
            return found
    return None


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _oversized(data: Any, node: Mapping[str, Any], defs: Mapping[str, Any], path: str, out: list[FieldProblem]) -> None:
    if isinstance(data, list):
        array = _branch(node, defs, "array")
        if array is None:
            return  # not a list here: the model names the type
        limit = array.get("maxItems")
        if limit is not None and len(data) > limit:
            out.append(FieldProblem(path, f"the list has {len(data)} items; at most {limit} are accepted"))
            return
        prefix = array.get("prefixItems", ())
        items = array.get("items")
        for i, value in enumerate(data):
            sub = prefix[i] if i < len(prefix) else items
            if isinstance(sub, Mapping):
                _oversized(value, sub, defs, _join(path, i), out)
    elif isinstance(data, dict):
        obj = _branch(node, defs, "object")
        if obj is None:
            return
        known = obj.get("properties", {})
        if obj.get("additionalProperties") is False and len(data) > len(known):
            out.append(FieldProblem(path, f"the object has {len(data)} fields; at most {len(known)} are known here"))
            return
        for key, value in data.items():
            if key in known:
                _oversized(value, known[key], defs, _join(path, key), out)


@lru_cache(maxsize=1)
def _largest() -> tuple[int, int]:
    """The longest list and the most fields of any object the intake schema allows (the fast scan's bounds)."""
    items, fields = 0, 0
    stack: list[Any] = [intake_schema()]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            items = max(items, node.get("maxItems", 0))
            fields = max(fields, len(node["properties"]) if isinstance(node.get("properties"), dict) else 0)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return items, fields


def _within_largest(data: Any) -> bool:
    """True when no list or object of the data is larger than the schema allows anywhere (a scan, for YAML)."""
    items, fields = _largest()
    stack = [data]
    while stack:
        node = stack.pop()
        if type(node) is dict:
            if len(node) > fields:
                return False
            stack.extend(v for v in node.values() if type(v) is dict or type(v) is list)
        elif len(node) > items:
            return False
        else:
            stack.extend(v for v in node if type(v) is dict or type(v) is list)
    return True


def read_intake(body: bytes, content_type: str | None) -> Intake:
    """Validate the intake a request body holds.

    Raises:
        UnsupportedMediaTypeError: a Content-Type other than JSON or YAML, none, or a body that is not JSON although
            sent as JSON.
        IntakeError: the body is not UTF-8, not valid JSON or YAML, over a limit of the schema, or not a valid intake.
    """
    kind = _media_type(content_type)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    text = text.removeprefix("\ufeff")
    if kind == JSON and len(text) <= _QUICK_FROM and (fast := validate_json(text)) is not None:
        # A small body validated straight from its text: it holds no duplicate key and nothing over a limit (the
        # schema bounds every list and text); anything else goes the ordinary way below, for the same answer and
        # problems. A large one never tries it: pydantic's parser holds the GIL for the whole of a large body, and
        # the event loop with it, where the parse below (orjson first) gives way sooner.
        return fast
    data, oversized = _load(text, kind)
    if not isinstance(data, Mapping):
        raise IntakeError([not_an_object(data, data)])
    if oversized:
        # Something is larger than the schema allows anywhere: name it, with the limit for its place.
        schema = intake_schema()
        problems: list[FieldProblem] = []
        _oversized(data, schema, schema.get("$defs", {}), "", problems)
        if problems:
            raise IntakeError(problems)
    return parse_intake(data)
