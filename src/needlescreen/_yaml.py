"""Safe YAML loading for rule files and intakes: no object construction, no duplicate keys, C speed.

``yaml.safe_load`` silently keeps the last of two equal keys, so a rule written with ``verdict: refer`` and,
further down, ``verdict: caution`` would load as caution without a word. These loaders refuse duplicate keys.

libyaml's C parser loads rule files about ten times faster, but it composes nested collections by C recursion
and kills the process (SIGSEGV) on very deep nesting (from about 25,000 levels). Nesting needs an opening token
per level (``[``, ``{``, or ``-``, ``:``, ``?`` before a space), so their count bounds the depth: text with at
most :data:`C_PARSER_MAX_OPENERS` of them goes to the C parser, anything else to the pure-Python parser, whose
deep recursion ends in a catchable :class:`RecursionError`.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["C_PARSER_MAX_OPENERS", "YAMLError", "load"]

YAMLError = yaml.YAMLError
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


def load(text: str) -> Any:
    """Parse YAML text safely.

    Raises:
        yaml.YAMLError: bad syntax, a tag that would construct an object, or a duplicate key.
        RecursionError: nesting deeper than Python's recursion limit (never a crash of the process).
    """
    fast = len(_OPENERS.findall(text, 0)) <= C_PARSER_MAX_OPENERS if len(text) < 2_000_000 else False
    return yaml.load(text, Loader=_CLoader if fast else _PyLoader)  # SafeLoader subclasses: no objects built
