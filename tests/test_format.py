"""`_format.excerpt`: the one excerpt a chat search shows under each chat, in the panel and in the server API."""

from __future__ import annotations

from mmchat_jupyter import _panel_state
from mmchat_jupyter._format import excerpt
from mmchat_jupyter.session import ChatSession


def test_the_excerpt_is_one_line_around_the_match():
    text = "intro line\n" + "word " * 100 + "the  NEEDLE\there " + "tail " * 100
    shown = excerpt(text, "needle", 60)
    assert "NEEDLE" in shown and "\n" not in shown and "\t" not in shown
    assert shown.startswith("…") and shown.endswith("…") and len(shown) == 62
    assert excerpt("short text", "text") == "short text"
    assert excerpt("no match here " * 20, "absent", 20) == "no match here no mat…"  # the start, when nothing matches
    assert "the NEEDLE" in excerpt(text, "the \n needle")  # whitespace in the needle matches as in the text


def test_the_match_is_found_where_casefolding_changes_lengths():
    # "ß" casefolds to "ss": counted in the folded text, the match would be looked for 80 characters too far on
    text = "Straße " * 80 + "the needle is here " + "Maße " * 80
    assert "needle" in excerpt(text, "NEEDLE", 60)
    assert "needle" in excerpt(text, "the needle", 60)


def test_the_panels_drawer_shows_it_under_a_chat_found_by_its_messages():
    session = ChatSession()
    chat = session.chats.create("Trip")
    session.store.append_message(chat, role="user", content="Straße " * 80 + "where is the museum? " + "x " * 80)
    rows = _panel_state.chat_rows(session, "MUSEUM")
    assert [row["name"] for row in rows] == ["Trip"] and "museum" in rows[0]["detail"]
