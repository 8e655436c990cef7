"""The server API in a real browser: a JupyterLab page (logged in by its cookie) reads the change feed and a streamed
turn with `fetch` and a streaming body reader, while the same chat is asked through `%%chat` and the panel: one
consistent history, every change reported within a second. A page of another origin cannot post to the API.

The JupyterLab here is the Jupyter Server the package's installed configuration enables the extension in; the
kernel is pointed at that server's history, as it is on a real installation.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from playwright.sync_api import expect

from .test_panel import Panel

pytestmark = pytest.mark.e2e

API = "/mmchat/api/v1"
CHAT = "api-shared"

# The change feed, read by the page itself: every event with the page's clock when it arrived.
START_FEED = """(url) => {
  window.__feed = [];
  const abort = new AbortController();
  window.__stopFeed = () => abort.abort();
  (async () => {
    const response = await fetch(url, {signal: abort.signal, headers: {Accept: "text/event-stream"}});
    window.__feedStatus = response.status;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\\n\\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && event !== "ready") window.__feed.push({event, data: JSON.parse(data), at: Date.now()});
      }
    }
  })().catch((error) => { window.__feedError = String(error); });
}"""

# A streamed turn, as a web page would ask: cookie authentication plus the _xsrf token, the body read as it comes.
STREAM_TURN = """async ({url, prompt}) => {
  const xsrf = document.cookie.match(/(?:^|; )_xsrf=([^;]+)/)?.[1];
  const response = await fetch(url, {
    method: "POST",
    headers: {"Content-Type": "application/json", Accept: "text/event-stream", "X-XSRFToken": xsrf},
    body: JSON.stringify({prompt}),
  });
  const events = [];
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "", reads = 0;
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    reads += 1;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\\n\\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      events.push({event: /^event: (.*)$/m.exec(block)[1], data: JSON.parse(/^data: (.*)$/m.exec(block)[1])});
    }
  }
  return {status: response.status, type: response.headers.get("content-type"), events, reads};
}"""


def feed(page) -> list[dict]:
    return page.evaluate("() => window.__feed")


def wait_for_event(page, kind: str, count: int) -> None:
    page.wait_for_function(
        "([kind, count]) => window.__feed.filter((e) => e.event === kind).length >= count", arg=[kind, count],
        timeout=30_000)


def test_one_history_three_faces_and_the_feed(notebook, lab, fake_yandex, shots) -> None:
    fake_yandex.script([f"piece{i} " for i in range(12)])
    home = lab.env["MMCHAT_HOME"]  # the server's history: the API serves it, the kernel is pointed at it
    nb = notebook([f"os.environ['MMCHAT_HOME'] = {home!r}", "%load_ext mmchat_jupyter",
                   f"%%chat -c {CHAT}\nFirst, from the magic", f"ChatPanel(chat={CHAT!r})", f"%chat show {CHAT}"])
    page = nb.page
    page.evaluate(START_FEED, API + "/events")
    page.wait_for_function("() => window.__feedStatus || window.__feedError", timeout=10_000)
    assert page.evaluate("() => window.__feedStatus") == 200

    for index in range(4):  # the setup cell, the history, %load_ext, then %%chat: creates the chat and asks
        nb.run(index)
    expect(nb.output(3)).to_contain_text("piece11")
    wait_for_event(page, "message_added", 2)  # the question and its answer

    nb.run(4)
    panel = Panel(page)
    expect(panel.questions).to_have_text(["First, from the magic"])
    panel.ask("Second, from the panel")
    panel.wait_idle(2)
    wait_for_event(page, "message_added", 4)

    chat_id = api_get(page, f"{API}/chats/{CHAT}")["id"]
    turn = page.evaluate(STREAM_TURN, {"url": f"{API}/chats/{chat_id}/messages", "prompt": "Third, from the API"})
    assert turn["status"] == 200 and turn["type"].startswith("text/event-stream")
    kinds = [event["event"] for event in turn["events"]]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("delta") == 12
    deltas = "".join(event["data"]["text"] for event in turn["events"] if event["event"] == "delta")
    done = turn["events"][-1]["data"]
    assert done["status"] == "complete" and done["content"] == deltas == "".join(f"piece{i} " for i in range(12))
    wait_for_event(page, "message_added", 6)

    # One history: the three turns in order, complete, whichever face asked; the magic sees them all.
    stored = api_get(page, f"{API}/chats/{chat_id}")["messages"]
    assert [(m["role"], m["content"] if m["role"] == "user" else m["status"]) for m in stored] == [
        ("user", "First, from the magic"), ("assistant", "complete"),
        ("user", "Second, from the panel"), ("assistant", "complete"),
        ("user", "Third, from the API"), ("assistant", "complete"),
    ]
    assert all(m["content"] == deltas for m in stored if m["role"] == "assistant")
    # The model saw the earlier turns of both other faces as context.
    assert [m["text"] for m in fake_yandex.requests[-1].json()["messages"]][:-1] == [
        "First, from the magic", deltas, "Second, from the panel", deltas]
    nb.run(5)
    expect(nb.output(5)).to_contain_text("Third, from the API")
    panel.input.focus()
    expect(panel.questions).to_have_count(3)

    # Every change of this chat was reported within a second of being written.
    events = [e for e in feed(page) if e["data"].get("id") == chat_id]
    assert {"chat_created", "message_added", "message_updated"} <= {e["event"] for e in events}
    added = [e["data"]["message_id"] for e in events if e["event"] == "message_added"]
    assert added == [m["id"] for m in stored]  # each question and answer, from each face, in order
    for event in events:
        written = datetime.fromisoformat(event["data"]["time"]).timestamp() * 1000
        assert event["at"] - written < 1000, event
    page.screenshot(path=str(shots / "api-three-faces.png"))
    page.evaluate("() => window.__stopFeed()")


def api_get(page, path: str) -> dict:
    result: dict = page.evaluate("async (url) => (await fetch(url)).json()", path)
    return result


def test_a_page_of_another_origin_cannot_post(page, lab, fake_yandex) -> None:
    page.goto(f"{lab.url}/lab?token={lab.token}")  # the browser holds the server's login cookie...
    page.wait_for_function("() => !!window.jupyterapp", timeout=60_000)
    before = lab.api("GET", f"{API}/chats")["total"]
    page.goto(f"{fake_yandex.url}/elsewhere")  # ... and then visits another site, which posts to the API
    outcome = page.evaluate("""async (url) => {
      const answers = [];
      for (const mode of ["cors", "no-cors"]) {
        try {
          const response = await fetch(url, {method: "POST", mode, credentials: "include",
                                             headers: {"Content-Type": "text/plain"}, body: JSON.stringify({})});
          answers.push(response.type === "opaque" ? "opaque" : response.status);
        } catch (error) { answers.push("blocked"); }
      }
      return answers;
    }""", f"{lab.url}{API}/chats")
    assert outcome[0] == "blocked"  # no CORS answer for a foreign origin
    assert lab.api("GET", f"{API}/chats")["total"] == before, json.dumps(outcome)  # and nothing was created
