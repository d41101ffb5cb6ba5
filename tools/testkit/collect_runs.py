"""What the integration tests share about a real `orderbooks collect` run: how to
start the command, and how the simulator's injected faults match the failure
records the run wrote (the fixtures that start runs are in the tests' conftest)."""

from __future__ import annotations

import sys
from pathlib import Path


def orderbooks_argv() -> list[str]:
    exe = Path(sys.executable).with_name("orderbooks")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "orderbooks"]


# Which client error classes an injected simulator fault may show up as.
FAULT_CLASSES = {
    "down": {"connect", "reset"},
    "5xx": {"http_status"},
    "429": {"rate_limited"},
    "425": {"not_ready"},
    # The simulator hangs slow_seconds, then resets: whichever side gives up first decides
    # (a discovery read timeout equals the default slow_seconds).
    "slow": {"timeout", "reset"},
    "reset": {"reset", "connect"},
    "truncate": {"bad_json", "reset"},
    "html": {"html_body"},
    "blocked": {"blocked"},  # an HTML 403: a blocked address
    # A drifted 404 (GET /book of a token without a book) is still a 404: recorded as such.
    "drift": {"schema_drift", "book_closed", "missing_book"},
}
#: Drift on a CLOB answer is reported against the endpoint the book came from.
#: A record carries the time the client gave up, the fault the time the request arrived: a
#: slow answer is seen after the 5 s read timeout, plus whatever a loaded machine adds.
TOLERANCE_MS = 12_000


def unmatched_faults(faults: list[dict], failures: list[dict]) -> list[dict]:
    """Faults (sim stats) without a failure record of a matching class, endpoint and time (1:1)."""
    pool = sorted(failures, key=lambda f: f["t_ms"])
    used = [False] * len(pool)
    missing = []
    for fault in sorted(faults, key=lambda f: f["t_ms"]):
        classes = FAULT_CLASSES[fault["kind"]]
        hit = None
        for i, rec in enumerate(pool):
            if used[i] or rec["error"] not in classes:
                continue
            if fault["endpoint"] != "*" and rec.get("endpoint") != fault["endpoint"]:
                continue
            if fault["t_ms"] - 1_000 <= rec["t_ms"] <= fault["t_ms"] + TOLERANCE_MS:
                hit = i
                break
        if hit is None:
            missing.append(fault)
        else:
            used[hit] = True
    return missing
