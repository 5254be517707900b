"""The package version, read once from the installed metadata: ``pyproject.toml`` is its one source."""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version

__all__ = ["package_version"]


@lru_cache(maxsize=1)
def package_version() -> str:
    """The installed needlescreen's version (``0+unknown`` when run from a source tree that was never installed)."""
    try:
        return version("needlescreen")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "0+unknown"
