"""Record what a real LiteLLM proxy (mock mode) and mmchat_jupyter say to each other, byte for byte.

Not a test: run by hand (README.md here says how), inside a network namespace that has only loopback, with the
LiteLLM proxy installed in its own virtual environment outside the repository:

    unshare -n sh -c 'ip link set lo up && .venv/bin/python tests/data/litellm/record.py /work/litellm-venv/bin/litellm'

It starts the proxy with `config.yaml` (one model answering with `mock_response`), puts a recording relay between
it and the client, and runs each step of STEPS as a user would, in a fresh IPython process with `%load_ext
mmchat_jupyter`, configured only through OPENAI_BASE_URL / OPENAI_API_KEY / OPENAI_MODEL. It writes the raw bytes
of every connection (`wire/conn-N.client.bin`: what the client sent; `.server.bin`: what the proxy answered), the
exchanges parsed out of them (`exchanges.json`, which tests/fakes/openai_compat.py replays) and what each step
showed the user (`steps.json`).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import h11

HERE = Path(__file__).resolve().parent
LITELLM_PORT, RELAY_PORT = 4000, 4001
MASTER_KEY = "sk-litellm-mock-master-0000"
MODEL = "mock-gpt"

#: (name, environment changes, cell) — each run in its own IPython process.
STEPS: list[tuple[str, dict[str, str], str]] = [
    ("stream", {}, "%%chat -p openai\nSay hello in five words."),
    ("models", {}, "%chat models openai"),
    ("bad-key", {"OPENAI_API_KEY": "sk-wrong-key-1111"}, "%%chat -p openai\nAre you there?"),
    ("bad-key-models", {"OPENAI_API_KEY": "sk-wrong-key-1111"}, "%chat models openai"),
    ("no-key", {"OPENAI_API_KEY": ""}, "%%chat -p openai\nAre you there?"),
    ("unknown-model", {}, "%%chat -p openai -m no-such-model\nAre you there?"),
]

CLIENT = """
import sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "mmchat_jupyter")
result = shell.run_cell(sys.stdin.read())
"""


class Relay:
    """A TCP relay on RELAY_PORT to LITELLM_PORT that keeps every byte each way, per connection."""

    def __init__(self) -> None:
        self.connections: list[dict[str, bytearray]] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result()

    async def _serve(self) -> None:
        await asyncio.start_server(self._handle, "127.0.0.1", RELAY_PORT)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        record = {"client": bytearray(), "server": bytearray()}
        self.connections.append(record)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", LITELLM_PORT)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, keep: bytearray) -> None:
            while data := await src.read(65536):
                keep += data
                dst.write(data)
                await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer, record["client"]), pipe(up_reader, writer, record["server"]),
                             return_exceptions=True)


def wait_for_proxy(process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"litellm exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{LITELLM_PORT}/health/liveliness", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("litellm did not start")


def exchanges(client: bytes, server: bytes) -> list[dict[str, Any]]:
    """The HTTP requests in `client` paired with the responses in `server` (one connection's two streams)."""
    requests, found = [], []
    reader = h11.Connection(h11.SERVER)
    reader.receive_data(client)
    current: dict[str, Any] | None = None
    while True:
        event = reader.next_event()
        if event in (h11.NEED_DATA, h11.PAUSED) or isinstance(event, h11.ConnectionClosed):
            if event is h11.PAUSED:
                reader.start_next_cycle()
                continue
            break
        if isinstance(event, h11.Request):
            current = {"method": event.method.decode(), "target": event.target.decode(),
                       "headers": [[k.decode(), v.decode()] for k, v in event.headers], "body": b"", "event": event}
        elif isinstance(event, h11.Data) and current is not None:
            current["body"] += event.data
        elif isinstance(event, h11.EndOfMessage) and current is not None:
            requests.append(current)
    responder = h11.Connection(h11.CLIENT)
    responder.receive_data(server)
    for request in requests:
        responder.send(request.pop("event"))
        if request["body"]:
            responder.send(h11.Data(data=request["body"]))
        responder.send(h11.EndOfMessage())
        response: dict[str, Any] = {"body": b"", "chunks": []}
        while True:
            event = responder.next_event()
            if isinstance(event, h11.Response):
                response.update(status=event.status_code, headers=[[k.decode(), v.decode()] for k, v in event.headers])
            elif isinstance(event, h11.Data):
                response["body"] += event.data
                if event.chunk_start:  # the proxy's own chunked framing, kept so a fake can send the same pieces
                    response["chunks"].append(b"")
                if response["chunks"]:
                    response["chunks"][-1] += event.data
            elif isinstance(event, h11.EndOfMessage) or event is h11.NEED_DATA:
                break
        found.append({"request": request, "response": response})
        if responder.our_state is h11.DONE and responder.their_state is h11.DONE:
            responder.start_next_cycle()
    return found


def main() -> None:
    litellm = sys.argv[1]
    interfaces = sorted(name for _index, name in socket.if_nameindex())  # this namespace's, unlike /sys
    if interfaces != ["lo"]:
        raise SystemExit(f"run me in a network namespace with only loopback (unshare -n), not with {interfaces}")
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_MASTER_KEY": MASTER_KEY}
    proxy = subprocess.Popen([litellm, "--config", str(HERE / "config.yaml"), "--host", "127.0.0.1", "--port",
                              str(LITELLM_PORT)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    relay = Relay()
    try:
        wait_for_proxy(proxy)
        relay.start()
        steps = []
        for name, changes, cell in STEPS:
            first = len(relay.connections)
            client_env = {key: value for key, value in os.environ.items()
                          if not key.startswith(("OPENAI_", "YANDEX_", "GIGACHAT_", "MMCHAT_"))}
            client_env.update(OPENAI_BASE_URL=f"http://127.0.0.1:{RELAY_PORT}/v1", OPENAI_API_KEY=MASTER_KEY,
                              OPENAI_MODEL=MODEL, MMCHAT_HOME=str(HERE / ".home"), MMCHAT_LANG="en")
            client_env.update(changes)
            done = subprocess.run([sys.executable, "-c", CLIENT], input=cell, env=client_env, capture_output=True,
                                  check=False, text=True, timeout=120)
            time.sleep(0.5)  # let the relay see the connections close
            steps.append({"name": name, "env": dict(changes), "cell": cell,
                          "stdout": done.stdout, "stderr": done.stderr,
                          "connections": list(range(first, len(relay.connections)))})
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)
    wire = HERE / "wire"
    wire.mkdir(exist_ok=True)
    for number, connection in enumerate(relay.connections):
        (wire / f"conn-{number}.client.bin").write_bytes(bytes(connection["client"]))
        (wire / f"conn-{number}.server.bin").write_bytes(bytes(connection["server"]))
    (HERE / "steps.json").write_text(json.dumps(steps, ensure_ascii=False, indent=1) + "\n")
    parse()


def parse() -> None:
    """exchanges.json from the raw bytes in wire/ and the steps they belong to (steps.json)."""
    steps = json.loads((HERE / "steps.json").read_text())
    recorded = []
    for step in steps:
        for number in step["connections"]:
            client = (HERE / "wire" / f"conn-{number}.client.bin").read_bytes()
            server = (HERE / "wire" / f"conn-{number}.server.bin").read_bytes()
            for exchange in exchanges(client, server):
                for side in ("request", "response"):
                    exchange[side]["body"] = exchange[side]["body"].decode("utf-8")
                exchange["response"]["chunks"] = [c.decode("utf-8") for c in exchange["response"]["chunks"]]
                recorded.append({"step": step["name"], "connection": number, **exchange})
    (HERE / "exchanges.json").write_text(json.dumps(recorded, ensure_ascii=False, indent=1) + "\n")
    print(f"{len(recorded)} exchanges")


if __name__ == "__main__":
    parse() if sys.argv[1:] == ["--parse"] else main()
