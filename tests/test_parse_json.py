"""Intakes validated straight from JSON text give exactly what the ordinary path gives, and reject the same way.

``parse_intake`` lets pydantic validate JSON text directly (``screening.validate_json``) and falls back to the
ordinary path (``json`` with duplicate-key and NaN checks, then validation) whenever it does not accept the
text. The fast path must never accept what the ordinary path rejects, nor read a value differently.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from needlescreen import IntakeError
from needlescreen import screening as S
from needlescreen.ruleset import Ruleset
from needlescreen.testing import baseline_intake

from .generate import random_intake


def _outcome(text: str | bytes) -> tuple[str, Any]:
    try:
        return "ok", S.parse_intake(text).model_dump(mode="python")
    except IntakeError as exc:
        return "rejected", [(p.path, p.message) for p in exc.problems]


def _ordinary(text: str | bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    with monkeypatch.context() as m:
        m.setattr(S, "validate_json", lambda _text: None)
        return _outcome(text)


def check_same_outcome(texts: list[str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts for which parse_intake (with its fast path) and the ordinary path differ."""
    return [t[:200] for t in texts if _outcome(t) != _ordinary(t, monkeypatch)]


def _dumps_with_duplicate(value: Any, rng: random.Random, done: list[bool]) -> str:
    """JSON text of ``value`` with one key of one object (chosen at random) written twice."""
    if isinstance(value, dict):
        items = [f"{json.dumps(k)}: {_dumps_with_duplicate(v, rng, done)}" for k, v in value.items()]
        if items and not done[0] and rng.random() < 0.3:
            k = rng.choice(list(value))
            twin = rng.choice([value[k], "unknown", 1.0, [], {}])
            # Sometimes with white space before the colon, which the fast path's key count must not miss.
            colon = rng.choice([": ", ":", " : ", "\n:"])
            items.insert(rng.randrange(len(items) + 1), f"{json.dumps(k)}{colon}{json.dumps(twin)}")
            done[0] = True
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dumps_with_duplicate(v, rng, done) for v in value) + "]"
    return json.dumps(value)


def _duplicated(intake: dict[str, Any], rng: random.Random) -> str:
    while True:
        done = [False]
        text = _dumps_with_duplicate(intake, rng, done)
        if done[0]:
            return text


def test_the_fast_path_is_taken_and_agrees_on_generated_intakes(
    ruleset: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(31)
    texts = []
    for _ in range(300):
        intake = random_intake(rng, ruleset.regions)
        texts.append(json.dumps(intake))
        texts.append(json.dumps(intake, separators=(",", ":")))
        texts.append(json.dumps(intake, indent=2).encode())  # type: ignore[arg-type]
    taken = sum(S.validate_json(t if isinstance(t, str) else t.decode()) is not None for t in texts)
    assert taken > 0.9 * len(texts), "the fast path must serve ordinary JSON, or this test proves nothing"
    assert check_same_outcome(texts, monkeypatch) == []


def test_a_duplicate_key_anywhere_is_rejected_as_before(ruleset: Ruleset, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(32)
    texts = [_duplicated(random_intake(rng, ruleset.regions), rng) for _ in range(400)]
    assert check_same_outcome(texts, monkeypatch) == []
    assert all(_outcome(t)[0] == "rejected" for t in texts)
    assert all("duplicate key" in _outcome(t)[1][0][1] for t in texts)


_B = json.dumps(baseline_intake())
#: Texts at the edges of JSON: every one must fare exactly as on the ordinary path.
EDGES = {
    "NaN": _B.replace('"age": 40', '"age": NaN'),
    "Infinity": _B.replace('"age": 40', '"age": Infinity'),
    "-Infinity in a string field": _B.replace('"needle_phobia": "no"', '"needle_phobia": -Infinity'),
    "exponent float": _B.replace('"age": 40', '"age": 4.0e1'),
    "exponent float with sign": _B.replace('"age": 40', '"age": 4E+1'),
    "tiny exponent": _B.replace('"bmi": 23.0', '"bmi": 2.3e1'),
    "huge exponent": _B.replace('"age": 40', '"age": 1e400'),
    "long integer": _B.replace('"age": 40', '"age": ' + "9" * 5000),
    "integer for a float": _B.replace('"age": 40', '"age": 40'),
    "float with many digits": _B.replace('"age": 40', '"age": 17.999999999999999999'),
    "leading zero": _B.replace('"age": 40', '"age": 040'),
    "space before a colon": _B.replace('"age": 40', '"age" : 40'),
    "duplicate key after a space before its colon": _B.replace('"age": 40', '"age" : 40, "age": 41'),
    "duplicate key with its colon on the next line": _B.replace('"age": 40', '"age": 40, "age"\n: 41'),
    "colon inside a value": _B.replace('"needle_phobia": "no"', '"needle_phobia": "no:yes"'),
    "escaped key": _B.replace('"age": 40', '"a\\u0067e": 40'),
    "escaped duplicate key": _B.replace('"age": 40', '"age": 40, "a\\u0067e": 41'),
    "lone surrogate": _B.replace('"needle_phobia": "no"', '"needle_phobia": "\\ud800"'),
    "raw control character": _B.replace('"needle_phobia": "no"', '"needle_phobia": "n\x01o"'),
    "byte order mark": "\ufeff" + _B,
    "leading whitespace": " \n\t" + _B,
    "trailing garbage": _B + " x",
    "trailing comma": _B[:-1] + ",}",
    "deep arrays": '{"patient": ' + "[" * 10_000 + "]" * 10_000 + "}",
    "deep objects": '{"a": ' + '{"a": ' * 5_000 + "1" + "}" * 5_001,
    "top-level array": "[" + _B + "]",
    "single quotes": _B.replace('"needle_phobia": "no"', "'needle_phobia': 'no'"),
    "comment": _B.replace('"needle_phobia": "no",', '"needle_phobia": "no", // no\n'),
    "true for an answer": _B.replace('"needle_phobia": "no"', '"needle_phobia": true'),
    "null for an answer": _B.replace('"needle_phobia": "no"', '"needle_phobia": null'),
}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_edges_of_json_fare_as_before(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text = EDGES[name]
    assert text != _B or name == "integer for a float"
    assert _outcome(text) == _ordinary(text, monkeypatch)
    assert _outcome(text.encode("utf-8", "surrogatepass")) == _ordinary(
        text.encode("utf-8", "surrogatepass"), monkeypatch
    )


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=130))
def test_every_number_is_read_as_the_ordinary_path_reads_it(age: float) -> None:
    for spelling in (repr(age), f"{age:e}", f"{age:.17g}", f"{age:.3E}"):
        text = _B.replace('"age": 40', f'"age": {spelling}')
        fast = S.validate_json(text)
        expected = json.loads(text)["patient"]["age"]
        assert fast is None or fast.patient.age == expected, spelling


def test_breakage_a_fast_path_without_the_duplicate_check_fails(
    ruleset: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pydantic's parser keeps the last of two equal keys: trusting it alone must fail the checks above."""
    rng = random.Random(33)
    texts = [_duplicated(random_intake(rng, ruleset.regions), rng) for _ in range(50)]

    def naive(text: str) -> Any:
        try:
            return S.Intake.model_validate_json(text)
        except S.ValidationError:
            return None

    with monkeypatch.context() as m:
        m.setattr(S, "validate_json", naive)
        fast = [_outcome(t) for t in texts]
    assert [f for f, t in zip(fast, texts, strict=True) if f != _ordinary(t, monkeypatch)]


def _served(body: bytes, monkeypatch: pytest.MonkeyPatch, *, fast: bool) -> tuple[str, Any]:
    """What the service's body reader makes of a JSON body, with or without its fast path."""
    bodies = pytest.importorskip("needlescreen.server.bodies", reason="the server extra is not installed")
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(bodies, "validate_json", lambda _text: None)
        try:
            return "ok", bodies.read_intake(body, "application/json").model_dump(mode="python")
        except IntakeError as exc:
            return "rejected", [(p.path, p.message) for p in exc.problems]
        except bodies.UnsupportedMediaTypeError as exc:
            return "415", str(exc)


@pytest.mark.parametrize("name", sorted(EDGES))
def test_the_service_reads_every_edge_as_its_ordinary_path_does(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The service validates small JSON bodies straight from their text too: never a different answer for it."""
    body = EDGES[name].encode("utf-8", "surrogatepass")
    assert _served(body, monkeypatch, fast=True) == _served(body, monkeypatch, fast=False)


def test_the_service_refuses_a_duplicate_key_in_a_small_body(ruleset: Ruleset, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(33)
    texts = [_duplicated(random_intake(rng, ruleset.regions), rng).encode() for _ in range(100)]
    for body in texts:
        fast = _served(body, monkeypatch, fast=True)
        assert fast == _served(body, monkeypatch, fast=False)
        assert fast[0] == "rejected" and "duplicate key" in fast[1][0][1]
