"""`orderbooks upload` / `orderbooks prune` through cli.main: options, environment, exit codes."""

from __future__ import annotations

import os

import orjson
import pytest
from orderbooks import cli
from orderbooks.exitcodes import ExitCode
from orderbooks.store import paths
from testkit.offload_helpers import rclone_binary, write_config
from testkit.sealed_files import all_files, make_sealed

HOUR = paths.HourKey("2026-01-02", "03")


@pytest.fixture
def setup(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    sealed = make_sealed(data, HOUR)
    config = write_config(tmp_path / "rclone" / "rclone.conf")
    return data, sealed, config


def test_every_option_can_come_from_the_environment(setup, tmp_path):
    data, sealed, config = setup
    remote_dir = tmp_path / "remote"
    env = {
        "ORDERBOOKS_REMOTE": f"stand:{remote_dir}",
        "ORDERBOOKS_DATA_DIR": str(data),
        "ORDERBOOKS_RCLONE_CONFIG": str(config),
        "ORDERBOOKS_RCLONE_BINARY": rclone_binary(),
        "ORDERBOOKS_BWLIMIT": "10M",
        "ORDERBOOKS_RETRIES": "1",
        "ORDERBOOKS_TIMEOUT": "5",
        "ORDERBOOKS_DRY_RUN": "true",
    }
    parser = cli.build_parser(env)
    args = parser.parse_args(["upload"])
    assert (args.remote, args.data_dir, args.retries, args.timeout, args.bwlimit, args.dry_run) == (
        f"stand:{remote_dir}",
        data,
        1,
        5.0,
        "10M",
        True,
    )
    assert cli.main(["upload"], env) == ExitCode.OK  # dry run: nothing sent, nothing written
    assert not remote_dir.exists()
    assert not (data / "uploads").exists()
    env.pop("ORDERBOOKS_DRY_RUN")
    assert cli.main(["upload"], env) == ExitCode.OK
    assert (remote_dir / sealed.rel_data).read_bytes() == sealed.data.read_bytes()
    env_prune = {**env, "ORDERBOOKS_KEEP_DAYS": "1"}  # one upload.env serves both commands
    assert cli.build_parser(env_prune).parse_args(["prune"]).keep_days == 1
    assert cli.main(["prune"], env_prune) == ExitCode.OK
    assert not sealed.data.exists()  # 2026-01-02 is long ago, verified, and on the remote now


def test_upload_works_with_only_rclone_config_set(setup, tmp_path):
    data, sealed, config = setup
    remote_dir = tmp_path / "remote"
    env = {"RCLONE_CONFIG": str(config), "HOME": str(tmp_path / "home")}
    argv = ["--remote", f"stand:{remote_dir}", "--data-dir", str(data), "--rclone-binary", rclone_binary()]
    assert cli.main(["upload", *argv], env) == ExitCode.OK
    assert (remote_dir / sealed.rel_data).read_bytes() == sealed.data.read_bytes()
    assert cli.main(["prune", "--keep-days", "1", *argv], env) == ExitCode.OK
    assert not sealed.data.exists()


def test_rclone_default_config_path_is_used_and_named_when_missing(setup, tmp_path, capsys):
    data, sealed, config = setup
    remote_dir = tmp_path / "remote"
    argv = [
        "upload",
        "--remote",
        f"stand:{remote_dir}",
        "--data-dir",
        str(data),
        "--rclone-binary",
        rclone_binary(),
    ]
    home = tmp_path / "home"
    assert cli.main(argv, {"HOME": str(home)}) == ExitCode.ENVIRONMENT
    err = capsys.readouterr().err
    assert "RCLONE_CONFIG (not set)" in err and str(home / ".config" / "rclone" / "rclone.conf") in err
    assert not remote_dir.exists()
    write_config(home / ".config" / "rclone" / "rclone.conf", config.read_text())
    assert cli.main(argv, {"HOME": str(home)}) == ExitCode.OK
    assert (remote_dir / sealed.rel_data).is_file()
    xdg = tmp_path / "xdg"
    os.chmod(home / ".config" / "rclone" / "rclone.conf", 0o644)  # 0600 check stays for every source
    assert cli.main(argv, {"HOME": str(home)}) == ExitCode.ENVIRONMENT
    assert "chmod 600" in capsys.readouterr().err
    assert cli.main(argv, {"HOME": str(home), "XDG_CONFIG_HOME": str(xdg)}) == ExitCode.ENVIRONMENT
    assert str(xdg / "rclone" / "rclone.conf") in capsys.readouterr().err


def test_bad_environment_value_is_a_usage_error(setup):
    data, _, _ = setup
    env = {"ORDERBOOKS_RETRIES": "many"}
    assert cli.main(["upload", "--remote", "stand:x", "--data-dir", str(data)], env) == ExitCode.USAGE


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing-binary", "rclone binary not found"),
        ("missing-config", "does not exist"),
        ("world-readable", "chmod 600"),
        ("group-readable", "chmod 600"),
        ("unknown-remote", "is not in"),
        ("not-a-remote", "REMOTE:PATH"),
        ("missing-data-dir", "data folder"),
    ],
)
def test_preconditions_fail_with_one_message_and_touch_nothing(setup, tmp_path, capsys, case, message):
    data, _, config = setup
    argv = ["upload", "--remote", f"stand:{tmp_path}/remote", "--data-dir", str(data)]
    argv += ["--rclone-config", str(config), "--rclone-binary", rclone_binary()]
    if case == "missing-binary":
        argv[-1] = str(tmp_path / "no-rclone")
    elif case == "missing-config":
        config.unlink()
    elif case == "world-readable":
        os.chmod(config, 0o604)
    elif case == "group-readable":
        os.chmod(config, 0o640)
    elif case == "unknown-remote":
        argv[2] = f"gdrive:{tmp_path}/remote"
    elif case == "not-a-remote":
        argv[2] = str(tmp_path / "remote")
    elif case == "missing-data-dir":
        argv[4] = str(tmp_path / "nodata")
    before = all_files(tmp_path)
    assert cli.main(argv, {}) == ExitCode.ENVIRONMENT
    err = capsys.readouterr().err
    assert message in err and err.count("error:") == 1
    last = data / "uploads" / "last-upload.json"
    if case != "missing-data-dir":  # the failure is on disk for alarms, and nothing else changed
        assert orjson.loads(last.read_bytes())["result"] == "precondition_failed"
        last.unlink()
        (data / "uploads").rmdir()
    assert all_files(tmp_path) == before
    assert not (tmp_path / "remote").exists()


def test_prune_needs_keep_days(setup):
    data, _, _ = setup
    with pytest.raises(SystemExit) as info:
        cli.main(["prune", "--data-dir", str(data)], {})
    assert info.value.code == ExitCode.USAGE
    with pytest.raises(SystemExit) as info:
        cli.main(["prune", "--data-dir", str(data), "--keep-days", "-1"], {})
    assert info.value.code == ExitCode.USAGE


def test_upload_and_prune_json_on_a_real_run(setup, tmp_path, capsys):
    """--json: stdout is exactly one JSON document (log lines on stderr), same exit codes."""
    data, sealed, config = setup
    remote_dir = tmp_path / "remote"
    argv = ["--remote", f"stand:{remote_dir}", "--data-dir", str(data), "--rclone-config", str(config)]
    argv += ["--rclone-binary", rclone_binary(), "--json"]
    capsys.readouterr()
    assert cli.main(["upload", "--dry-run", *argv], {}) == ExitCode.OK
    plan = orjson.loads(capsys.readouterr().out)
    assert plan["kind"] == "orderbooks.upload_plan"
    assert [f["path"] for f in plan["would_upload"]] == [sealed.rel_data]
    assert cli.main(["upload", *argv], {}) == ExitCode.OK
    out, err = capsys.readouterr()
    run = orjson.loads(out)
    assert run == orjson.loads((data / "uploads" / "runs" / f"{run['run_id']}.json").read_bytes())
    assert run["result"] == "ok" and run["totals"]["verified"] == 2
    assert '"upload_done"' in err
    assert cli.main(["prune", "--keep-days", "1", "--dry-run", *argv], {}) == ExitCode.OK
    plan = orjson.loads(capsys.readouterr().out)
    assert [f["path"] for f in plan["would_delete"]] == [sealed.rel_data, sealed.rel_manifest]
    assert cli.main(["prune", "--keep-days", "1", *argv], {}) == ExitCode.OK
    result = orjson.loads(capsys.readouterr().out)
    assert result == orjson.loads((data / "uploads" / "last-prune.json").read_bytes())
    assert [f["path"] for f in result["deleted"]] == [sealed.rel_data, sealed.rel_manifest]
    assert not sealed.data.exists()


def test_json_precondition_failure_is_a_document_with_the_same_exit_code(setup, tmp_path, capsys):
    data, _sealed, config = setup
    argv = ["--remote", "nosuch:x", "--data-dir", str(data), "--rclone-config", str(config)]
    argv += ["--rclone-binary", rclone_binary(), "--json"]
    capsys.readouterr()
    for command in (["upload"], ["prune", "--keep-days", "1"]):
        assert cli.main([*command, *argv], {}) == ExitCode.ENVIRONMENT
        out, err = capsys.readouterr()
        document = orjson.loads(out)
        assert document["result"] == "precondition_failed" and "nosuch" in document["error"]
        assert "error:" in err
