"""Deploy release A, then B, then rollback.yml: current and the running code are A again.

    ORDERBOOKS_HOST_EXTRA_VARS=.vps/<name>/test-vars.json \
    pytest --hosts=ansible://orderbooks --ansible-inventory=.vps/<name>/inventory.ini \
        tests/host/test_deploy_rollback.py

Runs the real `ansible-playbook site.yml` and `rollback.yml` (and site.yml's
alias `--tags rollback`) against the inventory's host, so it
changes the deployed release: use it on the disposable VPS (`make test-host`),
not on production. B is built from a copy of collector/ with a bumped version,
so "the running version" is observable. The data folder must be untouched:
every sealed file and a sentinel keep their sha256. It ends by deploying the
checkout again, as site.yml would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gate import checks

pytestmark = pytest.mark.host

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = REPO / "ansible"
SENTINEL_NAME = ".deploy-test-sentinel"
RESTART_DEADLINE_S = 30


@pytest.fixture(scope="module")
def playbook(request):
    """Run `ansible-playbook site.yml` (or ``playbook=...``) against the test inventory."""
    inventory = request.config.getoption("ansible_inventory")
    if not inventory:
        pytest.fail("needs --ansible-inventory=<inventory of a disposable VPS>")
    extra = os.environ.get("ORDERBOOKS_HOST_EXTRA_VARS")
    options = ["-i", str(Path(inventory).resolve())]
    if extra:
        options += ["-e", f"@{Path(extra).resolve()}"]

    def run(
        *args: str, expect_ok: bool = True, playbook: str = "site.yml"
    ) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        result = subprocess.run(
            ["ansible-playbook", playbook, *options, *args],
            cwd=ANSIBLE_DIR,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if expect_ok:
            assert result.returncode == 0, f"{playbook} {' '.join(args)} failed:\n{result.stdout[-4000:]}"
        return result

    return run


def sentinel() -> str:
    return f"{checks.LAYOUT.data_dir}/{SENTINEL_NAME}"


def release_names(start: datetime, count: int) -> list[str]:
    return [(start + timedelta(seconds=i)).strftime("%Y%m%dT%H%M%SZ") for i in range(count)]


def current_target(host) -> str:
    return host.check_output("readlink %s", checks.LAYOUT.current_path)


def running_release(host, old_pid: int | None = None) -> tuple[int, str]:
    """MainPID of the collector and the release its interpreter lives in (waits for a new PID)."""
    deadline = time.monotonic() + RESTART_DEADLINE_S
    while True:
        pid = int(
            host.check_output("systemctl show -p MainPID --value %s", checks.LAYOUT.collector_unit) or 0
        )
        if pid and pid != old_pid:
            with host.sudo():
                cmdline = host.run("tr '\\0' ' ' < /proc/%s/cmdline", str(pid)).stdout
            match = re.search(re.escape(checks.LAYOUT.releases_path) + r"/([^/]+)/venv/bin/python", cmdline)
            if match:
                return pid, match.group(1)
        assert time.monotonic() < deadline, f"collector did not (re)start on a release: pid={pid}"
        time.sleep(0.5)


def data_fingerprint(host) -> dict[str, str]:
    """sha256 of every sealed data file, manifest and the sentinel (partials keep growing)."""
    with host.sudo():
        out = host.check_output(
            "find %s -type f \\( -name '*.jsonl.gz' -o -name '*.manifest.json' -o -name %s \\) "
            "-exec sha256sum {} + | sort -k 2",
            checks.LAYOUT.data_dir,
            SENTINEL_NAME,
        )
    return {line.split()[1]: line.split()[0] for line in out.splitlines() if line.strip()}


def deployed_source() -> Path:
    """The collector source site.yml deploys: the extra vars' source dir, else the checkout's."""
    extra = os.environ.get("ORDERBOOKS_HOST_EXTRA_VARS")
    if extra and extra.endswith(".json"):
        configured = json.loads(Path(extra).read_text()).get("orderbooks_collector_source_dir")
        if configured:
            return Path(configured)
    return REPO / "collector"


def bumped_source(tmp_path: Path, suffix: str) -> tuple[Path, str]:
    source = tmp_path / "collector-b"
    shutil.copytree(
        deployed_source(),
        source,
        ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"),
    )
    init = source / "src" / "orderbooks" / "__init__.py"
    text = init.read_text()
    version = re.search(r'__version__ = "([^"]+)"', text).group(1)
    new_version = f"{version}+{suffix}"
    init.write_text(text.replace(f'"{version}"', f'"{new_version}"'))
    return source, new_version


def test_deploy_a_then_b_then_rollback_to_a(host, playbook, tmp_path):
    with host.sudo():
        host.run_expect(
            [0],
            "install -o %s -g %s -m 0640 /dev/null %s",
            checks.LAYOUT.user,
            checks.LAYOUT.group,
            sentinel(),
        )
        host.run_expect([0], "head -c 4096 /dev/urandom | base64 > %s", sentinel())
    before = data_fingerprint(host)
    assert sentinel() in before

    release_a, release_b = release_names(datetime.now(UTC) + timedelta(seconds=5), 2)
    pid, _ = running_release(host)

    playbook("--tags", "collector", "-e", f"orderbooks_release={release_a}")
    assert current_target(host) == f"releases/{release_a}"
    pid, running = running_release(host, old_pid=pid)
    assert running == release_a
    version_a = host.check_output(f"{checks.LAYOUT.command} --version")

    source_b, version_b = bumped_source(tmp_path, "rollbacktest")
    playbook(
        "--tags",
        "collector",
        "-e",
        f"orderbooks_release={release_b}",
        "-e",
        f"orderbooks_collector_source_dir={source_b}",
    )
    assert current_target(host) == f"releases/{release_b}"
    pid, running = running_release(host, old_pid=pid)
    assert running == release_b
    assert host.check_output(f"{checks.LAYOUT.command} --version") == f"orderbooks {version_b}"

    result = playbook(playbook="rollback.yml")
    assert f"{release_b} -> {release_a}" in result.stdout
    assert current_target(host) == f"releases/{release_a}"
    pid, running = running_release(host, old_pid=pid)
    assert running == release_a
    assert host.check_output(f"{checks.LAYOUT.command} --version") == version_a
    assert host.service(checks.LAYOUT.collector_unit).is_running

    after = data_fingerprint(host)
    changed = {path for path, digest in before.items() if after.get(path) != digest}
    assert not changed, f"deploy/rollback touched sealed data: {sorted(changed)}"
    with host.sudo():
        kept = host.file(sentinel())
        assert (kept.user, kept.mode) == (checks.LAYOUT.user, 0o640)
        host.run_expect([0], "rm -f %s", sentinel())


def test_rollback_refuses_a_missing_release(host, playbook):
    """Through site.yml's alias `--tags rollback`."""
    before = current_target(host)
    result = playbook("--tags", "rollback", "-e", "orderbooks_release=19990101T000000Z", expect_ok=False)
    assert result.returncode != 0
    assert "Cannot roll back to 19990101T000000Z: no such complete release" in result.stdout
    assert current_target(host) == before


def test_rollback_refuses_a_name_that_is_not_a_timestamp(host, playbook):
    before = current_target(host)
    result = playbook("-e", "orderbooks_release=hotfix", expect_ok=False, playbook="rollback.yml")
    assert result.returncode != 0
    assert "orderbooks_release=hotfix is not a release name" in " ".join(result.stdout.split())
    assert current_target(host) == before


def test_rollback_refuses_when_nothing_is_earlier(host, playbook):
    """Also when a folder of another name (here one that sorts first) sits in releases/."""
    releases_path = checks.LAYOUT.releases_path
    releases = sorted(host.check_output(f"ls {releases_path}").split())
    playbook("-e", f"orderbooks_release={releases[0]}", playbook="rollback.yml")
    assert current_target(host) == f"releases/{releases[0]}"
    stray = f"{releases_path}/0-hotfix"
    with host.sudo():
        host.run_expect([0], "mkdir -p %s && cp %s/%s/REVISION %s/", stray, releases_path, releases[0], stray)
    try:
        result = playbook(expect_ok=False, playbook="rollback.yml")
    finally:
        with host.sudo():
            host.run_expect([0], "rm -rf %s", stray)
    assert result.returncode != 0
    assert "Cannot roll back: no release earlier than the current one" in result.stdout
    assert current_target(host) == f"releases/{releases[0]}"


def test_failed_deploy_removes_the_new_release_and_keeps_current(host, playbook, tmp_path):
    before = current_target(host)
    hook = tmp_path / "fail-before-activate.yml"
    hook.write_text(
        "---\n- name: Fail on purpose before activation (test hook).\n"
        "  ansible.builtin.fail:\n    msg: injected failure\n"
    )
    (release,) = release_names(datetime.now(UTC) + timedelta(seconds=30), 1)
    result = playbook(
        "--tags",
        "collector",
        "-e",
        f"orderbooks_release={release}",
        "-e",
        json.dumps({"orderbooks_collector_before_activate_tasks_file": str(hook)}),
        expect_ok=False,
    )
    assert result.returncode != 0
    assert f"Deploying release {release} failed" in result.stdout
    assert not host.file(f"{checks.LAYOUT.releases_path}/{release}").exists
    assert current_target(host) == before


def test_site_yml_deploys_the_checkout_again(host, playbook):
    playbook("--tags", "collector")
    info = host.file(f"{checks.LAYOUT.current_path}/REVISION").content_string
    assert "+rollbacktest" not in info
    assert host.service(checks.LAYOUT.collector_unit).is_running
