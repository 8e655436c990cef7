"""How long an export takes, per format, as `%chat export NAME FORMAT` pays it. Prints figures; asserts nothing.

    python benchmarks/export.py [--messages N]

Figures:
  cold     a fresh interpreter: import mmchat_jupyter.export, export once (what the first `%chat export` costs)
  warm     the same export again in that interpreter (median of 5)
Issue 14: `%chat export NAME ipynb` took 3.6 s against 0.1 s for md. Target: ipynb within 2x of md, cold and warm.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

FORMATS = ("md", "txt", "json", "html", "ipynb")

_CHILD = r"""
import json, statistics, sys, time
start = time.perf_counter()
from mmchat_jupyter.export import export_chat
from mmchat_jupyter.types import ChatRecord, MessageRecord
n, fmt = int(sys.argv[1]), sys.argv[2]
answer = ("Here is how:\n\n```python\nimport pandas as pd\ndf = pd.read_csv('x.csv', chunksize=10_000)\n```\n\n"
          "| a | b |\n|---|---|\n| 1 | 2 |\n\nThe sum $x^2$ and **bold** text with a [link](https://example.org).\n")
messages = [MessageRecord(id=f"m{i}", role="user" if i % 2 == 0 else "assistant",
                          content="How do I read a big CSV?" if i % 2 == 0 else answer,
                          created="2024-05-01T09:30:00+00:00", provider=None if i % 2 == 0 else "echo",
                          model=None if i % 2 == 0 else "echo") for i in range(n)]
chat = ChatRecord(id="c1", name="bench", created="2024-05-01T09:30:00+00:00",
                  updated="2024-05-01T09:30:00+00:00", messages=messages)
export_chat(chat, fmt)
cold = time.perf_counter() - start
warm = []
for _ in range(5):
    t = time.perf_counter()
    export_chat(chat, fmt)
    warm.append(time.perf_counter() - t)
print(json.dumps({"cold": cold, "warm": statistics.median(warm)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=40)
    args = parser.parse_args()
    print(f"export of a chat of {args.messages} messages (python {sys.version.split()[0]})")
    print(f"{'format':8} {'cold (s)':>10} {'warm (ms)':>10}")
    for fmt in FORMATS:
        out = subprocess.run([sys.executable, "-c", _CHILD, str(args.messages), fmt],
                             check=True, capture_output=True, text=True).stdout
        figures = json.loads(out)
        print(f"{fmt:8} {figures['cold']:10.3f} {figures['warm'] * 1000:10.1f}")


if __name__ == "__main__":
    main()
