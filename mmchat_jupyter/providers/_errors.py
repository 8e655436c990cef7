"""How a provider's failures become our exceptions, each with a one-line "what to do".

`ErrorMapping` is part of `Provider` (its base): `make_error()` maps a status and the server's own words, which
a provider's `error_from_response()` calls; `_transport_error()` maps what is not an error response (a dropped
connection, a timeout, a body we cannot read, an error event inside a stream); `unreachable()` is the line for a
server that cannot be reached, which a provider with a second host (GigaChat's OAuth service) refines.
"""

from __future__ import annotations

import math
import re
import ssl
from typing import Any, ClassVar, TypedDict

import httpx

from .. import errors
from .._redact import clip
from ..i18n import _
from ._parsing import ErrorEvent, MalformedStream


class ErrorMapping:
    """The exception side of a provider (see the module docstring); mixed into `Provider`."""

    name: ClassVar[str]
    label: ClassVar[str]
    auth_hint: ClassVar[str]
    tls_hint: ClassVar[str]
    base_url: str
    timeout: httpx.Timeout

    def make_error(
        self, status: int, server_message: str, response: httpx.Response | None = None
    ) -> errors.ProviderError:
        """Map a status and the server's own message to our exception with a one-line 'what to do'."""
        headers = response.headers if response is not None else httpx.Headers()
        common = _ErrorContext(provider=self.name, status=status, request_id=_request_id(headers))
        said = clip(server_message).strip() or httpx.codes.get_reason_phrase(status)
        if status in (401, 403):
            text = _("{label} rejected the credentials ({status}: {said}): {hint}.")
            return errors.AuthError(
                text.format(label=self.label, status=status, said=said, hint=_(self.auth_hint)), **common
            )
        if status == 429:
            retry_after = retry_after_of(headers)
            when = (
                _("retry in {seconds:.0f} s").format(seconds=math.ceil(retry_after))
                if retry_after is not None
                else _("wait a minute and retry")
            )
            text = _("{label} is limiting requests (429: {said}): {when}.")
            return errors.RateLimitError(
                text.format(label=self.label, said=said, when=when), retry_after=retry_after, **common
            )
        if status >= 500:
            text = _("{label} failed on its side ({status}: {said}): try again in a minute.")
            return errors.ServerError(text.format(label=self.label, status=status, said=said), **common)
        hints = {
            404: _("check the model name (%chat models {name})").format(name=self.name),
            413: _("the request is too large: shorten the prompt or start a new chat"),
        }
        # Servers that answer an unknown model with 400 (LiteLLM, vLLM) still say so in words.
        model_named = status == 400 and re.search(r"\bmodel\b", said, re.IGNORECASE) is not None
        hint = hints.get(404 if model_named else status, _("check the model and the generation parameters"))
        text = _("{label} refused the request ({status}: {said}): {hint}.")
        return errors.InvalidRequestError(text.format(label=self.label, status=status, said=said, hint=hint), **common)

    def _transport_error(
        self, exc: Exception, partial: str, response: httpx.Response | None = None
    ) -> errors.ProviderError:
        """Our exception for a failure other than an error response; `response` when the answer had begun.

        An `ErrorEvent` (the server reported an error mid-stream) is mapped like an error response.
        """
        if isinstance(exc, ErrorEvent):
            error = self.make_error(exc.status, exc.message, response)
            error.partial_text = partial
            return error
        common: dict[str, Any] = {"provider": self.name, "partial_text": partial}
        if response is not None:
            common.update(status=response.status_code, request_id=_request_id(response.headers))
        if isinstance(exc, MalformedStream):
            text = _("{label} sent a response we cannot read ({detail}): try again; report it if it persists.")
            return errors.StreamError(text.format(label=self.label, detail=exc), **common)
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            text = _("{label} did not answer within {seconds:g} s: try again, or raise MMCHAT_READ_TIMEOUT.")
            return errors.ProviderTimeout(text.format(label=self.label, seconds=self.timeout.read), **common)
        url = _failed_url(exc)
        if partial:
            message = _("The connection to {label} dropped mid-answer: the text so far is kept; try again.").format(
                label=self.label)
        elif tls_verify_failure(exc):
            message = _("Cannot verify the TLS certificate of {label} at {url}: {hint}.").format(
                label=self.label, url=url or self.base_url, hint=_(self.tls_hint))
        else:
            message = self.unreachable(url)
        return errors.ProviderConnectionError(message, **common)

    def unreachable(self, url: str | None) -> str:
        """The one line for a server that cannot be reached; `url` is the address that failed, when known."""
        text = _("Cannot reach {label} at {url}: check the network, proxy settings and the base URL.")
        return text.format(label=self.label, url=url or self.base_url)


def _failed_url(exc: BaseException) -> str | None:
    """The address (scheme, host, port, path) of the request that failed, when httpx knows it."""
    try:
        request = exc.request  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):  # httpx raises RuntimeError when the error has no request
        return None
    url = request.url
    return str(url.copy_with(query=None, fragment=None))


def tls_verify_failure(exc: BaseException) -> bool:
    """Whether `exc` was caused by a certificate that could not be verified (httpx chains the ssl error)."""
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:  # a hand-made chain may loop
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    return any(isinstance(link, ssl.SSLCertVerificationError) for link in chain)


class _ErrorContext(TypedDict):
    """What every ProviderError is told besides its message."""

    provider: str
    status: int | None
    request_id: str | None


def _request_id(headers: httpx.Headers) -> str | None:
    request_id: str | None = headers.get("x-request-id") or headers.get("x-server-trace-id")
    return request_id


def retry_after_of(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
