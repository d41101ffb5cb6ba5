"""Tags are set once, at the ``import_tasks`` of each role's tasks/main.yml, and
every task stays reachable by its tag.

The reachability half asks Ansible itself: ``ansible-playbook --list-tasks
--tags <tag>`` must list every task of the files imported under that tag
(no host is contacted; the inventory only names a host in the group).
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
ROLES = REPO / "roles"
ANSIBLE_DIR = REPO / "ansible"
PLAYBOOK_BIN = str(Path(sys.executable).with_name("ansible-playbook"))
IMPORT_KEYS = ("ansible.builtin.import_tasks", "ansible.builtin.include_tasks")


def load(path: Path) -> list:
    return yaml.safe_load(path.read_text()) or []


def dispatches() -> list[tuple[str, str, str, list[str]]]:
    """(role, how, file, tags) of every entry of every role's tasks/main.yml."""
    found = []
    for main in sorted(ROLES.glob("*/tasks/main.yml")):
        role = main.parents[1].name
        for entry in load(main):
            how = next((k for k in IMPORT_KEYS if k in entry), None)
            assert how, f"{role}/tasks/main.yml: {entry.get('name')!r} is not an import_tasks/include_tasks"
            target = entry[how]
            file = target if isinstance(target, str) else target["file"]
            found.append((role, how.rsplit(".", 1)[1], file, list(entry.get("tags") or [])))
    return found


def walk(tasks: list, *, into_rescue: bool = True):
    """Every task of a task list, blocks opened (rescue/always too unless told)."""
    for task in tasks:
        if "block" in task:
            yield task
            sections = ("block", "rescue", "always") if into_rescue else ("block",)
            for section in sections:
                yield from walk(task.get(section) or [], into_rescue=into_rescue)
        else:
            yield task


DISPATCHES = dispatches()
TAGS = sorted({tag for *_, tags in DISPATCHES for tag in tags if tag != "always"})


@pytest.fixture(scope="module")
def inventory(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("inventory") / "inventory.ini"
    path.write_text("[orderbooks]\nvps-listing ansible_host=192.0.2.1\n")
    return path


@functools.cache
def listed(inventory: Path, playbook: str, tag: str | None) -> set[str]:
    """'role : task name' lines of ``ansible-playbook --list-tasks [--tags tag]``."""
    argv = [PLAYBOOK_BIN, playbook, "-i", str(inventory), "--list-tasks"]
    if tag:
        argv += ["--tags", tag]
    done = subprocess.run(argv, cwd=ANSIBLE_DIR, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return {line.split("\tTAGS:")[0].strip() for line in done.stdout.splitlines() if " : " in line}


def test_every_role_dispatches_with_tags():
    assert DISPATCHES
    untagged = [(role, file) for role, _, file, tags in DISPATCHES if not tags]
    assert not untagged, f"import_tasks without tags: {untagged}"


@pytest.mark.parametrize(
    ("role", "how", "file", "tags"), DISPATCHES, ids=[f"{d[0]}/{d[2]}" for d in DISPATCHES]
)
def test_tasks_carry_no_tags_of_their_own(role, how, file, tags):
    tagged = [t.get("name") for t in walk(load(ROLES / role / "tasks" / file)) if "tags" in t]
    assert not tagged, f"{role}/tasks/{file}: tags belong on the import in main.yml, not on {tagged}"


def test_an_include_applies_its_tags_to_what_it_includes():
    for main in sorted(ROLES.glob("*/tasks/main.yml")):
        for entry in load(main):
            include = entry.get("ansible.builtin.include_tasks")
            if include is not None:
                applied = (include.get("apply") or {}).get("tags") if isinstance(include, dict) else None
                assert applied == entry.get("tags"), f"{main}: {entry['name']!r} applies {applied}"


@pytest.mark.parametrize("tag", TAGS)
def test_every_task_is_listed_under_its_tag(inventory, tag):
    playbook = "site.yml"
    shown = listed(inventory, playbook, tag)
    expected = set()
    for role, how, file, tags in DISPATCHES:
        if tag not in tags:
            continue
        if how == "include_tasks":  # dynamic: the include itself is what --list-tasks shows
            names = [
                entry["name"]
                for entry in load(ROLES / role / "tasks" / "main.yml")
                if entry.get("ansible.builtin.include_tasks", {}).get("file") == file
            ]
        else:  # --list-tasks shows a block's tasks, not its rescue
            names = [
                t["name"]
                for t in walk(load(ROLES / role / "tasks" / file), into_rescue=False)
                if "block" not in t
            ]
        expected |= {f"{role} : {name}" for name in names}
    assert expected
    missing = sorted(expected - shown)
    assert not missing, f"--tags {tag} does not reach: {missing}"


def test_site_yml_skips_rollback_unless_asked(inventory):
    everything = listed(inventory, "site.yml", None)
    assert not any(
        line.startswith("orderbooks_rollback : ") and "arg spec" not in line for line in everything
    )
    assert "orderbooks_rollback : Switch current to the earlier release (atomic relative symlink)." in listed(
        inventory, "site.yml", "rollback"
    )


def test_rollback_yml_runs_the_rollback_and_no_systemd_task(inventory):
    shown = listed(inventory, "rollback.yml", None)
    rollback = {
        f"orderbooks_rollback : {t['name']}"
        for t in walk(load(ROLES / "orderbooks_rollback" / "tasks" / "rollback.yml"))
    }
    assert rollback <= shown
    systemd_tasks = [
        line for line in shown if line.startswith("orderbooks_systemd : ") and "arg spec" not in line
    ]
    assert not systemd_tasks, f"rollback.yml would run {systemd_tasks}"


REFUSAL = "orderbooks_common : Fail when a removed variable is set."


@pytest.mark.parametrize("tag", TAGS)
def test_the_removed_variables_refusal_runs_under_every_tag(inventory, tag):
    assert REFUSAL in listed(inventory, "site.yml", tag)


def test_the_removed_variables_refusal_runs_in_every_playbook(inventory):
    assert REFUSAL in listed(inventory, "site.yml", None)
    assert REFUSAL in listed(inventory, "rollback.yml", None)
