// Tests of panel.js's pure functions: `node --test js/` (Node 20+, no packages needed).
import assert from "node:assert/strict";
import test from "node:test";

import { foldStream, keyAction } from "../mmchat_jupyter/static/panel.js";

const delta = (seq, keep, html, turn = 1) => ({ type: "delta", turn, seq, keep, html });

test("deltas keep a prefix and append the rest", () => {
  let stream = foldStream(null, delta(1, 0, "<p>Hel</p>"));
  assert.deepEqual(stream, { turn: 1, seq: 1, html: "<p>Hel</p>" });
  stream = foldStream(stream, delta(2, 6, "lo</p>"));
  assert.equal(stream.html, "<p>Hello</p>");
  stream = foldStream(stream, delta(3, 3, "Rewritten</p>")); // the provider revised earlier text
  assert.equal(stream.html, "<p>Rewritten</p>");
});

test("a duplicate or late delta changes nothing", () => {
  const stream = foldStream(foldStream(null, delta(1, 0, "a")), delta(2, 1, "b"));
  assert.equal(foldStream(stream, delta(2, 1, "b")), stream);
  assert.equal(foldStream(stream, delta(1, 0, "a")), stream);
});

test("a gap asks for the whole answer again", () => {
  const stream = foldStream(null, delta(1, 0, "a"));
  assert.equal(foldStream(stream, delta(3, 1, "c")), null);
  assert.equal(foldStream(null, delta(2, 1, "b")), null); // the first delta of this turn was never seen
  assert.deepEqual(foldStream(stream, delta(4, 0, "whole")), { turn: 1, seq: 4, html: "whole" });
});

test("a new turn starts from nothing", () => {
  const old = foldStream(null, delta(9, 0, "old answer"));
  assert.deepEqual(foldStream(old, delta(1, 0, "new", 2)), { turn: 2, seq: 1, html: "new" });
});

test("other messages leave the stream alone", () => {
  const stream = foldStream(null, delta(1, 0, "a"));
  assert.equal(foldStream(stream, { type: "done", turn: 1, seq: 2, status: "complete" }), stream);
  assert.equal(foldStream(stream, { type: "fill", text: "x" }), stream);
});

test("Enter sends, Shift+Enter is a new line, Escape stops", () => {
  const key = (key, extra = {}) => ({ key, shiftKey: false, altKey: false, ctrlKey: false, metaKey: false, ...extra });
  assert.equal(keyAction(key("Enter"), false), "send");
  assert.equal(keyAction(key("Enter", { shiftKey: true }), false), null);
  assert.equal(keyAction(key("Enter"), true), "hold"); // no second question while one streams
  assert.equal(keyAction(key("Escape"), true), "stop");
  assert.equal(keyAction(key("Escape"), false), null);
  assert.equal(keyAction(key("Enter", { isComposing: true }), false), null); // an IME picks a candidate
  assert.equal(keyAction(key("a"), false), null);
});
