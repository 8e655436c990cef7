"""A separate process writing to a history, for the concurrency and crash tests.

    python _writer.py append ROOT CHAT COUNT TAG   wait for a line on stdin, append COUNT messages "TAG-i" to CHAT
    python _writer.py crash ROOT SHARED            write forever, printing each write once it has returned

In crash mode every line on stdout is a write the store acknowledged:
    C <chat id>                       a chat was created
    A <chat id> <message id>          a message was appended
    U <chat id> <message id> <k>      a streamed answer's content became "tok " * k
so the parent, after kill -9, knows what must be in the history and what may be the one write in flight.

With MMCHAT_TEST_TINY_SEGMENTS=1 in the environment, chat heads hold a few messages at most, so nearly every write
rolls messages over into segments (and a kill lands in the middle of one).
"""

from __future__ import annotations

import os
import sys

from mmchat_jupyter.history import HistoryStore, segments

if os.environ.get("MMCHAT_TEST_TINY_SEGMENTS"):
    segments.HEAD_BYTES, segments.HEAD_MESSAGES, segments.SEGMENT_BYTES = 600, 4, 900


def append(root: str, chat: str, count: int, tag: str) -> None:
    store = HistoryStore(root)
    print("ready", flush=True)
    sys.stdin.readline()  # start together with the other writers
    for i in range(count):
        store.append_message(chat, role="user", content=f"{tag}-{i}")
    print("done", flush=True)


def crash(root: str, shared: str) -> None:
    store = HistoryStore(root)

    def say(*words: str) -> None:
        print(*words, flush=True)

    chat = store.create_chat().id
    say("C", chat)
    say("ready")
    step = 0
    while True:
        step += 1
        if step % 7 == 0:
            chat = store.create_chat().id
            say("C", chat)
        target = shared if step % 3 == 0 else chat
        say("A", target, store.append_message(target, role="user", content=f"question {step}"))
        answer = store.append_message(target, role="assistant", content="", status="interrupted")
        say("A", target, answer)
        for k in range(1, 4):
            store.update_message(target, answer, content="tok " * k, status="complete" if k == 3 else "interrupted")
            say("U", target, answer, str(k))
        if step % 5 == 0:
            store.list_chats()


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "append":
        append(args[0], args[1], int(args[2]), args[3])
    else:
        crash(args[0], args[1])
