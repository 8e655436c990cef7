"""A tiny threaded HTTP/1.1 server on 127.0.0.1 that provider fakes build on.

A fake subclasses `FakeServer`, and registers routes `(method, path) -> handler(request) -> Reply`. A `Reply`
is a status, headers and a body that is sent either whole or as timed chunks with chunked transfer encoding,
optionally cut off mid-stream (`drop_after` chunks) to simulate a dropped connection. Faults are queued with
`fail_next(...)` and consumed one per request (optionally only by requests to one path). Every request is recorded
in `requests` so tests can assert what the client really sent (headers, JSON body, conversation history).
`finalize()` lets a fake add what every reply carries (e.g. request-id headers); `ssl_context` serves HTTPS.
`trickle_transports()` is the socket-free counterpart for parser tests: a body served one byte per read.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: When set, the body is sent with chunked encoding, one piece per entry, `delay` seconds apart.
    chunks: list[bytes] | None = None
    delay: float = 0.0
    #: Seconds to wait before sending anything (to provoke read timeouts).
    stall: float = 0.0
    #: Close the connection abruptly after this many chunks (a connection dropped mid-stream).
    drop_after: int | None = None

    @classmethod
    def json(cls, status: int, payload: Any, **headers: str) -> Reply:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(status, {"Content-Type": "application/json; charset=utf-8", **headers}, body)


Handler = Callable[[Request], Reply]


class FakeServer:
    """Start with `with FakeServer() as server:` or `start()`/`stop()`; `server.url` is the base URL."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[Request] = []
        #: Paths of the requests whose client closed the connection before the reply was sent whole.
        self.hangups: list[str] = []
        self.ssl_context = ssl_context
        #: (path or None for any path, reply), consumed in order by the first matching request.
        self._faults: list[tuple[str | None, Reply]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- configuration -------------------------------------------------------------------------------------------

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method.upper(), path)] = handler

    def fail_next(self, reply: Reply, times: int = 1, path: str | None = None) -> None:
        """Answer the next `times` requests (to `path`, when given) with `reply` instead of the route's handler."""
        with self._lock:
            self._faults.extend([(path, reply)] * times)

    def finalize(self, request: Request, reply: Reply) -> Reply:
        """Called on every reply, faults included, just before it is sent; fakes override it."""
        return reply

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self.requests.clear()
            self.hangups.clear()

    # -- lifecycle -----------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{host}:{port}"

    def start(self) -> FakeServer:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body pieces go out in separate writes: without this, each waits ~40 ms for a delayed ACK.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def handle(self) -> None:
                try:
                    super().handle()
                except ConnectionError:  # the client hung up (a fault test timed out): nothing to report
                    self.close_connection = True

            def _handle(self) -> None:
                server._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        if self.ssl_context is not None:
            self._httpd.socket = self.ssl_context.wrap_socket(self._httpd.socket, server_side=True)
        # A short poll interval: stop() waits for one, and every test stops a server.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving -------------------------------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        request = Request(
            method=handler.command,
            path=split.path,
            query=parse_qs(split.query),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
        )
        with self._lock:
            self.requests.append(request)
            fault = next((i for i, (path, _) in enumerate(self._faults) if path in (None, request.path)), None)
            reply = self._faults.pop(fault)[1] if fault is not None else None
        if not self._write(handler, self.finalize(request, reply or self._dispatch(request))):
            with self._lock:
                self.hangups.append(request.path)

    def _dispatch(self, request: Request) -> Reply:
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            return Reply.json(404, {"message": f"no route {request.method} {request.path}"})
        return handler(request)

    @staticmethod
    def _write(handler: BaseHTTPRequestHandler, reply: Reply) -> bool:
        """Send `reply`; False when the client hung up first."""
        if reply.stall:
            time.sleep(reply.stall)
        try:
            handler.send_response(reply.status)
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            if reply.chunks is None:
                handler.send_header("Content-Length", str(len(reply.body)))
                handler.end_headers()
                handler.wfile.write(reply.body)
                return True
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            for i, piece in enumerate(reply.chunks):
                if reply.drop_after is not None and i >= reply.drop_after:
                    handler.wfile.flush()
                    handler.close_connection = True
                    handler.connection.shutdown(2)  # abrupt: no terminating zero-size chunk
                    return True
                if reply.delay and i:
                    time.sleep(reply.delay)
                if piece:
                    handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    handler.wfile.flush()
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True
            return False
        return True


def trickle_transports(body: bytes, headers: dict[str, str]) -> tuple[httpx.MockTransport, httpx.MockTransport]:
    """httpx transports (sync, async) answering every request with `body` one byte per read: every split point a
    network read could make, mid-UTF-8 included, in one run. No socket: for parser-parity tests only."""

    def pieces() -> Iterator[bytes]:
        yield from (body[i : i + 1] for i in range(len(body)))

    async def apieces() -> AsyncIterator[bytes]:
        for i in range(len(body)):
            yield body[i : i + 1]

    sync = httpx.MockTransport(lambda request: httpx.Response(200, headers=headers, content=pieces()))
    async_ = httpx.MockTransport(lambda request: httpx.Response(200, headers=headers, content=apieces()))
    return sync, async_
