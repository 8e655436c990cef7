"""OpenAI-compatible servers: request building, the SSE delta stream in its two styles, models, and faults."""

from __future__ import annotations

import json
import ssl

import pytest

from mmchat_jupyter.errors import (
    AuthError,
    InvalidRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    RateLimitError,
    ServerError,
    StreamError,
)
from mmchat_jupyter.providers import get_provider
from mmchat_jupyter.providers._parsing import BodyParser, ErrorEvent, MalformedStream
from mmchat_jupyter.providers.openai import OpenAIProvider, OpenAIStreamParser
from mmchat_jupyter.types import Chunk, GenerationParams, Message, Usage
from tests.fakes.openai_compat import FakeOpenAI
from tests.fakes.server import Reply, trickle_transports
from tests.fakes.yandex import FOLDER, FakeYandex
from tests.providers import drivers
from tests.providers.drivers import total

KEY = "sk-test-key-0001"
PROMPT = [Message("system", "Be brief."), Message("user", "Tell me about platypuses")]
MODES = ["sync", "async"]
QWEN = "derived/yandex_openai_compat_test_run_stream_0.sse"
YANDEX_STYLE = "derived/yandex_openai_compat_test_stream_function_call_yandexgpt_1.sse"
TOOL_CALLS = "derived/yandex_openai_compat_test_stream_function_call_yandexgpt_0.sse"
PIECES = ["Hello", " brave", " new", " world", " — привет!"]
#: One TLS context for every client: building one loads the CA bundle, the bulk of a client's start-up cost.
TLS = ssl.create_default_context()


@pytest.fixture
def server():
    with FakeOpenAI(api_key=KEY) as fake:
        fake.script(PIECES)
        yield fake


def make(server, **settings) -> OpenAIProvider:
    settings = {"api_key": KEY, "backoff": 0.01, "verify": TLS, **settings}
    return OpenAIProvider(base_url=server.url + "/v1", **settings)


def run(provider, mode: str, params: GenerationParams | None = None) -> list[Chunk]:
    return drivers.run(provider, mode, PROMPT, params)


def check_error(exc: ProviderError, **expected) -> None:
    drivers.check_error(exc, provider="openai", secret=KEY, **expected)



def parse(body: bytes) -> list[Chunk]:
    parser = BodyParser(OpenAIStreamParser())
    return parser.feed(body) + parser.finish()


def event(payload: dict) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


# -- building the request (no I/O) -----------------------------------------------------------------------------


def test_request_shape():
    provider = OpenAIProvider(api_key=KEY)
    params = GenerationParams(temperature=0.5, max_tokens=100, top_p=0.9, extra={"top_k": 20})
    request = provider.build_request(PROMPT, params)
    assert str(request.url) == "https://api.openai.com/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == {
        "top_k": 20,
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Tell me about platypuses"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.5,
        "max_tokens": 100,
        "top_p": 0.9,
    }


def test_no_key_no_authorization_header():
    request = OpenAIProvider(base_url="http://localhost:11434/v1").build_request(PROMPT, GenerationParams())
    assert "authorization" not in request.headers
    assert str(request.url) == "http://localhost:11434/v1/chat/completions"


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("OPENAI_MODEL", "qwen3:8b")
    monkeypatch.setenv("OPENAI_PROJECT", "b1gproject")
    provider = get_provider("openai")
    request = provider.build_request(PROMPT, GenerationParams())
    assert str(request.url) == "http://127.0.0.1:9/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-from-env"
    assert request.headers["openai-project"] == "b1gproject"
    assert json.loads(request.content)["model"] == provider.default_model == "qwen3:8b"
    assert OpenAIProvider(model="explicit").default_model == "explicit"
    assert OpenAIProvider.default_model == "gpt-4o-mini"  # the class keeps its fallback


@pytest.mark.parametrize(
    "env, configured",
    [({}, False), ({"OPENAI_API_KEY": "sk"}, True), ({"OPENAI_BASE_URL": "http://localhost:11434/v1"}, True)],
)
def test_configured(env, configured):
    assert OpenAIProvider.configured(env) is configured


def test_credentials_never_show():
    provider = OpenAIProvider(api_key=KEY)
    assert KEY not in repr(provider) + str(vars(provider))


# -- the stream parser (no I/O) --------------------------------------------------------------------------------


def test_qwen_style_recording(fixtures_dir):
    chunks = parse((fixtures_dir / QWEN).read_bytes())
    answer = total(chunks)
    assert answer.text.startswith("Hello! Of course! Platypuses are one of the most")
    assert answer.text.endswith("conservation efforts!")
    assert (answer.finish_reason, answer.usage) == ("stop", Usage(20, 741, 761))
    # The finish reason comes in an empty-delta chunk, the usage in a last chunk of its own.
    assert chunks[-2:] == [Chunk("", finish_reason="stop"), Chunk("", usage=Usage(20, 741, 761))]


def test_yandex_style_recording(fixtures_dir):
    chunks = parse((fixtures_dir / YANDEX_STYLE).read_bytes())
    assert chunks == [Chunk("The"), Chunk(" result of 7@8 is -5.", finish_reason="stop")]


def test_tool_calls_recording(fixtures_dir):
    assert parse((fixtures_dir / TOOL_CALLS).read_bytes()) == [Chunk("", finish_reason="tool_calls")]


@pytest.mark.parametrize(
    "error, status",
    [
        ({"message": "boom", "type": "server_error"}, 500),
        ({"message": "slow down", "type": "rate_limit_error"}, 429),
        ({"message": "bad", "type": "BadRequestError", "code": 400}, 400),
        ("overloaded", 500),
    ],
)
def test_error_event(error, status):
    with pytest.raises(ErrorEvent) as info:
        parse(event({"choices": [{"index": 0, "delta": {"content": "Hi"}}]}) + event({"error": error}))
    assert info.value.status == status


def test_stream_without_done_was_cut():
    with pytest.raises(MalformedStream, match="DONE"):
        parse(event({"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]}))


def test_unexpected_chunks_are_malformed():
    with pytest.raises(MalformedStream):
        parse(b"data: [1, 2]\n\n")
    with pytest.raises(MalformedStream):
        parse(event({"choices": ["not an object"]}))


# -- parity: sync and async, however the body is split ---------------------------------------------------------


@pytest.mark.parametrize("name", [QWEN, YANDEX_STYLE])
def test_recordings_sync_and_async_agree(fixtures_dir, name):
    body = (fixtures_dir / name).read_bytes()
    with FakeOpenAI() as server:
        server.replay(body)
        provider = make(server)
        assert run(provider, "sync") == run(provider, "async") == parse(body)


@pytest.mark.parametrize("name", [QWEN, YANDEX_STYLE, "scripted"])
def test_one_byte_reads_give_the_same_chunks(fixtures_dir, name):
    if name == "scripted":  # Cyrillic and a dash: reads end mid-character
        body = b"".join(event({"choices": [{"index": 0, "delta": {"content": p}}]}) for p in PIECES)
        body += event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}) + b"data: [DONE]\n\n"
    else:
        body = (fixtures_dir / name).read_bytes()
    sync_transport, async_transport = trickle_transports(body, {"Content-Type": "text/event-stream"})
    provider = OpenAIProvider(
        base_url="http://ollama.test/v1", transport=sync_transport, async_transport=async_transport
    )
    assert run(provider, "sync") == run(provider, "async") == parse(body)


def test_small_writes_over_a_socket(fixtures_dir):
    body = (fixtures_dir / QWEN).read_bytes()
    with FakeOpenAI(piece=97) as server:
        server.replay(body)
        provider = make(server)
        assert run(provider, "sync") == run(provider, "async") == parse(body)


# -- over the wire ---------------------------------------------------------------------------------------------


def test_what_goes_on_the_wire(server):
    chunks = run(make(server), "sync", GenerationParams(model="gpt-4o", temperature=0.1))
    answer = total(chunks)
    assert answer.text == "".join(PIECES) and answer.finish_reason == "stop"
    assert answer.usage == Usage(6, len(PIECES), 6 + len(PIECES))
    (request,) = server.requests
    assert request.header("authorization") == f"Bearer {KEY}"
    body = request.json()
    assert (body["model"], body["temperature"], body["stream"]) == ("gpt-4o", 0.1, True)
    assert body["stream_options"] == {"include_usage": True}


def test_a_local_server_without_a_key():
    with FakeOpenAI() as server:
        answer = make(server, api_key=None).complete(PROMPT)
    assert answer.text == "You said: Tell me about platypuses"
    assert server.requests[0].header("authorization") is None


def test_yandex_v1_endpoint():
    with FakeYandex(keys={"AQVN-yandex-key"}) as server:
        server.script(["Один", ", два"])
        provider = make(server, api_key="AQVN-yandex-key", model=f"gpt://{FOLDER}/yandexgpt/latest")
        chunks = run(provider, "async")
        models = provider.models()
    assert chunks == [Chunk("Один"), Chunk(", два", finish_reason="stop")]  # YandexGPT style: no usage chunk
    assert server.requests[0].json()["model"] == f"gpt://{FOLDER}/yandexgpt/latest"
    assert f"gpt://{FOLDER}/yandexgpt/rc" in models
    assert not any(m.startswith("emb://") for m in models)


def test_models(server):
    provider = make(server)
    assert provider.models() == ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"]
    assert server.requests[-1].path == "/v1/models"
    server.fail_next(Reply.json(404, {"error": {"message": "no such route", "type": "not_found_error"}}))
    assert provider.models() == list(OpenAIProvider.known_models)  # a server without a listing
    server.fail_next(Reply.json(500, {"error": {"message": "down", "type": "server_error"}}))
    with pytest.raises(ServerError, match="down"):
        provider.models()


def test_models_with_a_refused_key_say_so():
    """Regression: a refused key used to give OpenAI's built-in list, as if the server had answered."""
    with FakeOpenAI(api_key="sk-right-key") as server:
        provider = OpenAIProvider(base_url=server.url + "/v1", api_key="sk-wrong-key", verify=TLS)
        with pytest.raises(AuthError, match="rejected the credentials"):
            provider.models()


def test_models_without_a_server():
    with FakeOpenAI() as server:
        url = server.url
    with pytest.raises(ProviderConnectionError, match=r"Cannot reach OpenAI API at http://127\.0\.0\.1"):
        OpenAIProvider(base_url=url + "/v1", verify=TLS).models()


def test_max_tokens_gives_length(server):
    answer = make(server).complete(PROMPT, GenerationParams(max_tokens=2))
    assert (answer.text, answer.finish_reason) == ("Hello brave", "length")


def test_an_html_page_instead_of_a_stream(server):
    server.fail_next(Reply(200, {"Content-Type": "text/html"}, b"<html>captive portal</html>"))
    with pytest.raises(StreamError, match="text/event-stream"):
        run(make(server), "sync")


def test_wrong_key(server):
    with pytest.raises(AuthError, match="OPENAI_API_KEY") as info:
        run(make(server, api_key="sk-wrong-key"), "sync")
    check_error(info.value, status=401, request_id=server.request_ids[-1])


# -- the fault matrix ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "status, error",
    [
        (400, InvalidRequestError),
        (401, AuthError),
        (403, AuthError),
        (404, InvalidRequestError),
        (413, InvalidRequestError),
        (422, InvalidRequestError),
    ],
)
def test_refusals_are_not_retried(server, mode, status, error):
    server.fail(status, message="the server's own words")
    with pytest.raises(error, match="the server's own words") as info:
        run(make(server), mode)
    check_error(info.value, status=status, request_id=server.request_ids[-1])
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", [429, 500, 503])
def test_transient_failures_are_retried(server, mode, status):
    server.fail(status, retry_after=0.2 if status == 429 else None)
    assert total(run(make(server), mode)).text == "".join(PIECES)
    assert len(server.requests) == 2


@pytest.mark.parametrize("mode", MODES)
def test_persistent_rate_limit(server, mode):
    server.fail(429, times=3, retry_after=0.2)
    with pytest.raises(RateLimitError, match="retry in 1 s") as info:
        run(make(server), mode)
    check_error(info.value, status=429, request_id=server.request_ids[-1])
    assert info.value.retry_after == 0.2
    assert len(server.requests) == 3


@pytest.mark.parametrize("mode", MODES)
def test_persistent_server_error(server, mode):
    server.fail(503, times=3)
    with pytest.raises(ServerError) as info:
        run(make(server), mode)
    check_error(info.value, status=503, request_id=server.request_ids[-1])
    assert len(server.requests) == 3


@pytest.mark.parametrize("mode", MODES)
def test_no_answer_within_the_read_timeout(server, mode):
    server.tamper(stall=2.0)
    with pytest.raises(ProviderTimeout) as info:
        run(make(server, read_timeout=0.3), mode)
    check_error(info.value, status=None, request_id=None)
    assert len(server.requests) == 1


# Frames of the scripted answer: 0 role, 1 "Hello", 2 " brave", 3 " new", ...


@pytest.mark.parametrize("mode", MODES)
def test_dropped_connection_keeps_the_text(server, mode):
    server.tamper(drop_after=3)
    with pytest.raises(ProviderConnectionError, match="dropped mid-answer") as info:
        run(make(server), mode)
    check_error(info.value, status=200, request_id=server.request_ids[-1], partial="Hello brave")
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", MODES)
def test_malformed_event(server, mode):
    server.tamper(corrupt_at=3)
    with pytest.raises(StreamError) as info:
        run(make(server), mode)
    check_error(info.value, status=200, request_id=server.request_ids[-1], partial="Hello brave")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status, error", [(500, ServerError), (429, RateLimitError)])
def test_error_event_mid_stream(server, mode, status, error):
    server.tamper(error_at=3, error_status=status)
    with pytest.raises(error) as info:
        run(make(server), mode)
    check_error(info.value, status=status, request_id=server.request_ids[-1], partial="Hello brave")
    assert len(server.requests) == 1
