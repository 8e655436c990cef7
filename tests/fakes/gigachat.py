"""A loopback GigaChat: the OAuth host and the v1 API in one server, speaking the recorded wire format.

Point a provider at it with `auth_url=f"{fake.url}{OAUTH_PATH}"` and `base_url=f"{fake.url}/api/v1"` (see
`fake.settings()`). Answers are either scripted (`fake.script(["Hello", " world"])`, streamed as real-looking
deltas) or a recorded SSE body replayed byte for byte (`fake.replay(body)`). Faults: `fail(status)` with
GigaChat's real error bodies, `stall()`, `drop_after()`, `slow()`, `malformed()`, `expire_tokens()`.
`conversations` holds the `messages` each chat request carried.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

from .server import FakeServer, Reply, Request

OAUTH_PATH = "/api/v2/oauth"
CHAT_PATH = "/api/v1/chat/completions"
MODELS_PATH = "/api/v1/models"

#: base64("mmchat-test:not-a-real-secret"): the shape of a real authorization key.
CREDENTIALS = "bW1jaGF0LXRlc3Q6bm90LWEtcmVhbC1zZWNyZXQ="
SCOPES = ("GIGACHAT_API_PERS", "GIGACHAT_API_B2B", "GIGACHAT_API_CORP")

#: The model list recorded in January 2026 (`test_get_models.yaml`), id -> type.
MODEL_TYPES = {
    **dict.fromkeys(
        ["GigaChat", "GigaChat-2", "GigaChat-2-Max", "GigaChat-2-Max-preview", "GigaChat-2-Pro"]
        + ["GigaChat-2-Pro-preview", "GigaChat-2-preview", "GigaChat-Max", "GigaChat-Max-preview"]
        + ["GigaChat-Plus", "GigaChat-Pro", "GigaChat-Pro-preview", "GigaChat-preview"],
        "chat",
    ),
    "GigaFilter": "filter",
    "GigaCheckClassification": "aicheck",
    "GigaCheckDetection": "aicheck",
    **dict.fromkeys(["Embeddings", "Embeddings-2", "EmbeddingsGigaR", "GigaEmbeddings-3B-2025-09"], "embedder"),
}
#: Accepted by the chat endpoint: the listed chat models and one seen in 2026 cassettes.
CHAT_MODELS = frozenset({m for m, kind in MODEL_TYPES.items() if kind == "chat"} | {"GigaChat-3-Ultra"})

#: The messages GigaChat sends with each status (recorded where known, else from its documentation).
ERROR_MESSAGES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Permission denied",
    404: "No such model",
    413: "Payload too large",
    422: "Invalid params: system message must be the first message",
    429: "Too many requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_VERSION = "2.0.28.2"
_EVENT_END = re.compile(rb"(?<=\n\n)")


class FakeGigaChat(FakeServer):
    """GigaChat's OAuth host and API. One authorization key (`credentials`) allowed the given `scopes`."""

    def __init__(
        self,
        *,
        credentials: str = CREDENTIALS,
        scopes: tuple[str, ...] = ("GIGACHAT_API_PERS",),
        token_lifetime: float = 1800.0,
        **server: Any,
    ) -> None:
        super().__init__(**server)
        self.credentials = credentials
        self.scopes = scopes
        #: Seconds an issued token stays valid (30 minutes on the real service).
        self.token_lifetime = token_lifetime
        #: Issued token -> expiry (Unix seconds).
        self.tokens: dict[str, float] = {}
        self.models_body = json.dumps(
            {"object": "list", "data": [_model(m, kind) for m, kind in MODEL_TYPES.items()]}, separators=(",", ":")
        ).encode()
        self._state = threading.Lock()
        self._script, self._finish_reason = ["Hello", "!"], "stop"
        #: A recorded body's events, replayed instead of the script when set.
        self._replay: list[bytes] | None = None
        self._shapes: list[dict[str, Any]] = []
        self.route("POST", OAUTH_PATH, self._oauth)
        self.route("POST", CHAT_PATH, self._chat)
        self.route("GET", MODELS_PATH, self._models)

    # -- configuration -------------------------------------------------------------------------------------------

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Provider keywords that point both hosts at this server."""
        base = {"credentials": self.credentials, "auth_url": self.url + OAUTH_PATH, "base_url": self.url + "/api/v1"}
        return {**base, **overrides}

    def script(self, pieces: list[str], *, finish_reason: str = "stop") -> None:
        """Answer every chat request from now on with these deltas (usage counted like the real server)."""
        with self._state:
            self._script, self._finish_reason, self._replay = list(pieces), finish_reason, None

    def replay(self, body: bytes) -> None:
        """Answer every chat request from now on with this recorded SSE body, one event per network write."""
        with self._state:
            self._replay = [piece for piece in _EVENT_END.split(body) if piece]

    def expire_tokens(self) -> None:
        """Every token issued so far expires now."""
        with self._state:
            self.tokens = dict.fromkeys(self.tokens, 0.0)

    def fail(
        self, status: int, *, times: int = 1, message: str | None = None, retry_after: float | None = None
    ) -> None:
        """The next `times` chat requests get `status` with GigaChat's error body (and Retry-After, if given)."""
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        reply = _error(status, message or ERROR_MESSAGES.get(status, "Error"), **headers)
        self.fail_next(reply, times=times, path=CHAT_PATH)

    def stall(self, seconds: float) -> None:
        """The next chat request gets nothing at all for `seconds` (a read timeout for the client)."""
        self.fail_next(Reply(stall=seconds), path=CHAT_PATH)

    def drop_after(self, events: int) -> None:
        """The next answer is cut off after `events` SSE events, without the end of the chunked body."""
        self._shapes.append({"drop_after": events})

    def slow(self, delay: float) -> None:
        """The next answer's events come `delay` seconds apart."""
        self._shapes.append({"delay": delay})

    def malformed(self, after: int = 1) -> None:
        """The next answer has a line that is not JSON after `after` events."""
        self._shapes.append({"malformed": after})

    # -- inspection ----------------------------------------------------------------------------------------------

    def calls(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    @property
    def token_requests(self) -> int:
        return len(self.calls(OAUTH_PATH))

    @property
    def chat_requests(self) -> int:
        return len(self.calls(CHAT_PATH))

    @property
    def conversations(self) -> list[list[dict[str, Any]]]:
        """The `messages` of each chat request, oldest first."""
        return [r.json()["messages"] for r in self.calls(CHAT_PATH) if r.body]

    # -- endpoints -----------------------------------------------------------------------------------------------

    def finalize(self, request: Request, reply: Reply) -> Reply:
        # The real API echoes the client's ids, or makes its own; the OAuth host sends neither.
        if request.path != OAUTH_PATH:
            reply.headers.setdefault("X-Request-Id", request.header("x-request-id") or str(uuid.uuid4()))
            reply.headers.setdefault("X-Session-Id", request.header("x-session-id") or str(uuid.uuid4()))
        reply.headers.setdefault("Server", "SynGX")
        return reply

    def _oauth(self, request: Request) -> Reply:
        scheme, _, key = (request.header("authorization") or "").partition(" ")
        if scheme.lower() != "basic" or not key:
            return _oauth_error(400, 4, "Can't decode 'Authorization' header")
        if not _is_uuid(request.header("rquid")):
            return _oauth_error(400, 4, "RqUID header is required")  # the real text is not recorded
        scope = parse_qs(request.body.decode()).get("scope", [""])[0]
        if not scope:
            return _oauth_error(400, 5, "scope is empty")
        if scope not in SCOPES:
            return _oauth_error(400, 1, "scope data format invalid")
        if key != self.credentials:
            return _oauth_error(401, 6, "credentials doesn't match db data")
        if scope not in self.scopes:
            return _oauth_error(401, 7, "scope from db not fully includes consumed scope")
        token, expires = secrets.token_urlsafe(96), time.time() + self.token_lifetime
        with self._state:
            self.tokens[token] = expires
        payload = {"access_token": token, "expires_at": int(expires * 1000)}
        no_cache = "no-cache, no-store, max-age=0, must-revalidate"
        return Reply.json(200, payload, **{"Content-Type": "application/json", "Cache-Control": no_cache})

    def _unauthorized(self, request: Request) -> Reply | None:
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        with self._state:
            expires = self.tokens.get(token) if scheme.lower() == "bearer" else None
        if expires is None:
            return _error(401, "Unauthorized")
        if expires <= time.time():
            return _error(401, "Token has expired")
        return None

    def _models(self, request: Request) -> Reply:
        refused = self._unauthorized(request)
        if refused is not None:
            return refused
        return Reply(200, {"Content-Type": "application/json; charset=utf-8"}, self.models_body)

    def _chat(self, request: Request) -> Reply:
        refused = self._unauthorized(request)
        if refused is not None:
            return refused
        try:
            body = request.json()
            model, messages = body["model"], body["messages"]
        except (ValueError, KeyError, TypeError):
            return _error(400, "Bad request")
        if model not in CHAT_MODELS:
            return _error(404, "No such model")
        if any(m.get("role") == "system" for m in messages[1:]):
            return _error(422, ERROR_MESSAGES[422])
        with self._state:
            replay, script, finish_reason = self._replay, self._script, self._finish_reason
            shape = self._shapes.pop(0) if self._shapes else {}
        events = list(replay) if replay is not None else _script_events(script, model, finish_reason, messages)
        if "malformed" in shape:
            events.insert(shape.pop("malformed"), b'data: {"choices":[{"delta":{"content":"cut\n\n')
        return Reply(200, {"Content-Type": "text/event-stream"}, chunks=events, **shape)


def _script_events(pieces: list[str], model: str, finish_reason: str, messages: list[dict]) -> list[bytes]:
    """SSE events shaped like the 2026 recordings: role on the first delta, usage only on the last data event."""
    common = {"created": int(time.time()), "model": f"{model}:{_VERSION}", "object": "chat.completion"}
    events = []
    for i, piece in enumerate(pieces):
        delta = {"content": piece, "role": "assistant"} if i == 0 else {"content": piece}
        events.append(_event({"choices": [{"delta": delta, "index": 0}], **common}))
    prompt = sum(len(str(m.get("content", "")).split()) for m in messages)
    usage = {"prompt_tokens": prompt, "completion_tokens": len(pieces), "total_tokens": prompt + len(pieces)}
    final = {"delta": {"content": ""}, "index": 0, "finish_reason": finish_reason}
    events.append(_event({"choices": [final], **common, "usage": {**usage, "precached_prompt_tokens": 0}}))
    events.append(b"data: [DONE]\n\n")
    return events


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def _model(model_id: str, kind: str) -> dict[str, str]:
    return {"id": model_id, "object": "model", "owned_by": "salutedevices", "type": kind}


def _error(status: int, message: str, **headers: str) -> Reply:
    # The recorded 404 is one byte longer than its compact JSON: the real body ends with a newline.
    reply = Reply.json(status, {"status": status, "message": message}, **headers)
    reply.body += b"\n"
    return reply


def _oauth_error(status: int, code: int, message: str) -> Reply:
    return Reply.json(status, {"code": code, "message": message}, **{"Content-Type": "application/json"})


def _is_uuid(value: str | None) -> bool:
    try:
        uuid.UUID(value or "")
    except ValueError:
        return False
    return True
