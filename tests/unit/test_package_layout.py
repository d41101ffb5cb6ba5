"""The repository's shape holds: the collector's sub-packages import only
downward (docs/architecture.md, "Import rules"), the top level stays small, no
module grows past its limit, only store/ touches the file system (it owns the
data folder), the gate imports nothing from the collector, the dev tooling is
installed from tools/pyproject.toml and nothing under tests/ is reached through
PYTHONPATH."""

import ast
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "collector" / "src" / "orderbooks"

#: A sub-package may import the top-level modules, itself, and the
#: sub-packages of a lower rank: never one of the same or a higher rank.
RANKS = {
    "store": 1,
    "api": 1,
    "markets": 2,
    "health": 2,
    "offload": 2,
    "quality": 2,
    "capture": 3,
    "commands": 4,
}
#: The top-level modules: the foundation every sub-package may use, and the
#: entry points (cli, __main__) that reach the commands by name.
TOP_LEVEL = {"__init__", "__main__", "cli", "exitcodes", "logs", "timefmt", "clock", "records", "config"}
MAX_TOP_LEVEL = 10
MAX_LINES = 600


def imported_modules(path: Path) -> set[str]:
    """Every ``orderbooks...`` module *path* imports (``from orderbooks.x import y``
    counts as both ``orderbooks.x`` and ``orderbooks.x.y``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("orderbooks")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("orderbooks"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def package_of(dotted: str) -> str | None:
    """``orderbooks.store.writer`` -> ``store``; a top-level module -> None."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANKS else None


def test_top_level_holds_only_the_foundation_and_the_entry_points():
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert len(modules) <= MAX_TOP_LEVEL
    assert modules == TOP_LEVEL
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert packages == set(RANKS)


def test_every_sub_package_says_what_it_owns():
    for name in RANKS:
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text()))
        assert doc and len(doc) > 40, f"orderbooks.{name} has no docstring saying what it owns"


def test_imports_run_only_downward():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        own = relative.parts[0] if len(relative.parts) > 1 else None
        for dotted in imported_modules(path):
            target = package_of(dotted)
            if own is None:
                # The foundation imports no sub-package (cli reaches commands by name).
                if target is not None:
                    upward.append(f"{relative} -> {dotted}")
            elif target is not None and target != own and RANKS[target] >= RANKS[own]:
                upward.append(f"{relative} -> {dotted}")
    assert upward == []


def test_the_rule_catches_an_upward_import(tmp_path):
    """The checker itself: a store module importing offload is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("from orderbooks.offload.upload import Uploader\nfrom orderbooks.store import paths\n")
    targets = {package_of(d) for d in imported_modules(bad)}
    assert "offload" in targets and RANKS["offload"] >= RANKS["store"]


def test_no_module_is_longer_than_the_limit():
    roots = [PACKAGE, REPO / "gate", REPO / "tools", REPO / "tests"]
    long = {
        str(p.relative_to(REPO)): n
        for root in roots
        for p in root.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_gate_imports_nothing_from_the_collector():
    offenders = [
        str(p.relative_to(REPO))
        for p in (REPO / "gate" / "src").rglob("*.py")
        if any(m.startswith("orderbooks") for m in imported_modules(p))
    ]
    assert offenders == []


def test_every_tools_package_is_installed():
    project = tomllib.loads((REPO / "tools" / "pyproject.toml").read_text())
    listed = set(project["tool"]["setuptools"]["packages"])
    present = {p.parent.name for p in (REPO / "tools").glob("*/__init__.py")}
    assert present == listed, "list each tools/<package> in tools/pyproject.toml's packages"


def test_tests_hold_only_tests():
    helpers = [
        str(p.relative_to(REPO))
        for p in (REPO / "tests").rglob("*.py")
        if not p.name.startswith(("test_", "conftest"))
    ]
    assert helpers == []


def test_no_pythonpath_into_tests():
    offenders = []
    for path in [
        REPO / "Makefile",
        REPO / "pyproject.toml",
        *(REPO / "tests").rglob("*.py"),
        *(REPO / "tools").rglob("*.sh"),
    ]:
        if path.name == "test_package_layout.py":
            continue
        text = path.read_text()
        if "PYTHONPATH" in text or "pythonpath" in text:
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


# ---------------------------------------------------------------- the data folder's one owner
#: Calls that touch the file system. store/ owns DATA_DIR (docs/architecture.md): it alone opens,
#: lists, probes, creates, renames or removes what lies there, so these appear nowhere else.
FS_FUNCTIONS = {
    "open",
    *(f"os.{n}" for n in ("open", "stat", "lstat", "scandir", "listdir", "walk", "unlink", "remove",
                          "rmdir", "mkdir", "makedirs", "rename", "replace", "truncate", "access",
                          "chmod", "utime", "link", "symlink")),
    *(f"os.path.{n}" for n in ("exists", "lexists", "isfile", "isdir", "getsize", "getmtime")),
    *(f"shutil.{n}" for n in ("rmtree", "move", "copy", "copy2", "copyfile", "copytree")),
    *(f"tempfile.{n}" for n in ("mkstemp", "mkdtemp", "NamedTemporaryFile", "TemporaryFile")),
}  # fmt: skip
#: store.atomic's writers, however reached (``atomic_write_json(...)``, ``atomic.atomic_write_json(...)``).
STORE_WRITERS = {"atomic_write_bytes", "atomic_write_json", "durable_rename", "fsync_dir", "cut_durably"}
#: Path methods: a call of one of these on any object counts (the checker cannot know its type).
FS_METHODS = {
    "read_bytes", "read_text", "write_bytes", "write_text", "open", "glob", "rglob", "iterdir",
    "mkdir", "unlink", "rmdir", "touch", "exists", "is_file", "is_dir", "chmod", "lstat",
    "symlink_to", "hardlink_to",
}  # fmt: skip
#: Path methods whose name other types share: counted only with the Path signature's
#: positional arguments (``path.stat()``, not ``rclone.stat(name)``; ``path.replace(target)``,
#: not ``text.replace(old, new)``).
FS_METHODS_BY_ARGS = {"stat": 0, "rename": 1, "replace": 1}
#: Modules (or ``module:function``) outside store/ that may touch the file system, each because
#: what it touches is NOT under the data folder. Keep it short; say why.
FS_ALLOWED = {
    "quality/plot.py",  # the PNG the user names with --plot (and its folder)
    "health/clocksync.py",  # /run/systemd/container
    "health/metrics.py",  # the Prometheus textfile, in node-exporter's folder
    "offload/rclone.py",  # the rclone binary's lookup; a nameless temporary file for its stderr
    "offload/remote.py",  # the rclone config file
    "commands/check_config.py",  # the environment file it is asked to check
}


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def file_system_calls(path: Path) -> list[tuple[int, str, str]]:
    """(line, enclosing function, call) of every call in *path* that touches the file system;
    ``from os import unlink`` and the like are followed."""
    tree = ast.parse(path.read_text())
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("os", "os.path", "shutil", "tempfile"):
            aliases |= {a.asname or a.name: f"{node.module}.{a.name}" for a in node.names}
    found: list[tuple[int, str, str]] = []

    def visit(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = scope
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                inner = f"{scope}.{child.name}" if scope else child.name
            if isinstance(child, ast.Call):
                name = _dotted(child.func) or ""
                name = aliases.get(name, name)
                method = child.func.attr if isinstance(child.func, ast.Attribute) else None
                if name in FS_FUNCTIONS or name.rsplit(".", 1)[-1] in STORE_WRITERS:
                    found.append((child.lineno, scope, name))
                elif method in FS_METHODS or (
                    method in FS_METHODS_BY_ARGS and len(child.args) == FS_METHODS_BY_ARGS[method]
                ):
                    found.append((child.lineno, scope, f".{method}"))
            visit(child, inner)

    visit(tree, "")
    return found


def test_only_the_store_touches_the_file_system():
    """No module outside store/ opens, lists, probes or changes a path (issue 21): the data
    folder is read and written through store/'s API; FS_ALLOWED lists the exceptions."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).as_posix()
        if module.startswith("store/") or module in FS_ALLOWED:
            continue
        for line, scope, call in file_system_calls(path):
            if f"{module}:{scope.split('.')[0]}" not in FS_ALLOWED:
                offenders.append(f"{module}:{line} {scope or '<module>'}: {call}")
    assert offenders == []


def test_every_file_system_exception_is_still_needed():
    """An allowed module that no longer touches the file system leaves FS_ALLOWED."""
    unused = []
    for entry in sorted(FS_ALLOWED):
        module, _, function = entry.partition(":")
        calls = file_system_calls(PACKAGE / module)
        if not any(not function or scope.split(".")[0] == function for _, scope, _ in calls):
            unused.append(entry)
    assert unused == []


def test_the_file_system_rule_catches_a_read(tmp_path):
    """The checker itself: reads, writes, listings and probes are reported, look-alikes are not."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import os\n"
        "from os import unlink as drop\n"
        "from pathlib import Path\n"
        "from orderbooks.store.atomic import atomic_write_json\n"
        "\n"
        "def load(data_dir):\n"
        "    return Path(data_dir, 'state', 'collector.json').read_bytes()\n"
        "\n"
        "class Runs:\n"
        "    def listed(self, data_dir):\n"
        "        return sorted((data_dir / 'runs').glob('*.json'))\n"
        "\n"
        "    def gone(self, path):\n"
        "        drop(path)\n"
        "        os.replace(path, path)\n"
        "        atomic_write_json(path, {})\n"
        "        with open(path) as handle:\n"
        "            return handle, path.stat(), path.exists(), path.replace(path)\n"
        "\n"
        "def harmless(text, rclone, name):\n"
        "    return text.replace('a', 'b'), rclone.stat(name), name.startswith('x'), os.getpid()\n"
    )
    assert file_system_calls(bad) == [
        (7, "load", ".read_bytes"),
        (11, "Runs.listed", ".glob"),
        (14, "Runs.gone", "os.unlink"),
        (15, "Runs.gone", "os.replace"),
        (16, "Runs.gone", "atomic_write_json"),
        (17, "Runs.gone", "open"),
        (18, "Runs.gone", ".stat"),
        (18, "Runs.gone", ".exists"),
        (18, "Runs.gone", ".replace"),
    ]
