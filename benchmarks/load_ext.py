"""How long `%load_ext mmchat_jupyter` and `import mmchat_jupyter` take, each in a fresh process.

    python benchmarks/load_ext.py [--runs 9]

Prints the median (and min/max) over the runs. Target: `%load_ext` within 150 ms. Only the extension's own
work is timed: IPython is started before the clock starts, as it is in a kernel.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

LOAD_EXT = """
import time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
start = time.perf_counter()
shell.run_line_magic("load_ext", "mmchat_jupyter")
print(time.perf_counter() - start)
"""

IMPORT = """
import time
start = time.perf_counter()
import mmchat_jupyter
print(time.perf_counter() - start)
"""


def measure(code: str, runs: int) -> list[float]:
    """Seconds taken by `code`'s timed part, one fresh interpreter per run."""
    times = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
        times.append(float(out.strip().splitlines()[-1]))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    runs = parser.parse_args().runs
    for label, code in (("%load_ext mmchat_jupyter", LOAD_EXT), ("import mmchat_jupyter", IMPORT)):
        times = [t * 1000 for t in measure(code, runs)]
        print(f"{label:26} median {statistics.median(times):6.1f} ms  (min {min(times):.1f}, max {max(times):.1f}, "
              f"{runs} runs)")


if __name__ == "__main__":
    main()
