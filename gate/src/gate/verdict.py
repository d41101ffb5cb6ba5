"""The gate's verdict: a pure function of what was found, no I/O.

Verdicts (``Decision.verdict``):

- ``PRODUCTION_READY``: a real VPS, every gate passed, a completed 24-hour soak.
- ``PENDING_SOAK``: a real VPS, every gate passed, but no completed 24-hour soak yet.
- ``REHEARSAL_PASS``: every gate passed on the disposable local VPS (never more than this).
- ``BLOCKED_NEEDS_VPS_ACCESS``: no reachable host.
- ``FAIL``: at least one gate did not pass; the reasons name the gates.

Production status (``Decision.production_status``) says what production is
waiting for: ``PRODUCTION_READY``, ``BLOCKED_NEEDS_VPS_ACCESS`` (no real VPS was
tested), ``BLOCKED_NEEDS_SOAK`` or ``BLOCKED_GATE_FAILED``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gate import GATES

PASS = "PASS"
FAIL = "FAIL"
NOT_RUN = "NOT_RUN"
GATE_STATUSES = (PASS, FAIL, NOT_RUN)

PRODUCTION_READY = "PRODUCTION_READY"
PENDING_SOAK = "PENDING_SOAK"
REHEARSAL_PASS = "REHEARSAL_PASS"
BLOCKED_NEEDS_VPS_ACCESS = "BLOCKED_NEEDS_VPS_ACCESS"
VERDICT_FAIL = "FAIL"
VERDICTS = (PRODUCTION_READY, PENDING_SOAK, REHEARSAL_PASS, BLOCKED_NEEDS_VPS_ACCESS, VERDICT_FAIL)

BLOCKED_NEEDS_SOAK = "BLOCKED_NEEDS_SOAK"
BLOCKED_GATE_FAILED = "BLOCKED_GATE_FAILED"
PRODUCTION_STATUSES = (PRODUCTION_READY, BLOCKED_NEEDS_VPS_ACCESS, BLOCKED_NEEDS_SOAK, BLOCKED_GATE_FAILED)


@dataclass(frozen=True)
class GateOutcome:
    status: str  # PASS, FAIL or NOT_RUN
    reason: str | None = None


@dataclass(frozen=True)
class Decision:
    verdict: str
    production_status: str
    reasons: list[str] = field(default_factory=list)


def decide(
    *,
    reachable: bool,
    disposable: bool,
    gates: Mapping[str, GateOutcome],
    soak_completed: bool,
    unreachable_reason: str = "no host of the inventory answered",
) -> Decision:
    """Turn the gates' outcomes into the verdict.

    A gate missing from *gates*, or not PASS, counts as failed: a gate that did
    not run proves nothing.
    """
    if not reachable:
        return Decision(BLOCKED_NEEDS_VPS_ACCESS, BLOCKED_NEEDS_VPS_ACCESS, [unreachable_reason])

    failed: list[str] = []
    for name in GATES:
        outcome = gates.get(name, GateOutcome(NOT_RUN, "the gate did not run"))
        if outcome.status != PASS:
            reason = outcome.reason or "no reason recorded"
            failed.append(f"gate {name} {outcome.status}: {reason}")
    if failed:
        status = BLOCKED_NEEDS_VPS_ACCESS if disposable else BLOCKED_GATE_FAILED
        return Decision(VERDICT_FAIL, status, failed)

    if disposable:
        return Decision(
            REHEARSAL_PASS,
            BLOCKED_NEEDS_VPS_ACCESS,
            ["every gate passed on the disposable local VPS; production needs a real VPS"],
        )
    if not soak_completed:
        return Decision(
            PENDING_SOAK,
            BLOCKED_NEEDS_SOAK,
            ["every gate passed on a real VPS; no completed 24-hour soak in the host's data yet"],
        )
    return Decision(
        PRODUCTION_READY,
        PRODUCTION_READY,
        ["every gate passed on a real VPS after a completed 24-hour soak"],
    )


def exit_code_for(verdict: str, *, expect: str | None = None) -> int:
    """0 when *verdict* is the expected one (default: PRODUCTION_READY or
    REHEARSAL_PASS), else 1."""
    if expect is not None:
        return 0 if verdict == expect else 1
    return 0 if verdict in (PRODUCTION_READY, REHEARSAL_PASS) else 1


#: What ``systemd-detect-virt`` prints inside the disposable local VPS.
DISPOSABLE_VIRT = ("systemd-nspawn",)


def disposable_evidence(inventory_flag: object, detect_virt: str | None) -> list[str]:
    """Why the host counts as the disposable local VPS (empty list: a real VPS).

    Either sign is enough: the harness's inventory variable
    ``orderbooks_disposable_vps`` or a container that only the harness uses.
    """
    found: list[str] = []
    if str(inventory_flag).strip().lower() in ("1", "true", "yes", "on"):
        found.append("inventory sets orderbooks_disposable_vps=true")
    virt = (detect_virt or "").strip()
    if virt in DISPOSABLE_VIRT:
        found.append(f"systemd-detect-virt says {virt}")
    return found


#: Worst first: the group's verdict is the worst of its hosts' verdicts.
VERDICT_ORDER = (VERDICT_FAIL, BLOCKED_NEEDS_VPS_ACCESS, REHEARSAL_PASS, PENDING_SOAK, PRODUCTION_READY)
#: Worst first: the group's production status is the worst of its hosts'.
PRODUCTION_ORDER = (BLOCKED_GATE_FAILED, BLOCKED_NEEDS_VPS_ACCESS, BLOCKED_NEEDS_SOAK, PRODUCTION_READY)


def combine(decisions: Mapping[str, Decision]) -> Decision:
    """The group's verdict from each host's (*decisions*: host name -> Decision).

    The group passes only as far as its weakest host: every gate must pass on
    every host. The reasons name the host of each: first the hosts whose verdict
    is the group's (for FAIL: which host failed which gate), then the others.
    One host gives that host's decision unchanged.
    """
    if not decisions:
        return Decision(BLOCKED_NEEDS_VPS_ACCESS, BLOCKED_NEEDS_VPS_ACCESS, ["no host to judge"])
    if len(decisions) == 1:
        return next(iter(decisions.values()))
    verdict = min((d.verdict for d in decisions.values()), key=VERDICT_ORDER.index)
    status = min((d.production_status for d in decisions.values()), key=PRODUCTION_ORDER.index)
    ordered = sorted(decisions.items(), key=lambda item: item[1].verdict != verdict)
    reasons = [f"host {host}: {why}" for host, d in ordered if d.verdict == verdict for why in d.reasons]
    reasons += [f"host {host}: {d.verdict}" for host, d in ordered if d.verdict != verdict]
    return Decision(verdict, status, reasons)
