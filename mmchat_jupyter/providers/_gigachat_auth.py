"""GigaChat's OAuth access token as an httpx auth flow.

GigaChat's API takes a Bearer token that lives 30 minutes. It is issued by a separate OAuth host in exchange for the
long-lived authorization key (`POST auth_url`, `Authorization: Basic <key>`, `RqUID`, form `scope=...`), and comes
back as `{"access_token": ..., "expires_at": <Unix time in milliseconds>}`.

`GigaChatAuth` is an `httpx.Auth`, so the token request travels through the same client as the API request: same
transport, same TLS verification, no second client. The steps live in one generator shared by the sync and the
async flow; the two differ only in how they read the token response and in the lock they hold while fetching.
The answer itself is never buffered (`requires_response_body` stays false): only the token response is read.
A refused token request ends the flow with the token response, so the caller maps and retries it like any other
error response (a 5xx from the OAuth host is retried, a wrong key is an AuthError).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
import weakref
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
from typing import Any

import httpx

from .._redact import Secret

#: A token this close to its expiry is replaced before use, so it cannot expire between check and answer.
EXPIRY_BUFFER_MS = 60_000


@dataclass(frozen=True)
class AccessToken:
    """An issued token. `expires_at` is Unix time in ms; 0 marks a user-supplied token, trusted until a 401."""

    value: Secret
    expires_at: int = 0

    def usable(self, now_ms: float) -> bool:
        return self.expires_at == 0 or self.expires_at > now_ms + EXPIRY_BUFFER_MS


class TokenCache:
    """The one token of a provider, shared by its sync and async calls, and how to get a new one.

    `unreadable` makes the exception for a 200 token response without a token in it.
    """

    def __init__(
        self,
        *,
        auth_url: str,
        scope: str,
        credentials: Secret | None,
        access_token: Secret | None,
        unreadable: Callable[[httpx.Response], Exception],
    ) -> None:
        self.auth_url = auth_url
        self.scope = scope
        self.credentials = credentials
        self.token = AccessToken(access_token) if access_token else None
        self.lock = threading.Lock()
        self._unreadable = unreadable
        # An asyncio.Lock belongs to one event loop; the widget and tests may run several.
        self._async_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._async_locks_guard = threading.Lock()  # not `lock`: a sync fetch holds that across network I/O

    @property
    def can_fetch(self) -> bool:
        """Whether a new token can be had (a user-supplied token alone cannot be renewed)."""
        return self.credentials is not None

    def valid(self, stale: AccessToken | None = None) -> AccessToken | None:
        """The cached token if it is usable and is not `stale` (the one the server just refused)."""
        token = self.token
        if token is None or token == stale or not token.usable(time.time() * 1000):
            return None
        return token

    def async_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        with self._async_locks_guard:
            return self._async_locks.setdefault(loop, asyncio.Lock())

    def request(self) -> httpx.Request:
        """The OAuth token request."""
        assert self.credentials is not None
        headers = {
            "Authorization": f"Basic {self.credentials.reveal()}",
            "RqUID": str(uuid.uuid4()),
            "Accept": "application/json",
        }
        return httpx.Request("POST", self.auth_url, headers=headers, data={"scope": self.scope})

    def accept(self, response: httpx.Response) -> AccessToken | None:
        """Cache the token from a read token response; None if the OAuth host refused."""
        if response.status_code != 200:
            return None
        try:
            data = response.json()
            value, expires_at = str(data["access_token"]), int(data["expires_at"])
        except (ValueError, KeyError, TypeError):
            raise self._unreadable(response) from None
        if expires_at < 10**11:  # seconds, as one documentation example shows: a ms value is 13 digits today
            expires_at *= 1000
        self.token = AccessToken(Secret(value), expires_at)
        return self.token


@dataclass(frozen=True)
class _Renew:
    """A step of the shared flow: "give me a usable token that is not `stale`"."""

    stale: AccessToken | None


_Step = httpx.Request | _Renew


class GigaChatAuth(httpx.Auth):
    """Bearer auth with a token fetched lazily, replaced ahead of expiry, and renewed once after a 401.

    A 401 arrives before any byte of a streamed answer, so a stream can be repeated with a new token too.
    """

    def __init__(self, tokens: TokenCache) -> None:
        self.tokens = tokens

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        flow = self._flow(request)
        step = next(flow)
        reply: AccessToken | httpx.Response | None
        while True:
            if isinstance(step, _Renew):
                with self.tokens.lock:
                    reply = self.tokens.valid(step.stale)  # another thread may have renewed it meanwhile
                    if reply is None:
                        response = yield self.tokens.request()
                        response.read()
                        reply = self.tokens.accept(response)
                if reply is None:
                    return  # httpx hands the refused token response to the caller
            else:
                reply = yield step
            try:
                step = flow.send(reply)
            except StopIteration:
                return

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow = self._flow(request)
        step = next(flow)
        reply: AccessToken | httpx.Response | None
        while True:
            if isinstance(step, _Renew):
                async with self.tokens.async_lock():
                    reply = self.tokens.valid(step.stale)  # another task may have renewed it meanwhile
                    if reply is None:
                        response = yield self.tokens.request()
                        await response.aread()
                        reply = self.tokens.accept(response)
                if reply is None:
                    return  # httpx hands the refused token response to the caller
            else:
                reply = yield step
            try:
                step = flow.send(reply)
            except StopIteration:
                return

    def _flow(self, request: httpx.Request) -> Generator[_Step, Any, None]:
        """The steps both flows share: yields a request (receives its response) or a `_Renew` (receives a token)."""
        token = self.tokens.valid()
        if token is None:
            token = yield _Renew(stale=None)
        response = yield _with_token(request, token)
        if response.status_code == 401 and self.tokens.can_fetch:
            token = yield _Renew(stale=token)
            yield _with_token(request, token)


def _with_token(request: httpx.Request, token: AccessToken) -> httpx.Request:
    request.headers["Authorization"] = f"Bearer {token.value.reveal()}"
    return request
