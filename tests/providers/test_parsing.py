"""The shared sans-IO layer: bytes -> lines (LineDecoder, BodyParser) -> SSE events (SSEParser)."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmchat_jupyter.providers._parsing import (
    BodyParser,
    ErrorEvent,
    LineDecoder,
    MalformedStream,
    SSEParser,
    StreamParser,
)
from mmchat_jupyter.providers.gigachat import GigaChatParser
from mmchat_jupyter.providers.openai import OpenAIStreamParser
from mmchat_jupyter.providers.yandexgpt import YandexStreamParser
from mmchat_jupyter.types import Chunk

BODY = "Привет, мир 🌍\r\nвторая строка — ёж\n\nlast line without newline".encode()
LINES = ["Привет, мир 🌍", "вторая строка — ёж", "", "last line without newline"]


def decode(pieces: list[bytes]) -> list[str]:
    decoder = LineDecoder()
    lines = [line for piece in pieces for line in decoder.feed(piece)]
    return lines + decoder.flush()


def test_line_decoder_whole_body():
    assert decode([BODY]) == LINES


def test_line_decoder_at_every_two_way_split():
    for cut in range(len(BODY) + 1):
        assert decode([BODY[:cut], BODY[cut:]]) == LINES, cut


def test_line_decoder_one_byte_at_a_time():
    assert decode([BODY[i : i + 1] for i in range(len(BODY))]) == LINES


@given(st.lists(st.integers(min_value=0, max_value=len(BODY)), max_size=12))
def test_line_decoder_at_any_cuts(cuts):
    bounds = [0, *sorted(cuts), len(BODY)]
    assert decode([BODY[a:b] for a, b in pairwise(bounds)]) == LINES


def test_line_decoder_keeps_a_partial_line_until_flushed():
    decoder = LineDecoder()
    assert decoder.feed(b"no newline yet") == []
    assert decoder.feed(b"") == []
    assert decoder.flush() == ["no newline yet"]
    assert decoder.flush() == []


def test_line_decoder_rejects_invalid_utf8():
    with pytest.raises(MalformedStream, match="UTF-8"):
        LineDecoder().feed(b"\xff\xfe broken\n")


class Recorder(StreamParser):
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.finished = False

    def feed_line(self, line: str) -> list[Chunk]:
        self.lines.append(line)
        return [Chunk(line)]

    def finish(self) -> list[Chunk]:
        self.finished = True
        return [Chunk("<end>")]


def test_body_parser_feeds_the_last_unterminated_line_before_finish():
    recorder = Recorder()
    body = BodyParser(recorder)
    assert body.feed(b"one\ntw") == [Chunk("one")]
    assert body.finish() == [Chunk("tw"), Chunk("<end>")]
    assert recorder.finished


class Collect(SSEParser):
    def on_data(self, payload):
        return [Chunk(str(payload))]


def feed_sse(text: str) -> tuple[list[Chunk], Collect]:
    parser = Collect()
    return [chunk for line in text.split("\n") for chunk in parser.feed_line(line)], parser


def test_sse_data_lines_with_and_without_space():
    chunks, parser = feed_sse('data: {"a": 1}\n\ndata:[1,2]\n\ndata: [DONE]\n\n')
    assert [c.text for c in chunks] == ["{'a': 1}", "[1, 2]"]
    assert parser.done
    assert parser.finish() == []


def test_sse_skips_comments_and_other_fields():
    chunks, _parser = feed_sse(': keep-alive\nevent: message\nid: 7\nretry: 100\ndata: "x"\n\n')
    assert [c.text for c in chunks] == ["x"]


def test_sse_without_done_is_a_cut_stream():
    _chunks, parser = feed_sse('data: "x"\n\n')
    with pytest.raises(MalformedStream, match=r"\[DONE\]"):
        parser.finish()


def test_sse_data_that_is_not_json():
    with pytest.raises(MalformedStream, match="not JSON"):
        feed_sse("data: {broken\n")


def test_error_event_carries_status_and_message():
    event = ErrorEvent(429, "quota exceeded")
    assert (event.status, event.message, str(event)) == (429, "quota exceeded", "quota exceeded")


@pytest.mark.parametrize(
    ("parser", "line", "expected"),
    [
        (GigaChatParser, 'data: {"choices": [{"delta": {"content": "x"}, "finish_reason": {}}]}', [Chunk("x")]),
        (OpenAIStreamParser, 'data: {"error": {"type": ["server_error"], "message": "boom"}}', ErrorEvent),
        (YandexStreamParser, '{"error": {"grpcCode": [14], "message": "boom"}}', ErrorEvent),
    ],
)
def test_a_field_of_an_unexpected_json_type_is_not_a_type_error(parser, line, expected):
    # Lists and objects are unhashable: used as a lookup key they raised TypeError, a traceback for the user.
    if isinstance(expected, list):
        assert parser().feed_line(line) == expected
    else:
        with pytest.raises(expected, match="boom"):
            parser().feed_line(line)


HUGE = '{"prompt_tokens": 1e999, "completion_tokens": 1, "total_tokens": 2}'  # valid JSON: a float infinity
CHOICE = '{"choices": [{"delta": {"content": "x"}, "finish_reason": "stop"}], "usage": '
YANDEX = ('{"result": {"alternatives": [{"message": {"role": "assistant", "text": "x"}, "status": '
          '"ALTERNATIVE_STATUS_FINAL"}], "usage": {"inputTextTokens": 1e999, "totalTokens": "2"}}}')


@pytest.mark.parametrize(
    ("parser", "line", "refused"),
    [
        (OpenAIStreamParser, f"data: {CHOICE}{HUGE}}}", False),  # usage that is not counts: left out
        (YandexStreamParser, YANDEX, False),
        (GigaChatParser, f"data: {CHOICE}{HUGE}}}", True),  # GigaChat's rule: a one-line provider error
    ],
)
def test_a_count_too_big_for_an_integer_is_not_an_overflow_error(parser, line, refused):
    # int(float("inf")) raised OverflowError, which no caller expected: a traceback instead of one line.
    if refused:
        with pytest.raises(MalformedStream, match="usage is not a set of counts"):
            parser().feed_line(line)
    else:
        chunks = parser().feed_line(line)
        assert [chunk.text for chunk in chunks] == ["x"] and all(chunk.usage is None for chunk in chunks)
