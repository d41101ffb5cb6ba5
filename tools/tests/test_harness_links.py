"""The rehearsal's per-host links: a cut refuses that host's connections and resets
its open ones, the other host's link keeps working, and a restore brings it back."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the collector's client

    def do_GET(self):
        body = b"hello " + self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def links():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ports = {"a": free_port(), "b": free_port(), "control": free_port()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.links", "--target", f"127.0.0.1:{server.server_address[1]}",
         "--link", f"a=127.0.0.1:{ports['a']}", "--link", f"b=127.0.0.1:{ports['b']}",
         "--control", f"127.0.0.1:{ports['control']}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout.readline().strip() == "links_ready", proc.stderr.read()
    yield ports
    proc.terminate()
    assert proc.wait(timeout=30) == 0
    server.shutdown()


def get(port: int, path: str = "/x", conn: http.client.HTTPConnection | None = None) -> str:
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    return conn.getresponse().read().decode()


def control(ports, method: str, path: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", ports["control"], timeout=10)
    conn.request(method, path)
    response = conn.getresponse()
    body = json.loads(response.read())
    assert response.status == 200, body
    return body


def test_cut_refuses_one_link_resets_its_connections_and_restore_brings_it_back(links):
    kept = http.client.HTTPConnection("127.0.0.1", links["a"], timeout=10)
    assert get(links["a"], "/before", kept) == "hello /before"
    assert get(links["b"]) == "hello /x"

    assert control(links, "POST", "/cut/a")["cut"] is True
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", links["a"]), timeout=10)
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        get(links["a"], "/during", kept)  # the keep-alive connection was reset
    assert get(links["b"], "/during") == "hello /during"  # the other host's link is untouched
    assert control(links, "POST", "/cut/a")["changed"] is False

    assert control(links, "POST", "/restore/a")["cut"] is False
    assert get(links["a"], "/after") == "hello /after"
    state = control(links, "GET", "/links")
    assert state["a"]["cut"] is False and state["b"]["cuts"] == []
    (cut,) = state["a"]["cuts"]
    assert cut["end_ms"] >= cut["start_ms"] > 0


def test_unknown_link_is_a_404(links):
    conn = http.client.HTTPConnection("127.0.0.1", links["control"], timeout=10)
    conn.request("POST", "/cut/nope")
    response = conn.getresponse()
    assert response.status == 404
    assert json.loads(response.read())["links"] == ["a", "b"]
