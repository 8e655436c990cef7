"""Credentials in what a server sends back never reach the user, not even a prefix: a key cut at every position.

A proxy in front of a provider may echo the request's `Authorization` header in its error body. The body is cut
to a readable length for the one-line error; redacting after that cut would leave half a key behind, and a key we
never knew (the proxy's own, a colleague's) is masked by the scheme word in front of it.
"""

from __future__ import annotations

import httpx
import pytest

from mmchat_jupyter._redact import CLIP_LENGTH, Secret, clip, mask_credentials
from mmchat_jupyter.errors import ProviderError
from mmchat_jupyter.providers import get_provider
from mmchat_jupyter.types import Message

#: Digits and capitals in no pattern: no 3-character window of it occurs in any English or Russian message.
KEY = "7Q9X2K4V8M3T6B1R5W0Z"
SCHEMES = ("Bearer", "Api-Key", "Basic", "OAuth")
PROVIDERS = {
    "openai": {"api_key": "sk-configured-openai-0000", "base_url": "http://127.0.0.1:9/v1"},
    "yandexgpt": {"api_key": "AQVN-configured-yandex-0000", "folder_id": "b1g", "base_url": "http://127.0.0.1:9"},
    "gigachat": {"credentials": "Y29uZmlndXJlZC1naWdhY2hhdA==", "base_url": "http://127.0.0.1:9/api/v1",
                 "auth_url": "http://127.0.0.1:9/api/v2/oauth"},
}


def leaked(text: str, key: str = KEY) -> list[str]:
    """Every 3-character piece of `key` that appears in `text`."""
    return [key[i:i + 3] for i in range(len(key) - 2) if key[i:i + 3] in text]


def bodies(scheme: str, key: str):
    """Error bodies that put the key across the cut at every position, as text and inside a JSON message."""
    header = f"Authorization: {scheme} "
    for start in range(CLIP_LENGTH - len(header) - len(key) - 2, CLIP_LENGTH + 2):
        pad = "." * (start - len("upstream said ")) if start > 14 else ""
        yield f"upstream said {pad}{header}{key} and more"
        yield '{"error": {"message": "' + pad + header + key + '"}}'


@pytest.mark.parametrize("scheme", SCHEMES)
def test_clip_masks_before_it_cuts(scheme: str) -> None:
    for body in bodies(scheme, KEY):
        out = clip(body)
        assert len(out) <= CLIP_LENGTH
        assert not leaked(out), (body, out)


@pytest.mark.parametrize("name", PROVIDERS)
@pytest.mark.parametrize("known", [True, False], ids=["known-key", "unknown-key"])
def test_provider_errors_keep_no_piece_of_an_echoed_key(name: str, known: bool) -> None:
    key = KEY if not known else KEY[::-1]
    if known:
        Secret(key)  # as a configured credential is: redact() knows its value
    provider = get_provider(name, max_retries=0, **PROVIDERS[name])
    request = httpx.Request("POST", "http://127.0.0.1:9/")
    for scheme in SCHEMES:
        for status in (400, 401, 502):
            for body in bodies(scheme, key):
                error = provider.error_from_response(httpx.Response(status, text=body, request=request))
                assert not leaked(str(error), key), (name, status, body, str(error))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_key_the_proxy_cut_short_is_masked_too(scheme: str) -> None:
    """The proxy itself may echo only part of the header: every prefix of the key is masked all the same."""
    for cut in range(1, len(KEY) + 1):
        assert leaked(mask_credentials(f'{{"echo": "{scheme} {KEY[:cut]}"}}'), KEY[:cut]) == []


def test_the_whole_way_through_a_stream() -> None:
    """A streamed request refused by a proxy: the ProviderError the faces show and history saves is clean."""

    def refuse(request: httpx.Request) -> httpx.Response:
        echo = request.headers["Authorization"]
        return httpx.Response(403, text="x" * 260 + f" forbidden for {echo} and Bearer {KEY}")

    provider = get_provider("openai", api_key="sk-stream-key-3141592653", base_url="http://127.0.0.1:9/v1",
                            max_retries=0, transport=httpx.MockTransport(refuse))
    with pytest.raises(ProviderError) as info:
        list(provider.stream([Message("user", "hi")]))
    assert not leaked(str(info.value)) and not leaked(str(info.value), "sk-stream-key-3141592653")


def test_a_scheme_word_with_no_value_stays() -> None:
    assert mask_credentials("Basic. bearer") == "Basic. bearer"
    assert mask_credentials("Authorization: Bearer") == "Authorization: Bearer"
