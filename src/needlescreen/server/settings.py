"""The service's settings, one table of them, each given as a flag, a ``NEEDLESCREEN_*`` variable or a file entry.

Every setting has one name (``max_body``) and three spellings: the flag of ``needlescreen serve``
(``--max-body``), the environment variable (``NEEDLESCREEN_MAX_BODY``) and the key of a TOML settings file named by
``--config`` or ``NEEDLESCREEN_CONFIG`` (``max_body = 65536``). A flag wins over the environment, the environment
over the file, the file over the default. :meth:`Settings.resolve` is the one place this is decided, for
``needlescreen serve`` and for an app that uvicorn starts directly (:func:`needlescreen.server.app.app_from_env`).

Every uvicorn worker is its own process, so ``needlescreen serve`` hands the resolved settings to its workers
through the environment (:meth:`Settings.to_env`) and each worker reads them back (:meth:`Settings.from_env`).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from .keys import ApiKey, parse_key, parse_key_lines

__all__ = ["DEFAULT_DATABASE_URL", "SETTINGS", "Settings", "is_loopback"]

#: The embedded default: a SQLite file in the working directory, no other set-up.
DEFAULT_DATABASE_URL = "sqlite:///needlescreen.db"
PREFIX = "NEEDLESCREEN_"
CONFIG_VARIABLE = PREFIX + "CONFIG"
_ENGINES = ("auto", "durable_rules", "plain")
_SYNC = ("FULL", "NORMAL")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Settings:
    """How one service process runs (see :data:`SETTINGS` for what each field means and how it is given).

    ``api_keys`` (and the keys of ``api_keys_file``) are accepted as ``X-API-Key`` or ``Authorization: Bearer``;
    none at all means no authentication, which :meth:`check` allows only on a loopback host.
    """

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    api_keys: tuple[ApiKey, ...] = ()
    api_keys_file: str | None = None
    rules_dir: str | None = None
    policy_file: str | None = None
    engine: Literal["auto", "durable_rules", "plain"] = "auto"
    #: The largest request body accepted (bytes); past it the answer is 413 before anything is parsed.
    max_body: int = 256 * 1024
    #: The largest request line and headers accepted (bytes); past it the answer is 431.
    max_header: int = 16 * 1024
    #: Seconds a client has to send a request's headers, and again to send its body; past it the answer is 408.
    read_timeout: float = 20.0
    #: Origins allowed by CORS; none by default (a browser on another origin cannot call the service).
    cors_origins: tuple[str, ...] = ()
    #: The most records one list request returns.
    max_page: int = 100
    #: SQLite only: FULL keeps every acknowledged record through a power loss; NORMAL only through a killed process.
    sqlite_sync: Literal["FULL", "NORMAL"] = "FULL"
    #: Serve ``/docs`` and ``/openapi.json`` without a key (they need one whenever keys are configured).
    open_docs: bool = False
    #: Log clinical content (verdicts, rule ids, counts of missing answers) with the decision id; off by default.
    log_clinical: bool = False
    #: The keys read from ``api_keys_file`` (read once, when the settings are made).
    file_keys: tuple[ApiKey, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.api_keys_file:
            where = f"api keys file {self.api_keys_file}"
            try:
                text = Path(self.api_keys_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise ValueError(f"cannot read the {where}: {exc.strerror}") from None
            except UnicodeDecodeError:
                raise ValueError(f"the {where} is not UTF-8 text") from None
            object.__setattr__(self, "file_keys", parse_key_lines(text.splitlines(), where))

    @property
    def keys(self) -> tuple[ApiKey, ...]:
        """Every accepted key: those given directly, then those of the key file."""
        return self.api_keys + self.file_keys

    def check(self) -> None:
        """Refuse settings that would expose the service or that are out of range.

        Raises:
            ValueError: no API keys on a host other machines can reach, a key given twice, or a value out of range.
        """
        if not self.keys and not is_loopback(self.host):
            raise ValueError(
                f"refusing to serve on {self.host} without authentication: give --auth CLINIC:KEY (or "
                "NEEDLESCREEN_API_KEYS, or a key file) or bind to 127.0.0.1"
            )
        secrets = [k.key for k in self.keys]
        if len(set(secrets)) != len(secrets):
            raise ValueError("the same API key is given twice (each key belongs to exactly one clinic)")
        for name, low, high in _RANGES:
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name} must be between {low} and {high}, not {value}")
        if self.engine not in _ENGINES:
            raise ValueError(f"engine must be one of {', '.join(_ENGINES)}, not {self.engine!r}")
        if self.sqlite_sync not in _SYNC:
            raise ValueError(f"sqlite_sync must be FULL or NORMAL, not {self.sqlite_sync!r}")

    def to_env(self) -> dict[str, str]:
        """The settings as ``NEEDLESCREEN_*`` variables, for worker processes (every setting, set or empty)."""
        out: dict[str, str] = {}
        for spec in SETTINGS.values():
            value = getattr(self, spec.name)
            if value is None:
                text = ""
            elif spec.name == "api_keys":
                text = ",".join(k.spec() for k in value)
            elif isinstance(value, tuple):
                text = ",".join(value)
            elif isinstance(value, bool):
                text = "1" if value else "0"
            else:
                text = str(value)
            out[spec.env] = text
        return out

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``NEEDLESCREEN_*`` variables and the file ``NEEDLESCREEN_CONFIG`` names (no flags)."""
        return cls.resolve({}, os.environ if environ is None else environ)

    @classmethod
    def resolve(cls, flags: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
        """Each setting from its flag, else its variable, else the settings file, else its default.

        Args:
            flags: values given on the command line, by setting name (None: not given), plus ``config``.
            environ: the environment (``NEEDLESCREEN_*`` variables, ``NEEDLESCREEN_CONFIG``).

        Raises:
            ValueError: a value that cannot be read, naming where it was given.
        """
        config = flags.get("config") or environ.get(CONFIG_VARIABLE) or None
        from_file = _read_config(str(config)) if config else {}
        values: dict[str, Any] = {}
        for spec in SETTINGS.values():
            if flags.get(spec.name) is not None:
                values[spec.name] = spec.read(flags[spec.name], f"--{spec.flag}")
            elif environ.get(spec.env):
                values[spec.name] = spec.read(environ[spec.env], spec.env)
            elif spec.name in from_file:
                values[spec.name] = spec.read(from_file[spec.name], f"{config}: {spec.name}")
        return cls(**values)


# --- how each setting is read ----------------------------------------------------------------------------------


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: expected text, got {value!r}")
    return value.strip()


def _integer(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{where}: expected a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"{where}: expected a whole number, got {value!r}") from None


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{where}: expected a number of seconds, got {value!r}")
    try:
        return float(value if isinstance(value, int | float) else str(value).strip())
    except ValueError:
        raise ValueError(f"{where}: expected a number of seconds, got {value!r}") from None


def _flag(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise ValueError(f"{where}: expected true or false (1/0, yes/no, on/off), got {value!r}")


def _listed(value: Any, where: str) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValueError(f"{where}: expected a list of text (comma-separated in a variable), got {value!r}")
    return tuple(i.strip() for i in items if i.strip())


def _keys(value: Any, where: str) -> tuple[ApiKey, ...]:
    # Not _listed: its message would quote the value, and the value holds the keys.
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValueError(f"{where}: expected a list of CLINIC:KEY entries (comma-separated in a variable)")
    entries = [i.strip() for i in items if i.strip()]
    return tuple(parse_key(e, f"{where}: entry {n}") for n, e in enumerate(entries, 1))


def _choice(choices: tuple[str, ...], upper: bool = False) -> Callable[[Any, str], str]:
    def read(value: Any, where: str) -> str:
        text = str(value).strip()
        text = text.upper() if upper else text
        if text not in choices:
            raise ValueError(f"{where}: expected one of {', '.join(choices)}, got {value!r}")
        return text

    return read


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: its name, how a flag, variable or file value is read, and what it does."""

    name: str
    read: Callable[[Any, str], Any]
    help: str

    @property
    def env(self) -> str:
        """Its environment variable."""
        return PREFIX + self.name.upper()

    @property
    def flag(self) -> str:
        """Its flag of ``needlescreen serve``, without the dashes."""
        return _FLAGS.get(self.name, self.name.replace("_", "-"))


_FLAGS = {"api_keys": "auth", "api_keys_file": "auth-file", "rules_dir": "rules", "policy_file": "policy"}
_FLAGS |= {"cors_origins": "cors-origin"}

#: Every setting, in the order the README lists them.
SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("database_url", _text, "SQLAlchemy URL of the record store (SQLite file, or postgresql://...)"),
        Setting("host", _text, "address to bind; beyond loopback only with API keys"),
        Setting("port", _integer, "port to bind"),
        Setting("workers", _integer, "uvicorn worker processes, each with its own engine and database pool"),
        Setting("api_keys", _keys, "accepted keys, CLINIC:KEY (or *:KEY for an admin key)"),
        Setting("api_keys_file", _text, "a file of accepted keys, one CLINIC:KEY a line"),
        Setting("rules_dir", _text, "a ruleset directory (default: the bundled one)"),
        Setting("policy_file", _text, "a clinic policy override file"),
        Setting("engine", _choice(_ENGINES), "auto, durable_rules or plain"),
        Setting("max_body", _integer, "largest request body in bytes (413 past it)"),
        Setting("max_header", _integer, "largest request line and headers in bytes (431 past it)"),
        Setting("read_timeout", _number, "seconds to send a request's headers, and again its body (408 past it)"),
        Setting("cors_origins", _listed, "origins CORS allows (none by default)"),
        Setting("max_page", _integer, "most records one list request returns"),
        Setting("sqlite_sync", _choice(_SYNC, upper=True), "SQLite: FULL (survives a power loss) or NORMAL"),
        Setting("open_docs", _flag, "serve /docs and /openapi.json without a key"),
        Setting("log_clinical", _flag, "log verdicts and rule ids with each decision id (off: no clinical content)"),
    )
}

_RANGES: tuple[tuple[str, float, float], ...] = (
    ("port", 1, 65535),
    ("workers", 1, 64),
    ("max_body", 1024, 16 * 1024 * 1024),
    ("max_header", 1024, 1024 * 1024),
    ("read_timeout", 0.1, 3600),
    ("max_page", 1, 1000),
)

assert set(SETTINGS) == {f.name for f in fields(Settings) if f.init}, "every Settings field has its entry"


def _read_config(path: str) -> dict[str, Any]:
    try:
        with Path(path).open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ValueError(f"cannot read the settings file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a valid TOML settings file: {exc}") from None
    unknown = sorted(set(data) - set(SETTINGS))
    if unknown:
        from needlescreen._suggest import close

        hints = [
            f"{u!r}" + (f" (did you mean {m[0]!r}?)" if (m := close(u, list(SETTINGS), cutoff=70, limit=1)) else "")
            for u in unknown
        ]
        raise ValueError(f"{path}: unknown setting {', '.join(hints)}; the settings are {', '.join(SETTINGS)}")
    return data
