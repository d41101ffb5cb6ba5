"""Per-host network links to one server, each of which can be cut and restored.

Several disposable VPS share this machine's network namespace, so no firewall
inside them can cut one off alone. Each host gets its own link instead: a TCP
forwarder on a port of its own, in front of the same server (the simulator).
Cutting a link closes its listening socket (new connections are refused, like a
REJECT rule) and aborts its open connections (keep-alive connections die with a
reset); restoring it listens again.

    python -m harness.links --target 127.0.0.1:18780 \\
        --link vps-a=127.0.0.1:18783 --link vps-b=127.0.0.1:18784 --control 127.0.0.1:18785

Control (JSON over HTTP on --control): ``POST /cut/<name>``, ``POST /restore/<name>``,
``GET /links`` (each link: its port, cut or not, connections so far, its cuts with
start and end in epoch ms). Prints ``links_ready`` on stdout once every port
listens. Stdlib only; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from typing import Any

READ_CHUNK = 65536


def now_ms() -> int:
    return int(time.time() * 1000)


def host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {text!r}")
    return host, int(port)


def named_link(text: str) -> tuple[str, tuple[str, int]]:
    name, sep, address = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=HOST:PORT, not {text!r}")
    return name, host_port(address)


def log(event: str, **fields: Any) -> None:
    print(json.dumps({"t_ms": now_ms(), "event": event, **fields}), file=sys.stderr, flush=True)


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF or an error, then close *writer* (flushing what it holds)."""
    try:
        while data := await reader.read(READ_CHUNK):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


class Link:
    """One host's way to the target: a port that forwards, or refuses while cut."""

    def __init__(self, name: str, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.name = name
        self.listen = listen
        self.target = target
        self.server: asyncio.AbstractServer | None = None
        self.open: set[asyncio.StreamWriter] = set()
        self.connections = 0
        self.cuts: list[dict[str, int | None]] = []

    @property
    def is_cut(self) -> bool:
        return self.server is None

    async def up(self) -> None:
        self.server = await asyncio.start_server(self.handle, *self.listen, reuse_address=True)

    async def handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError as exc:
            log("target_unreachable", link=self.name, error=str(exc))
            client_w.transport.abort()
            return
        self.open |= {client_w, server_w}
        try:
            await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))
        finally:
            self.open -= {client_w, server_w}

    def cut(self) -> bool:
        """Refuse new connections and reset the open ones; False when already cut."""
        if self.server is None:
            return False
        self.server.close()
        self.server = None
        for writer in list(self.open):
            writer.transport.abort()
        self.cuts.append({"start_ms": now_ms(), "end_ms": None})
        log("cut", link=self.name, reset_connections=len(self.open))
        return True

    async def restore(self) -> bool:
        """Listen again; False when not cut."""
        if self.server is not None:
            return False
        await self.up()
        self.cuts[-1]["end_ms"] = now_ms()
        log("restored", link=self.name)
        return True

    def state(self) -> dict[str, Any]:
        return {
            "port": self.listen[1],
            "cut": self.is_cut,
            "connections": self.connections,
            "open": len(self.open) // 2,
            "cuts": list(self.cuts),
        }


class Control:
    """The JSON control API: one request per connection."""

    def __init__(self, links: dict[str, Link]) -> None:
        self.links = links

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = (await reader.readline()).decode("latin-1").split()
            while (await reader.readline()).strip():
                pass  # headers; no request here has a body
            status, body = await self.route(*(request[:2] if len(request) >= 2 else ("", "")))
        except (OSError, asyncio.IncompleteReadError):
            writer.close()
            return
        payload = json.dumps(body).encode()
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
        writer.close()

    async def route(self, method: str, path: str) -> tuple[str, Any]:
        if method == "GET" and path == "/links":
            return "200 OK", {name: link.state() for name, link in self.links.items()}
        parts = path.strip("/").split("/")
        if method == "POST" and len(parts) == 2 and parts[0] in ("cut", "restore"):
            link = self.links.get(parts[1])
            if link is None:
                return "404 Not Found", {"error": f"no link {parts[1]!r}", "links": sorted(self.links)}
            changed = link.cut() if parts[0] == "cut" else await link.restore()
            return "200 OK", {"link": link.name, "changed": changed, **link.state()}
        return "404 Not Found", {"error": f"no route {method} {path}"}


async def serve(
    target: tuple[str, int], links: list[tuple[str, tuple[str, int]]], control: tuple[str, int]
) -> None:
    table = {name: Link(name, listen, target) for name, listen in links}
    for link in table.values():
        await link.up()
    control_server = await asyncio.start_server(Control(table).handle, *control, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print("links_ready", flush=True)
    log("ready", target=f"{target[0]}:{target[1]}", links={n: link.listen[1] for n, link in table.items()})
    await stop.wait()
    control_server.close()
    for link in table.values():
        link.cut()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="links", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", type=host_port, required=True, help="HOST:PORT every link forwards to")
    parser.add_argument("--link", type=named_link, action="append", required=True, help="NAME=HOST:PORT")
    parser.add_argument("--control", type=host_port, required=True, help="HOST:PORT of the control API")
    args = parser.parse_args(argv)
    names = [name for name, _ in args.link]
    if len(set(names)) != len(names):
        parser.error(f"link names must be unique: {names}")
    try:
        asyncio.run(serve(args.target, args.link, args.control))
    except OSError as exc:
        print(f"links: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
