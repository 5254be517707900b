"""Safe YAML loading for rule files and intakes: no object construction, no duplicate keys, C speed.

``yaml.safe_load`` silently keeps the last of two equal keys, so a rule written with ``verdict: refer`` and,
further down, ``verdict: caution`` would load as caution without a word. These loaders refuse duplicate keys.
They build on libyaml's C parser where PyYAML has it (rule files load about ten times faster), with the same
safe constructor either way.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["YAMLError", "load"]

YAMLError = yaml.YAMLError
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[valid-type, misc]
    """SafeLoader (C parser where available) that refuses duplicate mapping keys."""


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


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def load(text: str) -> Any:
    """Parse YAML text safely; raises :class:`yaml.YAMLError` on bad syntax, tags or duplicate keys."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no object construction
