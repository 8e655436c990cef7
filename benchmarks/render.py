"""Streaming render cost: is a display update as cheap at 100 KB of answer as at 1 KB?

Simulates an answer arriving at a fixed rate (200 chunks/s of 5 characters; simulated time, no sleeping) into a
StreamingRenderer, with Throttle(0.1) deciding when a display update is rendered, as the magic and the widget do.
Prints (the targets are in docs/architecture.md, "Rendering and the notebook display"):

  * render CPU per update around 1 KB, 10 KB and 100 KB of answer (target: 100 KB within 2x of 1 KB);
  * total render CPU as a fraction of the simulated streaming time (target: <= 10 %);
  * updates per second (cap: 20);
  * for reference, total streaming render CPU over one render of the final text.

It also prints the CPU of the whole loop (appending every chunk included) and the per-update cost deep inside one
long code fence, the case where the open tail itself grows.

The answer is realistic Markdown (headings, paragraphs, lists, code fences, tables), generated deterministically.
KB here means 1000 characters. Run: python benchmarks/render.py
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable

from mmchat_jupyter.render import StreamingRenderer, Throttle, render_markdown

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
            _ = renderer.html
            updates.append((start + CHUNK_CHARS, time.process_time() - began))
    began = time.process_time()
    renderer.finish()
    finished = time.process_time()
    return updates, finished - began, finished - loop_began, len(chunks) / CHUNKS_PER_SECOND


def main() -> None:
    text = answer(ANSWER_CHARS)
    render_markdown(text)  # warm up: imports, Pygments lexers, the Markdown instance
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
    print(f"reference: one render_markdown() of the final text: {one_render * 1e3:.1f} ms; whole streaming "
          f"render cost = {total / one_render:.1f}x that (a full re-render per update would be about "
          f"{len(lengths) / 2:.0f}x, if render cost is linear in length)")
    fence = long_fence(20_000)
    runs = {point: [fence_updates(fence, point) for _ in range(RUNS)] for point in (2_000, 20_000)}
    costs = {point: statistics.median(min(update) for update in zip(*runs[point], strict=True)) for point in runs}
    print(f"one long open code fence (highlighted piecewise while open): per update {costs[2_000] * 1e3:.2f} ms "
          f"at 2 KB into it, {costs[20_000] * 1e3:.2f} ms at 20 KB")


def long_fence(chars: int) -> str:
    rng = random.Random(7)
    body = ""
    while len(body) < chars:
        body += code_block(rng).split("\n", 1)[1].rsplit("\n", 1)[0] + "\n"
    return "Code:\n\n```python\n" + body


def fence_updates(text: str, point: int, samples: int = 5) -> list[float]:
    """CPU of the `samples` updates just before `point` characters of `text` have streamed in."""
    renderer = StreamingRenderer()
    renderer.append(text[:point - samples * 100])
    _ = renderer.html
    costs = []
    for index in range(samples):
        renderer.append(text[point - (samples - index) * 100:point - (samples - index - 1) * 100])
        costs.append(_cpu(lambda: renderer.html))
    return costs


def _cpu(function: Callable[..., object], *args: object) -> float:
    began = time.process_time()
    function(*args)
    return time.process_time() - began


if __name__ == "__main__":
    main()
