"""The Jinja2 environment of the web pages, the printed record and the static catalogue (autoescaped HTML)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

__all__ = ["STATIC_DIR", "TEMPLATES_DIR", "environment"]

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"


@cache
def environment() -> Environment:
    """One environment per process: templates are compiled once."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["upper_first"] = lambda s: s[:1].upper() + s[1:] if s else s
    return env
