"""ChatPanel in a real JupyterLab and Chromium: does a 5,000-message chat cost what a 10-message one does?

    flock /tmp/mmchat-bench.lock nice python benchmarks/panel.py [--sizes 10,5000] [--code TREE]

For each size, a chat of that many messages is built through the engine API (`ChatSession.send` with the offline
echo provider, in a fresh history), then a notebook cell `ChatPanel(chat=...)` is run in a real JupyterLab in
Debian's /usr/bin/chromium (never a downloaded browser). Printed, per size (issue 16: 5,000 within 2x of 10):

  * shown       ms from running the cell to the newest message on screen (median of RUNS runs of the cell)
  * first token ms from Enter in the panel to the first answer token on screen (median of TURNS turns)
  * per update  browser main-thread time (CDP Performance TaskDuration: every task, JupyterLab's own included)
                from Enter to the answer's end, divided by the stream updates (`delta` messages) the turn delivered
                (`updates`)
  * heap        JS heap in use after a garbage collection, the whole page and what opening the panel added
  * bytes/turn  bytes the kernel sent the page over the kernel websocket during one turn, and how many of them
                were not the answer's stream (the message list, the question, the answer's final state, the kernel's
                status, the transcript output's update: `transcript`)

The echo provider answers with the question and spaces its chunks MMCHAT_ECHO_DELAY apart (set here), so a turn
streams for about a second. `--code TREE` runs the kernel on another source tree (e.g. a `git worktree` of an older
commit) for a "before" figure: its chat is built by that tree's own `ChatSession`. Browser figures on a shared
machine move with whatever else runs: compare sizes measured in the same run.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.e2e.conftest import CHROMIUM, LAUNCH_ARGS
from tests.e2e.lab import LabServer, Notebook

RUNS, TURNS = 3, 3
ECHO_DELAY = "0.01"
QUESTION = " ".join(f"word{i}" for i in range(120))  # echoed back: about 130 chunks, a second of streaming

BUILD = """
import sys
from mmchat_jupyter.session import ChatSession
session = ChatSession(chat=sys.argv[1], provider="echo")
for n in range(int(sys.argv[2]) // 2):
    session.send(f"question {n}: " + "some words of a question " * 8)
"""

# Runs the panel's cell and resolves with the ms until the newest answer is on screen.
SHOWN = """async ([index, answers]) => {
  const notebook = window.jupyterapp.shell.currentWidget.content;
  notebook.activeCellIndex = index;
  notebook.deselectAll();
  const start = performance.now();
  window.jupyterapp.commands.execute("notebook:run-cell");
  const cell = notebook.widgets[index].node;
  for (;;) {
    await new Promise(requestAnimationFrame);
    const shown = cell.querySelectorAll(".mmc .mmc-assistant");
    const last = shown[shown.length - 1];
    if (shown.length >= answers && last.getBoundingClientRect().height > 0) return performance.now() - start;
    if (performance.now() - start > 120000) throw new Error(`not shown in 120 s: ${cell.innerText.slice(0, 300)}`);
  }
}"""

# Before a real Enter in the panel's input: resolves with the ms from that key press until the answer's first token
# is on screen.
FIRST_TOKEN = """() => {
  const before = document.querySelectorAll(".mmc .mmc-assistant").length;
  window.mmcFirstToken = new Promise((resolve, reject) => {
    document.addEventListener("keydown", () => {
      const start = performance.now();
      const poll = () => {
        const answers = document.querySelectorAll(".mmc .mmc-assistant");
        const body = answers.length > before ? answers[answers.length - 1].querySelector(".mmc-body") : null;
        if (body && body.textContent.trim()) resolve(performance.now() - start);
        else if (performance.now() - start > 60000) reject(new Error("no first token in 60 s"));
        else requestAnimationFrame(poll);
      };
      requestAnimationFrame(poll);
    }, { capture: true, once: true });
  });
}"""

CELL_DONE = """() => {
  const cell = window.jupyterapp.shell.currentWidget.content.widgets[1];
  return cell.model.executionCount !== null && !cell.node.querySelector(".jp-InputPrompt").textContent.includes("*");
}"""

IDLE = """(answers) => document.querySelectorAll(".mmc .mmc-assistant:not(.mmc-streaming)").length >= answers
  && !document.querySelector(".mmc .mmc-streaming")"""


class Wire:
    """Kernel-to-page websocket bytes, through the DevTools protocol."""

    def __init__(self, cdp: Any) -> None:
        self.frames: list[bytes] = []
        cdp.send("Network.enable")
        cdp.on("Network.webSocketFrameReceived", self._frame)

    def _frame(self, event: dict[str, Any]) -> None:
        response = event["response"]
        data = response["payloadData"]
        self.frames.append(base64.b64decode(data) if response["opcode"] == 2 else data.encode())

    def take(self) -> tuple[int, int, int, int]:
        """(all bytes, bytes of stream deltas, number of deltas, bytes of transcript updates) since the last take."""
        frames, self.frames = self.frames, []
        deltas = [f for f in frames if b'"delta"' in f and b"comm_msg" in f]
        transcripts = [f for f in frames if b"update_display_data" in f]
        return sum(map(len, frames)), sum(map(len, deltas)), len(deltas), sum(map(len, transcripts))


def build(home: Path, name: str, size: int, code: str | None) -> None:
    env = {**os.environ, "MMCHAT_HOME": str(home)}
    if code:
        env["PYTHONPATH"] = code
    # Not run from the repository: `python -c` puts the working directory first on sys.path, before --code's tree.
    subprocess.run([sys.executable, "-c", BUILD, name, str(size)], env=env, check=True, cwd=home.parent)


def heap(cdp: Any) -> float:
    cdp.send("HeapProfiler.collectGarbage")
    return float(cdp.send("Runtime.getHeapUsage")["usedSize"]) / 1e6


def task_seconds(cdp: Any) -> float:
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return float(next(m["value"] for m in metrics if m["name"] == "TaskDuration"))


def measure(browser: Any, lab: LabServer, name: str, size: int) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(120_000)
    page = context.new_page()
    # One panel in the kernel however often its cell runs: a replaced output leaves its widget alive, following the
    # chat and updating its transcript.
    cell = f"globals().get('panel') and panel.close()\npanel = ChatPanel(chat={name!r}, provider='echo')\npanel"
    nb = Notebook(page, lab, f"{name}.ipynb", [f"from mmchat_jupyter import ChatPanel  # {size} messages", cell])
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    wire = Wire(cdp)
    nb.run(0)
    answers = size // 2
    shown = []
    base_heap = heap(cdp)
    for _ in range(RUNS):
        shown.append(page.evaluate(SHOWN, [1, min(answers, 1)]))
        page.wait_for_function(CELL_DONE)
    page_heap = heap(cdp)
    wire.take()
    first, per_update, total_bytes, other_bytes, transcript, updates = [], [], [], [], [], []
    for turn in range(TURNS):
        page.locator(".mmc .mmc-compose textarea").fill(f"turn {turn}: {QUESTION}")
        page.evaluate(FIRST_TOKEN)
        before = task_seconds(cdp)
        page.locator(".mmc .mmc-compose textarea").press("Enter")
        first.append(page.evaluate("window.mmcFirstToken"))
        page.wait_for_function(IDLE, arg=page.locator(".mmc .mmc-assistant").count())
        busy = task_seconds(cdp) - before
        page.wait_for_timeout(300)  # the end of turn's last messages
        sent, delta_bytes, deltas, transcript_bytes = wire.take()
        per_update.append(busy * 1000 / max(deltas, 1))
        total_bytes.append(sent)
        other_bytes.append(sent - delta_bytes)
        transcript.append(transcript_bytes)
        updates.append(deltas)
    context.close()
    return {
        "shown": statistics.median(shown), "first": statistics.median(first),
        "update": statistics.median(per_update), "heap": page_heap, "panel_heap": page_heap - base_heap,
        "bytes": statistics.median(total_bytes), "other": statistics.median(other_bytes),
        "transcript": statistics.median(transcript), "updates": statistics.median(updates),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10,5000", help="chat sizes in messages, comma-separated")
    parser.add_argument("--code", help="run the kernel on this source tree (a before figure)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "history"
        for size in sizes:
            build(home, f"chat{size}", size, args.code)
        env = {"MMCHAT_HOME": str(home), "MMCHAT_ECHO_DELAY": ECHO_DELAY, "MMCHAT_LANG": "en",
               **({"PYTHONPATH": args.code} if args.code else {})}
        lab = LabServer(Path(tmp) / "lab", env).start()
        results = {}
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
                for size in sizes:
                    results[size] = measure(browser, lab, f"chat{size}", size)
                browser.close()
        finally:
            lab.stop()
    print(f"ChatPanel in JupyterLab + Chromium ({args.code or 'this tree'}); echo, {ECHO_DELAY} s between chunks")
    print(f"{'messages':>8}  {'shown ms':>9}  {'1st token ms':>12}  {'ms/update':>9}  {'updates':>7}  "
          f"{'heap MB':>8}  {'panel MB':>8}  {'bytes/turn':>10}  {'not stream':>10}  {'transcript':>10}")
    for size, r in results.items():
        print(f"{size:>8}  {r['shown']:>9.0f}  {r['first']:>12.0f}  {r['update']:>9.2f}  {r['updates']:>7.0f}  "
              f"{r['heap']:>8.1f}  {r['panel_heap']:>8.1f}  {r['bytes']:>10,.0f}  {r['other']:>10,.0f}  "
              f"{r['transcript']:>10,.0f}")
    if len(sizes) > 1:
        small, large = results[sizes[0]], results[sizes[-1]]
        ratios = ", ".join(f"{key} {large[key] / small[key]:.2f}x" for key in ("shown", "first", "update", "heap")
                           if small[key] > 0)
        print(f"{sizes[-1]} vs {sizes[0]} messages (issue 16: each within 2x): {ratios}")


if __name__ == "__main__":
    main()
