"""A loopback HTTP server answering 200 to any GET and recording the paths it was
asked for: the outside dead-man's switch (heartbeat) the tests point the collector at."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def recording_http_server() -> Iterator[tuple[str, list[str]]]:
    """(base URL ``http://127.0.0.1:PORT``, the paths of the GETs so far); stopped on exit."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()
