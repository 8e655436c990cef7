"""`{name}` placeholders in `%%chat` prompts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmchat_jupyter.errors import ConfigError
from mmchat_jupyter.interpolate import interpolate


class Config:
    name = "cfg"

    def __str__(self) -> str:
        return "<Config>"


NS = {"x": 5, "df": "a table", "In": ["", "a = 1", "a * 2"], "Out": {2: 2}, "d": {"k": [1, 2, 3]}, "cfg": Config()}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{x} and {df}", "5 and a table"),
        ("{In[1]} -> {Out[2]}", "a = 1 -> 2"),
        ("{d['k'][-1]} {d[\"k\"][0]} {cfg.name} {cfg}", "3 1 cfg <Config>"),
        ("{{x}} {{{x}}} a}}b {{", "{x} {5} a}b {"),
        ("{undefined} {a: 1} f\"{y!r}\" {} { x }", "{undefined} {a: 1} f\"{y!r}\" {} { x }"),
        ("lone } and { braces", "lone } and { braces"),
        ("", ""),
    ],
)
def test_placeholders(text, expected):
    assert interpolate(text, NS) == expected


@pytest.mark.parametrize("text, error", [("{Out[9]}", "KeyError"), ("{x.nope}", "AttributeError"),
                                         ("{In[99]}", "IndexError")])
def test_failed_lookup_on_a_defined_name_is_one_line(text, error):
    with pytest.raises(ConfigError) as raised:
        interpolate(text, NS)
    message = str(raised.value)
    assert text in message and error in message and "\n" not in message


def test_a_broken_str_is_reported_not_raised():
    class Broken:
        def __str__(self):
            raise RuntimeError("boom")

    with pytest.raises(ConfigError, match="RuntimeError: boom"):
        interpolate("{b}", {"b": Broken()})


@given(st.text())
def test_escaped_text_comes_back_unchanged(text):
    # What export does to a prompt so that the %%chat cell hands it back byte for byte.
    escaped = text.replace("{", "{{").replace("}", "}}")
    assert interpolate(escaped, NS) == text
