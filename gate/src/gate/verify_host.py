"""`make verify-host`: run the gates against every host of an inventory's group
and write ``REPORTS_DIR/<UTC timestamp>/{report.md,manifest.json}``.

    python -m gate.verify_host --inventory .vps/default/inventory.ini
    python -m gate.verify_host --inventory inventory.ini --limit vps2

Steps: list the inventory's hosts (``ansible-inventory``); then for each host in
turn: check it answers (``ansible -m ping``); record host facts; run the gate
tests with pytest-testinfra and the gate plugin; list the data files with their
sha256; summarise data quality and the 24-hour soak; decide the host's verdict.
No secret of the inventory reaches the report (``gate.redact``): the inventory
listing is kept as host names and groups, and every value of a secret-named
inventory variable is scrubbed from the manifests and the pytest log.
One host: its report, as it always was. Several: the group's verdict (every gate
on every host, ``verdict.combine``) in the folder's report, each host's own
report in ``hosts/<name>/``. Exit status 0 for PRODUCTION_READY or
REHEARSAL_PASS (or the verdict given with ``--expect``), 1 otherwise, 2 for bad
usage.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gate import GATES, layout, redact
from gate.evidence import GateEvidence, trim, utc_iso
from gate.layout import HostLayout
from gate.report import (
    HOSTS_DIR,
    build_group_manifest,
    build_manifest,
    gate_outcomes,
    host_summary,
    validate_manifest,
    write_report,
)
from gate.soak import soak_report_status
from gate.summary import file_table, quality, risks_for, soak_from
from gate.verdict import VERDICTS, Decision, combine, decide, disposable_evidence, exit_code_for

REPO = Path(__file__).resolve().parents[3]
GATE_TESTS = {
    "collecting": "gate/src/gate/gates/test_gate_collecting.py",
    "restart": "gate/src/gate/gates/test_gate_restart.py",
    "network": "gate/src/gate/gates/test_gate_network.py",
    "liveness": "gate/src/gate/gates/test_gate_liveness.py",
    "upload": "gate/src/gate/gates/test_gate_upload.py",
}
#: The Ansible issue's host-state tests (gate 1), run as they are.
HOST_STATE_TESTS = "tests/host/test_host_state*.py"
DEFAULT_GROUP = "orderbooks"
PING_TIMEOUT_S = 30
PYTEST_TIMEOUT_S = 3600


def newest_soak_report(reports_dir: Path, host: str) -> Path | None:
    """The newest ``REPORTS_DIR/soak-<UTC>/soak.json`` of a soak of *host* (inventory
    mode, ``host.name`` equal to *host*), whatever its verdict; None if there is none."""
    for path in sorted(reports_dir.glob("soak-*/soak.json"), reverse=True):
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        soaked = document.get("host") if isinstance(document, dict) else None
        if isinstance(soaked, dict) and soaked.get("name") == host and document.get("mode") != "local":
            return path
    return None


def say(message: str) -> None:
    print(f"verify-host: {message}", file=sys.stderr, flush=True)


class ControllerLog:
    """Commands run on the controller, recorded like the gates' host commands.

    Extra-vars values are recorded redacted (``redact.redact_argv``); *shown*
    turns a command's stdout into what the record keeps (e.g. the inventory
    listing into its outline)."""

    def __init__(self) -> None:
        self.commands: list[dict[str, Any]] = []

    def run(
        self,
        argv: list[str],
        *,
        timeout_s: float = 120,
        env: dict[str, str] | None = None,
        stream: bool = False,
        log_file: Path | None = None,
        shown: Callable[[str], str] | None = None,
    ) -> subprocess.CompletedProcess:
        started = time.time()
        t0 = time.monotonic()
        if stream:
            out_lines: list[str] = []
            with subprocess.Popen(
                argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            ) as proc:
                assert proc.stdout is not None
                for line in proc.stdout:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                    out_lines.append(line)
                rc = proc.wait()
            stdout, stderr = "".join(out_lines), ""
            if log_file is not None:
                log_file.parent.mkdir(parents=True, exist_ok=True)
                log_file.write_text(stdout)
        else:
            try:
                done = subprocess.run(
                    argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
                )
                rc, stdout, stderr = done.returncode, done.stdout, done.stderr
            except subprocess.TimeoutExpired as exc:
                rc, stdout, stderr = 124, str(exc.stdout or ""), f"timed out after {timeout_s} s"
        self.commands.append(
            {
                "t": utc_iso(started),
                "where": "controller",
                "gate": None,
                "cmd": shlex.join(redact.redact_argv(argv)),
                "rc": rc,
                "duration_s": round(time.monotonic() - t0, 3),
                "stdout": trim(shown(stdout) if shown else stdout, 2000),
                "stderr": trim(stderr, 2000),
            }
        )
        return subprocess.CompletedProcess(argv, rc, stdout, stderr)


def bin_path(name: str) -> str:
    """A tool from the interpreter's own virtualenv when there, else from PATH."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def inventory_hosts(log: ControllerLog, inventory: Path, group: str) -> tuple[list[str], dict, str | None]:
    if not inventory.exists():
        return [], {}, f"inventory {inventory} does not exist (bring a VPS up, or pass INVENTORY=...)"
    # Only host names and groups are recorded: the hostvars hold the become password,
    # vault values and tokens.
    done = log.run(
        [bin_path("ansible-inventory"), "-i", str(inventory), "--list"],
        timeout_s=120,
        shown=redact.inventory_outline,
    )
    if done.returncode != 0:
        return [], {}, f"ansible-inventory failed: {done.stderr.strip()[-300:]}"
    data = json.loads(done.stdout)
    hosts = list(data.get(group, {}).get("hosts", []))
    hostvars = data.get("_meta", {}).get("hostvars", {})
    if not hosts:
        return [], hostvars, f"inventory {inventory} has no host in group {group!r}"
    return hosts, hostvars, None


def ping(log: ControllerLog, inventory: Path, host: str) -> str | None:
    env = dict(os.environ, ANSIBLE_DEPRECATION_WARNINGS="False", ANSIBLE_NOCOLOR="1")
    done = log.run(
        [
            bin_path("ansible"),
            host,
            "-i",
            str(inventory),
            "-m",
            "ansible.builtin.ping",
            "-T",
            str(PING_TIMEOUT_S),
        ],
        timeout_s=PING_TIMEOUT_S * 3,
        env=env,
    )
    if done.returncode == 0 and '"pong"' in done.stdout:
        return None
    text = done.stdout + done.stderr
    match = re.search(r'"msg":\s*"([^"]*)"', text)
    detail = match.group(1) if match else text.strip()[-300:]
    return f"host {host} does not answer over SSH: {detail}"


def testinfra_host(inventory: Path, host: str) -> Any:
    import testinfra  # noqa: PLC0415 - loaded only when a host is probed

    return testinfra.get_host(f"ansible://{host}", ansible_inventory=str(inventory))


def host_facts(ev: GateEvidence, where: HostLayout) -> dict[str, Any]:
    """What the host runs, read from the host at the paths of *where* (the inventory's layout)."""

    def out(command: str) -> str | None:
        result = ev.run(command, timeout_s=60)
        text = result.stdout.strip()
        return text or None

    facts: dict[str, Any] = {
        "hostname": out("hostname"),
        "os": out('. /etc/os-release && echo "$PRETTY_NAME"'),
        "kernel": out("uname -r"),
        "python": out("python3 --version"),
        "systemd_version": out("systemctl --version | head -n 1"),
        "virtualization": out("systemd-detect-virt || true"),
        "orderbooks_version": out(f"{where.command} --version"),
        "release": out(f'basename "$(readlink -f {where.current_path})"'),
        "release_revision": out(f"cat {where.current_path}/REVISION"),
        "releases": out(f"ls -1 {where.releases_path}"),
        "rclone_version": out(f"{where.rclone_binary} version | head -n 1"),
        "rclone_remotes": out(
            f"runuser -u {where.upload_user} -- {where.rclone_binary} --config {where.rclone_config_file} "
            "listremotes --long"
        ),
        "uptime": out("uptime"),
        "layout": where.as_dict(),
    }
    df = out(f"df -B1 --output=avail,size,target {where.data_dir} | tail -n 1")
    if df:
        avail, size, target = [*df.split(), "", "", ""][:3]
        facts["free_disk"] = {
            "path": where.data_dir,
            "mount": target,
            "free_bytes": int(avail),
            "total_bytes": int(size),
        }
    else:
        facts["free_disk"] = None
    return facts


def run_fields(started: float, finished: float, inventory: Path) -> dict[str, Any]:
    """The run's times and inventory, as every manifest (a host's or the group's) takes them."""
    return {
        "started_at": utc_iso(started),
        "finished_at": utc_iso(finished),
        "duration_s": finished - started,
        "inventory": str(inventory),
    }


def judge_host(
    args: argparse.Namespace,
    inventory: Path,
    hostvars: dict[str, Any],
    target_name: str | None,
    *,
    problem: str | None,
    chosen: list[str],
    stamp_dir: Path,
) -> tuple[Decision, dict[str, Any]]:
    """Run the chosen gates against one host; its decision and its manifest.

    *problem* (the inventory's) makes the host unreachable without trying it.
    The manifest's commands are the controller's for this host and the host's own.
    """
    started = time.time()
    log = ControllerLog()
    host_layout = layout.STANDARD
    if problem is None and target_name is not None:
        try:
            host_layout = layout.resolve(inventory, target_name, args.extra_vars)
        except layout.LayoutError as exc:
            problem = f"cannot read the host layout of {target_name} from the inventory: {exc}"
    if problem is None and target_name is not None:
        say(f"checking that {target_name} answers")
        problem = ping(log, inventory, target_name)
    label = f"{stamp_dir.name}.{target_name}" if target_name else stamp_dir.name
    target: dict[str, Any] = {
        "name": target_name,
        "hosts": [],
        "reachable": problem is None,
        "disposable": False,
        "disposable_evidence": [],
        "error": problem,
        "layout_extra_vars": [redact.redact_extra_vars(value) for value in args.extra_vars],
    }
    facts: dict[str, Any] = {}
    evidence: dict[str, Any] = {"tests": [], "gates": {}}
    files: list[dict[str, Any]] = []
    quality_summary: dict[str, Any] = {"source": "none", "summary": None}
    soak: dict[str, Any] = {"completed": False, "detail": "not evaluated: no reachable host"}
    settings = None
    host_commands: list[dict[str, Any]] = []

    if problem is None:
        host = testinfra_host(inventory, target_name)
        facts_ev = GateEvidence("facts", host)
        say(f"recording host facts of {target_name}")
        facts = host_facts(facts_ev, host_layout)
        evidence_markers = disposable_evidence(
            hostvars.get(target_name, {}).get("orderbooks_disposable_vps"), facts.get("virtualization")
        )
        target["disposable"] = bool(evidence_markers)
        target["disposable_evidence"] = evidence_markers

        evidence_file = stamp_dir.with_name(label + ".evidence.json")
        test_files: list[str] = []
        if "host_state" in chosen:
            test_files += sorted(glob.glob(HOST_STATE_TESTS))
        test_files += [GATE_TESTS[g] for g in GATES if g in chosen and g in GATE_TESTS]
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "gate.plugin",
            "-p",
            "no:cacheprovider",
            f"--hosts=ansible://{target_name}",
            f"--ansible-inventory={inventory}",
            f"--gate-evidence={evidence_file}",
            *(f"--layout-extra-vars={value}" for value in args.extra_vars),
            f"--timeout={PYTEST_TIMEOUT_S}",
            "-v",
            "--tb=short",
            *test_files,
        ]
        say(f"running the gates on {target_name}: {', '.join(chosen)}")
        log.run(cmd, env=env, stream=True, log_file=stamp_dir.with_name(label + ".pytest.log"))
        if evidence_file.exists():
            evidence = json.loads(evidence_file.read_text())
            evidence_file.unlink()

        say(f"listing the data files of {target_name} with their sha256")
        final_ev = GateEvidence("facts", host)
        try:
            listing = final_ev.probe("files", host_layout.data_dir, "--hash", timeout_s=900)
        except (AssertionError, ValueError) as exc:
            listing = {
                "sealed": [],
                "partials": [],
                "quarantine": [],
                "now_ms": int(time.time() * 1000),
                "error": str(exc),
            }
        files = file_table(listing)
        quality_summary = quality(final_ev, listing, host_layout)
        soak = soak_from(listing, int(listing.get("now_ms") or time.time() * 1000))
        soak_report = args.soak_report or newest_soak_report(args.reports_dir, target_name)
        if soak_report is not None:
            try:
                report_status = soak_report_status(json.loads(soak_report.read_text()), target_name)
            except (OSError, ValueError) as exc:
                report_status = {"completed": False, "detail": f"soak report {soak_report}: {exc}"}
            found = "given" if args.soak_report else "newest soak report of this host"
            soak["report"] = dict(report_status, path=str(soak_report), found=found)
            if report_status["completed"] and not soak["completed"]:
                soak["completed"] = True
                soak["detail"] = report_status["detail"] + f" ({soak_report})"
        settings = evidence.get("gates", {}).get("collecting", {}).get("facts", {}).get("collector_settings")
        host_commands = facts_ev.commands + final_ev.commands

    outcomes = gate_outcomes(evidence.get("tests", []))
    decision = decide(
        reachable=problem is None,
        disposable=bool(target["disposable"]),
        gates=outcomes,
        soak_completed=bool(soak.get("completed")),
        unreachable_reason=problem or "",
    )
    finished = time.time()
    manifest = build_manifest(
        decision=decision,
        **run_fields(started, finished, args.inventory),
        target=target,
        host_facts=facts,
        commands=log.commands + [dict(c, gate=None) for c in host_commands],
        evidence=evidence,
        outcomes=outcomes,
        files=files,
        quality=quality_summary,
        soak=soak,
        risks=risks_for(
            disposable=bool(target["disposable"]),
            facts=facts,
            settings=settings,
            decision_reasons=decision.reasons,
            soak=soak,
        ),
    )
    return decision, manifest


def chosen_hosts(hosts: list[str], limit: str | None, group: str) -> tuple[list[str], str | None]:
    """The hosts to judge: all of the group's, or those named by *limit* (comma-separated)."""
    if not limit:
        return hosts, None
    names = [name.strip() for name in limit.split(",") if name.strip()]
    unknown = [name for name in names if name not in hosts]
    if unknown or not names:
        return names[:1] or [limit], f"host(s) {unknown or [limit]} not in group {group!r} ({hosts})"
    return names, None


def print_host_lines(host: str | None, manifest: dict[str, Any], *, several: bool) -> None:
    """The gate lines of one host (prefixed by its name when the group has several)."""
    for gate in manifest["gates"]:
        where = f"{host}: " if several else ""
        reason = f"  ({gate['reason']})" if gate["reason"] else ""
        print(f"gate {gate['name']:<11} {where}{gate['status']}{reason}")
    if several:
        print(f"host {host}: {manifest['verdict']} ({manifest['production_status']})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="verify-host", description=__doc__.split("\n\n")[0])
    parser.add_argument("--inventory", type=Path, default=Path(".vps/default/inventory.ini"))
    parser.add_argument("--group", default=DEFAULT_GROUP, help="inventory group (default: orderbooks)")
    parser.add_argument(
        "--limit", default=None, help="host(s) to check, comma-separated (default: all of the group)"
    )
    parser.add_argument(
        "--extra-vars",
        action="append",
        default=[],
        metavar="VARS",
        help="an ansible -e value site.yml was run with (key=value, JSON or @file), for the host layout; "
        "repeatable",
    )
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"))
    parser.add_argument("--gates", default=",".join(GATES), help="comma-separated subset (default: all)")
    parser.add_argument(
        "--soak-report",
        type=Path,
        default=None,
        help="soak.json of a 24-hour `make soak INVENTORY=...` on a host (counts for the host it soaked; "
        "default: the newest REPORTS_DIR/soak-*/soak.json of each host; the host's data counts too)",
    )
    parser.add_argument(
        "--expect",
        choices=VERDICTS,
        default=None,
        help="exit 0 only for this verdict (default: PRODUCTION_READY or REHEARSAL_PASS)",
    )
    args = parser.parse_args(argv)
    os.chdir(REPO)
    chosen = [g.strip() for g in args.gates.split(",") if g.strip()]
    unknown = [g for g in chosen if g not in GATES]
    if unknown:
        parser.error(f"unknown gate(s) {unknown}; choose from {', '.join(GATES)}")

    started = time.time()
    log = ControllerLog()
    inventory = args.inventory.resolve() if args.inventory.exists() else args.inventory
    say(f"inventory {args.inventory}")
    hosts, hostvars, problem = inventory_hosts(log, inventory, args.group)
    names: list[str | None] = [None]
    if not problem:
        picked, problem = chosen_hosts(hosts, args.limit, args.group)
        names = list(picked)
    stamp_dir = args.reports_dir / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))

    judged: dict[str | None, tuple[Decision, dict[str, Any]]] = {}
    for name in names:
        decision, manifest = judge_host(
            args, inventory, hostvars, name, problem=problem, chosen=chosen, stamp_dir=stamp_dir
        )
        manifest["target"]["hosts"] = hosts
        judged[name] = (decision, manifest)
    several = len(judged) > 1
    finished = time.time()
    if several:
        decision = combine({str(name): d for name, (d, _) in judged.items()})
        manifest = build_group_manifest(
            decision=decision,
            **run_fields(started, finished, args.inventory),
            hosts=hosts,
            host_manifests={str(name): m for name, (_, m) in judged.items()},
            commands=log.commands,
        )
    else:
        decision, manifest = next(iter(judged.values()))
        manifest["commands"] = sorted(log.commands + manifest["commands"], key=lambda c: str(c.get("t", "")))
        manifest["started_at"], manifest["duration_s"] = utc_iso(started), round(finished - started, 3)
        manifest["hosts"] = [host_summary(str(names[0]), manifest, "report.md")] if names[0] else []
    # Last line of defence: no value of a secret-named inventory variable is written.
    secrets = redact.secret_values(hostvars)
    manifest = redact.scrub(manifest, secrets)
    validate_manifest(manifest)
    folder = write_report(manifest, args.reports_dir, epoch_s=started)
    for name, (_, judged_manifest) in judged.items():
        own = folder
        host_manifest = redact.scrub(judged_manifest, secrets)
        if several:
            validate_manifest(host_manifest)
            own = write_report(host_manifest, folder / HOSTS_DIR, folder_name=str(name))
        label = f"{stamp_dir.name}.{name}" if name else stamp_dir.name
        side = stamp_dir.with_name(label + ".pytest.log")
        if side.exists():
            (own / "pytest.log").write_text(redact.scrub(side.read_text(errors="replace"), secrets))
            side.unlink()
        print_host_lines(name, host_manifest, several=several)
    print(f"verdict: {decision.verdict}")
    print(f"production status: {decision.production_status}")
    for reason in decision.reasons:
        print(f"  {reason}")
    print(f"report: {folder / 'report.md'}")
    print(f"manifest: {folder / 'manifest.json'}")
    return exit_code_for(decision.verdict, expect=args.expect)


if __name__ == "__main__":
    sys.exit(main())
