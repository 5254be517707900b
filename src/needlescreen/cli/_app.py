"""The typer app, its shared options, and how a person's mistakes become one line and an exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated, Any, Literal, cast

import typer
from rich.console import Console
from rich.text import Text

from needlescreen.errors import EngineError, IntakeError, RuleFileError
from needlescreen.ruleset import load_ruleset

EXIT_CODES = {"clear": 0, "caution": 10, "refer": 20, "invalid": 2, "engine": 3}

app = typer.Typer(
    name="needlescreen",
    help="Screen a patient for contraindications before dry needling and electrical dry needling.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
rules_app = typer.Typer(help="Read and check the rule catalogue.", no_args_is_help=True)


def _print_version(value: bool) -> None:
    if value:
        from needlescreen._version import package_version

        sys.stdout.write(f"needlescreen {package_version()}\n")
        raise typer.Exit(0)


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Screen a patient for contraindications before dry needling and electrical dry needling."""


app.add_typer(rules_app, name="rules")

EngineOpt = Annotated[
    Literal["auto", "durable_rules", "plain"], typer.Option(help="auto uses durable_rules where it loads")
]
PolicyOpt = Annotated[Path | None, typer.Option(help="A clinic policy override file.")]
RulesOpt = Annotated[Path | None, typer.Option(help="A ruleset directory (default: the bundled one).")]
FormatOpt = Annotated[Literal["text", "json"], typer.Option("--format", "-f", help="text or json")]
FullOpt = Annotated[
    bool, typer.Option("--full", help="Everything: every reason with its facts and sources (text output).")
]


class _ReaderMayLeave:
    """Standard output whose reader may stop reading (``needlescreen rules body | head``).

    A closed pipe is not an error: the reader has what it wanted. Later output is dropped and the command runs
    to its own exit code (the verdict's, for ``check``), instead of click's silent exit 1 or Python's
    "Exception ignored ... BrokenPipeError" at shutdown.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.reader_left = False

    def write(self, text: str) -> int:
        if not self.reader_left:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._leave()
        return len(text)

    def flush(self) -> None:
        if not self.reader_left:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._leave()

    def _leave(self) -> None:
        self.reader_left = True
        # What is still buffered would fail again when Python flushes at exit: point the descriptor at
        # /dev/null so that last flush succeeds quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        finally:
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def tolerate_closed_stdout() -> None:
    """Let every command's reader leave early (``| head``): see :class:`_ReaderMayLeave`."""
    if not isinstance(sys.stdout, _ReaderMayLeave) and sys.stdout is not None:
        sys.stdout = cast(IO[str], _ReaderMayLeave(sys.stdout))


def _console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def _fail(message: str, code: int) -> typer.Exit:
    # Never wrapped: an error names a file path or a field, which a line break would cut in two.
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(Text(message, style="bold red" if sys.stderr.isatty() else ""))
    return typer.Exit(code)


def _intake_error(exc: IntakeError, source: str | None = None) -> typer.Exit:
    where = exc.source or source
    prefix = f"error: {where}: " if where else "error: "
    lines = [f"{prefix}{p.path or '(intake)'}: {p.message}" for p in exc.problems]
    return _fail("\n".join(lines), EXIT_CODES["invalid"])


@contextmanager
def _user_errors(source: str | None = None) -> Iterator[None]:
    """Turn the errors a person can cause and fix into one-line messages and exit codes."""
    try:
        yield
    except IntakeError as exc:
        raise _intake_error(exc, source) from None
    except RuleFileError as exc:
        raise _fail(f"error: {exc}", EXIT_CODES["invalid"]) from None
    except EngineError as exc:
        raise _fail(f"engine error (no verdict given): {exc}", EXIT_CODES["engine"]) from None


def _read(path: str) -> tuple[str, str]:
    try:
        if path == "-":
            return sys.stdin.buffer.read().decode("utf-8"), "<stdin>"
        return Path(path).read_text(encoding="utf-8"), path
    except OSError as exc:
        raise _fail(f"error: cannot read {path}: {exc.strerror}", EXIT_CODES["invalid"]) from None
    except UnicodeDecodeError as exc:
        name = "<stdin>" if path == "-" else path
        raise _fail(f"error: {name}: not UTF-8 text (byte {exc.start})", EXIT_CODES["invalid"]) from None


def _screener(rules: Path | None, policy: Path | None, engine: str) -> Any:
    from needlescreen.screening import Screener

    return Screener(load_ruleset(rules, policy_file=policy), engine=engine)  # type: ignore[arg-type]
