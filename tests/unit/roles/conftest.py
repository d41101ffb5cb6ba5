"""What the role tests share: an inventory that runs the plays on this machine."""

import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def inventory(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("inventory") / "inventory.ini"
    path.write_text(
        f"[orderbooks]\ncontroller ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )
    return path
