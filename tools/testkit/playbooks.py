"""Running the repository's playbooks on this machine for the role tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ANSIBLE_DIR = Path(__file__).resolve().parents[2] / "ansible"
PLAYBOOK_BIN = str(Path(sys.executable).with_name("ansible-playbook"))


def run_playbook(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """ansible-playbook *argv* from ansible/, with the virtualenv's tools first on PATH."""
    return subprocess.run(
        [PLAYBOOK_BIN, *argv],
        cwd=ANSIBLE_DIR,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "ANSIBLE_NOCOLOR": "1"},
    )
