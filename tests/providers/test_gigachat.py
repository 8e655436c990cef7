"""The GigaChat provider: settings, requests, the recorded streams, the fault matrix and models."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from mmchat_jupyter import errors
from mmchat_jupyter.providers import get_provider
from mmchat_jupyter.providers._parsing import BodyParser, MalformedStream
from mmchat_jupyter.providers.gigachat import GigaChatParser, GigaChatProvider
from mmchat_jupyter.types import Completion, GenerationParams, Message, Usage
from tests.fakes.gigachat import CHAT_PATH
from tests.fakes.server import Reply

ASK = [Message("user", "Say hello")]
RECORDED = {
    "stream_simple": "derived/gigachat_v1_test_stream_simple.sse",
    "astream_simple": "derived/gigachat_v1_test_astream_simple.sse",
    "2023": "gigachat/tests/data/chat_completion.stream",
}


@pytest.fixture(params=sorted(RECORDED))
def recorded(request, fixtures_dir) -> bytes:
    return (fixtures_dir / RECORDED[request.param]).read_bytes()


def oracle(body: bytes) -> tuple[str, Usage | None]:
    """What a recorded body says, read the plainest way: the deltas joined, and the usage if any."""
    text, usage = "", None
    for line in body.decode().splitlines():
        if line.startswith("data: {"):
            event = json.loads(line.removeprefix("data: "))
            text += event["choices"][0]["delta"]["content"]
            usage = event.get("usage", usage)
    return text, usage and Usage(usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"])


def both(provider: GigaChatProvider, messages=ASK, params=None) -> tuple[Completion, Completion]:
    return provider.complete(messages, params), asyncio.run(provider.acomplete(messages, params))


def one_line(error: Exception) -> bool:
    return "\n" not in str(error) and str(error) == " ".join(str(error).split())


# -- settings ---------------------------------------------------------------------------------------------------------


def test_registered_with_its_class_attributes():
    provider = get_provider("gigachat", credentials="a2V5")
    assert isinstance(provider, GigaChatProvider)
    assert (provider.label, provider.default_model, provider.context_tokens) == ("GigaChat", "GigaChat", 32000)
    assert GigaChatProvider.credential_env == ("GIGACHAT_CREDENTIALS", "GIGACHAT_ACCESS_TOKEN")
    assert GigaChatProvider.configured({"GIGACHAT_ACCESS_TOKEN": "x"})
    assert not GigaChatProvider.configured({})


def test_defaults_environment_and_explicit_keywords(monkeypatch):
    provider = GigaChatProvider()
    assert provider.base_url == "https://gigachat.devices.sberbank.ru/api/v1"
    assert provider.auth_url == "https://ngw.devices.sberbank.ru:9443/api/v2/oauth"
    assert (provider.scope, provider.default_model, provider.verify) == ("GIGACHAT_API_PERS", "GigaChat", True)
    monkeypatch.setenv("GIGACHAT_BASE_URL", "https://env.example/api/v1/")
    monkeypatch.setenv("GIGACHAT_SCOPE", "GIGACHAT_API_B2B")
    monkeypatch.setenv("GIGACHAT_MODEL", "GigaChat-2-Max")
    monkeypatch.setenv("GIGACHAT_VERIFY_SSL_CERTS", "False")
    provider = GigaChatProvider()
    assert (provider.base_url, provider.scope) == ("https://env.example/api/v1", "GIGACHAT_API_B2B")
    assert provider.verify is False
    assert json.loads(provider.build_request(ASK, GenerationParams()).read())["model"] == "GigaChat-2-Max"
    provider = GigaChatProvider(base_url="https://kw.example/v1", scope="GIGACHAT_API_CORP", verify_ssl_certs=True)
    assert (provider.base_url, provider.scope, provider.verify) == ("https://kw.example/v1", "GIGACHAT_API_CORP", True)


def test_bad_tls_settings_are_one_line_config_errors(tmp_path, monkeypatch):
    missing = tmp_path / "russian_trusted_root_ca.pem"
    with pytest.raises(errors.ConfigError, match=r"russian_trusted_root_ca\.pem") as caught:
        GigaChatProvider(ca_bundle_file=missing)
    assert one_line(caught.value) and "No such file" in str(caught.value)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    monkeypatch.setenv("GIGACHAT_CA_BUNDLE_FILE", str(garbage))
    with pytest.raises(errors.ConfigError, match=r"garbage\.pem") as caught:
        GigaChatProvider()
    assert one_line(caught.value)
    monkeypatch.delenv("GIGACHAT_CA_BUNDLE_FILE")
    with pytest.raises(errors.ConfigError, match="true or false"):
        GigaChatProvider(verify_ssl_certs="maybe")


# -- the request ------------------------------------------------------------------------------------------------------


def test_streaming_request_with_one_system_message_first():
    provider = GigaChatProvider(base_url="https://h/api/v1")
    messages = [
        Message("system", "Be brief."),
        Message("user", "Hi"),
        Message("assistant", "Hello."),
        Message("system", "Answer in Russian."),
        Message("user", "Count to 3"),
    ]
    request = provider.build_request(messages, GenerationParams(model="GigaChat-2-Pro", temperature=0.3))
    assert (request.method, str(request.url)) == ("POST", "https://h/api/v1/chat/completions")
    assert request.headers["accept"] == "text/event-stream"
    assert request.headers["cache-control"] == "no-store"
    assert json.loads(request.read()) == {
        "model": "GigaChat-2-Pro",
        "messages": [
            {"role": "system", "content": "Be brief.\n\nAnswer in Russian."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Count to 3"},
        ],
        "stream": True,
        "temperature": 0.3,
    }
    again = provider.build_request(ASK, GenerationParams(max_tokens=5, top_p=0.5))
    assert json.loads(again.read())["max_tokens"] == 5 and json.loads(again.read())["top_p"] == 0.5
    assert request.headers["x-session-id"] == again.headers["x-session-id"]
    assert request.headers["x-request-id"] != again.headers["x-request-id"]


def test_fake_enforces_the_system_message_rule_the_provider_satisfies(fake, make):
    provider = make()
    provider.complete(ASK)
    request = provider.build_request(ASK, GenerationParams())
    request.headers["Authorization"] = fake.calls(CHAT_PATH)[0].header("authorization")
    raw = json.loads(request.read())
    raw["messages"] = [{"role": "user", "content": "Hi"}, {"role": "system", "content": "Late"}]
    refused = httpx.post(str(request.url), json=raw, headers={"Authorization": request.headers["authorization"]})
    assert refused.status_code == 422
    assert refused.json() == {"status": 422, "message": "Invalid params: system message must be the first message"}
    answer = provider.complete([Message("user", "Hi"), Message("system", "Late")])
    assert answer.text == "Hello!"
    assert fake.conversations[-1] == [{"role": "system", "content": "Late"}, {"role": "user", "content": "Hi"}]


# -- the recorded streams ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "ours"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("blacklist", "content_filter"),
        ("function_call", "tool_calls"),
        ("error", "error"),
    ],
)
def test_finish_reasons(reason, ours):
    event = {"choices": [{"delta": {"content": ""}, "index": 0, "finish_reason": reason}], "object": "chat.completion"}
    assert GigaChatParser().on_data(event)[0].finish_reason == ours


def test_parser_rejects_what_is_not_an_event():
    with pytest.raises(MalformedStream):
        GigaChatParser().on_data([1, 2])


def test_recorded_stream_parses_the_same_however_the_body_is_split(recorded):
    def parse(*parts: bytes) -> Completion:
        body, answer = BodyParser(GigaChatParser()), Completion()
        for part in parts:
            for chunk in body.feed(part):
                answer.add(chunk)
        for chunk in body.finish():
            answer.add(chunk)
        return answer

    whole = parse(recorded)
    assert (whole.text, whole.usage) == oracle(recorded)
    assert whole.finish_reason == "stop"
    for cut in range(1, len(recorded)):
        assert parse(recorded[:cut], recorded[cut:]) == whole, cut


class _Bytewise(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body delivered one byte per read."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def __iter__(self):
        for i in range(len(self.body)):
            yield self.body[i : i + 1]

    async def __aiter__(self):
        for i in range(len(self.body)):
            yield self.body[i : i + 1]


def test_sync_and_async_agree_on_a_recorded_stream_read_byte_by_byte(recorded):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth"):
            return httpx.Response(200, json={"access_token": "mock-token", "expires_at": 4102444800000})
        return httpx.Response(200, headers={"Content-Type": "text/event-stream"}, stream=_Bytewise(recorded))

    transport = httpx.MockTransport(handler)
    provider = GigaChatProvider(credentials="a2V5", transport=transport, async_transport=transport)
    sync, asynchronous = both(provider)
    assert sync == asynchronous
    assert (sync.text, sync.usage) == oracle(recorded)


def test_sync_and_async_agree_on_a_recorded_stream_over_a_socket(fake, make, recorded):
    fake.replay(recorded)
    provider = make()
    sync, asynchronous = both(provider)
    assert sync == asynchronous
    assert (sync.text, sync.usage, sync.finish_reason) == (*oracle(recorded), "stop")


def test_fake_replays_the_recording_byte_for_byte(fake, make, recorded):
    fake.replay(recorded)
    provider = make()
    with httpx.Client() as client:
        response = client.send(provider.build_request(ASK, GenerationParams()), auth=provider.auth(), stream=True)
        assert response.headers["content-type"] == "text/event-stream"
        assert b"".join(response.iter_raw()) == recorded


def test_scripted_answer_streams_as_deltas_without_buffering(fake, make):
    fake.script(["Hello", " world"])
    fake.slow(0.25)
    arrivals = [(chunk, time.monotonic()) for chunk in make().stream([Message("user", "one two three")])]
    assert [c.text for c, _ in arrivals] == ["Hello", " world", ""]
    last = arrivals[-1][0]
    assert last.usage == Usage(3, 2, 5) and last.finish_reason == "stop"
    # Each delta is handed over as it comes: the server spaced its three events 0.25 s apart.
    assert arrivals[-1][1] - arrivals[0][1] >= 0.4


# -- errors -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "chat_requests"),
    [
        (400, errors.InvalidRequestError, 1),
        (401, errors.AuthError, 2),  # one renewal of the token, then no more
        (403, errors.AuthError, 1),
        (404, errors.InvalidRequestError, 1),
        (413, errors.InvalidRequestError, 1),
        (422, errors.InvalidRequestError, 1),
        (429, errors.RateLimitError, 3),
        (500, errors.ServerError, 3),
        (503, errors.ServerError, 3),
    ],
)
def test_fault_matrix(fake, make, status, kind, chat_requests):
    provider = make()
    fake.fail(status, times=5, retry_after=0.05 if status == 429 else None)
    with pytest.raises(kind) as caught:
        provider.complete(ASK)
    error = caught.value
    assert type(error) is kind and one_line(error)
    assert f"({status}: " in str(error)
    assert (error.provider, error.status) == ("gigachat", status)
    assert error.request_id == fake.calls(CHAT_PATH)[-1].header("x-request-id")
    assert fake.chat_requests == chat_requests


def test_429_with_retry_after_is_waited_out(fake, make):
    provider = make()
    fake.fail(429, retry_after=0.2)
    started = time.monotonic()
    assert provider.complete(ASK).text == "Hello!"
    assert time.monotonic() - started >= 0.2
    assert fake.chat_requests == 2


def test_persistent_429_says_when_to_retry(fake, make):
    provider = make()
    fake.fail(429, times=3, retry_after=40)  # beyond the 30 s we wait: give up at once
    with pytest.raises(errors.RateLimitError) as caught:
        provider.complete(ASK)
    assert caught.value.retry_after == 40 and "retry in 40 s" in str(caught.value)
    assert fake.chat_requests == 1


def test_unknown_model_is_refused_with_the_servers_words(fake, make):
    with pytest.raises(errors.InvalidRequestError, match=r"404: No such model.*%chat models gigachat"):
        make().complete(ASK, GenerationParams(model="GigaChat-9000"))


def test_read_timeout(fake, make):
    fake.stall(1.0)
    with pytest.raises(errors.ProviderTimeout) as caught:
        make(read_timeout=0.2).complete(ASK)
    assert one_line(caught.value) and caught.value.provider == "gigachat"
    assert fake.chat_requests == 1


@pytest.mark.parametrize("asynchronous", [False, True])
def test_faults_after_the_first_byte_keep_the_partial_answer_and_are_not_retried(fake, make, asynchronous):
    fake.script(["Hello", " world", "!"])
    provider = make(read_timeout=0.3)
    cases = [
        (lambda: fake.drop_after(2), errors.ProviderConnectionError, "Hello world"),
        (lambda: fake.malformed(after=1), errors.StreamError, "Hello"),
        (lambda: fake.slow(1.0), errors.ProviderTimeout, "Hello"),
    ]
    for inject, kind, partial in cases:
        inject()
        before = fake.chat_requests
        with pytest.raises(kind) as caught:
            if asynchronous:
                asyncio.run(provider.acomplete(ASK))
            else:
                provider.complete(ASK)
        error = caught.value
        assert type(error) is kind and one_line(error)
        assert (error.partial_text, error.status, error.provider) == (partial, 200, "gigachat")
        assert error.request_id == fake.calls(CHAT_PATH)[-1].header("x-request-id")
        assert fake.chat_requests == before + 1


def test_an_answer_that_is_not_an_event_stream_is_a_stream_error(fake, make):
    fake.fail_next(Reply(200, {"Content-Type": "text/html"}, b"<html>proxy login</html>"), path=CHAT_PATH)
    with pytest.raises(errors.StreamError, match="expected text/event-stream, got text/html") as caught:
        make().complete(ASK)
    assert (caught.value.partial_text, caught.value.status) == ("", 200)


def test_error_bodies_of_both_shapes():
    provider = GigaChatProvider()
    oauth = httpx.Response(400, json={"code": 4, "message": "Can't decode 'Authorization' header"})
    error = provider.error_from_response(oauth)
    assert isinstance(error, errors.AuthError) and "Can't decode 'Authorization' header" in str(error)
    api = httpx.Response(413, json={"status": 413, "message": "Payload too large"}, headers={"X-Request-Id": "r-1"})
    error = provider.error_from_response(api)
    assert isinstance(error, errors.InvalidRequestError) and error.request_id == "r-1"
    assert "(413: Payload too large)" in str(error)
    proxy = httpx.Response(502, text="<html>Bad gateway</html>")
    assert "(502: <html>Bad gateway</html>)" in str(provider.error_from_response(proxy))


# -- models -----------------------------------------------------------------------------------------------------------


def test_models_lists_chat_models_from_the_server(fake, make, fixtures_dir):
    provider = make()
    models = provider.models()
    assert "GigaChat-2-Max" in models and "Embeddings" not in models and len(models) == 13
    fake.models_body = (fixtures_dir / "gigachat/tests/data/models.json").read_bytes()
    assert provider.models() == ["GigaChat:v1.2.19.2"]  # the 2023 list has no "type"
    fake.fail_next(Reply.json(404, {"status": 404, "message": "Not Found"}))
    assert provider.models() == list(GigaChatProvider.known_models)  # no listing: the known models
    fake.fail_next(Reply.json(500, {"status": 500, "message": "Internal Server Error"}))
    with pytest.raises(errors.ServerError):  # the server failed: said, not hidden behind the known list
        provider.models()
