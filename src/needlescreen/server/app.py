"""The FastAPI application factory: routers, error handling, limits, CORS, request logs and the API documents.

:func:`create_app` builds one app over one :class:`Service` (a screener and a store). ``needlescreen serve`` runs
:func:`app_from_env` in each uvicorn worker, so every worker builds its own engine and database pool; uvicorn may
also run it directly (``uvicorn needlescreen.server.app:app_from_env --factory``), with the same settings and the
same refusal to listen beyond loopback without keys. Another router (a web form, FHIR) is added with
``app.include_router``; it reaches the caller through :func:`needlescreen.server.auth.principal`.

Outside the routers sits one small ASGI layer, :class:`_Guard`. It bounds the request body in size (413 before
anything is parsed) and in time (408 when the body does not arrive within the read timeout), lets a client that
goes away mid-request go quietly (one INFO line, status 499, nothing answered), logs one line per request (route
template, status, time: no path values or query strings) and turns any exception that escaped the routes into a
500 problem with no verdict and no decision id. The exception handlers map the library's errors: ``IntakeError``
to 422 with its JSON paths, ``EngineError`` to 500. The request head has its own limits below the app
(:mod:`needlescreen.server.protocol`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import time
import traceback
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from needlescreen import EngineError, IntakeError
from needlescreen.worker_gc import freeze_long_lived

from .auth import principal
from .bodies import MEDIA_TYPES, UnsupportedMediaTypeError, intake_schema
from .logs import configure, elapsed_ms, log_event
from .problems import MAX_ERRORS, Problem, json_response, problem_response
from .routes import health, impact, questionnaire, rules, schema, screenings
from .service import READY_PROBE, Service, make_screener
from .settings import Settings, is_loopback
from .store import Store, migrate

__all__ = ["app_from_env", "create_app"]


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


class _Guard:
    """Body limits, quiet disconnects, request log line and last-resort 500, as one ASGI layer around everything."""

    def __init__(self, app: ASGIApp, max_body: int, read_timeout: float) -> None:
        self.app = app
        self.max_body = max_body
        self.read_timeout = read_timeout

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
        body_done = False
        deadline = asyncio.get_running_loop().time() + self.read_timeout

        async def bounded_receive() -> Message:
            nonlocal seen, body_done
            if body_done:
                return await receive()  # after the body only a disconnect can come: no deadline on that wait
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise _TooSlow from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
                body_done = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            await send(message)

        disconnected = False
        try:
            await self.app(scope, bounded_receive, tracking_send)
        except _TooLarge:
            if not state["status"]:
                await self._too_large(scope, receive, send, state)
        except _TooSlow:
            if not state["status"]:
                state["status"] = 408
                detail = f"the request body did not arrive within {self.read_timeout:g} s"
                response = problem_response(408, "NS408", detail, [("body", detail)], headers={"Connection": "close"})
                await response(scope, receive, send)
        except ClientDisconnect:
            # The client went away before its request was read in full: its doing, nothing to answer.
            disconnected = True
        except Exception as exc:
            # No message and no locals: an exception's text may quote the input.
            frames = [f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in traceback.extract_tb(exc.__traceback__)]
            log_event("internal_error", logging.ERROR, error=type(exc).__name__, where=frames[-5:])
            if not state["status"]:
                response = problem_response(500, "NS500", "internal error; no verdict was given")
                await response(scope, receive, tracking_send)
        self._log(scope, 499 if disconnected else state["status"], start, disconnected=disconnected)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, state: dict[str, int]) -> None:
        state["status"] = 413
        detail = f"the request body is larger than {self.max_body} bytes"
        response = problem_response(413, "NS413", detail, [("body", detail)], headers={"Connection": "close"})
        await response(scope, receive, send)

    @staticmethod
    def _log(scope: Scope, status: int, start: float, *, disconnected: bool = False) -> None:
        route = scope.get("route")
        fields: dict[str, Any] = {
            "method": scope.get("method"),
            "route": getattr(route, "path", None) or "(unmatched)",
            "status": status,
            "ms": elapsed_ms(start),
        }
        if disconnected:
            fields["client"] = "disconnected before the request was read"
        log_event("request", **fields)


def _validation_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _counted(what: str, errors: Sequence[object]) -> str:
    if len(errors) > MAX_ERRORS:
        return f"{what} ({len(errors)} problems; the first {MAX_ERRORS} are listed)"
    return f"{what} ({len(errors)} problem(s))"


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(IntakeError)
    async def intake_error(_request: Request, exc: IntakeError) -> Response:
        errors = list(exc.problems)
        return problem_response(422, exc.code, _counted("invalid intake", errors), errors)

    @app.exception_handler(RequestValidationError)
    async def request_error(_request: Request, exc: RequestValidationError) -> Response:
        errors = [(_validation_path(tuple(e.get("loc", ()))), str(e.get("msg", ""))) for e in exc.errors()]
        return problem_response(422, "NS102", _counted("invalid request", errors), errors)

    @app.exception_handler(UnsupportedMediaTypeError)
    async def media_type_error(_request: Request, exc: UnsupportedMediaTypeError) -> Response:
        return problem_response(415, "NS415", str(exc), headers={"Accept-Post": ", ".join(MEDIA_TYPES)})

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
    intake = intake_schema().copy()
    # The intake's own definitions replace those FastAPI derived from the models (records embed the intake): only
    # they carry what the service checks beyond the models' schema (see bodies.intake_schema).
    components.update(intake.pop("$defs", {}))
    components["Intake"] = intake
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in components["Problem"].pop("$defs", {}).items():
        components.setdefault(name, definition)
    for name in list(components):
        components[name] = _refs(components[name])
    app.openapi_schema = doc
    return doc


def _refs(node: Any) -> Any:
    """The intake schema's ``#/$defs/`` references, pointed at the OpenAPI document's components."""
    if isinstance(node, dict):
        return {
            k: (v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" else _refs(v)) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_refs(v) for v in node]
    return node


def _documents(app: FastAPI, settings: Settings) -> None:
    """``/openapi.json`` and ``/docs``: behind a key like every other route, unless ``open_docs`` opens them."""
    guard = [] if settings.open_docs else [Depends(principal)]

    @app.get("/openapi.json", include_in_schema=False, dependencies=guard)
    async def openapi_document() -> Response:
        return json_response(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=guard)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} API")


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
        intake_schema()
        # The ruleset, compiled rules, vocabularies and drug dictionary live as long as the worker: move them out
        # of the cyclic collector's walk, which otherwise costs about 15 ms every few dozen requests (p99).
        freeze_long_lived()
        log_event("started", engine=svc.screener.engine.name, revision=svc.screener.ruleset.revision)
        yield
        svc.close()

    app = FastAPI(
        title="needlescreen",
        version=_version(),
        description="Contraindication screening before dry needling and electrical dry needling, with records.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.service = svc
    for module in (screenings, rules, schema, questionnaire, health, impact):
        app.include_router(module.router)
    _documents(app, settings)
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
    app.add_middleware(_Guard, max_body=settings.max_body, read_timeout=settings.read_timeout)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _uvicorn_binding() -> str | None:
    """The address the uvicorn that is loading this app will listen on (None: not loaded by uvicorn).

    uvicorn does not tell an app factory where it listens, so the factory reads it from the ``Config`` that is
    calling it (``Config.load``, up the stack): its ``host``, a socket it was handed (``fd``), or a Unix socket.
    """
    frame = sys._getframe(1)
    while frame is not None:
        config = frame.f_locals.get("self")
        if config is not None and frame.f_code.co_name == "load" and type(config).__module__ == "uvicorn.config":
            if getattr(config, "uds", None):
                return "localhost"  # a Unix socket: only this machine reaches it
            fd = getattr(config, "fd", None)
            if fd is not None:
                with socket.socket(fileno=os.dup(fd)) as sock:
                    address = sock.getsockname()
                return str(address[0]) if isinstance(address, tuple) else "localhost"
            return str(config.host)
        frame = frame.f_back  # type: ignore[assignment]
    return None


def app_from_env() -> FastAPI:
    """The uvicorn factory: settings from ``NEEDLESCREEN_*`` and the settings file (``needlescreen serve`` migrated).

    Started by uvicorn directly, the address uvicorn binds counts, not ``NEEDLESCREEN_HOST``: beyond loopback
    without keys the worker stops with one line and uvicorn's start-up failure code (3).
    """
    try:
        settings = Settings.from_env()
        bound = _uvicorn_binding()
        if bound is not None and not is_loopback(bound) and is_loopback(settings.host):
            settings = _with_host(settings, bound)
        return create_app(settings, migrated=os.environ.get("NEEDLESCREEN_MIGRATED") == "1")
    except ValueError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(3)


def _with_host(settings: Settings, host: str) -> Settings:
    import dataclasses

    return dataclasses.replace(settings, host=host)
