"""pytest plugin for the production gate (load with ``-p gate.plugin``).

- Every test belongs to a gate: ``@pytest.mark.gate("restart")`` (usually as a
  module-level ``pytestmark``); tests without the mark are the Ansible issue's
  host-state tests and belong to ``host_state``.
- The ``gate_evidence`` fixture gives a test a ``GateEvidence`` bound to the
  testinfra ``host``.
- The host layout under test (``gate.checks.LAYOUT``) is read once per session
  from ``--ansible-inventory`` for the ``--hosts`` pattern (``gate.layout``).
- ``--gate-evidence PATH`` writes, at the end of the session, every test's
  outcome and every gate's evidence as JSON (read by ``gate.verify_host``).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import time
from pathlib import Path
from typing import Any

import pytest

from gate import checks, layout
from gate.evidence import SSH_NOISE, GateEvidence, trim, utc_iso

DEFAULT_GATE = "host_state"


class GateRecorder:
    def __init__(self, path: str | None) -> None:
        self.path = path
        self.started = time.time()
        self.tests: list[dict[str, Any]] = []
        self.evidence: list[GateEvidence] = []
        #: Commands testinfra ran for tests without a GateEvidence (the host-state tests).
        self.plain_commands: dict[str, list[dict[str, Any]]] = {}
        self.current_gate: str | None = None
        self.current_has_evidence = False

    def write(self) -> None:
        if not self.path:
            return
        gates: dict[str, dict[str, Any]] = {}
        for item in self.evidence:
            entry = gates.setdefault(item.gate, {"commands": [], "facts": {}})
            entry["commands"].extend(item.commands)
            entry["facts"].update(item.facts)
        for gate, commands in self.plain_commands.items():
            entry = gates.setdefault(gate, {"commands": [], "facts": {}})
            entry["commands"].extend(commands)
        document = {
            "started_at": utc_iso(self.started),
            "finished_at": utc_iso(),
            "tests": self.tests,
            "gates": gates,
        }
        target = Path(self.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(document, indent=1, sort_keys=True, default=str))
        os.replace(tmp, target)


_RECORDER_KEY = pytest.StashKey[GateRecorder]()


def remote_command(command: str) -> str:
    """testinfra's ``ssh -o ... host 'CMD'`` -> ``CMD`` (the rest is connection detail)."""
    if not command.startswith("ssh "):
        return command
    try:
        return shlex.split(command)[-1]
    except ValueError:
        return command


class TestinfraCommands(logging.Handler):
    """Records what testinfra runs (its ``RUN <result>`` debug line) for tests
    that do not record their own evidence."""

    def __init__(self, recorder: GateRecorder) -> None:
        super().__init__(logging.DEBUG)
        self.recorder = recorder

    def emit(self, record: logging.LogRecord) -> None:
        recorder = self.recorder
        if record.msg != "RUN %s" or not record.args or recorder.current_gate is None:
            return
        if recorder.current_has_evidence:
            return
        result = record.args[0] if isinstance(record.args, tuple) else record.args
        try:
            command = remote_command(result.command.decode(errors="replace"))
            entry = {
                "t": utc_iso(record.created),
                "where": "host",
                "gate": recorder.current_gate,
                "cmd": command,
                "rc": result.rc,
                "duration_s": 0.0,
                "stdout": trim(result.stdout, 1500),
                "stderr": trim(SSH_NOISE.sub("", result.stderr), 1500),
            }
        except Exception:  # evidence must never break a test
            return
        recorder.plain_commands.setdefault(recorder.current_gate, []).append(entry)


def gate_of(item: pytest.Item) -> str:
    mark = item.get_closest_marker("gate")
    return str(mark.args[0]) if mark and mark.args else DEFAULT_GATE


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--gate-evidence", default=None, help="write the gate evidence JSON to this file")
    parser.addoption(
        "--layout-extra-vars",
        action="append",
        default=[],
        help="an ansible -e value the host was deployed with (key=value, JSON or @file); repeatable",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gate(name): the production-gate gate this test belongs to")
    recorder = GateRecorder(config.getoption("--gate-evidence"))
    config.stash[_RECORDER_KEY] = recorder
    if recorder.path:
        testinfra_logger = logging.getLogger("testinfra")
        testinfra_logger.setLevel(logging.DEBUG)
        testinfra_logger.addHandler(TestinfraCommands(recorder))


@pytest.fixture(scope="session", autouse=True)
def gate_layout(pytestconfig: pytest.Config) -> layout.HostLayout:
    """The inventory's host layout, for every gate (a failure to read it fails each test)."""
    return checks.use_session_layout(pytestconfig)


def short_reason(report: pytest.TestReport) -> str | None:
    if report.passed:
        return None
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        message = crash.message
    elif isinstance(report.longrepr, tuple):  # skipped: (path, line, reason)
        message = str(report.longrepr[2])
    else:
        message = str(report.longrepr).strip().splitlines()[-1] if report.longrepr else "failed"
    # Keep the first lines: assertion messages come first, pytest's diff follows.
    return "\n".join(message.splitlines()[:6])[:800]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    recorder = item.config.stash[_RECORDER_KEY]
    recorder.current_gate = gate_of(item)
    recorder.current_has_evidence = "gate_evidence" in getattr(item, "fixturenames", ())
    try:
        yield
    finally:
        recorder.current_gate = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    report.user_properties.append(("gate", gate_of(item)))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    gate = dict(report.user_properties).get("gate", DEFAULT_GATE)
    if report.when == "call" or report.outcome != "passed":
        recorder = _recorder
        if recorder is None:
            return
        outcome = report.outcome
        if report.when != "call" and report.failed:
            outcome = "error"
        recorder.tests.append(
            {
                "nodeid": report.nodeid,
                "gate": gate,
                "when": report.when,
                "outcome": outcome,
                "duration_s": round(report.duration, 3),
                "message": short_reason(report),
            }
        )


_recorder: GateRecorder | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    global _recorder
    _recorder = session.config.stash[_RECORDER_KEY]


def pytest_sessionfinish(session: pytest.Session) -> None:
    session.config.stash[_RECORDER_KEY].write()


@pytest.fixture
def gate_evidence(request: pytest.FixtureRequest, host: Any) -> GateEvidence:
    evidence = GateEvidence(gate_of(request.node), host)
    request.config.stash[_RECORDER_KEY].evidence.append(evidence)
    return evidence
