"""The engine's own cost per turn, apart from the provider's: what `send()` adds to an answer.

    python benchmarks/engine.py

Prints, for the offline echo provider (no network, no delay) in a fresh history: the median time of a whole turn
(check the options, resolve the settings, read the chat's tail, save the question and the answer, record the
end), of resolving the settings alone, and of listing the providers' status. Run it under
`flock /tmp/mmchat-bench.lock nice ...` on a shared machine.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable


def median_ms(action: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        os.environ["MMCHAT_HOME"] = home
        os.environ.pop("MMCHAT_ECHO_DELAY", None)
        from mmchat_jupyter.config import MMChat
        from mmchat_jupyter.session import ChatSession

        session = ChatSession("bench", admin=MMChat())
        for n in range(10):
            session.send(f"warm-up question {n}")
        turn = median_ms(lambda: session.send("How long does a turn take?"), 200)
        resolve = median_ms(session.resolve, 500)
        providers = getattr(session, "providers", None)
        listing = median_ms(providers.list, 200) if providers is not None else float("nan")
    print(f"python {sys.version.split()[0]}")
    print(f"turn (echo, 10-200 messages in the chat): {turn:.2f} ms median")
    print(f"settings resolution:                      {resolve:.3f} ms median")
    print(f"providers' status (all):                  {listing:.3f} ms median")


if __name__ == "__main__":
    main()
