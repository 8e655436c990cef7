// Tests of panel.js's pure functions: `node --test js/` (Node 20+, no packages needed).
import assert from "node:assert/strict";
import test from "node:test";

import { crc32, deliver, foldLog, foldStream, hostKey, keyAction, restoreInput, streamHTML } from "../mmchat_jupyter/static/panel.js";

/** A delta as Python builds it: the blocks from `at` on, and the CRC of the whole result. */
function delta(seq, at, blocks, before = [], turn = 1) {
  const all = [...before.slice(0, at), ...blocks];
  return { type: "delta", turn, seq, at, blocks, crc: all.reduce((crc, block) => crc32(block, crc), 0) };
}

test("crc32 is zlib's, over UTF-16 code units", () => {
  // zlib.crc32("a😀".encode("utf-16-le", "surrogatepass")) and zlib.crc32(b"") in Python
  assert.equal(crc32("a😀"), 0x92dac67b);
  assert.equal(crc32(""), 0);
  assert.equal(crc32("b", crc32("a")), crc32("ab")); // it continues, so a CRC per block costs only that block
  assert.equal(crc32("\ud83d"), crc32("\ud83d")); // a lone surrogate is a code unit like any other
});

test("a delta replaces the blocks from its index on", () => {
  let stream = foldStream(null, delta(1, 0, ["<p>Hel</p>"]));
  assert.deepEqual(stream.blocks, ["<p>Hel</p>"]);
  stream = foldStream(stream, delta(2, 0, ["<p>Hello</p>\n", "<p>W</p>"]));
  stream = foldStream(stream, delta(3, 1, ["<p>World</p>"], stream.blocks));
  assert.equal(streamHTML(stream), "<p>Hello</p>\n<p>World</p>");
  assert.equal(stream.at, 1);
  stream = foldStream(stream, delta(4, 1, [], stream.blocks)); // the provider took a block back
  assert.deepEqual(stream.blocks, ["<p>Hello</p>\n"]);
});

test("a duplicate or late delta changes nothing", () => {
  const first = foldStream(null, delta(1, 0, ["a"]));
  const stream = foldStream(first, delta(2, 1, ["b"], first.blocks));
  assert.equal(foldStream(stream, delta(2, 1, ["b"], first.blocks)), stream);
  assert.equal(foldStream(stream, delta(1, 0, ["a"])), stream);
});

test("a gap, an index past the end or a wrong CRC is refused; a whole resend is taken", () => {
  const stream = foldStream(null, delta(1, 0, ["a"]));
  assert.equal(foldStream(stream, delta(3, 1, ["c"], stream.blocks)), null); // seq 2 never arrived
  assert.equal(foldStream(null, delta(2, 1, ["b"], ["a"])), null); // the first delta of this turn was never seen
  assert.equal(foldStream(stream, delta(2, 2, ["c"], ["a", "b"])), null); // block 1 is not there to keep
  assert.equal(foldStream(stream, { ...delta(2, 1, ["b"], stream.blocks), crc: 1 }), null);
  assert.equal(foldStream(stream, { ...delta(2, 1, ["b"], stream.blocks), blocks: [7] }), null);
  assert.deepEqual(foldStream(stream, delta(9, 0, ["whole"])).blocks, ["whole"]);
});

test("a new turn starts from nothing", () => {
  const old = foldStream(null, delta(9, 0, ["old answer"]));
  assert.deepEqual(foldStream(old, delta(1, 0, ["new"], [], 2)).blocks, ["new"]);
  assert.equal(foldStream(old, delta(10, 1, ["x"], old.blocks, 2)), null);
});

test("other messages leave the stream alone", () => {
  const stream = foldStream(null, delta(1, 0, ["a"]));
  assert.equal(foldStream(stream, { type: "done", turn: 1, seq: 2, status: "complete" }), stream);
  assert.equal(foldStream(stream, { type: "fill", text: "x" }), stream);
  assert.equal(streamHTML(null), "");
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

test("Ctrl/Cmd+S and Ctrl/Cmd+Shift+S go to the host; other keys stay in the panel", () => {
  const key = (key, extra = {}) => ({ key, shiftKey: false, altKey: false, ctrlKey: false, metaKey: false, ...extra });
  assert.equal(hostKey(key("s", { ctrlKey: true })), true);
  assert.equal(hostKey(key("s", { metaKey: true })), true);
  assert.equal(hostKey(key("S", { ctrlKey: true, shiftKey: true })), true);
  assert.equal(hostKey(key("s")), false); // typing an s
  assert.equal(hostKey(key("a", { ctrlKey: true })), false); // select all in the input, not all cells
  assert.equal(hostKey(key("Enter", { ctrlKey: true })), false); // not "run cell"
  assert.equal(hostKey(key("s", { ctrlKey: true, altKey: true })), false); // AltGr+S types a character
});

test("the message window changes one message at a time and refuses a gap", () => {
  const m = (id, text = id) => ({ id, role: "user", text });
  let log = foldLog(null, { type: "log", rev: 4, chat: "c", messages: [m("3"), m("4")], more: true });
  log = foldLog(log, { type: "older", rev: 5, chat: "c", messages: [m("1"), m("2")], more: false });
  log = foldLog(log, { type: "message", rev: 6, chat: "c", message: m("pending:1") });
  log = foldLog(log, { type: "message", rev: 7, chat: "c", message: m("5"), replaces: "pending:1" });
  log = foldLog(log, { type: "message", rev: 8, chat: "c", message: m("2", "edited") });
  log = foldLog(log, { type: "remove", rev: 9, chat: "c", ids: ["1"] });
  assert.deepEqual(log.messages.map((x) => [x.id, x.text]), [["2", "edited"], ["3", "3"], ["4", "4"], ["5", "5"]]);
  assert.equal(log.more, false);
  assert.equal(foldLog(log, { type: "remove", rev: 11, chat: "c", ids: [] }), null); // rev 10 never arrived
  assert.equal(foldLog(log, { type: "remove", rev: 10, chat: "other", ids: [] }), null);
  assert.equal(foldLog(null, { type: "message", rev: 1, chat: "c", message: m("x") }), null);
  const fresh = foldLog(log, { type: "log", rev: 1, chat: "d", messages: [], more: false }); // always taken
  assert.deepEqual(fresh, { chat: "d", rev: 1, messages: [], more: false });
});

test("a question that comes back unsent goes back to the input box, before what was typed since", () => {
  assert.equal(restoreInput("", "What is 2+2?"), "What is 2+2?");
  assert.equal(restoreInput("  \n", "What is 2+2?"), "What is 2+2?");
  assert.equal(restoreInput("What is 2+2?", "What is 2+2?"), "What is 2+2?"); // never twice
  assert.equal(restoreInput("and 3+3?", "What is 2+2?"), "What is 2+2?\nand 3+3?"); // nothing typed is lost
});

test("a message that cannot go (the kernel is gone) is reported, not thrown", () => {
  const sent = [];
  assert.equal(deliver({ send: (msg) => sent.push(msg) }, { type: "send", text: "hi" }), true);
  assert.deepEqual(sent, [{ type: "send", text: "hi" }]);
  const gone = { send: () => { throw new Error("Cannot send"); } }; // JupyterLab's comm after a kernel restart
  assert.equal(deliver(gone, { type: "send", text: "hi" }), false);
});
