"""YandexGPT's cumulative NDJSON stream, parsed without I/O: deltas, revisions, final statuses and errors."""

from __future__ import annotations

import json

import pytest

from mmchat_jupyter.providers._parsing import BodyParser, ErrorEvent, MalformedStream
from mmchat_jupyter.providers.yandexgpt import YandexStreamParser
from mmchat_jupyter.types import Chunk, Completion, Usage

STREAM = "derived/yandex_native_test_run_stream.SYNTH_FROM_GRPC.ndjson"
UNARY = "derived/yandex_native_test_run.SYNTH_FROM_GRPC.ndjson"


@pytest.fixture
def recorded(fixtures_dir) -> bytes:
    return (fixtures_dir / STREAM).read_bytes()


def parse(*lines: str) -> list[Chunk]:
    parser = YandexStreamParser()
    return [chunk for line in lines for chunk in parser.feed_line(line)] + parser.finish()


def message(text: str, status: str = "PARTIAL", **usage: str) -> str:
    alternative = {"message": {"role": "assistant", "text": text}, "status": f"ALTERNATIVE_STATUS_{status}"}
    return json.dumps({"result": {"alternatives": [alternative], "usage": usage, "modelVersion": "09.02.2025"}})


def total(chunks: list[Chunk]) -> str:
    answer = Completion()
    for chunk in chunks:
        answer.add(chunk)
    return answer.text


def test_recorded_stream_becomes_deltas(recorded):
    texts = [json.loads(line)["result"]["alternatives"][0]["message"]["text"] for line in recorded.splitlines()]
    chunks = parse(*recorded.decode().splitlines())
    assert len(chunks) == len(texts) == 21
    assert not any(c.replace for c in chunks) and all(c.text for c in chunks)
    assert "".join(c.text for c in chunks) == texts[-1]
    assert [c.finish_reason for c in chunks] == [None] * 20 + ["stop"]
    assert [c.usage for c in chunks] == [None] * 20 + [Usage(26, 317, 343)]


def test_unary_answer_is_one_final_chunk(fixtures_dir):
    (line,) = (fixtures_dir / UNARY).read_text().splitlines()
    assert parse(line) == [Chunk("Hi there! How are you?", usage=Usage(15, 8, 23), finish_reason="stop")]


def test_repeated_text_yields_nothing():
    assert parse(message("Hi"), message("Hi"), message("Hi there", "FINAL")) == [
        Chunk("Hi"),
        Chunk(" there", usage=Usage(), finish_reason="stop"),
    ]


def test_revised_prefix_replaces_the_text():
    chunks = parse(message("Helo"), message("Hello, wor"), message("Hello, world!", "FINAL"))
    assert chunks[:2] == [Chunk("Helo"), Chunk("Hello, wor", replace=True)]
    assert total(chunks) == "Hello, world!"


def test_content_filter_replaces_the_text_with_the_refusal():
    chunks = parse(message("Here is how to"), message("Here is how to behave.", "CONTENT_FILTER"))
    assert chunks[-1] == Chunk("Here is how to behave.", usage=Usage(), finish_reason="content_filter", replace=True)


@pytest.mark.parametrize(
    "status, reason", [("FINAL", "stop"), ("TRUNCATED_FINAL", "length"), ("TOOL_CALLS", "tool_calls")]
)
def test_final_statuses(status, reason):
    (chunk,) = parse(message("", status, inputTextTokens="3", completionTokens="4", totalTokens="7"))
    assert (chunk.finish_reason, chunk.usage) == (reason, Usage(3, 4, 7))


def test_stream_without_a_final_status_was_cut():
    parser = YandexStreamParser()
    parser.feed_line(message("Partial"))
    with pytest.raises(MalformedStream, match="final"):
        parser.finish()


@pytest.mark.parametrize(
    "error, status",
    [
        ({"grpcCode": 8, "httpCode": 429, "message": "quota", "httpStatus": "Too Many Requests", "details": []}, 429),
        ({"grpcCode": 16, "message": "expired"}, 401),
        ({"grpcCode": 2, "httpCode": "?", "message": "odd"}, 500),
        ("boom", 500),
    ],
)
def test_error_line_is_an_error_event(error, status):
    with pytest.raises(ErrorEvent) as info:
        parse(message("Partial"), json.dumps({"error": error}))
    assert info.value.status == status


def test_blank_lines_crlf_and_back_to_back_objects():
    body = (message("A") + "\r\n\r\n" + message("AB") + message("ABC", "FINAL") + "\n").encode()
    parser = BodyParser(YandexStreamParser())
    chunks = parser.feed(body) + parser.finish()
    assert total(chunks) == "ABC" and chunks[-1].finish_reason == "stop"


@pytest.mark.parametrize(
    "line", ["[1, 2]", '{"result": {}}', '{"result": {"alternatives": []}}', '{"result": {"alternatives": [7]}}', "{x"]
)
def test_unexpected_lines_are_malformed(line):
    with pytest.raises(MalformedStream):
        YandexStreamParser().feed_line(line)
