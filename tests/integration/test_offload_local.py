"""Upload + prune with the real rclone against the `local` backend (hashes straight from the remote)."""

from __future__ import annotations

import orjson
from orderbooks.exitcodes import ExitCode
from orderbooks.store import paths
from testkit.offload_helpers import (
    assert_nothing_lost,
    file_hashes,
    ledger_entries,
    outcomes,
    prune,
    upload,
    write_config,
)
from testkit.sealed_files import all_files, make_days, make_partial, make_quarantined, make_sealed

pytest_plugins = ["conftest_offload"]

OLD = paths.HourKey("2026-01-02", "03")


def test_upload_verifies_records_and_is_idempotent(data_dir, tmp_path):
    made = make_days(data_dir, days=2, hours=(1, 13))
    partial = make_partial(data_dir, OLD)
    quarantined = make_quarantined(data_dir, OLD)
    config = write_config(tmp_path / "rclone.conf")
    remote_root = tmp_path / "remote"
    assert upload(data_dir, f"stand:{remote_root}", config) == ExitCode.OK
    for sealed in made:
        assert file_hashes(remote_root / sealed.rel_data) == (sealed.md5, sealed.sha256)
        assert (remote_root / sealed.rel_manifest).read_bytes() == sealed.manifest.read_bytes()
        assert outcomes(data_dir)[sealed.rel_data] == ["verified"]
        assert outcomes(data_dir)[sealed.rel_manifest] == ["verified"]
    uploaded = {p.relative_to(remote_root).as_posix() for p in remote_root.rglob("*") if p.is_file()}
    # no partial, no quarantine
    assert uploaded == {s.rel_data for s in made} | {s.rel_manifest for s in made}
    assert partial.exists() and quarantined.exists()
    entry = ledger_entries(data_dir)[0]
    assert set(entry) >= {"ts", "action", "path", "bytes", "md5", "sha256", "remote", "outcome", "detail"}
    assert "md5+sha256 equal (remote-hash)" in entry["detail"]
    runs = list((data_dir / "uploads" / "runs").glob("*.json"))
    assert len(runs) == 1
    run = orjson.loads(runs[0].read_bytes())
    assert run["rclone_version"].startswith("rclone v")
    assert run["totals"]["verified"] == 2 * len(made) and run["failures"] == []
    assert {f["path"] for f in run["files"]} == set(outcomes(data_dir))
    # second run: nothing sent again, nothing new in the ledger
    lines = len(ledger_entries(data_dir))
    assert upload(data_dir, f"stand:{remote_root}", config) == ExitCode.OK
    assert len(ledger_entries(data_dir)) == lines
    assert len(list((data_dir / "uploads" / "runs").glob("*.json"))) == 2
    # prune everything older than 0 days: all verified, so all sealed files go; partial/quarantine stay
    assert prune(data_dir, 0, f"stand:{remote_root}", config) == ExitCode.OK
    assert_nothing_lost(data_dir, remote_root, made)
    assert all(not s.data.exists() for s in made)
    assert partial.exists() and quarantined.exists()


def corrupt(blob: bytes) -> bytes:
    """Same size, different bytes."""
    changed = bytearray(blob)
    changed[100] ^= 0xFF
    return bytes(changed)


def _good_and_impostor(data_dir, tmp_path, impostor_of):
    """A good sealed file, and a bad one whose remote name already holds impostor_of(its bytes)."""
    good = make_sealed(data_dir, OLD, seed=1)
    bad = make_sealed(data_dir, paths.HourKey("2026-01-02", "04"), seed=2)
    config = write_config(tmp_path / "rclone.conf")
    remote_root = tmp_path / "remote"
    impostor = remote_root / bad.rel_data
    impostor.parent.mkdir(parents=True)
    impostor.write_bytes(impostor_of(bad.data.read_bytes()))
    return good, bad, config, remote_root, impostor


def test_existing_different_remote_file_is_a_mismatch_and_never_overwritten(data_dir, tmp_path, capsys):
    good, bad, config, remote_root, impostor = _good_and_impostor(data_dir, tmp_path, corrupt)
    corrupted = impostor.read_bytes()
    capsys.readouterr()
    assert upload(data_dir, f"stand:{remote_root}", config) == ExitCode.FAILED
    out = capsys.readouterr().out
    errors = [orjson.loads(line) for line in out.splitlines() if '"file_mismatch"' in line]
    assert errors and errors[0]["level"] == "error" and errors[0]["path"] == bad.rel_data
    assert outcomes(data_dir)[bad.rel_data] == ["mismatch"]
    assert bad.rel_manifest not in outcomes(data_dir)  # manifest only after its data file verifies
    assert outcomes(data_dir)[good.rel_data] == ["verified"]
    assert impostor.read_bytes() == bytes(corrupted)  # not overwritten
    # a rerun reports it again (loudly), and prune keeps it
    assert upload(data_dir, f"stand:{remote_root}", config) == ExitCode.FAILED
    assert outcomes(data_dir)[bad.rel_data] == ["mismatch", "mismatch"]
    assert prune(data_dir, 0, f"stand:{remote_root}", config) == ExitCode.OK
    assert bad.data.exists() and bad.manifest.exists()
    assert not good.data.exists()
    assert_nothing_lost(data_dir, remote_root, [good, bad])


def test_dry_run_changes_nothing_locally_or_remotely(data_dir, tmp_path, capsys):
    sealed = make_sealed(data_dir, OLD)
    config = write_config(tmp_path / "rclone.conf")
    before = all_files(data_dir)
    assert upload(data_dir, f"stand:{tmp_path}/remote", config, "--dry-run") == ExitCode.OK
    assert all_files(data_dir) == before
    assert not (tmp_path / "remote").exists()
    assert f"would upload {sealed.rel_data}" in capsys.readouterr().out
    assert prune(data_dir, 0, f"stand:{tmp_path}/remote", config, "--dry-run") == ExitCode.OK
    assert all_files(data_dir) == before


def test_local_file_not_matching_its_manifest_is_skipped_not_sent(data_dir, tmp_path):
    sealed = make_sealed(data_dir, OLD)
    blob = bytearray(sealed.data.read_bytes())
    blob[-1] ^= 0x01
    sealed.data.write_bytes(bytes(blob))
    config = write_config(tmp_path / "rclone.conf")
    assert upload(data_dir, f"stand:{tmp_path}/remote", config) == ExitCode.FAILED
    assert outcomes(data_dir)[sealed.rel_data] == ["skipped"]
    assert not (tmp_path / "remote" / sealed.rel_data).exists()
    assert prune(data_dir, 0, f"stand:{tmp_path}/remote", config) == ExitCode.OK
    assert sealed.data.exists()


def _pruner_at(data_dir, remote: str, config, now_ms: int, keep_days: int):
    from orderbooks.offload.prune import Pruner
    from orderbooks.offload.rclone import Rclone
    from testkit.fake_clock import FakeClock
    from testkit.offload_helpers import rclone_binary

    rclone = Rclone(rclone_binary(), config, retries=1, timeout_s=5)
    return Pruner(data_dir, keep_days, remote, rclone, clock=FakeClock(wall_ms=now_ms))


def test_file_deleted_on_the_remote_survives_prune_two_days_later_and_is_sent_again(data_dir, tmp_path):
    sealed = make_sealed(data_dir, OLD)
    config = write_config(tmp_path / "rclone.conf")
    remote_root = tmp_path / "remote"
    remote = f"stand:{remote_root}"
    assert upload(data_dir, remote, config) == ExitCode.OK
    (remote_root / sealed.rel_data).unlink()  # a Drive clean-up or trash policy
    two_days_later = OLD.end_ms() + 2 * 86_400_000
    report = _pruner_at(data_dir, remote, config, two_days_later, keep_days=1).run()
    assert sealed.data.exists() and sealed.manifest.exists()
    assert [(p, o) for p, o, _ in report.kept_remote] == [(sealed.rel_data, "remote_lost")]
    assert upload(data_dir, remote, config) == ExitCode.OK  # the next upload sends it again
    assert file_hashes(remote_root / sealed.rel_data) == (sealed.md5, sealed.sha256)
    assert outcomes(data_dir)[sealed.rel_data] == ["verified", "remote_lost", "verified"]
    report = _pruner_at(data_dir, remote, config, two_days_later, keep_days=1).run()
    assert report.deleted == [sealed.rel_data, sealed.rel_manifest]
    assert_nothing_lost(data_dir, remote_root, [sealed])


def test_after_a_change_of_remote_nothing_is_pruned_until_the_new_remote_holds_verified_copies(
    data_dir, tmp_path
):
    made = [make_sealed(data_dir, OLD, seed=1), make_sealed(data_dir, OLD, seed=2)]
    config = write_config(tmp_path / "rclone.conf")
    old, new = f"stand:{tmp_path}/old", f"stand:{tmp_path}/new"
    assert upload(data_dir, old, config) == ExitCode.OK
    before = all_files(data_dir)
    assert prune(data_dir, 0, new, config) == ExitCode.OK
    assert all_files(data_dir) == before  # verified on the old remote only: nothing goes
    assert upload(data_dir, new, config) == ExitCode.OK  # every file is sent to the new remote
    for sealed in made:
        assert file_hashes(tmp_path / "new" / sealed.rel_data) == (sealed.md5, sealed.sha256)
    assert prune(data_dir, 0, new, config) == ExitCode.OK
    assert not any(s.data.exists() for s in made)
    assert_nothing_lost(data_dir, tmp_path / "new", made)


def test_a_failed_upload_still_lets_prune_delete_only_verified_files(data_dir, tmp_path):
    good, bad, config, remote_root, _ = _good_and_impostor(data_dir, tmp_path, lambda b: b"x" * len(b))
    assert upload(data_dir, f"stand:{remote_root}", config) == ExitCode.FAILED
    run = orjson.loads((data_dir / "uploads" / "last-upload.json").read_bytes())
    assert run["result"] == "failed" and run["totals"]["mismatch"] == 1
    assert prune(data_dir, 0, f"stand:{remote_root}", config) == ExitCode.OK
    assert not good.data.exists() and bad.data.exists() and bad.manifest.exists()
    last = orjson.loads((data_dir / "uploads" / "last-prune.json").read_bytes())
    assert last["result"] == "ok" and last["totals"]["deleted"] == 2
    assert_nothing_lost(data_dir, remote_root, [good, bad])


def _offload_alarms(data_dir) -> set[str]:
    from orderbooks.health import status

    alarms = status.evaluate(data_dir).alarms
    return {a["name"] for a in alarms} & {"upload_failed", "prune_failed"}


def test_status_raises_upload_failed_and_prune_failed_from_the_runs_results_and_clears_them(
    data_dir, tmp_path
):
    good, bad, config, remote_root, _ = _good_and_impostor(data_dir, tmp_path, lambda b: b"x" * len(b))
    remote = f"stand:{remote_root}"
    assert _offload_alarms(data_dir) == set()  # no run yet: nothing to say
    assert upload(data_dir, remote, config) == ExitCode.FAILED
    assert _offload_alarms(data_dir) == {"upload_failed"}
    (remote_root / bad.rel_data).unlink()  # the impostor goes; the next upload sends the real file
    assert upload(data_dir, remote, config) == ExitCode.OK
    assert _offload_alarms(data_dir) == set()
    (remote_root / bad.rel_data).unlink()  # lost on the remote after its upload
    assert prune(data_dir, 0, remote, config) == ExitCode.FAILED
    assert bad.data.exists()  # kept: the remote lost it
    assert _offload_alarms(data_dir) == {"prune_failed"}
    assert upload(data_dir, remote, config) == ExitCode.OK
    assert prune(data_dir, 0, remote, config) == ExitCode.OK
    assert _offload_alarms(data_dir) == set()
    assert not bad.data.exists()
    assert_nothing_lost(data_dir, remote_root, [good, bad])


def test_an_interrupted_upload_says_so_in_json_keeps_what_it_verified_and_the_next_run_finishes(
    data_dir, tmp_path
):
    import signal
    import subprocess
    import time

    from testkit.collect_runs import orderbooks_argv
    from testkit.offload_helpers import write_wrapper

    first = make_sealed(data_dir, OLD, seed=1)
    second = make_sealed(data_dir, paths.HourKey("2026-01-02", "04"), seed=2)
    config = write_config(tmp_path / "rclone.conf")
    remote = f"stand:{tmp_path / 'remote'}"
    hit = tmp_path / "hit"
    # the second hour's data file hangs in its copyto until the upload is stopped
    hang = f'case "$*" in *copyto*{second.data.name}*) touch {hit}; exec sleep 120;; esac'
    wrapper = write_wrapper(tmp_path / "rclone-wrapper", hang)
    argv = [*orderbooks_argv(), "upload", "--remote", remote, "--data-dir", str(data_dir)]
    argv += ["--rclone-config", str(config), "--rclone-binary", wrapper, "--retries", "1", "--json"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not hit.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert hit.exists(), proc.communicate(timeout=30)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == ExitCode.INTERRUPTED, stderr
    assert b"interrupted" in stderr
    printed = orjson.loads(stdout)
    on_disk = orjson.loads((data_dir / "uploads" / "last-upload.json").read_bytes())
    assert printed == on_disk and printed["result"] == "interrupted"
    assert printed["totals"]["verified"] == 2  # the first hour's data file and manifest
    assert outcomes(data_dir)[first.rel_data] == ["verified"]
    assert second.rel_data not in outcomes(data_dir)
    assert upload(data_dir, remote, config) == ExitCode.OK  # the next run sends only what is left
    assert outcomes(data_dir)[first.rel_data] == ["verified"]
    assert outcomes(data_dir)[second.rel_data] == ["verified"]
    assert file_hashes(tmp_path / "remote" / second.rel_data) == (second.md5, second.sha256)
