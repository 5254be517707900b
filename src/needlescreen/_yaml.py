"""Safe YAML loading for every file and text a user supplies: no object construction, no duplicate keys, bounded.

Rule files, the region, medication, code and source files, policy files, questionnaires and YAML intakes all go
through :func:`load` (files through :func:`load_file`), so each of them gets the same protection.

``yaml.safe_load`` silently keeps the last of two equal keys, so a rule written with ``verdict: refer`` and,
further down, ``verdict: caution`` would load as caution without a word (and a clinic policy file could lower a
safety threshold the same way). These loaders refuse duplicate keys.

Aliases let a few hundred bytes expand to billions of nodes (the "billion laughs") or refer to themselves, and
deep nesting is never needed by our files: :func:`load` refuses documents nested deeper than :data:`MAX_DEPTH`,
expanding to more than :data:`MAX_NODES` nodes, or containing themselves. :func:`load_file` also refuses files
larger than :data:`MAX_FILE_BYTES` before reading them whole, and text that is not UTF-8.

libyaml's C parser loads rule files about ten times faster, but it composes nested collections by C recursion
and kills the process (SIGSEGV) on very deep nesting (from about 25,000 levels). Nesting needs an opening token
per level (``[``, ``{``, or ``-``, ``:``, ``?`` before a space), so their count bounds the depth: text with at
most :data:`C_PARSER_MAX_OPENERS` of them goes to the C parser, anything else to the pure-Python parser, whose
deep recursion ends in a catchable :class:`RecursionError`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .errors import RuleFileError

__all__ = [
    "C_PARSER_MAX_OPENERS",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "TooComplexError",
    "YAMLError",
    "describe",
    "load",
    "load_file",
]

YAMLError = yaml.YAMLError
#: Deepest nesting of mappings and lists a document may have (a rule file needs about 20 levels).
MAX_DEPTH = 64
#: Most nodes a document may expand to once its aliases are followed (the shipped rules are about 30,000).
MAX_NODES = 1_000_000
#: Largest file :func:`load_file` reads (the largest shipped file is about 20 kB).
MAX_FILE_BYTES = 4 * 1024 * 1024
#: Texts with more collection-opening tokens than this are parsed in Python (see the module docstring).
C_PARSER_MAX_OPENERS = 5000
_OPENERS = re.compile("[\\[{]|[-:?](?=[ \t\r\n\x85\u2028\u2029]|\\Z)")
_CBase: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CLoader(_CBase):  # type: ignore[valid-type, misc]
    """SafeLoader on libyaml's C parser (where PyYAML has it) that refuses duplicate mapping keys."""


class _PyLoader(yaml.SafeLoader):
    """The pure-Python SafeLoader that refuses duplicate mapping keys."""


def _no_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key; construct_mapping reports it properly
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


for _loader in (_CLoader, _PyLoader):
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


class TooComplexError(yaml.YAMLError):
    """A document nested too deeply, expanding to too many nodes through aliases, or containing itself."""


def _check_shape(data: Any) -> None:
    """Refuse documents beyond :data:`MAX_DEPTH` or :data:`MAX_NODES`, and self-containing ones.

    Each container is measured once (a shared alias target is not walked again), without recursion, so the
    check itself is linear in the parsed size even for an alias bomb.
    """
    done: dict[int, tuple[int, int]] = {}  # id -> (depth, expanded nodes)
    open_: set[int] = set()  # containers on the current path: meeting one again is a cycle
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        node, finished = stack.pop()
        if not isinstance(node, dict | list):
            continue
        key = id(node)
        children = [c for c in (node.values() if isinstance(node, dict) else node) if isinstance(c, dict | list)]
        if finished:
            open_.discard(key)
            depth = 1 + max((done[id(c)][0] for c in children), default=0)
            nodes = 1 + len(node) + sum(done[id(c)][1] for c in children)
            if depth > MAX_DEPTH:
                raise TooComplexError(f"nested deeper than {MAX_DEPTH} levels")
            if nodes > MAX_NODES:
                raise TooComplexError(f"expands to more than {MAX_NODES:,} values (through aliases?)")
            done[key] = (depth, nodes)
        elif key in open_:
            raise TooComplexError("an alias refers to a collection that contains it")
        elif key not in done:
            open_.add(key)
            stack.append((node, True))
            stack.extend((c, False) for c in children)


def load(text: str) -> Any:
    """Parse YAML text safely.

    Raises:
        yaml.YAMLError: bad syntax, a tag that would construct an object, or a duplicate key;
            :class:`TooComplexError` for a document beyond :data:`MAX_DEPTH` or :data:`MAX_NODES`.
        RecursionError: nesting deeper than Python's recursion limit (never a crash of the process).
    """
    fast = len(_OPENERS.findall(text, 0)) <= C_PARSER_MAX_OPENERS if len(text) < 2_000_000 else False
    data = yaml.load(text, Loader=_CLoader if fast else _PyLoader)  # SafeLoader subclasses: no objects built
    _check_shape(data)
    return data


def load_file(path: str | Path, *, error: type[RuleFileError] = RuleFileError, max_bytes: int = MAX_FILE_BYTES) -> Any:
    """Read and parse a YAML file a user may have supplied (rule, policy, questionnaire and code files).

    Args:
        path: the file.
        error: the exception to raise (:class:`RuleFileError` or a subclass such as ``PolicyError``).
        max_bytes: larger files are refused unread.

    Raises:
        RuleFileError: (``error``) naming the file: unreadable, too large, not UTF-8, not valid YAML, a
            duplicate key, a tag that would construct an object, or nested or expanding too far.
    """
    name = str(path)
    try:
        with Path(path).open("rb") as stream:
            raw = stream.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"cannot read file: {exc.strerror or exc}", file=name) from None
    if len(raw) > max_bytes:
        raise error("file is too large", file=name, expected=f"at most {max_bytes:,} bytes") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=name) from None
    try:
        return load(text)
    except RecursionError:
        raise error(f"YAML nested too deeply (more than {MAX_DEPTH} levels)", file=name) from None
    except YAMLError as exc:
        what = describe(exc)
        if not isinstance(exc, TooComplexError | yaml.constructor.ConstructorError) or "tag" in what:
            what = f"not valid YAML (or uses a tag that constructs objects): {what}"
        raise error(what, file=name) from None


def describe(exc: yaml.YAMLError) -> str:
    """A YAML error in one line (an error message is one line at the terminal): what, and where in the text."""
    what = " ".join(str(exc).split())
    where = ""
    if isinstance(exc, yaml.MarkedYAMLError):
        what = " ".join((exc.problem or exc.context or what).split())
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{what}{where}"
