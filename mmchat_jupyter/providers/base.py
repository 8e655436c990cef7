"""The provider interface and its two drivers.

A provider is sans-IO at heart: `build_request()` makes an `httpx.Request`, `new_parser()` turns body lines into
`Chunk` deltas, and `error_from_response()` maps an error body to our exception tree. The shared drivers below
(`stream()` for the magic, `astream()` for the widget) do the I/O: send, retry before the first byte, read, and
turn transport failures into `ProviderError`s that keep the text received so far.

A provider that does its own I/O (a local model, another SDK) overrides `stream()` or `astream()` instead of the
sans-IO hooks; the other twin then runs it in a thread (`_bridge`), so it works through every face either way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import httpx

from .. import errors
from .._redact import Secret, clip, install_log_filter
from ..i18n import N_, _
from ..types import Chunk, Completion, GenerationParams, Message
from ._bridge import async_from_sync, sync_from_async
from ._errors import ErrorMapping, tls_verify_failure
from ._parsing import BodyParser, ErrorEvent, MalformedStream, StreamParser
from .options import Options

log = logging.getLogger("mmchat_jupyter.providers")
# httpx and httpcore log requests at DEBUG: scrub any credential before a handler sees it.
install_log_filter()

#: Retry-After is honoured up to this many seconds in total before we give up and tell the user when to retry.
MAX_RETRY_WAIT = 30.0
CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 120.0
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class Provider(ErrorMapping):
    """One LLM service behind one interface (README: "Writing a provider" is the contract for plugins).

    Subclasses set the class attributes, read their settings in `__init__` (explicit keyword > environment) and
    implement `build_request`, `new_parser`, `error_from_response` (GigaChat also overrides `auth`), or override
    `stream`/`astream` outright. `transport` / `async_transport` are injectable (e.g. `httpx.MockTransport`) like
    httpx's own. `Options` declares the generation options it takes (see `options`).
    """

    name: ClassVar[str]
    label: ClassVar[str]
    #: A class default that an instance may shadow (OPENAI_MODEL, GIGACHAT_MODEL): `complete()` reports it.
    default_model: str
    known_models: ClassVar[tuple[str, ...]] = ()
    #: The generation options this provider takes: the common ones, plus its extras in a subclass.
    Options: ClassVar[type[Options]] = Options
    #: The environment variable naming the default model (OPENAI_MODEL...), if there is one.
    model_env: ClassVar[str | None] = None
    #: One line that tells the user which settings hold this provider's credentials.
    auth_hint: ClassVar[str] = ""
    #: Environment variables that hold credentials; a provider without any needs none.
    credential_env: ClassVar[tuple[str, ...]] = ()
    #: The server's address when no `base_url` is given, and the environment variable that overrides it.
    default_base_url: ClassVar[str] = ""
    base_url_env: ClassVar[str | None] = None
    #: Largest context (tokens) of the default model, used to trim long chats.
    context_tokens: ClassVar[int] = 8000
    #: When set, a 200 answer of another media type is a StreamError (e.g. a proxy's HTML page).
    stream_content_type: ClassVar[str | None] = None
    #: What to do when the server's TLS certificate cannot be verified (translated when shown).
    tls_hint: ClassVar[str] = N_("point SSL_CERT_FILE at a CA bundle that includes the server's root certificate")

    def __init__(
        self,
        *,
        base_url: str | None = None,
        read_timeout: float | None = None,
        max_retries: int = 2,
        backoff: float = 0.5,
        verify: Any = True,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        from_env = os.environ.get(self.base_url_env) if self.base_url_env else None
        self.base_url = (base_url or from_env or self.default_base_url).rstrip("/")
        timeout = float(read_timeout or os.environ.get("MMCHAT_READ_TIMEOUT") or DEFAULT_READ_TIMEOUT)
        self.timeout = httpx.Timeout(timeout, connect=CONNECT_TIMEOUT)
        self.max_retries = max_retries
        self.backoff = backoff
        self.verify = verify
        self._transport = transport
        self._async_transport = async_transport
        self._client: httpx.Client | None = None
        self._aclients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
        #: False for a relay that passes each chunk on and needs no `partial_text` in its errors (the gateway):
        #: the drivers then keep nothing of the answer, so memory does not grow with it.
        self.keep_text = True

    # -- what a provider implements (no I/O) ------------------------------------------------------------------

    @classmethod
    def configured(cls, env: Mapping[str, str] = os.environ, settings: Mapping[str, Any] | None = None) -> bool:
        """Whether this provider has what it needs to connect (without checking that it works): no credentials
        needed, or one of `credential_env` set, or a credential among `settings` (its keyword settings)."""
        from ..config import SECRET_SETTINGS

        if not cls.credential_env or any(env.get(var) for var in cls.credential_env):
            return True
        return any(key in SECRET_SETTINGS and value for key, value in (settings or {}).items())

    @classmethod
    def setting_names(cls) -> frozenset[str]:
        """The keyword settings the class takes (`c.MMChat.provider_settings` keys): the named parameters of every
        `__init__` up to Provider's (an `__init__` passes the rest on with `**settings`)."""
        import inspect

        names: set[str] = set()
        for klass in cls.__mro__[: cls.__mro__.index(Provider) + 1]:
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            for parameter in list(inspect.signature(init).parameters.values())[1:]:
                if parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD):
                    names.add(parameter.name)
        return frozenset(names)

    def build_request(self, messages: Sequence[Message], params: GenerationParams) -> httpx.Request:
        """The streaming request for this conversation."""
        raise NotImplementedError

    def check(self, messages: Sequence[Message], params: GenerationParams) -> None:
        """Raise ConfigError now if the request cannot be built (missing folder id, bad CA file...).

        The engine calls this before it saves anything, so a configuration mistake leaves no half turn behind.
        Building a request is pure, so checking costs no I/O. A provider doing its own I/O has nothing to build.
        """
        if _overrides(type(self), "build_request"):
            self.build_request(messages, params)

    def new_parser(self) -> StreamParser:
        """A fresh parser for one streamed response body."""
        raise NotImplementedError

    def error_from_response(self, response: httpx.Response) -> errors.ProviderError:
        """Our exception for a non-200 response whose body has been read."""
        return self.make_error(response.status_code, clip(response.text), response)

    def auth(self) -> httpx.Auth | None:
        """An httpx auth flow for requests that need more than static headers (GigaChat's OAuth)."""
        return None

    def models(self) -> list[str]:
        """Model names this provider offers: what its server lists where it can list them (see `list_models`),
        else the known ones. Raises ProviderError when the server refuses or cannot be reached."""
        return list(self.known_models) or [self.default_model]

    def list_models(self, request: httpx.Request, ids: Any) -> list[str] | None:
        """Send a model-listing `request` and return `ids(payload)`; None when the server has no such listing
        (404, 405, 501) or answers something unreadable. A refused key or an unreachable server raises."""
        try:
            response = self._sync_client().send(request, auth=self.auth() or httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, "") from None
        if response.status_code in (404, 405, 501):
            return None
        if response.status_code != 200:
            raise self.error_from_response(response)
        try:
            return [str(item) for item in ids(response.json())]
        except (ValueError, KeyError, TypeError, AttributeError):
            log.debug("%s: unreadable model list", self.name)
            return None

    # -- shared helpers for subclasses ----------------------------------------------------------------------------

    @staticmethod
    def secret(value: str | Secret | None, *env_vars: str) -> Secret | None:
        """A credential from the explicit value or the first environment variable that is set."""
        if isinstance(value, Secret):
            return value
        for candidate in (value, *(os.environ.get(v) for v in env_vars)):
            if candidate:
                return Secret(candidate)
        return None

    # -- drivers --------------------------------------------------------------------------------------------------

    def stream(self, messages: Iterable[Message], params: GenerationParams | None = None) -> Iterator[Chunk]:
        """Stream the answer to `messages` as Chunk deltas (blocking; interruptible by KeyboardInterrupt)."""
        if not _overrides(type(self), "build_request") and _overrides(type(self), "astream"):
            yield from sync_from_async(lambda: self.astream(messages, params))
            return
        request = self.build_request(list(messages), params or GenerationParams())
        client = self._sync_client()
        waited = 0.0
        for attempt in range(self.max_retries + 1):
            try:
                response = client.send(request, stream=True, auth=self.auth() or httpx.USE_CLIENT_DEFAULT)
            except httpx.HTTPError as exc:
                delay = self._retry_delay(attempt, None, waited, exc)
                if delay is None:
                    raise self._transport_error(exc, "") from None
                waited += delay
                time.sleep(delay)
                continue
            try:
                if response.status_code != 200:
                    response.read()
                    error = self.error_from_response(response)
                    delay = self._retry_delay(attempt, error, waited)
                    if delay is None:
                        raise error
                    waited += delay
                    time.sleep(delay)
                    continue
                body, answer = BodyParser(self.new_parser()), Completion(keep_text=self.keep_text)
                try:
                    self._check_content_type(response)
                    for data in response.iter_bytes():  # decoded: a server may gzip the stream
                        for chunk in body.feed(data):
                            answer.add(chunk)
                            yield chunk
                    for chunk in body.finish():
                        answer.add(chunk)
                        yield chunk
                except (httpx.HTTPError, MalformedStream, ErrorEvent) as exc:
                    raise self._transport_error(exc, answer.text, response) from None
                return
            finally:
                response.close()

    async def astream(
        self, messages: Iterable[Message], params: GenerationParams | None = None
    ) -> AsyncIterator[Chunk]:
        """The async twin of `stream()`: same requests, same parser, same chunks."""
        if not _overrides(type(self), "build_request") and _overrides(type(self), "stream"):
            async for chunk in async_from_sync(lambda: self.stream(messages, params)):
                yield chunk
            return
        request = self.build_request(list(messages), params or GenerationParams())
        client = self._async_client()
        waited = 0.0
        for attempt in range(self.max_retries + 1):
            try:
                response = await client.send(request, stream=True, auth=self.auth() or httpx.USE_CLIENT_DEFAULT)
            except httpx.HTTPError as exc:
                delay = self._retry_delay(attempt, None, waited, exc)
                if delay is None:
                    raise self._transport_error(exc, "") from None
                waited += delay
                await asyncio.sleep(delay)
                continue
            try:
                if response.status_code != 200:
                    await response.aread()
                    error = self.error_from_response(response)
                    delay = self._retry_delay(attempt, error, waited)
                    if delay is None:
                        raise error
                    waited += delay
                    await asyncio.sleep(delay)
                    continue
                body, answer = BodyParser(self.new_parser()), Completion(keep_text=self.keep_text)
                try:
                    self._check_content_type(response)
                    async for data in response.aiter_bytes():
                        for chunk in body.feed(data):
                            answer.add(chunk)
                            yield chunk
                    for chunk in body.finish():
                        answer.add(chunk)
                        yield chunk
                except (httpx.HTTPError, MalformedStream, ErrorEvent) as exc:
                    raise self._transport_error(exc, answer.text, response) from None
                return
            finally:
                await response.aclose()

    def complete(self, messages: Iterable[Message], params: GenerationParams | None = None) -> Completion:
        """The whole answer at once. Raises ContentFiltered when the provider's filter replaced it."""
        answer = Completion(model=(params.model if params else None) or self.default_model)
        for chunk in self.stream(messages, params):
            answer.add(chunk)
        return self._checked(answer)

    async def acomplete(self, messages: Iterable[Message], params: GenerationParams | None = None) -> Completion:
        """The async twin of `complete()`."""
        answer = Completion(model=(params.model if params else None) or self.default_model)
        async for chunk in self.astream(messages, params):
            answer.add(chunk)
        return self._checked(answer)

    def close(self) -> None:
        """Close pooled connections (the async clients close with their event loops)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} base_url={self.base_url!r}>"

    # -- internals ------------------------------------------------------------------------------------------------

    def _checked(self, answer: Completion) -> Completion:
        if answer.finish_reason == "content_filter":
            text = _("{label}'s content filter withheld the answer: rephrase the request.")
            raise errors.ContentFiltered(text.format(label=self.label), text=answer.text, provider=self.name)
        return answer

    def _sync_client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout, verify=self.verify, transport=self._transport)
        return self._client

    def _async_client(self) -> httpx.AsyncClient:
        # An AsyncClient belongs to the loop it first ran on; the widget and tests may use several loops.
        # Keyed by the loop itself, not id(): a new loop may reuse a closed one's id and get a client bound to it.
        loop = asyncio.get_running_loop()
        client = self._aclients.get(loop)
        if client is None:
            client = httpx.AsyncClient(timeout=self.timeout, verify=self.verify, transport=self._async_transport)
            self._aclients = {loop: client}
        return client

    def _retry_delay(
        self,
        attempt: int,
        error: errors.ProviderError | None,
        waited: float,
        exc: Exception | None = None,
    ) -> float | None:
        """Seconds to wait before retrying, or None to give up. Only called before any byte of an answer."""
        if attempt >= self.max_retries:
            return None
        if error is not None and error.status not in RETRYABLE_STATUSES:
            return None
        if exc is not None and not isinstance(exc, (httpx.ConnectError, httpx.RemoteProtocolError)):
            return None
        if exc is not None and tls_verify_failure(exc):  # retrying cannot fix a certificate
            return None
        retry_after = error.retry_after if isinstance(error, errors.RateLimitError) else None
        delay = retry_after if retry_after is not None else self.backoff * 2**attempt + random.uniform(0, 0.1)
        if waited + delay > MAX_RETRY_WAIT:
            return None
        log.debug("%s: retrying in %.1f s (attempt %d)", self.name, delay, attempt + 1)
        return delay

    def _check_content_type(self, response: httpx.Response) -> None:
        expected = self.stream_content_type
        got = response.headers.get("content-type", "").partition(";")[0].strip().lower()
        if expected and got != expected:
            raise MalformedStream(f"expected {expected}, got {got or 'no content type'}")

def _overrides(cls: type, method: str) -> bool:
    """Whether `cls` (a Provider subclass) has its own `method`."""
    return getattr(cls, method) is not getattr(Provider, method)
