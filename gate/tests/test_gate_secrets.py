"""No secret of the inventory or the host reaches the gate's report.

The end-to-end test runs the real ``verify_host.main`` (real ``ansible-inventory``,
real ``ansible-playbook layout.yml``, real ping, real report writer) on an
inventory with planted secrets whose host does not answer, then reads every
file the gate wrote. The other tests plant secrets where a reachable host would
give them to the gate: an environment file it reads, the extra vars, a pytest log.
"""

from __future__ import annotations

import json
import secrets
import socket
from pathlib import Path

import pytest
import yaml
from gate.evidence import GateEvidence
from gate.report import build_manifest, validate_manifest, write_report
from gate.verdict import decide

from gate import GATES, checks, redact, verify_host

TOKEN = f"ya29.access-{secrets.token_hex(8)}"
REFRESH = f"1//refresh-{secrets.token_hex(8)}"
PLANTED = {
    "ansible_become_password": f"become-{secrets.token_hex(8)}",
    "ansible_ssh_pass": f"sshpass-{secrets.token_hex(8)}",
    "vault_rclone_drive_client_secret": f"GOCSPX-{secrets.token_hex(8)}",
    "vault_rclone_drive_token": json.dumps({"access_token": TOKEN, "refresh_token": REFRESH}),
    "orderbooks_collector_heartbeat_url": f"https://hc-ping.example/hb-{secrets.token_hex(8)}",
}
WEBDAV_PASS = f"webdav-{secrets.token_hex(8)}"


def needles() -> list[str]:
    """What must appear in no file: each planted value, and the parts of the token."""
    found = [v for k, v in PLANTED.items() if k != "vault_rclone_drive_token"]
    return [
        *found,
        TOKEN,
        REFRESH,
        WEBDAV_PASS,
        PLANTED["orderbooks_collector_heartbeat_url"].rsplit("/", 1)[1],
    ]


def leaks_in(folder: Path) -> dict[str, list[str]]:
    written = [p for p in folder.rglob("*") if p.is_file()]
    assert written, f"nothing was written under {folder}"
    leaks = {}
    for path in written:
        text = path.read_text(errors="replace")
        hits = [n for n in needles() if n in text]
        if hits:
            leaks[str(path.relative_to(folder))] = hits
    return leaks


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def planted_inventory(tmp_path) -> Path:
    host = {
        "ansible_host": "127.0.0.1",
        "ansible_port": closed_port(),
        "ansible_user": "root",
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
        **PLANTED,
        "orderbooks_rclone_drive_token": "{{ vault_rclone_drive_token }}",
        "orderbooks_rclone_remote_type": "webdav",
        "orderbooks_rclone_options": {"url": "http://127.0.0.1:9/", "user": "u", "pass": WEBDAV_PASS},
    }
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump({"orderbooks": {"hosts": {"planted": host}}}))
    return path


def test_the_gate_report_of_an_inventory_with_secrets_holds_none(planted_inventory, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # main() moves to the repository; come back after
    reports = tmp_path / "reports"
    code = verify_host.main(
        [
            "--inventory",
            str(planted_inventory),
            "--reports-dir",
            str(reports),
            "--gates",
            "collecting",
            "--extra-vars",
            f"ansible_become_password={PLANTED['ansible_become_password']} orderbooks_common_user=orderbooks",
        ]
    )
    assert code != 0, "an unreachable host cannot pass"
    manifests = list(reports.rglob("manifest.json"))
    assert manifests, "no report written"
    assert leaks_in(reports) == {}
    manifest = json.loads(manifests[0].read_text())
    # What the report still says: the hosts and groups, the extra var's name.
    inventory_cmd = next(c for c in manifest["commands"] if "ansible-inventory" in c["cmd"])
    assert '"planted"' in inventory_cmd["stdout"] and "hostvars" not in inventory_cmd["stdout"].split("\n")[0]
    assert manifest["target"]["layout_extra_vars"] == [
        "ansible_become_password=<redacted> orderbooks_common_user=orderbooks"
    ]
    assert manifest["target"]["error"], "the host should have been found unreachable"


class FakeHost:
    """testinfra's host for GateEvidence: answers `cat <env file>` with planted settings."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def run(self, command: str):
        class Answer:
            rc, stdout, stderr = 1, "", "no such file"

        answer = Answer()
        for path, text in self.files.items():
            if f"cat {path}" in command:
                answer.rc, answer.stdout, answer.stderr = 0, text, ""
        return answer


def test_settings_files_are_recorded_without_their_secrets_and_still_read_in_full(tmp_path):
    heartbeat = PLANTED["orderbooks_collector_heartbeat_url"]
    env_file = checks.LAYOUT.collector_env_file
    text = (
        "# managed\n"
        "ORDERBOOKS_DATA_DIR=/var/lib/orderbooks\n"
        f"ORDERBOOKS_HEARTBEAT_URL={heartbeat}\n"
        f"ORDERBOOKS_API_TOKEN='{TOKEN}'\n"
        f"RCLONE_WEBDAV_PASS={WEBDAV_PASS}\n"
    )
    ev = GateEvidence("collecting", FakeHost({env_file: text}))
    env = checks.read_env(ev, env_file)
    assert env["ORDERBOOKS_HEARTBEAT_URL"] == heartbeat  # the gate itself still sees the value
    recorded = ev.commands[0]["stdout"]
    assert "ORDERBOOKS_HEARTBEAT_URL=https://hc-ping.example/<redacted>" in recorded
    assert "ORDERBOOKS_DATA_DIR=/var/lib/orderbooks" in recorded
    assert "ORDERBOOKS_API_TOKEN='<redacted>'" in recorded

    decision = decide(reachable=True, disposable=True, gates={}, soak_completed=False)
    manifest = build_manifest(
        decision=decision,
        started_at="2026-01-01T00:00:00.000Z",
        finished_at="2026-01-01T00:01:00.000Z",
        duration_s=60.0,
        inventory="inventory.yml",
        target={
            "name": "planted",
            "hosts": ["planted"],
            "reachable": True,
            "disposable": True,
            "disposable_evidence": ["test"],
            "error": None,
        },
        host_facts={},
        commands=ev.commands,
        evidence={"tests": [], "gates": {"collecting": {"facts": ev.facts, "commands": ev.commands}}},
        outcomes={},
        files=[],
        quality={"source": "none", "summary": None},
        soak={"completed": False, "detail": "not evaluated"},
        risks=[],
    )
    validate_manifest(manifest)
    folder = write_report(manifest, tmp_path / "reports", epoch_s=0)
    assert leaks_in(folder) == {}


def test_inventory_outline_keeps_hosts_and_groups_only():
    listing = {
        "_meta": {"hostvars": {"a": PLANTED, "b": {"ansible_ssh_pass": PLANTED["ansible_ssh_pass"]}}},
        "all": {"children": ["ungrouped", "orderbooks"]},
        "orderbooks": {"hosts": ["a", "b"], "vars": {"vault_x": PLANTED["vault_rclone_drive_client_secret"]}},
    }
    outline = redact.inventory_outline(json.dumps(listing))
    assert json.loads(outline.split("\n")[0]) == {
        "all": {"children": ["ungrouped", "orderbooks"]},
        "orderbooks": {"hosts": ["a", "b"]},
    }
    assert not [n for n in needles() if n in outline]
    assert redact.inventory_outline("not json") == "[8 characters withheld: not JSON]"


def test_extra_vars_and_command_lines_lose_secret_values_only():
    become = PLANTED["ansible_become_password"]
    assert redact.redact_extra_vars(f"a=1 ansible_become_password={become}") == (
        "a=1 ansible_become_password=<redacted>"
    )
    assert json.loads(
        redact.redact_extra_vars(json.dumps({"x": 1, "vault_t": TOKEN, "o": {"pass": "p"}}))
    ) == {
        "x": 1,
        "vault_t": "<redacted>",
        "o": {"pass": "<redacted>"},
    }
    assert redact.redact_extra_vars("@vars/secret.yml") == "@vars/secret.yml"
    argv = ["pytest", f"--layout-extra-vars=token={TOKEN}", "-e", f"ansible_ssh_pass={become}", "-v"]
    assert redact.redact_argv(argv) == [
        "pytest",
        "--layout-extra-vars=token=<redacted>",
        "-e",
        "ansible_ssh_pass=<redacted>",
        "-v",
    ]


def test_every_secret_value_of_the_inventory_is_scrubbed_wherever_it_appears():
    hostvars = {
        "planted": {**PLANTED, "orderbooks_rclone_options": {"pass": WEBDAV_PASS}, "plain": "visible"}
    }
    found = redact.secret_values(hostvars)
    log = "\n".join(f"E   assert {n!r} in output" for n in needles()) + "\nvisible\n"
    scrubbed = redact.scrub({"log": [log], "gates": GATES}, found)
    assert not [n for n in needles() if n in json.dumps(scrubbed)]
    assert "visible" in scrubbed["log"][0]
    assert scrubbed["gates"] == GATES
