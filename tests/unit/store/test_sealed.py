"""sealed: the validating manifest loaders name the bad field; kinds carry their period; find_sealed."""

from __future__ import annotations

import orjson
import pytest
from orderbooks.store import paths, sealed
from testkit.sealed_files import make_sealed

HOUR = paths.HourKey("2026-01-02", "03")


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda m: {**m, "schema": 2}, "schema"),
        (lambda m: {**m, "kind": "orderbooks.run"}, "kind"),
        (lambda m: {k: v for k, v in m.items() if k != "file"}, "file"),
        (lambda m: {**m, "bytes": -1}, "bytes"),
        (lambda m: {**m, "bytes": True}, "bytes"),
        (lambda m: {**m, "sha256": "ABC"}, "sha256"),
        (lambda m: {**m, "md5": None}, "md5"),
        (lambda m: {**m, "rows": "many"}, "rows"),
        (lambda m: {**m, "first_recv_ms": "soon"}, "first_recv_ms"),
        (lambda m: {**m, "rows_per_series": [1]}, "rows_per_series"),
        (lambda m: {**m, "recovered": "yes"}, "recovered"),
    ],
)
def test_file_manifest_loader_names_the_bad_field(tmp_path, mutate, field):
    made = make_sealed(tmp_path, HOUR)
    good = orjson.loads(made.manifest.read_bytes())
    assert sealed.load_file_manifest(made.manifest).hashes.sha256 == made.sha256
    made.manifest.write_bytes(orjson.dumps(mutate(good)))
    with pytest.raises(sealed.ManifestProblem) as caught:
        sealed.load_file_manifest(made.manifest)
    assert caught.value.field == field
    assert f"manifest {field!r}" in str(caught.value)


def test_unreadable_and_non_object_manifests(tmp_path):
    path = tmp_path / "x.manifest.json"
    path.write_bytes(b"{torn")
    with pytest.raises(sealed.ManifestProblem, match="unreadable manifest"):
        sealed.load_file_manifest(path)
    path.write_bytes(b"[1]")
    with pytest.raises(sealed.ManifestProblem, match="not a JSON object"):
        sealed.load_file_manifest(path)


def test_run_manifest_loader(tmp_path):
    path = tmp_path / "r.json"
    good = {
        "schema": 1,
        "kind": "orderbooks.run",
        "run_id": "r1",
        "start": 5,
        "end": None,
        "files": [],
        "totals": {},
    }
    path.write_bytes(orjson.dumps(good))
    run = sealed.load_run_manifest(path)
    assert (run.run_id, run.start, run.end, run.exit_reason) == ("r1", 5, None, None)
    for name, value in (("run_id", ""), ("start", "x"), ("files", {}), ("totals", None), ("kind", "x")):
        path.write_bytes(orjson.dumps({**good, name: value}))
        with pytest.raises(sealed.ManifestProblem) as caught:
            sealed.load_run_manifest(path)
        assert caught.value.field == name and repr(name) in str(caught.value)


def test_sealed_file_carries_kind_and_period(tmp_path):
    made = make_sealed(tmp_path, HOUR)
    [found], unusable = sealed.find_sealed(tmp_path)
    assert unusable == []
    assert found.kind == "books" and found.period == HOUR
    assert (found.period.start_ms(), found.period.end_ms()) == (HOUR.start_ms(), HOUR.end_ms())
    assert found.hashes == (made.bytes, made.sha256, made.md5)


def test_a_daily_kind_needs_no_hour(tmp_path):
    """Another kind of sealed file: one folder per day under its own top folder, period a DayKey."""

    def by_day(data_dir, manifest_path):
        return paths.DayKey(manifest_path.parent.name)

    daily = sealed.SealedKind("daily", "daily", ("orderbooks.file",), by_day)
    made = make_sealed(tmp_path, HOUR)
    folder = tmp_path / "daily" / "2026-01-02"
    folder.mkdir(parents=True)
    document = orjson.loads(made.manifest.read_bytes())
    data = folder / made.data.name
    data.write_bytes(made.data.read_bytes())
    document["path"] = paths.relative(tmp_path, data)
    (folder / made.manifest.name).write_bytes(orjson.dumps(document))
    found, unusable = sealed.find_sealed(tmp_path, (daily,))
    assert unusable == [] and [f.kind for f in found] == ["daily"]
    assert found[0].period.label() == "2026-01-02"
    assert found[0].period.end_ms() - found[0].period.start_ms() == 86_400_000
