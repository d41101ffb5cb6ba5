"""Secrets never reach git: every file the runbook has a user create in the checkout is ignored,
and no document puts a secret on a command line."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "inventory.example", *sorted((ROOT / "docs").glob("*.md"))]
DOCS += sorted((ROOT / "ansible" / "group_vars").glob("*.yml"))
#: How the docs tell a user to create a file: `cp X NAME`, `ansible-vault create NAME`, `> NAME`.
CREATES = re.compile(
    r"(?:\bcp\s+\S+\s+|ansible-vault\s+create\s+|>\s*)((?:\./)?[\w.-]*(?:vault|inventory|pass)[\w.-]*)"
)
#: Files a user makes beside the checkout's files even when no doc names them exactly.
ALWAYS = ["inventory.ini", "vault.yml", ".vault_pass", ".vault_pass.txt", "prod.vault", "ansible/vault.yml"]


def created_by_docs() -> set[str]:
    found = set()
    for doc in DOCS:
        for match in CREATES.finditer(doc.read_text()):
            name = match.group(1).removeprefix("./")
            if name and not name.endswith((".example", ".md", ".py", ".j2")):
                found.add(name)
    return found


def ignored(rel: str) -> bool:
    return (
        subprocess.run(
            ["git", "-C", str(ROOT), "check-ignore", "-q", "--no-index", rel], check=False
        ).returncode
        == 0
    )


def test_every_file_the_runbook_creates_is_ignored_by_git():
    names = created_by_docs()
    assert {"inventory.ini", "vault.yml"} <= names, names  # the docs still tell users to make these
    not_ignored = [name for name in sorted(names | set(ALWAYS)) if not ignored(name)]
    assert not not_ignored, f"not covered by .gitignore: {not_ignored}"
    assert not ignored("inventory.example") and not ignored("ansible/group_vars/orderbooks.yml")


def test_no_document_puts_a_secret_on_the_command_line():
    secret_on_cli = re.compile(r"-e\s+['\"]?\w*(token|secret|client_id|password)\w*=", re.IGNORECASE)
    offenders = [
        f"{doc.relative_to(ROOT)}:{n}: {line.strip()}"
        for doc in DOCS
        for n, line in enumerate(doc.read_text().splitlines(), start=1)
        if secret_on_cli.search(line)
    ]
    assert not offenders, offenders
