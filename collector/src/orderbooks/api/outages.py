"""One signal per outage: what to log about an API that keeps failing.

Every failed attempt is a failure record and a debug ``request_failed`` line
(the client's); this module decides the few warning lines an operator reads
instead. It is pure: fed with each attempt's outcome and the time (``Attempt``,
monotonic seconds for durations and wall milliseconds for the stamps), it
returns the lines to log (``Signal``) and keeps no clock, thread or logger of
its own. It is not thread-safe: the client feeds it under one lock.

An outage is per API (``gamma``, ``clob``) and per error class family
(``FAMILIES``): ``unreachable`` (timeout, connect, reset), ``erroring`` (5xx,
408, HTML or bad JSON, an oversize body), ``throttled`` (429, 425, requests not
sent because of a Retry-After or the budget) and ``blocked`` (403). A failure of
another class (a 404, another 4xx: one request refused, not the API down) is an
answer, like a success.

- An incident opens at the first failed attempt of a family at an API. It
  becomes an outage (``outage_started``, warning) when the failures have gone
  on for ``confirm_seconds`` and number at least ``confirm_failures`` with no
  answer from that API in between. A blip that an answer ends sooner is
  logged at debug only (the client's ``request_failed``).
- While it lasts: ``outage_continues`` (warning) every ``summary_seconds``.
- An answer from the API (a success, or a per-request refusal such as a 404)
  ends every incident of that API: ``outage_ended`` (warning) for an outage,
  nothing for an unconfirmed blip.
- Flapping: each outage of the same API and family that ended in the last
  ``flap_window_seconds`` doubles the time the next one needs to be confirmed
  (up to ``summary_seconds``), so an API that fails and recovers again and
  again gives a bounded number of lines (``recent_outages`` says how many).
- At stop, an outage still open is summed up once more (``outage_continues``
  with ``at_stop: true``); it did not end.

The counts of a line cover the outage from its first failure: ``failures``
(failed attempts of the family, by class: one failure record each),
``attempts`` (every failed attempt at that API meanwhile, whatever its family),
``tokens`` (distinct tokens whose book was missed meanwhile, as the caller
reports them with ``affected``) and ``endpoints`` (failures by endpoint).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from orderbooks.timefmt import iso_ms

#: Error class -> the family of outage it belongs to. Classes not listed are no outage.
FAMILIES = {
    "timeout": "unreachable",
    "connect": "unreachable",
    "reset": "unreachable",
    "http_status": "erroring",
    "html_body": "erroring",
    "bad_json": "erroring",
    "oversize": "erroring",
    "rate_limited": "throttled",
    "not_ready": "throttled",
    "blocked": "blocked",
}
#: An incident becomes an outage after this long (seconds) ...
CONFIRM_SECONDS = 5.0
#: ... and this many failed attempts, without an answer in between.
CONFIRM_FAILURES = 3
#: An open outage is summed up this often (seconds).
SUMMARY_SECONDS = 300.0
#: Outages ended this recently (seconds) make the next one of the same kind wait longer.
FLAP_WINDOW_SECONDS = 3600.0
#: Endpoints counted by name per outage; the rest are summed under "other".
MAX_ENDPOINTS = 10
#: The level of every outage line (``journalctl -p warning`` shows them).
LEVEL = "warning"


def family(error: str, status: int | None = None) -> str | None:
    """The outage family of a failed attempt, None when it is no outage (an answer)."""
    if error == "http_status" and status is not None and status < 500 and status != 408:
        return None  # the API answered; it refused this one request
    return FAMILIES.get(error)


@dataclass(frozen=True)
class Attempt:
    """One attempt's outcome: *error* None for an answer, else its error class."""

    api: str
    mono: float
    wall_ms: int
    error: str | None = None
    status: int | None = None
    endpoint: str = ""
    message: str = ""
    token_id: str | None = None


@dataclass(frozen=True)
class Signal:
    """One line to log."""

    level: str
    event: str
    fields: dict[str, Any]


@dataclass
class _Incident:
    api: str
    family: str
    first: Attempt
    last: Attempt
    confirm_seconds: float
    recent_outages: int
    confirmed: bool = False
    next_summary: float = 0.0
    attempts: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    endpoints: Counter[str] = field(default_factory=Counter)
    tokens: set[str] = field(default_factory=set)

    def add(self, attempt: Attempt) -> None:
        self.last = attempt
        self.failures[attempt.error or ""] += 1
        name = attempt.endpoint
        if name not in self.endpoints and len(self.endpoints) >= MAX_ENDPOINTS:
            name = "other"
        self.endpoints[name] += 1
        if attempt.token_id:
            self.tokens.add(attempt.token_id)

    def fields(self, mono: float) -> dict[str, Any]:
        return {
            "api": self.api,
            "family": self.family,
            "since": iso_ms(self.first.wall_ms),
            "duration_s": round(mono - self.first.mono, 1),
            "attempts": self.attempts,
            "failures": dict(sorted(self.failures.items())),
            "tokens": len(self.tokens),
            "endpoints": dict(self.endpoints.most_common()),
        }


class OutageTracker:
    """Attempts in, outage lines out (see the module's docstring)."""

    def __init__(
        self,
        *,
        confirm_seconds: float = CONFIRM_SECONDS,
        confirm_failures: int = CONFIRM_FAILURES,
        summary_seconds: float = SUMMARY_SECONDS,
        flap_window_seconds: float = FLAP_WINDOW_SECONDS,
    ) -> None:
        if confirm_seconds < 0 or confirm_failures < 1 or summary_seconds <= 0:
            raise ValueError("confirm_seconds >= 0, confirm_failures >= 1 and summary_seconds > 0")
        self.confirm_seconds = confirm_seconds
        self.confirm_failures = confirm_failures
        self.summary_seconds = summary_seconds
        self.flap_window_seconds = flap_window_seconds
        self._open: dict[tuple[str, str], _Incident] = {}
        self._ended: dict[tuple[str, str], deque[float]] = {}

    def observe(self, attempt: Attempt) -> list[Signal]:
        """Feed one attempt's outcome; the lines to log now."""
        kind = family(attempt.error, attempt.status) if attempt.error is not None else None
        signals = self._answered(attempt) if kind is None else self._failed(attempt, kind)
        return signals + self.due(attempt.mono)

    def affected(self, api: str, tokens: Iterable[str]) -> None:
        """Tokens that got no book because of trouble at *api*: counted in its open incidents."""
        names = set(tokens)
        for incident in self._open.values():
            if incident.api == api:
                incident.tokens |= names

    def due(self, mono: float) -> list[Signal]:
        """Outages confirmed or due for a summary at *mono*."""
        signals: list[Signal] = []
        for incident in self._open.values():
            if not incident.confirmed:
                failed = sum(incident.failures.values())
                lasted = incident.last.mono - incident.first.mono
                if failed >= self.confirm_failures and lasted >= incident.confirm_seconds:
                    incident.confirmed = True
                    incident.next_summary = mono + self.summary_seconds
                    signals.append(self._started(incident, mono))
            elif mono >= incident.next_summary:
                incident.next_summary = mono + self.summary_seconds
                signals.append(self._continues(incident, mono))
        return signals

    def at_stop(self, mono: float) -> list[Signal]:
        """A last summary of every outage still open (it did not end; the process does)."""
        return [
            self._continues(incident, mono, at_stop=True)
            for incident in self._open.values()
            if incident.confirmed
        ]

    @property
    def open_outages(self) -> list[tuple[str, str]]:
        """(api, family) of the confirmed outages open now."""
        return [key for key, incident in self._open.items() if incident.confirmed]

    # ------------------------------------------------------------ internals

    def _failed(self, attempt: Attempt, kind: str) -> list[Signal]:
        key = (attempt.api, kind)
        incident = self._open.get(key)
        if incident is None:
            recent = self._recent(key, attempt.mono)
            wait = min(
                self.confirm_seconds * 2 ** min(recent, 30), max(self.confirm_seconds, self.summary_seconds)
            )
            incident = _Incident(attempt.api, kind, attempt, attempt, wait, recent)
            self._open[key] = incident
        incident.add(attempt)
        for other in self._open.values():
            if other.api == attempt.api:
                other.attempts += 1
        return []

    def _answered(self, attempt: Attempt) -> list[Signal]:
        signals = []
        for key in [k for k in self._open if k[0] == attempt.api]:
            incident = self._open.pop(key)
            if not incident.confirmed:
                continue  # a blip: its failures are records and debug lines only
            self._ended.setdefault(key, deque()).append(attempt.mono)
            fields = incident.fields(attempt.mono)
            fields["ended"] = iso_ms(attempt.wall_ms)
            fields["last_failure"] = iso_ms(incident.last.wall_ms)
            signals.append(Signal(LEVEL, "outage_ended", fields))
        return signals

    def _recent(self, key: tuple[str, str], mono: float) -> int:
        ended = self._ended.get(key)
        if not ended:
            return 0
        while ended and mono - ended[0] > self.flap_window_seconds:
            ended.popleft()
        return len(ended)

    def _started(self, incident: _Incident, mono: float) -> Signal:
        first = incident.first
        fields = incident.fields(mono)
        fields.update(
            error=first.error,
            status=first.status,
            endpoint=first.endpoint,
            message=first.message,
            recent_outages=incident.recent_outages,
        )
        return Signal(LEVEL, "outage_started", fields)

    def _continues(self, incident: _Incident, mono: float, *, at_stop: bool = False) -> Signal:
        last = incident.last
        fields = incident.fields(mono)
        fields.update(
            last_failure=iso_ms(last.wall_ms),
            last_error=last.error,
            last_status=last.status,
            last_message=last.message,
        )
        if at_stop:
            fields["at_stop"] = True
        return Signal(LEVEL, "outage_continues", fields)
