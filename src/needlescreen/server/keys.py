"""API keys and the clinic each one belongs to: how a key is written, on the command line, in the environment and in
a key file.

A key is written ``CLINIC:KEY``: the key belongs to that clinic (its tenant), stores its records under it and sees
only that clinic's records. ``*:KEY`` is an admin key: it sees the records of every clinic. A bare key, without a
clinic, is refused, so that no key can see every clinic by accident. Clinic names are short identifiers
(``north``, ``clinic-7``); keys are at least 16 characters, printable, without commas and without spaces at their
ends. Error messages name the entry by its position, never by the key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["ADMIN", "ApiKey", "parse_key", "parse_key_lines"]

#: The clinic part of an admin key.
ADMIN = "*"
MIN_KEY_LENGTH = 16
_CLINIC = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One accepted key and whose it is (``clinic`` None: an admin key, every clinic)."""

    clinic: str | None
    key: str = field(repr=False)

    @property
    def role(self) -> Literal["clinic", "admin"]:
        """``admin`` sees every clinic's records; ``clinic`` only its own."""
        return "admin" if self.clinic is None else "clinic"

    def spec(self) -> str:
        """The key as written in a setting (``CLINIC:KEY`` or ``*:KEY``)."""
        return f"{self.clinic or ADMIN}:{self.key}"


def parse_key(spec: str, where: str) -> ApiKey:
    """Read one ``CLINIC:KEY`` (or ``*:KEY``) entry.

    Raises:
        ValueError: naming ``where`` (the setting and entry), never the key.
    """
    clinic, sep, key = spec.partition(":")
    if not sep:
        raise ValueError(
            f"{where}: a key is written CLINIC:KEY (the clinic whose records it sees) or *:KEY (an admin key that "
            "sees every clinic)"
        )
    clinic = clinic.strip()
    if clinic != ADMIN and not _CLINIC.match(clinic):
        raise ValueError(
            f"{where}: the clinic must be 1 to 64 letters, digits, '.', '_' or '-' (or * for an admin key)"
        )
    if len(key) < MIN_KEY_LENGTH:
        raise ValueError(f"{where}: every API key must be at least {MIN_KEY_LENGTH} characters long")
    if "," in key or not key.isprintable() or key != key.strip():
        raise ValueError(f"{where}: an API key may not contain commas, spaces at its ends or control characters")
    return ApiKey(None if clinic == ADMIN else clinic, key)


def parse_key_lines(lines: Iterable[str], where: str) -> tuple[ApiKey, ...]:
    """Keys from the lines of a key file: one ``CLINIC:KEY`` a line; blank lines and ``#`` comments are skipped."""
    out = []
    for number, line in enumerate(lines, 1):
        entry = line.strip()
        if entry and not entry.startswith("#"):
            out.append(parse_key(entry, f"{where}: line {number}"))
    return tuple(out)
