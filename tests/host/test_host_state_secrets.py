"""The remote's token is the upload user's alone: the collector's user reaches it by no path.

    pytest --hosts=ansible://orderbooks --ansible-inventory=.vps/<name>/inventory.ini \
        tests/host/test_host_state_secrets.py

The collector parses untrusted network input, so it is the one to assume
compromised. Upload and prune run as their own user (``upload_user`` of the
layout), the only owner of the rclone config (0600 in a 0700 folder). Tried
here, as the collector's user: the config at its path, and the config through
``/proc/<pid>/root/`` of a process of the upload user that runs in the upload
unit's sandbox (a transient unit with the upload unit's own user and sandbox
settings, so the test does not depend on how long a real upload takes), from
the host and from inside the running collector's own namespaces. Root reads
the same ``/proc`` path, so each refusal is a refusal, not a wrong path.
It only reads and runs ``sleep``: safe on a production host (the host-state gate
of ``make verify-host`` runs it too).
"""

from __future__ import annotations

import secrets
import shlex
import time

import pytest

pytestmark = pytest.mark.host

#: The upload unit's settings the stand-in process runs with (its user and sandbox).
SANDBOX = (
    "User",
    "Group",
    "UMask",
    "NoNewPrivileges",
    "ProtectSystem",
    "ReadWritePaths",
    "PrivateTmp",
    "PrivateDevices",
    "ProtectHome",
    "ProtectProc",
    "ProcSubset",
    "ProtectKernelTunables",
    "ProtectControlGroups",
)
UNITS = ("collector_unit", "upload_unit")
REFUSED = ("Permission denied", "No such file")


def main_pid(host, unit: str) -> str:
    pid = host.check_output("systemctl show -p MainPID --value %s", unit).strip()
    assert pid not in ("", "0"), f"{unit} is not running"
    return pid


def as_collector_inside(host, layout, command: str, *args: str):
    """*command* as the collector's user, in the running collector's mount namespace (its /proc)."""
    pid = main_pid(host, layout.collector_unit)
    user = host.user(layout.user)
    with host.sudo():
        return host.run(
            "nsenter --target %s --mount --setuid %s --setgid %s -- " + command,
            pid,
            str(user.uid),
            str(user.gid),
            *args,
        )


@pytest.fixture
def uploader_pid(host, layout):
    """A process of the upload user in the upload unit's sandbox, running while the test runs."""
    shown = host.check_output("systemctl show %s " + " ".join(f"-p {p}" for p in SANDBOX), layout.upload_unit)
    props = dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)
    assert props["User"] == layout.upload_user, props
    unit = f"orderbooks-secrets-probe-{secrets.token_hex(4)}.service"
    options = " ".join(shlex.quote(f"-p{name}={value}") for name, value in props.items() if value)
    with host.sudo():
        host.run_expect([0], f"systemd-run --quiet --collect --unit {unit} {options} -- sleep 120")
    try:
        deadline = time.monotonic() + 30
        while True:
            pid = host.check_output("systemctl show -p MainPID --value %s", unit).strip()
            if pid not in ("", "0"):
                break
            assert time.monotonic() < deadline, f"{unit} did not start"
            time.sleep(0.2)
        uid = host.check_output("ps -o uid= -p %s", pid).strip()
        assert uid == str(host.user(layout.upload_user).uid), f"the stand-in runs as uid {uid}"
        yield pid
    finally:
        with host.sudo():
            host.run("systemctl stop %s", unit)


def test_the_rclone_config_is_the_upload_users_only(host, layout):
    with host.sudo():
        folder = host.file(layout.rclone_config_dir)
        config = host.file(layout.rclone_config_file)
        assert (folder.user, folder.group, folder.mode) == (layout.upload_user, layout.group, 0o700)
        assert (config.user, config.group, config.mode) == (layout.upload_user, layout.group, 0o600)
        owner = host.run("runuser -u %s -- head -c 1 %s", layout.upload_user, layout.rclone_config_file)
        collector = host.run("runuser -u %s -- head -c 1 %s", layout.user, layout.rclone_config_file)
        listing = host.run("runuser -u %s -- ls %s", layout.user, layout.rclone_config_dir)
    assert owner.rc == 0, owner.stderr
    assert collector.rc != 0 and "Permission denied" in collector.stderr, collector
    assert listing.rc != 0 and "Permission denied" in listing.stderr, listing


def test_the_collector_sandbox_cannot_open_the_rclone_config(host, layout):
    inside = as_collector_inside(host, layout, "head -c 1 %s", layout.rclone_config_file)
    assert inside.rc != 0, f"the collector's sandbox reads {layout.rclone_config_file}"
    assert any(reason in inside.stderr for reason in REFUSED), inside.stderr


def test_the_collector_user_cannot_read_the_token_through_proc_of_the_uploader(host, layout, uploader_pid):
    through_proc = f"/proc/{uploader_pid}/root{layout.rclone_config_file}"
    with host.sudo():
        as_root = host.run("head -c 1 %s", through_proc)
        from_host = host.run("runuser -u %s -- head -c 1 %s", layout.user, through_proc)
        root_link = host.run("runuser -u %s -- ls %s", layout.user, f"/proc/{uploader_pid}/root/")
    # The path leads to the token: root reads it there.
    assert as_root.rc == 0, f"{through_proc} is not the config: {as_root.stderr}"
    # Another user's process: the kernel refuses its root to the collector's user.
    assert from_host.rc != 0 and "Permission denied" in from_host.stderr, from_host
    assert root_link.rc != 0 and "Permission denied" in root_link.stderr, root_link

    # From inside the collector's sandbox (ProtectProc=invisible): the process is not even there.
    inside = as_collector_inside(host, layout, "head -c 1 %s", through_proc)
    assert inside.rc != 0, f"the collector's sandbox reads {through_proc}"
    assert any(reason in inside.stderr for reason in REFUSED), inside.stderr
    visible = as_collector_inside(host, layout, "test -e %s", f"/proc/{uploader_pid}")
    assert visible.rc != 0, f"the collector's sandbox sees the uploader's process {uploader_pid}"


@pytest.mark.parametrize("field", UNITS)
def test_units_hide_other_users_processes(host, layout, field):
    unit = getattr(layout, field)
    shown = host.check_output("systemctl show -p ProtectProc -p ProcSubset -p User %s", unit)
    props = dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)
    assert (props["ProtectProc"], props["ProcSubset"]) == ("invisible", "pid"), props
    expected = layout.upload_user if unit == layout.upload_unit else layout.user
    assert props["User"] == expected


def test_the_upload_user_writes_its_records_and_may_delete_what_prune_deletes(host, layout):
    """DATA_DIR/uploads is the upload user's (the group reads it); the collector's folders are
    group-writable (prune deletes verified files there), its files stay 0640. Permissions are
    asked with access(2) (``test -w``): nothing is written."""
    uploads = f"{layout.data_dir}/uploads"
    data = layout.data_dir

    def can(user: str, test: str, path: str) -> bool:
        return host.run("runuser -u %s -- sh -c %s", user, f"cd / && test {test} {shlex.quote(path)}").rc == 0

    with host.sudo():
        folder = host.file(uploads)
        assert (folder.user, folder.group, folder.mode) == (layout.upload_user, layout.group, 0o750)
        foreign = host.check_output("find %s ! -user %s -print -quit", uploads, layout.upload_user)
        assert foreign == "", f"not the upload user's: {foreign}"
        assert host.file(f"{data}/raw").is_directory, "the collector has written nothing yet"
        closed = host.check_output(
            "find %s -mindepth 1 \\( -path %s -o -path %s -o -path %s -o -path %s \\) "
            "-type d ! -perm -g=w -print -quit",
            data,
            f"{data}/raw",
            f"{data}/raw/*",
            f"{data}/markets",
            f"{data}/markets/*",
        )
        assert closed == "", f"prune could not delete in {closed}"
        open_files = host.check_output(
            "find %s/raw -type f \\( -perm /g=w -o -perm /o=rwx \\) -print -quit", data
        )
        assert open_files == "", f"a data file others may change or read: {open_files}"
        hour = host.check_output(
            "find %s/raw -mindepth 2 -maxdepth 2 -type d -print | sort | tail -n 1", data
        )
        newest = host.check_output("find %s -type f -print | sort | tail -n 1", hour)
        assert newest, f"no data file in {hour}"

        # The upload user: reads and deletes (folder write) the collector's files, never changes them.
        assert can(layout.upload_user, "-w", hour), f"prune could not delete in {hour}"
        assert can(layout.upload_user, "-r", newest)
        assert not can(layout.upload_user, "-w", newest), f"the upload user may change {newest}"
        assert can(layout.upload_user, "-w", uploads)
        # The collector's user: reads the upload results (status), never writes them.
        assert can(layout.user, "-r", uploads) and can(layout.user, "-x", uploads)
        assert not can(layout.user, "-w", uploads), f"the collector's user may write {uploads}"
        readable = host.run(
            "runuser -u %s -- sh -c %s",
            layout.user,
            f"cd / && find {uploads} -type f -exec cat {{}} + >/dev/null",
        )
        assert readable.rc == 0, f"the collector's user cannot read {uploads}: {readable.stderr}"
