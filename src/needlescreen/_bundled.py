"""Where the rule files that ship with needlescreen are.

The repository's top-level ``rules/`` is the one copy of the clinical content. A wheel carries it inside the
package as ``needlescreen/rules`` (``pyproject.toml`` maps it there at build time); a source checkout (an
editable install, or ``src`` on the path) reads ``rules/`` in place, so an edit takes effect without
reinstalling. The Gherkin scenarios travel the same way, ``features/`` as ``needlescreen/features``, so a
rule's scenarios are found beside its ruleset (``catalogue.features_dir``) in a checkout and in a wheel alike.
This module imports nothing of needlescreen, so every loader can use it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["rules_dir"]

_PACKAGE = Path(__file__).resolve().parent


def rules_dir() -> Path:
    """The bundled ruleset directory: inside the installed package, or the checkout's ``rules/``."""
    inside = _PACKAGE / "rules"
    checkout = _PACKAGE.parents[1]
    if not inside.is_dir() and (checkout / "pyproject.toml").is_file() and (checkout / "rules").is_dir():
        return checkout / "rules"
    # An installed package without its rules fails naming this path (in needlescreen, not somewhere outside).
    return inside
