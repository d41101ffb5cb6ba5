"""The one HTTP client: User-Agent, timeouts, retries, Retry-After, request budget.

``ApiClient.get_json`` / ``post_json`` never raise for network or API trouble.
They return an ``ApiResult``; every failed attempt (including attempts that a
later retry repaired) becomes a ``FailureRecord`` in ``result.failures`` and
one debug ``request_failed`` line. Every attempt's outcome also feeds the
outage tracker (``outages``), whose few warning lines (``outage_started``,
``outage_continues``, ``outage_ended``) are what an API outage shows at
warning level. Retries use tenacity with the injected clock's
sleep, exponential backoff with jitter (``schedule.wait_backoff``), the
server's Retry-After on 429/425/503, and stop before the caller's deadline
(``schedule.stop_before_deadline``): a retry never pushes a cycle past the
next cycle's due time. Each attempt's timeouts are also capped by the time
left before the deadline, and the exchange has an overall limit (a connect and
a read timeout), counted from the request and checked on every chunk of the body: a body that trickles in a
byte at a time, never idle for a read timeout, still ends as a ``timeout``
failure. (Headers that trickle are bounded only by the read timeout per read;
the watchdog restarts a poll thread that hangs there.)
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from orderbooks import __version__
from orderbooks.api.outages import Attempt, OutageTracker, Signal
from orderbooks.api.ratelimit import RequestBudget
from orderbooks.api.schedule import retry_after_seconds, stop_before_deadline, wait_backoff
from orderbooks.clock import Clock, SystemClock
from orderbooks.config import Settings
from orderbooks.logs import Logger, get_logger
from orderbooks.records import FailureRecord

USER_AGENT = f"orderbooks/{__version__}"
#: Shortest attempt worth starting (seconds); below this the cycle has no time left.
MIN_ATTEMPT_SECONDS = 0.05
BACKOFF_BASE_SECONDS = 0.1
BACKOFF_CAP_SECONDS = 2.0
#: Longest Retry-After we wait inside a cycle or remember for later (seconds).
MAX_RETRY_AFTER_SECONDS = 300.0


#: ``not_found_error`` for a book that may simply not be open yet: a 404 is then no failure.
NOT_OPEN = "not_open"


class RequestFailed(Exception):
    """One failed attempt, already classified."""

    def __init__(
        self,
        error: str,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.error = error
        self.message = message
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass
class ApiResult:
    """Outcome of one logical request (after retries)."""

    endpoint: str
    data: Any = None
    status: int | None = None
    recv_ms: int = 0
    latency_ms: int = 0
    error: str | None = None  # error class of the last failure; None on success
    message: str = ""
    attempts: int = 0
    failures: list[FailureRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _looks_html(headers: httpx.Headers, content: bytes) -> bool:
    ctype = headers.get("content-type", "").lower()
    head = content[:256].lstrip().lower()
    return "html" in ctype or head.startswith((b"<!doctype", b"<html", b"<"))


def classify_response(status: int, headers: httpx.Headers, content: bytes, now_epoch_s: float) -> Any:
    """Return the decoded JSON of a good response, or raise RequestFailed.

    Pure: the status, headers and body decide. 404 raises with error
    ``http_status`` and status 404 (the caller may call it ``book_closed``).
    """
    hinted = retry_after_seconds(headers.get("retry-after"), now_epoch_s)
    if 200 <= status < 300:
        if not content.strip():
            raise RequestFailed("bad_json", f"empty body (HTTP {status})", status=status, retryable=True)
        if _looks_html(headers, content):
            raise RequestFailed(
                "html_body",
                f"HTML instead of JSON: {_short(content[:80].decode('utf-8', 'replace'))}",
                status=status,
                retryable=True,
            )
        try:
            data = orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            raise RequestFailed(
                "bad_json", f"malformed JSON ({len(content)} bytes): {exc}", status=status, retryable=True
            ) from None
        if isinstance(data, dict) and "too many" in str(data.get("error", "")).lower():
            raise RequestFailed(
                "rate_limited",
                f"HTTP {status} with {_short(str(data['error']))!r}",
                status=status,
                retryable=True,
                retry_after=hinted,
            )
        return data
    body = _short(content[:160].decode("utf-8", "replace"))
    if hinted is None and content[:1] == b"{":
        try:
            seconds = orjson.loads(content).get("retry_after_seconds")
            hinted = float(seconds) if seconds is not None else None
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            hinted = None
    if status == 429:
        raise RequestFailed(
            "rate_limited", f"HTTP 429: {body}", status=status, retryable=True, retry_after=hinted
        )
    if status == 425:
        raise RequestFailed(
            "not_ready", f"HTTP 425: {body}", status=status, retryable=True, retry_after=hinted
        )
    if status == 403:
        raise RequestFailed("blocked", f"HTTP 403: {body}", status=status)
    if status == 503:
        raise RequestFailed(
            "http_status", f"HTTP 503: {body}", status=status, retryable=True, retry_after=hinted
        )
    if status >= 500 or status == 408:
        raise RequestFailed("http_status", f"HTTP {status}: {body}", status=status, retryable=True)
    raise RequestFailed("http_status", f"HTTP {status}: {body}", status=status)


def classify_exception(exc: Exception) -> RequestFailed:
    """Map an httpx transport exception to an error class (all retryable)."""
    name = type(exc).__name__
    text = _short(f"{name}: {exc}" if str(exc) else name)
    if isinstance(exc, httpx.TimeoutException):
        return RequestFailed("timeout", text, retryable=True)
    if isinstance(exc, httpx.ConnectError):
        return RequestFailed("connect", text, retryable=True)
    if isinstance(exc, httpx.DecodingError):
        return RequestFailed("bad_json", text, retryable=True)
    if isinstance(exc, httpx.RemoteProtocolError) and "complete message body" in str(exc):
        # Headers arrived, the body was cut short: a truncated JSON answer.
        return RequestFailed("bad_json", f"truncated body: {text}", retryable=True)
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.CloseError)):
        return RequestFailed("reset", text, retryable=True)
    return RequestFailed("reset", text, retryable=True)


class _BodyDeadline(httpx.SyncByteStream):
    """The response's raw byte stream, ending in a ``timeout`` failure past *deadline*."""

    def __init__(self, inner: Any, deadline: float, monotonic: Callable[[], float], status: int) -> None:
        self.inner, self.deadline, self.monotonic, self.status = inner, deadline, monotonic, status

    def __iter__(self) -> Iterator[bytes]:
        received = 0
        for chunk in self.inner:
            if self.monotonic() > self.deadline:
                raise RequestFailed(
                    "timeout",
                    "the whole exchange took longer than its limit "
                    f"(body still arriving after {received} bytes)",
                    status=self.status,
                )
            received += len(chunk)
            yield chunk

    def close(self) -> None:
        self.inner.close()


def read_capped(
    response: httpx.Response,
    cap: int,
    deadline: float | None = None,
    monotonic: Callable[[], float] | None = None,
) -> bytes:
    """The decoded (gunzipped) body, streamed; more than *cap* bytes raises ``oversize``.

    The cap applies after decoding, so a decompression bomb stops at *cap*
    bytes in memory; the rest of the body is never read. Past *deadline* (on
    the *monotonic* clock) it stops reading and raises ``timeout``.
    """
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and "content-encoding" not in response.headers and int(declared) > cap:
        raise RequestFailed(
            "oversize",
            f"body of {int(declared)} bytes (Content-Length) exceeds the cap of {cap} bytes",
            status=response.status_code,
        )
    if deadline is not None and monotonic is not None:
        # Checked on every raw chunk: a gzip decoder may hold a trickled body back for minutes.
        response.stream = _BodyDeadline(response.stream, deadline, monotonic, response.status_code)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > cap:
            raise RequestFailed(
                "oversize",
                f"body exceeds the cap of {cap} bytes (decoded; stopped reading)",
                status=response.status_code,
            )
        chunks.append(chunk)
    return b"".join(chunks)


class ApiClient:
    """Gamma and CLOB over one keep-alive ``httpx.Client``.

    Shared by the poll thread (CLOB) and the discovery thread (Gamma):
    ``httpx.Client`` is thread-safe, the ``RequestBudget`` has its own lock,
    ``_cooldown_until`` is only read and assigned per key (atomic), and the
    ``ApiResult`` of a request belongs to the calling thread.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        budget: RequestBudget | None = None,
        rng: random.Random | None = None,
        log: Logger | None = None,
        outages: OutageTracker | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.budget = budget or RequestBudget(fraction=settings.budget_fraction)
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not crypto
        self.log = log or get_logger("client")
        self.bases = {"gamma": settings.gamma_url, "clob": settings.clob_url}
        self._cooldown_until: dict[str, float] = {}
        #: One signal per outage; fed under ``_outages_lock`` (every thread's attempts).
        self.outages = outages or OutageTracker()
        self._outages_lock = threading.Lock()
        self.http = httpx.Client(
            transport=transport,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Encoding": "gzip"},
            timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=10, keepalive_expiry=30.0),
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the connections; an outage still open is summed up once more (``at_stop``)."""
        with self._outages_lock:
            signals = self.outages.at_stop(self.clock.monotonic())
        self._log_signals(signals)
        self.http.close()

    def note_affected(self, api: str, token_ids: list[str]) -> None:
        """Tokens that got no book this cycle: counted in *api*'s open outages (``tokens``)."""
        if token_ids:
            with self._outages_lock:
                self.outages.affected(api, token_ids)

    # ------------------------------------------------------------ public calls

    def get_json(self, api: str, path: str, **kwargs: Any) -> ApiResult:
        return self.request_json("GET", api, path, **kwargs)

    def post_json(self, api: str, path: str, **kwargs: Any) -> ApiResult:
        return self.request_json("POST", api, path, **kwargs)

    def request_json(
        self,
        method: str,
        api: str,
        path: str,
        *,
        deadline: float,
        params: dict[str, Any] | None = None,
        body: Any = None,
        cycle: int | None = None,
        series: str | None = None,
        token_id: str | None = None,
        not_found_error: str = "http_status",
    ) -> ApiResult:
        """One logical request with bounded retries; never raises for I/O trouble.

        *deadline* is monotonic seconds: no attempt or backoff goes past it.
        A 404 is recorded with *not_found_error* (e.g. ``book_closed``) and not retried.
        """
        endpoint = f"{method} {path}"
        result = ApiResult(endpoint=endpoint)
        url = self.bases[api] + path
        keys = (api, f"{api} {endpoint}")
        content = orjson.dumps(body) if body is not None else None
        if self.clock.monotonic() + MIN_ATTEMPT_SECONDS > deadline:
            result.error = "overrun"
            result.message = "no time left before the next cycle"
            return result

        def attempt() -> Any:
            result.attempts += 1
            try:
                data = self._attempt(
                    method=method,
                    api=api,
                    url=url,
                    keys=keys,
                    params=params,
                    content=content,
                    deadline=deadline,
                    result=result,
                    not_found_error=not_found_error,
                )
            except RequestFailed as failed:
                if failed.error == NOT_OPEN:  # a book not open yet is expected, not a failure
                    self._answered(api)
                else:
                    self._record(result, failed, cycle, series, token_id, api=api)
                raise
            self._answered(api)
            return data

        def hinted_wait(state: RetryCallState) -> float | None:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RequestFailed) and exc.retry_after is not None:
                return min(exc.retry_after, MAX_RETRY_AFTER_SECONDS)
            return None

        retrying = Retrying(
            stop=stop_after_attempt(self.settings.max_retries + 1)
            | stop_before_deadline(self.clock.monotonic, deadline, MIN_ATTEMPT_SECONDS),
            wait=wait_backoff(
                BACKOFF_BASE_SECONDS, BACKOFF_CAP_SECONDS, retry_after=hinted_wait, rng=self.rng
            ),
            retry=retry_if_exception(lambda exc: isinstance(exc, RequestFailed) and exc.retryable),
            sleep=self.clock.sleep,
            reraise=True,
        )
        try:
            result.data = retrying(attempt)
        except RequestFailed as failed:
            result.error = failed.error
            result.message = failed.message
            result.status = failed.status
            return result
        result.error = None
        return result

    # ------------------------------------------------------------ internals

    def _attempt(
        self,
        *,
        method: str,
        api: str,
        url: str,
        keys: tuple[str, str],
        params: dict[str, Any] | None,
        content: bytes | None,
        deadline: float,
        result: ApiResult,
        not_found_error: str,
    ) -> Any:
        self._wait_for_permission(api, keys, deadline)
        now = self.clock.monotonic()
        remaining = deadline - now
        if remaining < MIN_ATTEMPT_SECONDS:
            raise RequestFailed("timeout", "no time left for another attempt before the next cycle")
        timeout = httpx.Timeout(
            min(self.settings.read_timeout, remaining),
            connect=min(self.settings.connect_timeout, remaining),
        )
        headers = {"Content-Type": "application/json"} if content is not None else None
        self.budget.record(keys, now)
        started = self.clock.monotonic()
        cap = self.body_cap(url)
        # Not capped by the cycle deadline: each read already is (as before this limit), and a
        # body still arriving whole after the next cycle is due is a late row, not a lost one.
        exchange_deadline = started + self.exchange_limit()
        try:
            with self.http.stream(
                method, url, params=params, content=content, headers=headers, timeout=timeout
            ) as response:
                body = read_capped(response, cap, exchange_deadline, self.clock.monotonic)
        except httpx.HTTPError as exc:
            raise classify_exception(exc) from None
        result.latency_ms = max(0, round((self.clock.monotonic() - started) * 1000))
        result.recv_ms = self.clock.wall_ms()
        result.status = response.status_code
        try:
            return classify_response(response.status_code, response.headers, body, result.recv_ms / 1000)
        except RequestFailed as failed:
            if failed.retry_after is not None:
                self._cooldown_until[api] = now + min(failed.retry_after, MAX_RETRY_AFTER_SECONDS)
            if failed.status == 404:
                failed.error = not_found_error
            raise

    def exchange_limit(self) -> float:
        """The longest one exchange may take, connect to last byte: a connect and a read timeout."""
        return self.settings.connect_timeout + self.settings.read_timeout

    def body_cap(self, url: str) -> int:
        """Largest decoded body accepted from *url*: /books has its own (larger) cap."""
        if httpx.URL(url).path.rstrip("/").endswith("/books"):
            return self.settings.max_books_body_bytes
        return self.settings.max_body_bytes

    def _wait_for_permission(self, api: str, keys: tuple[str, str], deadline: float) -> None:
        """Honour a remembered Retry-After and the request budget, or give up for this cycle."""
        now = self.clock.monotonic()
        delay = max(self._cooldown_until.get(api, 0.0) - now, self.budget.delay(keys, now))
        if delay <= 0:
            return
        if now + delay + MIN_ATTEMPT_SECONDS > deadline:
            cause = "Retry-After cooldown" if self._cooldown_until.get(api, 0.0) > now else "request budget"
            raise RequestFailed(
                "rate_limited", f"not sent: {cause} has {delay:.2f}s left, past the cycle deadline"
            )
        self.clock.sleep(delay)

    def _answered(self, api: str) -> None:
        """The API answered: its outages are over."""
        with self._outages_lock:
            signals = self.outages.observe(Attempt(api, self.clock.monotonic(), self.clock.wall_ms()))
        self._log_signals(signals)

    def _log_signals(self, signals: list[Signal]) -> None:
        for signal in signals:
            self.log.log(signal.level, signal.event, **signal.fields)

    def _record(
        self,
        result: ApiResult,
        failed: RequestFailed,
        cycle: int | None,
        series: str | None,
        token_id: str | None,
        *,
        api: str,
    ) -> None:
        # Stamped and fed under one lock, so the outage lines' times and counts match the records.
        with self._outages_lock:
            record = FailureRecord(
                t_ms=self.clock.wall_ms(),
                cycle=cycle,
                error=failed.error,
                message=_short(failed.message),
                series=series,
                token_id=token_id,
                status=failed.status,
                endpoint=result.endpoint,
            )
            signals = self.outages.observe(
                Attempt(
                    api,
                    self.clock.monotonic(),
                    record.t_ms,
                    error=record.error,
                    status=record.status,
                    endpoint=record.endpoint or "",
                    message=record.message,
                    token_id=token_id,
                )
            )
        result.failures.append(record)
        self.log.debug(
            "request_failed",
            error=failed.error,
            endpoint=result.endpoint,
            status=failed.status,
            attempt=result.attempts,
            retryable=failed.retryable,
            cycle=cycle,
            series=series,
            token_id=token_id,
            message=record.message,
        )
        self._log_signals(signals)
