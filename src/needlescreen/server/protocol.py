"""uvicorn's HTTP/1.1 protocol (httptools) with a cap on the request head, a deadline to send it, and problems.

Below the ASGI app, uvicorn reads a request's line and headers with no size limit and no time limit (a 100 MB
header is read in full; a connection that trickles a byte now and then stays open for ever), and answers a
malformed request with a text/plain 400. :class:`Protocol` adds, per connection:

* a cap on the request line and headers (``max_header`` bytes): past it, 431 and the connection is closed;
* a deadline to send them (``read_timeout`` seconds from the first byte of a request, or from the connection when
  nothing comes): past it, 408 and closed (closed silently when not a byte came);
* RFC 9457 problems (``application/problem+json``) for these and for uvicorn's own 400.

The body's size and time limits live in the ASGI layer (:mod:`needlescreen.server.app`), where the route is known.
``needlescreen serve`` runs this protocol; with uvicorn itself, pass ``--http needlescreen.server.protocol:Protocol``.
Its limits come from the same settings (``NEEDLESCREEN_MAX_HEADER``, ``NEEDLESCREEN_READ_TIMEOUT`` or the settings
file), read once per worker process.
"""

from __future__ import annotations

import asyncio
import time
from functools import cache
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .logs import elapsed_ms, log_event
from .problems import MEDIA_TYPE, problem_bytes
from .settings import Settings

__all__ = ["Protocol"]


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head past the limit (httptools wraps it)."""


@cache
def _limits() -> tuple[int, float]:
    settings = Settings.from_env()
    return settings.max_header, settings.read_timeout


class Protocol(HttpToolsProtocol):
    """One HTTP/1.1 connection, as uvicorn's httptools protocol, within the head limits of the settings."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_head, self._timeout = _limits()
        self._in_head = True
        self._head_bytes = 0  # of the head's parts the parser has handed over
        self._chunk_bytes = 0  # received while the head is incomplete
        self._head_started = 0.0
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self._timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def data_received(self, data: bytes) -> None:
        # uvicorn's own, but a head over the limit is answered 431, not logged as an invalid request.
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                self._too_large()
                return
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("")
            return
        except httptools.HttpParserError:
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._in_head and not self.transport.is_closing():
            # A head still incomplete: every byte of the chunk was head (the parser holds the partial header
            # itself, so this counts what the callbacks below have not seen yet).
            self._chunk_bytes += len(data)
            if self._chunk_bytes > self._max_head:
                self._too_large()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self._max_head:
            raise _HeadTooLarge

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def _too_large(self) -> None:
        self._refuse(431, "NS431", f"the request line and headers are larger than {self._max_head} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = self._chunk_bytes = 0
        self._head_started = time.perf_counter()
        self._disarm()  # the deadline runs from a request's first byte (the connection's idle time is keep-alive's)
        self._arm()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = self._chunk_bytes = 0
        self._disarm()
        super().on_headers_complete()

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._in_head or self.transport.is_closing():
            return
        if self._head_started:
            self._refuse(408, "NS408", f"the request line and headers did not arrive within {self._timeout:g} s")
        else:
            self.transport.close()  # a connection that never sent a byte: nothing to answer

    def send_400_response(self, _msg: str) -> None:
        self._refuse(400, "NS400", "the request is not valid HTTP/1.1")

    def _refuse(self, status: int, code: str, detail: str) -> None:
        body = problem_bytes(status, code, detail)
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: ",
            MEDIA_TYPE.encode(),
            b"\r\ncontent-length: ",
            str(len(body)).encode(),
            b"\r\nconnection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
        self._in_head = False
        self._disarm()
        started = self._head_started or time.perf_counter()
        log_event("request", method=None, route="(request head)", status=status, ms=elapsed_ms(started))
