"""Gate 5, upload: the upload service runs against its configured remote.

Every file sealed before the run, and its manifest, is on the remote with
hashes equal to the manifest, checked as the product checks: by the remote's
MD5 (and SHA-256 where it offers one) where the remote has hashes, by
downloading the file and hashing it where it has none; an empty hash never
passes, and two files under one name are a failure. No local file is gone
unless the ledger says it was verified first; the ledger has a ``verified``
line for each file with the manifest's hashes. The host's rclone is the one
shipped in the release (its version is a fact of the report).
"""

import json
import shlex

import pytest

from gate import checks

pytestmark = [pytest.mark.host, pytest.mark.gate("upload")]


def remote_listing(ev, rclone: str, config: str, remote: str) -> dict[str, dict]:
    """``rclone lsjson --hash -R`` of the remote, as the upload user (the only one that reads the config)."""
    cmd = (
        f"runuser -u {checks.LAYOUT.upload_user} -- {shlex.quote(rclone)} --config {shlex.quote(config)} "
        f"lsjson --hash -R --files-only {shlex.quote(remote)}"
    )
    result = ev.run(cmd, timeout_s=300, record_output=False)
    assert result.rc == 0, f"rclone lsjson failed (rc {result.rc}): {result.stderr.strip()[-400:]}"
    listing: dict[str, dict] = {}
    for listed in json.loads(result.stdout):
        item = {**listed, "_duplicate": True} if listed["Path"] in listing else listed
        listing[item["Path"]] = item  # Drive allows same-name files: a duplicate is never a pass
    return listing


def downloaded_hashes(ev, rclone: str, config: str, remote_file: str) -> dict[str, str]:
    """md5/sha256 of the remote file's bytes, downloaded with ``rclone cat`` on the host."""
    cat = (
        f"runuser -u {checks.LAYOUT.upload_user} -- {shlex.quote(rclone)} --config {shlex.quote(config)} "
        f"cat {shlex.quote(remote_file)}"
    )
    hasher = (
        "import hashlib, json, sys; m, s = hashlib.md5(), hashlib.sha256()\n"
        "for b in iter(lambda: sys.stdin.buffer.read(1 << 20), b''): m.update(b); s.update(b)\n"
        "print(json.dumps({'md5': m.hexdigest(), 'sha256': s.hexdigest()}))"
    )
    cmd = f"set -o pipefail; {cat} | python3 -c {shlex.quote(hasher)}"
    result = ev.run(f"bash -c {shlex.quote(cmd)}", timeout_s=300, record_output=False)
    assert result.rc == 0, f"rclone cat {remote_file} failed (rc {result.rc}): {result.stderr.strip()[-300:]}"
    return json.loads(result.stdout)


def remote_file(remote: str, rel: str) -> str:
    return remote + rel if remote.endswith((":", "/")) else f"{remote}/{rel}"


def ledger_lines(ev, data_dir: str) -> list[dict]:
    path = f"{data_dir}/uploads/ledger.jsonl"
    result = ev.run(f"cat {shlex.quote(path)}", record_output=False)
    assert result.rc == 0, f"no upload ledger at {path}: {result.stderr.strip()}"
    lines = []
    for line in result.stdout.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue  # a torn last line is ignored, as the ledger's reader does
    return lines


def test_upload_verifies_remote_hashes_and_keeps_local_files(gate_evidence):
    ev = gate_evidence
    settings = checks.collector_settings(ev)
    env = checks.read_env(ev, checks.LAYOUT.upload_env_file)
    remote = env.get("ORDERBOOKS_REMOTE", "")
    config = env.get("ORDERBOOKS_RCLONE_CONFIG") or checks.LAYOUT.rclone_config_file
    assert remote, f"ORDERBOOKS_REMOTE is not set in {checks.LAYOUT.upload_env_file}"
    rclone = env.get("ORDERBOOKS_RCLONE_BINARY") or checks.LAYOUT.rclone_binary
    assert ev.run(f"test -x {shlex.quote(rclone)}").rc == 0, f"no rclone at {rclone} on the host"
    ev.fact("remote", remote)
    ev.fact("rclone", ev.run(f"{shlex.quote(rclone)} version").stdout.splitlines()[:1])

    before = checks.sealed_files(ev, settings.data_dir)
    to_send = [e for e in before["sealed"] if e["manifest"] and "_unreadable" not in e["manifest"]]
    ev.fact("sealed_with_manifest", len(to_send))
    assert to_send, "no sealed file with a manifest to upload (the restart gate seals some)"

    started_ms = checks.host_now_ms(ev)
    result = ev.run(f"systemctl start {checks.LAYOUT.upload_unit}", timeout_s=900)
    state = checks.unit_state(ev, checks.LAYOUT.upload_unit)
    ev.fact("upload_unit", {k: state.get(k) for k in ("Result", "ExecMainStatus", "ActiveState")})
    ev.run(
        f"journalctl -u {checks.LAYOUT.upload_unit} --since @{started_ms / 1000:.3f} -o cat --no-pager"
        " | tail -n 40"
    )
    assert result.rc == 0, (
        f"{checks.LAYOUT.upload_unit} failed: {result.stderr.strip()} ({state.get('Result')})"
    )

    # Remote hashes equal the manifests.
    listing = remote_listing(ev, rclone, config, remote)
    compared, problems = {}, []
    for entry in to_send:
        manifest = entry["manifest"]
        obj = listing.get(entry["path"])
        if obj is None:
            problems.append(f"{entry['path']}: not on the remote")
            continue
        hashes = {k: v for k, v in (obj.get("Hashes") or {}).items() if v}  # an empty hash is no hash
        method = "remote-hash"
        if not hashes.get("md5"):
            hashes = downloaded_hashes(ev, rclone, config, remote_file(remote, entry["path"]))
            method = "download"
        checked = [name for name in ("md5", "sha256") if hashes.get(name) and manifest.get(name)]
        wrong = [name for name in checked if hashes[name] != manifest[name]]
        if "md5" not in checked:
            problems.append(f"{entry['path']}: no md5 to compare, even after a download")
        elif wrong:
            problems.append(f"{entry['path']}: remote {wrong} differ from the manifest")
        if obj.get("_duplicate"):
            problems.append(f"{entry['path']}: more than one file with this name on the remote")
        if obj.get("Size") != entry["bytes"]:
            problems.append(f"{entry['path']}: remote size {obj.get('Size')} != {entry['bytes']}")
        manifest_rel = entry["path"][: -len(".jsonl.gz")] + ".manifest.json"
        if manifest_rel not in listing:
            problems.append(f"{manifest_rel}: manifest not on the remote")
        compared[entry["path"]] = {"method": method, **{name: hashes.get(name) for name in checked}}
    ev.fact("remote_hashes_compared", compared)
    assert not problems, "; ".join(problems[:5])

    # The ledger records each file as verified, with the manifest's hashes.
    ledger = ledger_lines(ev, settings.data_dir)
    verified = {
        line.get("path"): line
        for line in ledger
        if line.get("action") == "upload" and line.get("outcome") == "verified"
    }
    unrecorded = [
        e["path"]
        for e in to_send
        if e["path"] not in verified or verified[e["path"]].get("sha256") != e["manifest"].get("sha256")
    ]
    ev.fact("ledger_verified", len(verified))
    assert not unrecorded, f"no ledger 'verified' line with the manifest's sha256 for: {unrecorded[:5]}"

    # Local files stay until verified: nothing gone without a verified ledger line.
    after = checks.sealed_files(ev, settings.data_dir, with_hash=False)
    local_now = {e["path"] for e in after["sealed"]}
    gone = [e["path"] for e in before["sealed"] if e["path"] not in local_now]
    gone_unverified = [p for p in gone if p not in verified]
    ev.fact("local_files_removed", gone)
    assert not gone_unverified, f"local files removed without a verified upload: {gone_unverified[:5]}"
    partials_remote = [p for p in listing if p.endswith(".partial")]
    assert not partials_remote, f"partial files on the remote: {partials_remote[:5]}"
