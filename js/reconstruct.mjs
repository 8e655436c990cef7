// The panel's reconstruction of a streamed answer, driven from outside: panel.js's own `foldStream`, fed the
// messages Python sent. Used by tests/test_panel_js.py and by the security stream's payload corpus.
//
//   node js/reconstruct.mjs < sequences.json > results.json
//
// Input: a JSON array of sequences, each an array of messages as the widget sends them ({type: "delta", ...}).
// Output: for each sequence, one entry per message: the blocks the panel holds after it, or null when the panel
// refused the message (a gap or a failed integrity check: it keeps showing what it had and asks for a resync).
import { foldStream } from "../mmchat_jupyter/static/panel.js";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const sequences = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const results = sequences.map((messages) => {
  let stream = null;
  return messages.map((msg) => {
    const next = foldStream(stream, msg);
    if (next === null) return null;
    stream = next;
    return stream.blocks;
  });
});
process.stdout.write(JSON.stringify(results));
