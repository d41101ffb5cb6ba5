"""The gate's report: ``manifest.json`` (machine-readable, schema in
docs/gate-manifest.schema.json), ``report.md`` (one screen for people: the
verdict, the gates, the evidence that decided each, the remaining risks) and
``appendix.md`` beside it (host facts, the command log, raw outputs).

``gate_outcomes``, ``build_manifest`` and the renderers are pure; ``write_report``
writes the three files into ``REPORTS_DIR/<UTC timestamp>/``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gate import GATE_TITLES, GATES
from gate.verdict import FAIL, NOT_RUN, PASS, Decision, GateOutcome

MANIFEST_SCHEMA = 1
MANIFEST_KIND = "orderbooks-gate-report"
SCHEMA_PATH = Path(__file__).resolve().parents[3] / "docs" / "gate-manifest.schema.json"


def report_dir_name(epoch_s: float) -> str:
    """``20261121T104512Z``: sortable, one per run."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch_s))


def gate_outcomes(tests: Iterable[Mapping[str, Any]]) -> dict[str, GateOutcome]:
    """One outcome per gate from the per-test results.

    PASS needs at least one test and every test passed. A skipped or erroring
    test is a FAIL: a gate that did not check proves nothing.
    """
    by_gate: dict[str, list[Mapping[str, Any]]] = {}
    for test in tests:
        by_gate.setdefault(str(test.get("gate")), []).append(test)
    outcomes: dict[str, GateOutcome] = {}
    for gate in GATES:
        results = by_gate.get(gate, [])
        if not results:
            outcomes[gate] = GateOutcome(NOT_RUN, "no test of this gate ran")
            continue
        bad = [t for t in results if t.get("outcome") != "passed"]
        if not bad:
            outcomes[gate] = GateOutcome(PASS)
            continue
        first = bad[0]
        name = str(first.get("nodeid", "?")).split("::")[-1]
        message = (first.get("message") or "").strip().splitlines()
        reason = f"{name} {first.get('outcome')}: {message[0] if message else 'no message'}"
        if len(bad) > 1:
            reason += f" (+{len(bad) - 1} more)"
        outcomes[gate] = GateOutcome(FAIL, reason)
    return outcomes


#: ``scope`` of a manifest: one host's report, or a group's (several hosts).
SCOPE_HOST = "host"
SCOPE_GROUP = "group"
#: The folder of each host's own report inside a group's report folder.
HOSTS_DIR = "hosts"


def _header(  # noqa: PLR0917 (the manifest's leading keys, in their order)
    scope: str, decision: Decision, started_at: str, finished_at: str, duration_s: float, inventory: str
) -> dict[str, Any]:
    return {
        "schema": MANIFEST_SCHEMA,
        "kind": MANIFEST_KIND,
        "scope": scope,
        "verdict": decision.verdict,
        "production_status": decision.production_status,
        "reasons": list(decision.reasons),
        "started_at": started_at,
        "finished_at": finished_at,
        "duration_s": round(duration_s, 3),
        "inventory": inventory,
    }


def build_manifest(
    *,
    decision: Decision,
    started_at: str,
    finished_at: str,
    duration_s: float,
    inventory: str,
    target: Mapping[str, Any],
    host_facts: Mapping[str, Any],
    commands: list[Mapping[str, Any]],  # run on the controller; the gates' host commands are added
    evidence: Mapping[str, Any],
    outcomes: Mapping[str, GateOutcome],
    files: list[Mapping[str, Any]],
    quality: Mapping[str, Any],
    soak: Mapping[str, Any],
    risks: list[str],
) -> dict[str, Any]:
    tests = list(evidence.get("tests", []))
    gate_evidence = evidence.get("gates", {})
    gates = []
    for name in GATES:
        outcome = outcomes.get(name, GateOutcome(NOT_RUN, "no test of this gate ran"))
        own = gate_evidence.get(name, {})
        gates.append(
            {
                "name": name,
                "title": GATE_TITLES[name],
                "status": outcome.status,
                "reason": outcome.reason,
                "tests": [t for t in tests if t.get("gate") == name],
                "commands": list(own.get("commands", [])),
                "facts": dict(own.get("facts", {})),
            }
        )
    return {
        **_header(SCOPE_HOST, decision, started_at, finished_at, duration_s, inventory),
        "target": dict(target),
        "host_facts": dict(host_facts),
        "commands": sorted(
            [dict(c) for c in commands]
            + [dict(c, stdout="", stderr="") for g in gates for c in g["commands"]],
            key=lambda c: str(c.get("t", "")),
        ),
        "gates": gates,
        "files": [dict(f) for f in files],
        "quality": dict(quality),
        "soak": dict(soak),
        "risks": list(risks),
    }


def host_summary(name: str, manifest: Mapping[str, Any], report: str) -> dict[str, Any]:
    """One host's line in ``hosts`` of a manifest: its verdict and each gate's status."""
    target = manifest["target"]
    return {
        "name": name,
        "verdict": manifest["verdict"],
        "production_status": manifest["production_status"],
        "reasons": list(manifest["reasons"]),
        "reachable": bool(target.get("reachable")),
        "disposable": bool(target.get("disposable")),
        "gates": {g["name"]: {"status": g["status"], "reason": g["reason"]} for g in manifest["gates"]},
        "report": report,
    }


def group_gate(name: str, per_host: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One gate over the group: PASS only when it passed on every host; the reason
    names each host where it did not."""
    bad = {host: gate for host, gate in per_host.items() if gate["status"] != PASS}
    status = PASS
    if bad:
        status = FAIL if any(gate["status"] == FAIL for gate in bad.values()) else NOT_RUN
    reason = "; ".join(
        f"{host}: {g['status']} {g['reason'] or 'no reason recorded'}" for host, g in bad.items()
    )
    return {
        "name": name,
        "title": GATE_TITLES[name],
        "status": status,
        "reason": reason or None,
        "tests": [dict(t, host=host) for host, gate in per_host.items() for t in gate["tests"]],
        "commands": [],
        "facts": {"status_by_host": {host: gate["status"] for host, gate in per_host.items()}},
    }


def _group_risks(host_manifests: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Risks every host shares, once; the others prefixed with their host."""
    lists = {host: list(m["risks"]) for host, m in host_manifests.items()}
    common = [r for r in next(iter(lists.values()), []) if all(r in rs for rs in lists.values())]
    own = [f"host {host}: {r}" for host, rs in lists.items() for r in rs if r not in common]
    return common + own


def build_group_manifest(
    *,
    decision: Decision,
    started_at: str,
    finished_at: str,
    duration_s: float,
    inventory: str,
    hosts: list[str],
    host_manifests: Mapping[str, Mapping[str, Any]],
    commands: list[Mapping[str, Any]],
) -> dict[str, Any]:
    """The group's manifest: its verdict (``verdict.combine`` of the hosts'), each gate
    over the group, each host's summary (``hosts``, with the path of its own report in
    ``hosts/<name>/``), the files of every host; the full evidence stays in each host's."""
    names = list(host_manifests)
    by_gate = {
        name: {host: next(g for g in m["gates"] if g["name"] == name) for host, m in host_manifests.items()}
        for name in GATES
    }
    targets = {host: m["target"] for host, m in host_manifests.items()}
    errors = [f"{host}: {t['error']}" for host, t in targets.items() if t.get("error")]
    soaks = {host: m["soak"] for host, m in host_manifests.items()}
    return {
        **_header(SCOPE_GROUP, decision, started_at, finished_at, duration_s, inventory),
        "target": {
            "name": None,
            "hosts": list(hosts),
            "reachable": all(t.get("reachable") for t in targets.values()),
            "disposable": any(t.get("disposable") for t in targets.values()),
            "disposable_evidence": [
                f"{host}: {e}" for host, t in targets.items() for e in t.get("disposable_evidence", [])
            ],
            "error": "; ".join(errors) or None,
        },
        "host_facts": {},
        "commands": [dict(c) for c in commands],
        "gates": [group_gate(name, by_gate[name]) for name in GATES],
        "files": [dict(f, host=host) for host, m in host_manifests.items() for f in m["files"]],
        "quality": {
            "source": f"each host's report ({HOSTS_DIR}/<name>/manifest.json)",
            "summary": {host: m["quality"].get("source") for host, m in host_manifests.items()},
        },
        "soak": {
            "completed": all(s.get("completed") for s in soaks.values()),
            "detail": "; ".join(f"{host}: {s.get('detail', 'not evaluated')}" for host, s in soaks.items()),
        },
        "risks": _group_risks(host_manifests),
        "hosts": [host_summary(h, host_manifests[h], f"{HOSTS_DIR}/{h}/report.md") for h in names],
    }


def _cell(status: str, reason: str | None) -> str:
    if status == PASS:
        return PASS
    return f"**{status}**: " + (reason or "no reason recorded").replace("|", "/").replace("\n", " ")


def render_group_summary(manifest: Mapping[str, Any]) -> str:
    """report.md of a group: the group's verdict, which host failed what, a table of
    each gate on each host, the remaining risks; each host's report is linked."""
    hosts = manifest["hosts"]
    lines: list[str] = []
    add = lines.append
    add(f"# Production gate: {manifest['verdict']} (group of {len(hosts)} hosts)")
    add("")
    add(f"- **Verdict:** `{manifest['verdict']}` (the group passes when every gate passed on every host)")
    add(f"- **Production status:** `{manifest['production_status']}`")
    lines += [f"- {reason}" for reason in manifest["reasons"]]
    add("")
    names = ", ".join(f"`{h['name']}`" for h in hosts)
    add(
        f"Inventory `{manifest['inventory']}`, hosts {names}; "
        f"started {manifest['started_at']}, finished {manifest['finished_at']} "
        f"({manifest['duration_s']:.0f} s)."
    )
    add("")
    add("| host | verdict | failed gates | report |")
    add("|---|---|---|---|")
    for host in hosts:
        failed = [name for name, gate in host["gates"].items() if gate["status"] != PASS]
        add(
            f"| {host['name']} | **{host['verdict']}** | {', '.join(failed) or '-'} "
            f"| [{host['report']}]({host['report']}) |"
        )
    add("")
    add("| gate | " + " | ".join(h["name"] for h in hosts) + " |")
    add("|---|" + "---|" * len(hosts))
    for name in GATES:
        cells = [_cell(h["gates"][name]["status"], h["gates"][name]["reason"]) for h in hosts]
        add(f"| {name} | " + " | ".join(cells) + " |")
    add("")
    add("Remaining risks:")
    add("")
    lines += [f"- {risk}" for risk in manifest["risks"]] or ["- none recorded"]
    add("")
    add(
        f"Details: each host's report (above), [{APPENDIX_NAME}]({APPENDIX_NAME}) (the group's tests and "
        "files); machine-readable: [manifest.json](manifest.json)."
    )
    add("")
    return "\n".join(lines)


def _fence(text: str) -> str:
    text = (text or "").rstrip()
    return "```\n" + text.replace("```", "'''") + "\n```"


def _json_block(value: Any) -> str:
    return "```json\n" + json.dumps(value, indent=1, sort_keys=True, default=str) + "\n```"


#: The file beside report.md with the host facts, the command log and the raw outputs.
APPENDIX_NAME = "appendix.md"
#: How many of a passing gate's facts its summary line shows.
SUMMARY_FACTS = 3


def _short(value: Any) -> str | None:
    """A fact small enough for the summary table, or None."""
    if isinstance(value, bool | int | float):
        return str(value)
    if isinstance(value, str) and len(value) <= 40:
        return value
    if isinstance(value, list | tuple) and len(value) <= 3 and all(isinstance(v, int | float) for v in value):
        return str(list(value))
    return None


def decided_by(gate: Mapping[str, Any]) -> str:
    """The evidence that decided one gate, in one line: the reason when it did not
    pass, otherwise how many tests passed and its first few small facts."""
    if gate["status"] != PASS:
        return (gate["reason"] or "no reason recorded").replace("|", "/").replace("\n", " ")
    tests = gate["tests"]
    passed = sum(1 for t in tests if t.get("outcome") == "passed")
    parts = [f"{passed}/{len(tests)} tests passed"]
    shown = [(k, _short(v)) for k, v in sorted(gate["facts"].items())]
    parts += [f"{k}={v}" for k, v in shown if v is not None][:SUMMARY_FACTS]
    return "; ".join(parts).replace("|", "/")


def _verdict_lines(manifest: Mapping[str, Any]) -> list[str]:
    """The verdict, the production status with its reasons, and the run's target."""
    target = manifest["target"]
    return [
        f"- **Verdict:** `{manifest['verdict']}`",
        f"- **Production status:** `{manifest['production_status']}`",
        *(f"- {reason}" for reason in manifest["reasons"]),
        "",
        f"Inventory `{manifest['inventory']}`, host `{target.get('name') or '-'}`; "
        f"started {manifest['started_at']}, finished {manifest['finished_at']} "
        f"({manifest['duration_s']:.0f} s).",
        "",
    ]


def render_summary(manifest: Mapping[str, Any]) -> str:
    """report.md: one screen with the verdict, a table of gates, the evidence that
    decided each, and the remaining risks. The rest is in the appendix beside it.
    A group's report shows each host's verdict and each gate on each host."""
    if manifest.get("scope") == SCOPE_GROUP:
        return render_group_summary(manifest)
    lines: list[str] = []
    add = lines.append
    add(f"# Production gate: {manifest['verdict']}")
    add("")
    lines += _verdict_lines(manifest)
    add("| gate | result | decided by |")
    add("|---|---|---|")
    for gate in manifest["gates"]:
        add(f"| {gate['name']} | **{gate['status']}** | {decided_by(gate)} |")
    add("")
    add("Remaining risks:")
    add("")
    for risk in manifest["risks"]:
        add(f"- {risk}")
    if not manifest["risks"]:
        add("- none recorded")
    add("")
    add(
        f"Details: [{APPENDIX_NAME}]({APPENDIX_NAME}) (host facts, the command log, each gate's "
        "tests, facts and raw outputs, files, quality, soak); everything, machine-readable: "
        "[manifest.json](manifest.json)."
    )
    add("")
    return "\n".join(lines)


def render_markdown(manifest: Mapping[str, Any]) -> str:
    """The appendix: everything report.md summarises, with the command log and raw outputs."""
    lines: list[str] = []
    add = lines.append
    add(f"# Production gate: {manifest['verdict']} (appendix)")
    add("")
    lines += _verdict_lines(manifest)
    target = manifest["target"]
    add("## Gates")
    add("")
    add("| gate | result | reason |")
    add("|---|---|---|")
    for gate in manifest["gates"]:
        reason = (gate["reason"] or "").replace("|", "/").replace("\n", " ")
        add(f"| {gate['name']} | **{gate['status']}** | {reason} |")
    add("")
    add("## Target and host facts")
    add("")
    add(_json_block({"target": target, "host_facts": manifest["host_facts"]}))
    add("")
    add("## Commands run")
    add("")
    add("Every command, in order, with its exit code and duration in seconds; outputs are in the gate")
    add("sections below and in manifest.json.")
    add("")
    add("| time (UTC) | where | gate | rc | s | command |")
    add("|---|---|---|---|---|---|")
    for cmd in manifest["commands"]:
        shown = str(cmd.get("cmd", "")).replace("|", "\\|").replace("\n", " ")
        if len(shown) > 200:
            shown = shown[:200] + "..."
        add(
            f"| {cmd.get('t', '')} | {cmd.get('where', '')} | {cmd.get('gate') or '-'} | {cmd.get('rc')} "
            f"| {cmd.get('duration_s', 0):.1f} | `{shown}` |"
        )
    add("")
    for gate in manifest["gates"]:
        add(f"## Gate {gate['name']}: {gate['status']}")
        add("")
        add(gate["title"] + ".")
        add("")
        if gate["reason"]:
            add(f"Reason: {gate['reason']}")
            add("")
        if gate["tests"]:
            add("| test | outcome | s |")
            add("|---|---|---|")
            for test in gate["tests"]:
                where = f"{test['host']}: " if test.get("host") else ""
                seconds = test.get("duration_s", 0)
                add(f"| {where}`{test.get('nodeid')}` | {test.get('outcome')} | {seconds:.1f} |")
            add("")
        if gate["facts"]:
            add("Evidence:")
            add("")
            add(_json_block(gate["facts"]))
            add("")
        for cmd in gate["commands"]:
            out = cmd.get("stdout") or ""
            err = cmd.get("stderr") or ""
            if not out.strip() and not err.strip():
                continue
            add(f"`{cmd.get('cmd')}` (rc {cmd.get('rc')}, {cmd.get('t')}):")
            add("")
            add(_fence(out + (("\n[stderr]\n" + err) if err.strip() else "")))
            add("")
    add("## Files on the host (sha256)")
    add("")
    if manifest["files"]:
        add("| file | bytes | rows | recovered | sha256 |")
        add("|---|---|---|---|---|")
        for entry in manifest["files"]:
            add(
                f"| `{entry.get('path')}` | {entry.get('bytes')} | {entry.get('rows', '')} "
                f"| {entry.get('recovered', '')} | `{entry.get('sha256')}` |"
            )
    else:
        add("No sealed files were listed.")
    add("")
    add("## Data quality")
    add("")
    add(_json_block(manifest["quality"]))
    add("")
    add("## 24-hour soak")
    add("")
    add(str(manifest["soak"].get("detail", "not evaluated")))
    add("")
    soak_report = manifest["soak"].get("report")
    if isinstance(soak_report, dict):
        found = soak_report.get("found", "given")
        add(f"Soak report ({found}): `{soak_report.get('path')}`: {soak_report.get('detail')}")
        add("")
    add("## Remaining risks")
    add("")
    for risk in manifest["risks"]:
        add(f"- {risk}")
    add("")
    return "\n".join(lines)


def validate_manifest(manifest: Mapping[str, Any], schema_path: Path = SCHEMA_PATH) -> None:
    """Raise jsonschema.ValidationError when *manifest* does not match the schema."""
    import jsonschema  # noqa: PLC0415 - only the manifest check needs it

    schema = json.loads(schema_path.read_text())
    jsonschema.validate(manifest, schema)


def write_report(
    manifest: Mapping[str, Any],
    reports_dir: Path,
    *,
    epoch_s: float | None = None,
    folder_name: str | None = None,
) -> Path:
    """Write REPORTS_DIR/<UTC timestamp>/{manifest.json,appendix.md,report.md} (or
    REPORTS_DIR/<folder_name>/: a host's report inside its group's); return the folder."""
    epoch_s = time.time() if epoch_s is None else epoch_s
    name = folder_name or report_dir_name(epoch_s)
    folder = Path(reports_dir) / name
    suffix = 1
    while folder.exists():
        folder = Path(reports_dir) / f"{name}-{suffix}"
        suffix += 1
    folder.mkdir(parents=True)
    for name, text in (
        ("manifest.json", json.dumps(manifest, indent=1, sort_keys=True, default=str) + "\n"),
        (APPENDIX_NAME, render_markdown(manifest)),
        ("report.md", render_summary(manifest)),
    ):
        tmp = folder / (name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, folder / name)
    return folder
