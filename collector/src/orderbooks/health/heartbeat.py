"""An outside dead-man's switch, healthchecks.io style.

``ping(url)`` GETs the URL (after each sealed hour); ``fail(url, alarms)``
GETs ``URL/fail`` with the alarm names as the query (``?alarms=a,b``) when
the status turns unhealthy. The service alerts when pings stop: a dead VPS,
which no local check can report. Failures to reach it are returned, never raised.
"""

from __future__ import annotations

import httpx

TIMEOUT_SECONDS = 10.0


def _get(
    url: str, params: dict[str, str] | None = None, transport: httpx.BaseTransport | None = None
) -> str | None:
    try:
        with httpx.Client(timeout=TIMEOUT_SECONDS, transport=transport, follow_redirects=True) as client:
            response = client.get(url, params=params)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    if response.status_code >= 300:
        return f"HTTP {response.status_code}"
    return None


def ping(url: str, transport: httpx.BaseTransport | None = None) -> str | None:
    """GET *url*; None when it answered 2xx, else the error."""
    return _get(url, transport=transport)


def fail(url: str, alarms: list[str], transport: httpx.BaseTransport | None = None) -> str | None:
    """GET *url*/fail?alarms=...; None when it answered 2xx, else the error."""
    return _get(url.rstrip("/") + "/fail", {"alarms": ",".join(alarms)}, transport=transport)
