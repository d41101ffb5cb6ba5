"""What a gate did on the host, as evidence for the report.

A ``GateEvidence`` wraps testinfra's ``host``: every command goes through
``run`` (or ``probe``), which records the command, its exit code, its output
(trimmed), when it ran and how long it took. ``fact`` records a named value
(hashes, counts, timings). ``poll`` waits for a condition with a deadline; it
never sleeps longer than its polling step, so a slow host shows up as a
measured time, and a host that never gets there fails with the last value seen.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OUTPUT_LIMIT = 4000
PROBE_SOURCE = Path(__file__).with_name("probe.py")


def utc_iso(epoch_s: float | None = None) -> str:
    epoch_s = time.time() if epoch_s is None else epoch_s
    ms = int(epoch_s * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def trim(text: str, limit: int = OUTPUT_LIMIT) -> str:
    text = text or ""
    if len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + f"\n... [{len(text) - limit} characters cut] ...\n" + text[-half:]


#: What ssh prints when it adds a host key to /dev/null; noise, not evidence.
SSH_NOISE = re.compile(r"^Warning: Permanently added .* to the list of known hosts\.\r?\n?", re.MULTILINE)


@dataclass(frozen=True)
class Result:
    """A finished host command (testinfra's result without ssh's noise)."""

    rc: int
    stdout: str
    stderr: str


class PollTimeout(AssertionError):
    """A polled condition did not hold before its deadline."""


class Pending:
    """A falsy answer from a poll check that says why it is not there yet."""

    def __init__(self, detail: str) -> None:
        self.detail = detail

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return self.detail


class GateEvidence:
    def __init__(
        self,
        gate: str,
        host: Any,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.gate = gate
        self.host = host
        self.commands: list[dict[str, Any]] = []
        self.facts: dict[str, Any] = {}
        self._sleep = sleep
        self._monotonic = monotonic

    # ------------------------------------------------------------ commands
    def run(
        self,
        command: str,
        *,
        timeout_s: int = 120,
        label: str | None = None,
        record_output: bool = True,
        shown: Callable[[str], str] | None = None,
    ) -> Result:
        """Run *command* on the host through ``timeout``; record and return the result.
        *shown* turns the stdout into what the record keeps (e.g. a settings file redacted)."""
        wrapped = f"timeout -k 5 {int(timeout_s)} sh -c {shlex.quote(command)}"
        started = time.time()
        t0 = self._monotonic()
        raw = self.host.run(wrapped)
        result = Result(raw.rc, raw.stdout, SSH_NOISE.sub("", raw.stderr))
        duration = self._monotonic() - t0
        self.commands.append(
            {
                "t": utc_iso(started),
                "where": "host",
                "gate": self.gate,
                "cmd": label or command,
                "rc": result.rc,
                "duration_s": round(duration, 3),
                "stdout": (
                    trim(shown(result.stdout) if shown else result.stdout)
                    if record_output
                    else f"[{len(result.stdout)} characters]"
                ),
                "stderr": trim(result.stderr),
            }
        )
        return result

    def probe(self, *args: str, timeout_s: int = 120) -> dict[str, Any]:
        """Run the gate's probe script on the host; return its JSON answer."""
        payload = base64.b64encode(PROBE_SOURCE.read_bytes()).decode()
        argv = " ".join(shlex.quote(a) for a in args)
        command = f"echo {payload} | base64 -d | python3 - {argv}"
        result = self.run(
            command, timeout_s=timeout_s, label=f"python3 gate/probe.py {argv}", record_output=False
        )
        if result.rc != 0:
            raise AssertionError(f"probe {argv} failed (rc {result.rc}): {result.stderr.strip()[-500:]}")
        return json.loads(result.stdout)

    # ------------------------------------------------------------ facts
    def fact(self, key: str, value: Any) -> Any:
        self.facts[key] = value
        return value

    # ------------------------------------------------------------ polling
    def poll(
        self, description: str, check: Callable[[], Any], *, deadline_s: float, every_s: float = 1.0
    ) -> Any:
        """Call *check* until it returns something truthy or *deadline_s* passes.

        Records how long it took under ``facts["waits"][description]``.
        """
        t0 = self._monotonic()
        last: Any = None
        while True:
            last = check()
            elapsed = self._monotonic() - t0
            if last:
                self.facts.setdefault("waits", {})[description] = round(elapsed, 3)
                return last
            if elapsed >= deadline_s:
                self.facts.setdefault("waits", {})[description] = f"not within {deadline_s:.0f} s"
                raise PollTimeout(f"{description}: not within {deadline_s:.0f} s (last seen: {last!r})")
            self._sleep(min(every_s, max(deadline_s - elapsed, 0.05)))

    def hold(
        self, description: str, check: Callable[[], Any], *, duration_s: float, every_s: float = 1.0
    ) -> int:
        """Call *check* (which asserts) repeatedly for *duration_s*: a condition that
        must hold the whole time, not just at the end. Returns the number of checks."""
        t0 = self._monotonic()
        count = 0
        while True:
            check()
            count += 1
            elapsed = self._monotonic() - t0
            if elapsed >= duration_s:
                break
            self._sleep(min(every_s, duration_s - elapsed))
        self.facts.setdefault("held", {})[description] = f"{count} checks over {elapsed:.1f} s"
        return count

    def to_dict(self) -> dict[str, Any]:
        return {"gate": self.gate, "commands": self.commands, "facts": self.facts}
