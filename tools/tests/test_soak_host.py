"""The pure parts of the inventory soak's host side (soak_host): no ssh, no host."""

from __future__ import annotations

import subprocess

import pytest
from harness.soak_host import (
    DROPIN_DIR,
    DROPIN_FLOOR,
    ENV_FLOOR,
    ENV_MAIN,
    HostDisk,
    HostError,
    HostService,
    as_root,
    best_offset,
    dropin_text,
    env_text,
    is_disposable,
    is_soak_root,
    marker_fields,
    parse_show,
    pick_host,
    sim_urls,
    soak_paths,
    ssh_argv,
    writable_by_unit,
)

VPS_VARS = {
    "ansible_host": "127.0.0.1",
    "ansible_port": 2272,
    "ansible_user": "root",
    "ansible_ssh_private_key_file": "/repo/.vps/soakdev/id_ed25519",
    "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
    "-o IdentitiesOnly=yes",
    "orderbooks_disposable_vps": True,
}
INVENTORY = {
    "_meta": {"hostvars": {"vps-soakdev": VPS_VARS}},
    "all": {"children": ["ungrouped", "orderbooks"]},
    "orderbooks": {"hosts": ["vps-soakdev"]},
}


def test_pick_host_takes_the_one_host_of_group_orderbooks():
    name, hostvars = pick_host(INVENTORY)
    assert name == "vps-soakdev"
    assert hostvars["ansible_port"] == 2272


def test_pick_host_refuses_an_empty_group_and_asks_to_choose_among_many():
    with pytest.raises(HostError, match="no host in group 'orderbooks'"):
        pick_host({"_meta": {"hostvars": {}}})
    two = {**INVENTORY, "orderbooks": {"hosts": ["a", "b"]}}
    with pytest.raises(HostError, match="pick one with --host"):
        pick_host(two)
    with pytest.raises(HostError, match="not in the inventory"):
        pick_host(INVENTORY, "elsewhere")
    assert pick_host(INVENTORY, "vps-soakdev")[0] == "vps-soakdev"


def test_ssh_argv_uses_the_inventory_connection_and_the_control_socket():
    argv = ssh_argv("vps-soakdev", VPS_VARS, "/tmp/x/cm")
    assert argv[0] == "ssh"
    assert argv[argv.index("-p") + 1] == "2272"
    assert argv[argv.index("-i") + 1] == "/repo/.vps/soakdev/id_ed25519"
    assert "ControlPath=/tmp/x/cm" in argv
    assert "StrictHostKeyChecking=no" in argv and "IdentitiesOnly=yes" in argv
    assert argv[-3:] == ["-l", "root", "127.0.0.1"]


def test_ssh_argv_falls_back_to_the_inventory_name_and_refuses_other_connections():
    argv = ssh_argv("vps.example.org", {"ansible_user": "deploy"}, "/tmp/cm")
    assert argv[-3:] == ["-l", "deploy", "vps.example.org"]
    with pytest.raises(HostError, match="ansible_connection=local"):
        ssh_argv("x", {"ansible_connection": "local"}, "/tmp/cm")


def test_non_root_users_go_through_sudo():
    assert as_root("systemctl daemon-reload", "root") == "systemctl daemon-reload"
    assert as_root("echo 'a b'", "deploy") == "sudo -n sh -c 'echo '\"'\"'a b'\"'\"''"


@pytest.mark.parametrize(("value", "expected"), [(True, True), ("true", True), ("yes", True), (False, False),
                                                 (None, False), ("false", False)])  # fmt: skip
def test_disposable_flag_comes_from_the_inventory(value, expected):
    assert is_disposable({"orderbooks_disposable_vps": value}) is expected


def test_env_and_dropin_text():
    text = env_text({"data_dir": "/var/lib/orderbooks/soak-20260101T000000Z/data", "interval": "1"}, "S")
    assert text.splitlines()[1:] == [
        "ORDERBOOKS_DATA_DIR=/var/lib/orderbooks/soak-20260101T000000Z/data",
        "ORDERBOOKS_INTERVAL=1",
    ]
    assert text.startswith("# orderbooks soak S:")
    with pytest.raises(ValueError, match="unsafe value"):
        env_text({"gamma_url": "http://x\nORDERBOOKS_DATA_DIR=/"}, "S")
    dropin = dropin_text(ENV_MAIN, "S")
    assert dropin.splitlines()[1:] == ["[Service]", f"EnvironmentFile={ENV_MAIN}"]
    assert ENV_MAIN.startswith("/run/") and DROPIN_DIR.startswith("/run/systemd/system/")


def test_parse_show():
    state = parse_show("MainPID=814\nActiveState=active\nReadWritePaths=/var/lib/orderbooks\nDropInPaths=\n")
    assert state == {
        "MainPID": "814",
        "ActiveState": "active",
        "ReadWritePaths": "/var/lib/orderbooks",
        "DropInPaths": "",
    }


def test_best_offset_takes_the_shortest_round_trip():
    samples = [(1000, 1040, 1100), (2000, 2013, 2010), (3000, 3100, 3300)]
    assert best_offset(samples) == (8, 10)
    with pytest.raises(ValueError):
        best_offset([])


def test_soak_paths_and_the_removal_guard():
    root, data = soak_paths("/var/lib/orderbooks", "20261121T114313Z")
    assert (root, data) == (
        "/var/lib/orderbooks/soak-20261121T114313Z",
        "/var/lib/orderbooks/soak-20261121T114313Z/data",
    )
    assert is_soak_root(root, "/var/lib/orderbooks")
    assert not is_soak_root("/var/lib/orderbooks", "/var/lib/orderbooks")
    assert not is_soak_root("/var/lib/orderbooks/raw", "/var/lib/orderbooks")
    assert not is_soak_root("/var/lib/soak-20261121T114313Z", "/var/lib/orderbooks")
    assert not is_soak_root("/var/lib/orderbooks/x/soak-20261121T114313Z", "/var/lib/orderbooks")
    assert not is_soak_root("soak-20261121T114313Z", ".")


def test_data_folder_must_be_under_the_units_read_write_paths():
    assert writable_by_unit("/var/lib/orderbooks/soak-1/data", "/var/lib/orderbooks")
    assert writable_by_unit("/var/lib/orderbooks/soak-1/data", "-/etc/x /var/lib/orderbooks")
    assert not writable_by_unit("/var/lib/orderbooks-other/data", "/var/lib/orderbooks")
    assert not writable_by_unit("/tmp/data", "")


def test_marker_fields():
    assert marker_fields("noise\nSOAK_BACK 1 2 3 4\n", "SOAK_BACK ") == ["1", "2", "3", "4"]
    with pytest.raises(HostError, match="no 'SOAK_BACK' line"):
        marker_fields("nothing here", "SOAK_BACK ")


def test_sim_urls_use_the_names_only_when_they_resolve_to_loopback_on_the_host():
    assert sim_urls(True, 4321) == (
        "http://gamma.polysim.test:4321/gamma",
        "http://clob.polysim.test:4321/clob",
    )
    assert sim_urls(False, 4321) == ("http://127.0.0.1:4321/gamma", "http://127.0.0.1:4321/clob")


# ---------------------------------------------------------------- the service and disk, on a scripted shell


class ScriptedShell:
    """Answers each command with the next scripted output; records what was run."""

    name = "vps-test"

    def __init__(self, *answers: tuple[int, str]) -> None:
        self.answers = list(answers)
        self.ran: list[str] = []

    def run(self, command: str, *, check: bool = True, timeout: float = 60, record: bool = True):
        self.ran.append(command)
        rc, out = self.answers.pop(0) if self.answers else (0, "")
        if check and rc != 0:
            raise HostError(f"`{command}` exited {rc}")
        return subprocess.CompletedProcess(command, rc, out, "")

    def write_file(self, path: str, text: str, mode: str = "0644") -> None:
        self.ran.append(f"write {path}")


def service(shell, method="tmpfs_ballast", problems=None):
    disk = HostDisk(shell, "/var/lib/orderbooks/soak-S", method, 32, 1 << 40, 200, "S")
    return HostService(shell, 0, disk, problems if problems is not None else [], expected_pid="100")


def test_sigkill_reads_when_systemd_brought_the_service_back():
    shell = ScriptedShell((0, "SOAK_BACK 1000 2130 100 101 0 1\n"))
    svc = service(shell)
    detail = svc.sigkill()
    assert detail == {"start_ms": 1000, "end_ms": 2130, "old_pid": 100, "new_pid": 101,
                      "active_again_after_ms": 1130, "systemd_restarts": 1}  # fmt: skip
    assert (
        "systemctl kill -s SIGKILL $u" in shell.ran[0] and "u=orderbooks-collector.service;" in shell.ran[0]
    )
    assert svc.expected_pid == "101"


def test_sigkill_without_a_comeback_is_a_problem():
    problems: list[str] = []
    svc = service(ScriptedShell((4, "SOAK_TIMEOUT 1000 100 0 activating\n")), problems=problems)
    detail = svc.sigkill()
    assert detail["came_back"] is False
    assert problems == ["after SIGKILL orderbooks-collector.service was not active again within 30 s"]


def test_failed_restart_raises():
    svc = service(ScriptedShell((0, "SOAK_RESTART 1 2 1 100 0 failed\n")))
    with pytest.raises(HostError, match="gave 1, state failed"):
        svc.restart()


def test_watch_flags_a_main_pid_the_soak_did_not_cause():
    problems: list[str] = []
    svc = service(ScriptedShell((0, "MainPID=100\nActiveState=active\nNRestarts=0\n")), problems=problems)
    svc.watch()
    assert problems == []
    svc._next_watch = 0.0
    svc.shell.answers.append((0, "MainPID=177\nActiveState=active\nNRestarts=1\n"))
    svc.watch()
    assert len(problems) == 1 and "changed MainPID 100 -> 177 without the soak causing it" in problems[0]
    assert svc.expected_pid == "177"


def test_tmpfs_disk_pressure_fills_to_half_the_floor_and_removes_the_ballast():
    mib = 1 << 20
    shell = ScriptedShell((0, f"{100 * mib}\n"), (0, ""), (0, f"{16 * mib}\n"), (0, ""))
    problems: list[str] = []
    svc = service(shell, problems=problems)
    svc.disk_begin()
    svc.disk_end()
    assert shell.ran[1] == f"fallocate -l {84 * mib} /var/lib/orderbooks/soak-S/ballast.bin"
    assert shell.ran[3] == "rm -f /var/lib/orderbooks/soak-S/ballast.bin"
    assert svc.disk.free_during == 16 * mib and problems == []


def test_floor_disk_pressure_is_a_second_dropin_and_two_restarts():
    restart = (0, "SOAK_RESTART 1 2 0 100 200 active\n")
    shell = ScriptedShell((0, ""), restart, (0, ""), restart)
    svc = service(shell, method="floor_raised_by_restart")
    svc.disk_begin()
    svc.disk_end()
    assert shell.ran[:3] == [f"write {ENV_FLOOR}", f"write {DROPIN_FLOOR}", "systemctl daemon-reload"]
    assert shell.ran[4] == f"rm -f {DROPIN_FLOOR} {ENV_FLOOR} && systemctl daemon-reload"
    assert svc.restarts_by_soak == 2
