"""Streaming render cost: is a display update as cheap at 100 KB of answer as at 1 KB?

Simulates an answer arriving at a fixed rate (200 chunks/s of 5 characters; simulated time, no sleeping) into a
StreamingRenderer, with Throttle(0.1) deciding when a display update is rendered, as the magic and the widget do.
Prints (the targets are in docs/architecture.md, "Rendering and the notebook display"):

  * render CPU per update around 1 KB, 10 KB and 100 KB of answer (target: 100 KB within 2x of 1 KB);
  * total render CPU as a fraction of the simulated streaming time (target: <= 10 %);
  * updates per second (cap: 20);
  * for reference, total streaming render CPU over one render of the final text.

It also prints the CPU of the whole loop (appending every chunk included) and one-shot render time per KB next to
the previous renderer's (python-markdown, when the `markdown` package is installed).

Giant answers (issue 15, item 4): a 5 MB answer that is one paragraph, a 20,000-row table and a 2 MB code block,
streamed by a fast fake (CHUNK_GIANT characters per chunk, GIANT_RATE chunks/s). For each: render CPU per update and
HTML bytes per update (the changed blocks a face receives) around 10 KB and at the end (target: within 2x), and
the whole loop's CPU against the fake's own streaming time (target: below it, so the answer streams at the fake's
speed).

%%chat display (issue 16): the bytes the display messages of one `%%chat` answer carry to the browser while a 100 KB
answer streams at 200 tokens/s (4 characters a token), against the final answer's HTML size (target: <= 3x), and
with the final consolidated bundle (HTML + text/markdown + text/plain, what the saved notebook keeps) added.

The answer is realistic Markdown (headings, paragraphs, lists, code fences, tables), generated deterministically.
KB here means 1000 characters. Run: python benchmarks/render.py
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable

from mmchat_jupyter.render import StreamingRenderer, Throttle, render_markdown

CHUNK_GIANT = 200
GIANT_RATE = 100  # chunks/s: 20 KB/s, a fast provider (about 5,000 tokens/s)
DISPLAY_ANSWER = 100_000
TOKENS_PER_SECOND, TOKEN_CHARS = 200, 4

CHUNK_CHARS = 5
CHUNKS_PER_SECOND = 200
THROTTLE_INTERVAL = 0.1
ANSWER_CHARS = 102_000
RUNS = 3  # per update, the fastest of the runs is kept: the least disturbed by whatever else the machine does
POINTS = (1_000, 10_000, 100_000)
WINDOW = 1_000  # updates whose answer length is within +-WINDOW/2 of a point count for that point

WORDS = (  # noqa: SIM905  (prose reads better than a list of 60 quoted words)
    "the model returns a stream of tokens and each chunk is appended to the answer while the notebook shows "
    "what has arrived so far so the user can read along ответ модели приходит частями и каждая часть "
    "добавляется к тексту пока блокнот показывает уже полученное данные таблица функция значение"
).split()


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 16))]
    if rng.random() < 0.3:
        words[rng.randrange(len(words))] = f"`{rng.choice(WORDS)}()`"
    if rng.random() < 0.2:
        words[rng.randrange(len(words))] = f"**{rng.choice(WORDS)}**"
    return " ".join(words).capitalize() + "."


def paragraph(rng: random.Random) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(2, 5)))


def code_block(rng: random.Random) -> str:
    name = rng.choice(WORDS).replace("ё", "e")
    lines = [f"def {name if name.isascii() else 'step'}_{rng.randint(1, 99)}(data, limit=10):",
             '    """Process the data."""']
    for index in range(rng.randint(4, 14)):
        lines.append(rng.choice([
            f"    value_{index} = [x * {index} for x in data if x > {rng.randint(0, 50)}]",
            f"    if len(data) > limit:  # keep it short\n        data = data[:{rng.randint(1, 9)}]",
            f'    print(f"step {index}: {{len(data)}} items")',
            f"    result = {{'key': {index}, 'name': \"item-{index}\"}}",
        ]))
    lines.append("    return data")
    return "```python\n" + "\n".join(lines) + "\n```"


def table(rng: random.Random) -> str:
    rows = ["| Provider | Tokens | Latency, ms |", "|:---------|-------:|------------:|"]
    rows += [f"| {rng.choice(['yandexgpt', 'gigachat', 'openai', 'echo'])} | {rng.randint(10, 4000)} | "
             f"{rng.randint(80, 2500)} |" for _ in range(rng.randint(3, 6))]
    return "\n".join(rows)


def bullet_list(rng: random.Random) -> str:
    ordered = rng.random() < 0.4
    return "\n".join((f"{i}. " if ordered else "- ") + sentence(rng) for i in range(1, rng.randint(3, 7)))


def answer(chars: int, seed: int = 2024) -> str:
    rng = random.Random(seed)
    blocks: list[str] = []
    size = 0
    while size < chars:
        section = [f"## {sentence(rng)[:-1]}", paragraph(rng), bullet_list(rng), paragraph(rng)]
        section += [rng.choice([code_block, table, paragraph])(rng) for _ in range(2)]
        blocks += section
        size += sum(len(block) + 2 for block in section)
    return "\n\n".join(blocks) + "\n"


def stream_once(text: str) -> tuple[list[tuple[int, float]], float, float, float]:
    """One simulated stream: [(answer length, CPU s)] per update, the finish() CPU, the CPU of the whole loop
    (appending every chunk, asking the throttle, rendering the updates) and the simulated duration."""
    renderer, throttle = StreamingRenderer(), Throttle(THROTTLE_INTERVAL)
    updates: list[tuple[int, float]] = []
    chunks = range(0, len(text), CHUNK_CHARS)
    loop_began = time.process_time()
    for index, start in enumerate(chunks):
        renderer.append(text[start:start + CHUNK_CHARS])
        if throttle.ready(now=index / CHUNKS_PER_SECOND):
            began = time.process_time()
            renderer.update()
            updates.append((start + CHUNK_CHARS, time.process_time() - began))
    began = time.process_time()
    renderer.finish()
    renderer.update()
    finished = time.process_time()
    return updates, finished - began, finished - loop_began, len(chunks) / CHUNKS_PER_SECOND


def main() -> None:
    text = answer(ANSWER_CHARS)
    render_markdown(text)  # warm up: imports, Pygments lexers, the parser
    runs = [stream_once(text) for _ in range(RUNS)]
    lengths = [length for length, _ in runs[0][0]]
    per_update = [min(run[0][i][1] for run in runs) for i in range(len(lengths))]
    finish_cpu = min(run[1] for run in runs)
    loop_cpu = min(run[2] for run in runs)
    duration = runs[0][3]

    one_render = min(_cpu(render_markdown, text) for _ in range(RUNS))
    total = sum(per_update) + finish_cpu

    print(f"answer: {len(text):,} characters, {CHUNKS_PER_SECOND} chunks/s x {CHUNK_CHARS} characters, "
          f"Throttle({THROTTLE_INTERVAL}); simulated streaming time {duration:.1f} s; best of {RUNS} runs")
    print(f"{'answer so far':>14} {'updates':>8} {'median ms':>10} {'mean ms':>8} {'max ms':>7}")
    medians = {}
    for point in POINTS:
        near = [cost for length, cost in zip(lengths, per_update, strict=True) if abs(length - point) <= WINDOW // 2]
        costs = [cost * 1e3 for cost in near]
        medians[point] = statistics.median(costs)
        print(f"{point // 1000:>11} KB {len(costs):>8} {medians[point]:>10.3f} {statistics.fmean(costs):>8.3f} "
              f"{max(costs):>7.3f}")
    print(f"per-update cost at 100 KB / at 1 KB (median): {medians[100_000] / medians[1_000]:.2f}x (target <= 2x)")
    slope = statistics.linear_regression(lengths, per_update).slope
    print(f"trend over all {len(lengths)} updates: {slope * 1e6 * 10_000:+.1f} us per update per 10 KB of answer")
    print(f"total render CPU: {total:.3f} s over {duration:.1f} s of streaming = {total / duration:.2%} "
          f"(target <= 10%); of which finish(): {finish_cpu * 1e3:.1f} ms")
    print(f"whole streaming loop (append each chunk + throttle + renders + finish): {loop_cpu:.3f} s = "
          f"{loop_cpu / duration:.2%} of the streaming time")
    print(f"updates: {len(lengths)} in {duration:.1f} s = {len(lengths) / duration:.1f}/s (cap 20/s)")
    print(f"one-shot render: {one_render * 1e3 / (len(text) / 1000):.3f} ms per KB (markdown-it-py)", end="")
    old = _old_renderer()
    if old is not None:
        old(text)
        old_render = min(_cpu(old, text) for _ in range(RUNS))
        print(f"; previous renderer (python-markdown): {old_render * 1e3 / (len(text) / 1000):.3f} ms per KB")
    else:
        print("; previous renderer: install `markdown` to compare")
    print()
    for name, make in GIANTS.items():
        giant(name, make())
    print()
    display_bytes()


def _old_renderer() -> Callable[[str], str] | None:
    try:
        import markdown
    except ImportError:
        return None
    md = markdown.Markdown(extensions=["fenced_code", "sane_lists", "tables", "codehilite"])
    return lambda text: str(md.reset().convert(text))


# --- giant answers ------------------------------------------------------------------------------------------------


def one_paragraph(chars: int = 5_000_000) -> str:
    rng = random.Random(11)
    words = [word for word in WORDS if word.isalpha()]
    out: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(words)
        out.append(word)
        size += len(word) + 1
    return " ".join(out) + "\n"


def big_table(rows: int = 20_000) -> str:
    rng = random.Random(12)
    lines = ["| # | provider | tokens | latency, ms |", "|--:|:---------|-------:|:-----------:|"]
    lines += [f"| {i} | {rng.choice(['yandexgpt', 'gigachat', 'echo'])} | {rng.randint(1, 4000)} | "
              f"{rng.randint(80, 2500)} |" for i in range(rows)]
    return "Results:\n\n" + "\n".join(lines) + "\n"


def big_code(chars: int = 2_000_000) -> str:
    rng = random.Random(13)
    body = ""
    pieces = []
    while len(body) < chars:
        piece = code_block(rng).split("\n", 1)[1].rsplit("\n", 1)[0] + "\n"
        pieces.append(piece)
        body += piece
    return "Code:\n\n```python\n" + "".join(pieces) + "```\n"


GIANTS = {"5 MB one paragraph": one_paragraph, "20,000-row table": big_table, "2 MB code block": big_code}


def giant(name: str, text: str) -> None:
    """Stream `text` from a fast fake; per-update CPU and bytes near 10 KB and at the end, and the loop's CPU."""
    renderer, throttle = StreamingRenderer(), Throttle(THROTTLE_INTERVAL)
    samples: list[tuple[int, float, int]] = []
    began = time.process_time()
    chunks = range(0, len(text), CHUNK_GIANT)
    for index, start in enumerate(chunks):
        renderer.append(text[start:start + CHUNK_GIANT])
        if throttle.ready(now=index / GIANT_RATE):
            update_began = time.process_time()
            update = renderer.update()
            samples.append((start + CHUNK_GIANT, time.process_time() - update_began, sum(map(len, update.blocks))))
    finish_began = time.process_time()
    renderer.finish()
    renderer.update()
    loop = time.process_time() - began
    finish = time.process_time() - finish_began
    duration = len(chunks) / GIANT_RATE
    early = [s for s in samples if 8_000 <= s[0] <= 12_000]
    late = samples[-len(early):]
    cpu = (statistics.median(s[1] for s in early) * 1e3, statistics.median(s[1] for s in late) * 1e3)
    sent = (statistics.median(s[2] for s in early), statistics.median(s[2] for s in late))
    print(f"{name}: {len(text):,} characters at {CHUNK_GIANT * GIANT_RATE / 1e3:.0f} KB/s, {len(samples)} updates")
    print(f"  per update near 10 KB: {cpu[0]:.2f} ms, {sent[0]:,.0f} bytes; at the end: {cpu[1]:.2f} ms, "
          f"{sent[1]:,.0f} bytes -> {cpu[1] / cpu[0]:.2f}x CPU, {sent[1] / max(sent[0], 1):.2f}x bytes (target <= 2x)")
    print(f"  whole loop {loop:.2f} s CPU (finish() {finish:.2f} s) for {duration:.1f} s of streaming: "
          f"{'keeps up with' if loop < duration else 'SLOWER than'} the fake")


# --- %%chat display traffic ---------------------------------------------------------------------------------------


def display_bytes() -> None:
    """Bytes of the display messages of one %%chat answer (100 KB at 200 tokens/s) as jupyter_client packs them."""
    import json

    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    from mmchat_jupyter.display import AnswerView
    from mmchat_jupyter.session import Turn
    from mmchat_jupyter.types import Chunk, GenerationParams

    class Wire(DisplayPublisher):
        def __init__(self) -> None:
            super().__init__()
            self.sent = self.messages = 0

        def publish(self, data: dict[str, object], *args: object, **kwargs: object) -> None:
            self.sent += len(json.dumps(data, ensure_ascii=False).encode())
            self.messages += 1

        def clear_output(self, wait: bool = False) -> None:
            self.messages += 1

    shell = InteractiveShell.instance()
    wire = Wire()
    shell.display_pub = wire
    text = answer(DISPLAY_ANSWER)
    clock = [0.0]
    real_monotonic = time.monotonic
    time.monotonic = lambda: clock[0]  # simulated time, as above
    try:
        view = AnswerView(shell, own_output=True)
        turn = Turn("q", "echo", "echo-1", GenerationParams())
        for start in range(0, len(text), TOKEN_CHARS):
            clock[0] += 1 / TOKENS_PER_SECOND
            turn.add(Chunk(text[start:start + TOKEN_CHARS]))
            view.update(turn)
        streamed, messages = wire.sent, wire.messages
        turn.status = "complete"
        view.finish(turn)
    finally:
        time.monotonic = real_monotonic
    final_html = len(render_markdown(text).encode())
    print(f"%%chat display: {len(text):,}-character answer at {TOKENS_PER_SECOND} tokens/s "
          f"({len(text) / TOKEN_CHARS / TOKENS_PER_SECOND:.0f} s), final answer HTML {final_html:,} bytes")
    print(f"  sent while streaming: {streamed:,} bytes in {messages} messages = {streamed / final_html:.2f}x the "
          f"final HTML (target <= 3x); with the final consolidated bundle: {wire.sent:,} bytes = "
          f"{wire.sent / final_html:.2f}x")


def _cpu(function: Callable[..., object], *args: object) -> float:
    began = time.process_time()
    function(*args)
    return time.process_time() - began


if __name__ == "__main__":
    main()
