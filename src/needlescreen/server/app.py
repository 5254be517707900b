"""The FastAPI application factory: routers, error handling, limits, CORS and request logs.

:func:`create_app` builds one app over one :class:`Service` (a screener and a store). ``needlescreen serve`` runs
:func:`app_from_env` in each uvicorn worker, so every worker builds its own engine and database pool.

Outside the routers sit two small ASGI layers. :class:`_Guard` bounds the request body (413 before anything is
parsed), logs one line per request (route template, status, time: no path values or query strings) and turns
any exception that escaped the routes into a 500 problem with no verdict and no decision id. The exception
handlers map the library's errors: ``IntakeError`` to 422 with its JSON paths, ``EngineError`` to 500.
"""

from __future__ import annotations

import gc
import logging
import time
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from needlescreen import EngineError, Intake, IntakeError

from .logs import configure, elapsed_ms, log_event
from .problems import Problem, problem_response
from .routes import health, questionnaire, rules, schema, screenings
from .service import READY_PROBE, Service, make_screener
from .settings import Settings
from .store import Store, migrate

__all__ = ["app_from_env", "create_app"]


class _TooLarge(Exception):
    pass


class _Guard:
    """Body limit, request log line and last-resort 500, as one ASGI layer around everything."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        state = {"status": 0}
        limit = self.max_body
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = False
                if too_big:
                    await self._too_large(scope, receive, send, state)
                    self._log(scope, state["status"], start)
                    return
        seen = 0

        async def bounded_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except _TooLarge:
            if not state["status"]:
                await self._too_large(scope, receive, send, state)
        except Exception as exc:
            # No message and no locals: an exception's text may quote the input.
            frames = [f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in traceback.extract_tb(exc.__traceback__)]
            log_event("internal_error", logging.ERROR, error=type(exc).__name__, where=frames[-5:])
            if not state["status"]:
                response = problem_response(500, "NS500", "internal error; no verdict was given")
                await response(scope, receive, tracking_send)
        self._log(scope, state["status"], start)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, state: dict[str, int]) -> None:
        state["status"] = 413
        detail = f"the request body is larger than {self.max_body} bytes"
        response = problem_response(413, "NS413", detail, [("body", detail)], headers={"Connection": "close"})
        await response(scope, receive, send)

    @staticmethod
    def _log(scope: Scope, status: int, start: float) -> None:
        route = scope.get("route")
        log_event(
            "request",
            method=scope.get("method"),
            route=getattr(route, "path", None) or "(unmatched)",
            status=status,
            ms=elapsed_ms(start),
        )


def _validation_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(IntakeError)
    async def intake_error(_request: Request, exc: IntakeError) -> Response:
        return problem_response(422, exc.code, f"invalid intake ({len(exc.problems)} problem(s))", exc.problems)

    @app.exception_handler(RequestValidationError)
    async def request_error(_request: Request, exc: RequestValidationError) -> Response:
        errors = [(_validation_path(tuple(e.get("loc", ()))), str(e.get("msg", ""))) for e in exc.errors()]
        return problem_response(422, "NS102", f"invalid request ({len(errors)} problem(s))", errors)

    @app.exception_handler(EngineError)
    async def engine_error(request: Request, exc: EngineError) -> Response:
        request.app.state.service.record_failure(type(exc).__name__)
        log_event("engine_error", logging.ERROR, error=type(exc).__name__, code=exc.code)
        return problem_response(500, exc.code, "the rule engine failed; no verdict was given")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        code = f"NS{exc.status_code}"
        return problem_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    intake = Intake.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in intake.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components["Intake"] = intake
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in components["Problem"].pop("$defs", {}).items():
        components.setdefault(name, definition)
    app.openapi_schema = doc
    return doc


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("needlescreen")
    except PackageNotFoundError:  # pragma: no cover - a source tree without install
        return "0+unknown"


def _mount_web(app: FastAPI) -> None:
    """The clinician's web form at ``/`` when the web extra is installed (the API works without it)."""
    try:
        from needlescreen.web import mount
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in ("jinja2", "itsdangerous", "weasyprint"):
            raise
        return
    mount(app)


def _include_fhir(app: FastAPI) -> None:
    """Mount the FHIR and CDS Hooks routes when the fhir extra (``needlescreen[fhir]``) is installed."""
    try:
        from needlescreen.fhir.routes import install
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in ("fhir", "jwt", "cryptography"):
            raise
        return
    install(app)


def create_app(settings: Settings | None = None, *, service: Service | None = None, migrated: bool = False) -> FastAPI:
    """The service over one worker's screener and store (built from ``settings`` unless given).

    Raises:
        ValueError: the settings would expose the service (see :meth:`Settings.check`).
        RuleFileError: the configured rules or policy file is malformed.
    """
    settings = settings or (service.settings if service else Settings())
    settings.check()
    configure()
    if service is None:
        if not migrated:
            migrate(settings.database_url)
        service = Service(
            settings, make_screener(settings), Store(settings.database_url, sqlite_sync=settings.sqlite_sync)
        )
    svc = service

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        svc.screen(READY_PROBE)  # warm the engine and the drug dictionary; an engine error stops the start
        # The ruleset, compiled rules, vocabularies and drug dictionary live as long as the worker: move them out
        # of the cyclic collector's walk, which otherwise costs about 15 ms every few dozen requests (p99).
        gc.collect()
        gc.freeze()
        log_event("started", engine=svc.screener.engine.name, revision=svc.screener.ruleset.revision)
        yield
        svc.close()

    app = FastAPI(
        title="needlescreen",
        version=_version(),
        description="Contraindication screening before dry needling and electrical dry needling, with records.",
        lifespan=lifespan,
    )
    app.state.service = svc
    for module in (screenings, rules, schema, questionnaire, health):
        app.include_router(module.router)
    _include_fhir(app)
    _mount_web(app)
    _handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    app.add_middleware(_Guard, max_body=settings.max_body)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def app_from_env() -> FastAPI:
    """The uvicorn factory each worker runs: settings from ``NEEDLESCREEN_*`` (the parent has migrated)."""
    import os

    return create_app(Settings.from_env(), migrated=os.environ.get("NEEDLESCREEN_MIGRATED") == "1")
