"""HTTP side of the simulator: Gamma under /gamma, CLOB under /clob, faults applied.

Stdlib ``http.server`` with HTTP/1.1 keep-alive. The order of checks for
each API request: route -> count -> Cloudflare User-Agent check (403
``error code: 1010``) -> fault plan -> normal answer (possibly drifted,
HTML-ified or truncated).
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import socket
import socketserver
import struct
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import orjson

from polysim.behaviour import decode_cursor, encode_cursor
from polysim.gamma_payloads import render_event, render_market
from polysim.markets import parse_time_ms

if TYPE_CHECKING:
    from polysim.simulator import Simulator

MAX_LIMIT = 100
DEFAULT_LIMIT = 20
KEYSET_MAX_LIMIT = 500
OFFSET_SUNSET_ERROR = "offset pagination is no longer supported, use /events/keyset"
GZIP_MIN_BYTES = 512

CLOUDFLARE_HTML = b"""<!DOCTYPE html>
<html lang="en-US"><head><title>Attention Required! | Cloudflare</title>
<meta charset="UTF-8" /><meta name="robots" content="noindex, nofollow" /></head>
<body><div id="cf-wrapper"><div id="cf-error-details">
<h1>Sorry, you have been blocked</h1>
<h2>You are unable to access polymarket.com</h2>
<p>This website is using a security service to protect itself from online attacks.</p>
<span>Cloudflare Ray ID: <strong>8f1d2c3b4a5e6f70</strong></span>
</div></div></body></html>
"""

ERROR_BODIES = {
    500: {"error": "error getting the orderbook"},
    502: {"error": "bad gateway"},
    503: {"error": "service unavailable"},
    429: {"error": "Too Many Requests"},
    425: {"error": "service not ready"},
}


class Aborted(Exception):
    """The connection was torn down on purpose; stop handling it."""


class Reply:
    def __init__(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.payload = payload
        self.headers = headers or {}


class TrackingServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its open connections, to drop them on demand."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], handler: type, sim: Simulator) -> None:
        self.sim = sim
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(addr, handler)

    def server_bind(self) -> None:  # skip the reverse DNS lookup of HTTPServer.server_bind
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.discard(conn)

    def drop_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server_version = "cloudflare"
    sys_version = ""
    server: TrackingServer

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.untrack(self.connection)

    def handle(self) -> None:
        with contextlib.suppress(Aborted, OSError, ValueError):
            super().handle()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.sim.verbose:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            n = int(length)
        except ValueError:
            return b""
        return self.rfile.read(n) if n > 0 else b""

    def send_bytes(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
        *,
        truncate: bool = False,
        drip_seconds: float | None = None,
    ) -> None:
        encoding = None
        if len(body) >= GZIP_MIN_BYTES and "gzip" in self.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body, compresslevel=5)
            encoding = "gzip"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if encoding:
            self.send_header("Content-Encoding", encoding)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if truncate:
            self.wfile.write(body[: max(1, len(body) // 2)])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            raise Aborted
        if drip_seconds is not None:
            self.drip(body, drip_seconds)
            return
        self.wfile.write(body)

    def drip(self, body: bytes, seconds: float) -> None:
        """The body one byte every *seconds*: each read gets a byte before any
        idle timeout, yet the whole exchange takes len(body) x seconds."""
        sim = self.server.sim
        for i in range(len(body)):
            self.wfile.write(body[i : i + 1])
            self.wfile.flush()
            if sim.stopping.wait(seconds):
                raise Aborted

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = orjson.dumps(payload)
        if status >= 400:  # error bodies end with a newline: the 404 body is 59 bytes
            body += b"\n"
        self.send_bytes(status, body, "application/json", headers)

    def reset_connection(self) -> None:
        """Abort with a TCP RST (SO_LINGER 0) and no response."""
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        for f in (self.rfile, self.wfile):
            with contextlib.suppress(OSError):
                f.close()
        self.connection.close()
        raise Aborted


# ------------------------------------------------------------------ API routes
def _listed(sim: Simulator, query: dict[str, list[str]], now: int) -> list[Any]:
    """The events a listing query selects, filtered and ordered (before paging)."""
    ids = query.get("series_id", []) + query.get("series_id[]", [])
    series_ids = [s for v in ids for s in v.split(",") if s] if ids else None
    closed = query.get("closed", ["false"])[-1].lower() == "true"
    events = sim.catalog.listing(series_ids, closed, now)
    end_min = query.get("end_date_min", [""])[-1]
    if end_min:
        floor = parse_time_ms(end_min)
        events = [e for e in events if e.end_ms >= floor]
    order = ",".join(query.get("order", []))
    ascending = query.get("ascending", ["false"])[-1].lower() == "true"
    if "endDate" in order.split(","):
        events.sort(key=lambda e: (e.end_ms, int(e.event_id)), reverse=not ascending)
    else:
        events.sort(key=lambda e: int(e.event_id))
    return events


def _render(sim: Simulator, events: list[Any], now: int) -> list[dict[str, Any]]:
    book_at_start = sim.catalog.behaviour.book_at_start
    return [render_event(e, now, sim.catalog.seed, book_at_start) for e in events]


def _query_key(query: dict[str, list[str]]) -> str:
    return "&".join(f"{k}={v}" for k in sorted(query) if k not in ("after_cursor", "limit") for v in query[k])


def _events(h: ApiHandler, query: dict[str, list[str]], body: bytes) -> Reply:
    sim = h.server.sim
    now = sim.now_ms()
    if "offset" in query and sim.catalog.behaviour.offset_sunset:
        return Reply(422, {"type": "validation error", "error": OFFSET_SUNSET_ERROR})
    try:
        limit = int(query.get("limit", [str(DEFAULT_LIMIT)])[-1])
        offset = int(query.get("offset", ["0"])[-1])
        events = _listed(sim, query, now)
    except ValueError:
        return Reply(422, {"type": "validation error", "error": "limit and offset must be integers"})
    if offset < 0 or limit < 0:
        return Reply(422, {"type": "validation error", "error": "limit and offset must be >= 0"})
    limit = min(limit, MAX_LIMIT)
    page = events[offset : offset + limit]
    sim.housekeeping(now)
    return Reply(200, _render(sim, page, now), {"Cache-Control": "public, max-age=300"})


def _events_keyset(h: ApiHandler, query: dict[str, list[str]], body: bytes) -> Reply:
    """``GET /events/keyset``: ``{"events": [...], "next_cursor": "..."}``, no cursor on the last page."""
    sim = h.server.sim
    now = sim.now_ms()
    if not sim.catalog.behaviour.keyset:
        return Reply(404, {"error": "not found"})
    if "offset" in query:
        return Reply(422, {"type": "validation error", "error": "offset is not supported, use after_cursor"})
    secret = f"keyset|{sim.catalog.seed}"
    key = _query_key(query)
    try:
        limit = int(query.get("limit", [str(DEFAULT_LIMIT)])[-1])
        cursor = query.get("after_cursor", [""])[-1]
        offset = decode_cursor(secret, cursor, key) if cursor else 0
        events = _listed(sim, query, now)
    except ValueError as exc:
        return Reply(422, {"type": "validation error", "error": str(exc) or "bad query"})
    if not 1 <= limit <= KEYSET_MAX_LIMIT:
        return Reply(422, {"type": "validation error", "error": f"limit must be in 1..{KEYSET_MAX_LIMIT}"})
    page = events[offset : offset + limit]
    answer: dict[str, Any] = {"events": _render(sim, page, now)}
    if offset + limit < len(events):
        answer["next_cursor"] = encode_cursor(secret, offset + limit, key)
    sim.housekeeping(now)
    return Reply(200, answer, {"Cache-Control": "public, max-age=300"})


def _books(h: ApiHandler, query: dict[str, list[str]], body: bytes) -> Reply:
    sim = h.server.sim
    try:
        req = orjson.loads(body)
    except orjson.JSONDecodeError:
        return Reply(400, {"error": "Invalid payload"})
    if not isinstance(req, list) or not all(
        isinstance(i, dict) and isinstance(i.get("token_id"), str) for i in req
    ):
        return Reply(400, {"error": "Invalid payload"})
    if any(sim.refuses(i["token_id"]) for i in req):
        return Reply(400, {"error": "Invalid payload"})  # one bad token refuses the whole batch
    now = sim.now_ms()
    out, seen = [], set()
    for item in req:
        token = item["token_id"]
        if token in seen:
            continue
        seen.add(token)
        book = sim.book(token, now)
        if book is not None:
            out.append(book)
    return Reply(200, out)


def _book(h: ApiHandler, query: dict[str, list[str]], body: bytes) -> Reply:
    sim = h.server.sim
    token = query.get("token_id", [""])[-1]
    if not token or not token.isdecimal() or sim.refuses(token):
        return Reply(400, {"error": "Invalid token id"})
    book = sim.book(token, sim.now_ms())
    if book is None:
        return Reply(404, {"error": "No orderbook exists for the requested token id"})
    return Reply(200, book)


def _market(h: ApiHandler, query: dict[str, list[str]], body: bytes) -> Reply:
    """``GET /markets/{id}``: one market object, open or closed (closed: ``outcomePrices`` 1/0)."""
    sim = h.server.sim
    market = sim.catalog.market_by_id(h.path_arg)
    if market is None:
        return Reply(404, {"type": "not found error", "error": "id not found"})
    now = sim.now_ms()
    return Reply(200, render_market(market, now, sim.catalog.seed, sim.catalog.behaviour.book_at_start))


def _health(h: ApiHandler, query: dict[str, list[str]], body: bytes) -> Reply:
    return Reply(200, "OK")


Route = tuple[str, str, Callable[["ApiHandler", dict[str, list[str]], bytes], Reply]]
ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/gamma/events"): ("gamma", "GET /events", _events),
    ("GET", "/gamma/events/keyset"): ("gamma", "GET /events/keyset", _events_keyset),
    ("POST", "/clob/books"): ("clob", "POST /books", _books),
    ("GET", "/clob/book"): ("clob", "GET /book", _book),
    ("GET", "/clob"): ("clob", "GET /", _health),
}
#: Routes with one path argument after the prefix (``h.path_arg``).
PREFIX_ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/gamma/markets/"): ("gamma", "GET /markets/<id>", _market),
}


def drift(payload: Any, variant: str) -> Any:
    """Schema drift: a missing ``bids`` or a number where a string was."""
    payload = copy.deepcopy(payload)
    if isinstance(payload, dict) and isinstance(payload.get("events"), list):  # a keyset page
        if not payload["events"]:
            return {"events": {}, "next_cursor": payload.get("next_cursor")}
        return {**payload, "events": drift(payload["events"], variant)}
    if isinstance(payload, list) and not payload:
        return {"data": []}
    first = payload[0] if isinstance(payload, list) else payload
    if not isinstance(first, dict):
        return {"data": payload}
    if "conditionId" in first:  # a Gamma market (GET /markets/{id})
        if variant == "missing":
            first.pop("outcomePrices", None)
        else:
            first["outcomePrices"] = 1
    elif "markets" in first:  # a Gamma event: the ids its version names (positionIds for v2)
        market = first["markets"][0]
        field = "positionIds" if market.get("version") == "v2" else "clobTokenIds"
        if variant == "missing":
            del market[field]
        else:
            # a number where the list of token ids was (the real ids exceed 64 bits)
            ids = market[field]
            market[field] = len(ids if isinstance(ids, list) else orjson.loads(ids))
    elif variant == "missing" or not (first.get("asks") or first.get("bids")):
        first.pop("bids", None)
    else:
        side = first["asks"] or first["bids"]
        side[-1]["price"] = float(side[-1]["price"])
    return payload


class ApiHandler(QuietHandler):
    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_POST(self) -> None:
        self.dispatch("POST")

    def dispatch(self, method: str) -> None:
        sim = self.server.sim
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        body = self.read_body()
        route = ROUTES.get((method, path))
        self.path_arg = ""
        for (m, prefix), prefixed in PREFIX_ROUTES.items():
            arg = path[len(prefix) :] if path.startswith(prefix) else ""
            if route is None and m == method and arg and "/" not in arg:
                # counted and faulted under the concrete path, as the client names it in its records
                concrete = f"{method} {prefix.removeprefix('/gamma')}{arg}"
                route, self.path_arg = (prefixed[0], concrete, prefixed[2]), arg
        if route is None:
            self.send_json(404, {"error": "not found"})
            return
        target, endpoint, fn = route
        sim.plan.count_request(endpoint)
        agent = self.headers.get("User-Agent", "")
        if not agent or agent.startswith("Python-urllib"):
            self.send_bytes(403, b"error code: 1010", "text/plain; charset=UTF-8")
            return
        decision = sim.plan.decide(target, endpoint)
        kind = decision.kind if decision else None
        cfg = sim.plan.config
        if kind == "down":
            sim.go_down_for(cfg.down_seconds)
            self.reset_connection()
        if kind == "reset":
            self.reset_connection()
        if kind == "blocked":
            self.send_bytes(403, CLOUDFLARE_HTML, "text/html; charset=UTF-8")
            return
        if decision and decision.status and decision.status >= 400 and kind != "blocked":
            headers = {}
            if decision.status in (429, 503):
                headers["Retry-After"] = str(cfg.retry_after)
            self.send_json(decision.status, ERROR_BODIES[decision.status], headers)
            return
        if kind == "slow" and sim.stopping.wait(cfg.slow_seconds):
            self.reset_connection()
        if kind == "throttle" and sim.stopping.wait(cfg.throttle_seconds):
            self.reset_connection()  # Cloudflare queues the request, then answers normally
        if kind == "html":
            self.send_bytes(200, CLOUDFLARE_HTML, "text/html; charset=UTF-8")
            return
        reply = fn(self, parse_qs(url.query, keep_blank_values=True), body)
        payload = reply.payload
        if kind == "drift":
            payload = drift(payload, sim.plan.choice(("missing", "number")))
        body = orjson.dumps(payload)
        if reply.status >= 400:
            body += b"\n"
        self.send_bytes(
            reply.status,
            body,
            "application/json",
            reply.headers,
            truncate=kind == "truncate",
            drip_seconds=cfg.drip_seconds if kind == "drip" else None,
        )
