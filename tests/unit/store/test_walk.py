"""store.walk: walks that never follow a link out of the data folder and say what they could not read."""

from __future__ import annotations

import os

from orderbooks.store import paths, walk
from orderbooks.store.sealed import find_sealed
from testkit.sealed_files import make_sealed
from testkit.unprivileged import as_service_user, hand_over, service_dir

HOUR = paths.HourKey("2026-12-08", "03")


def test_a_symlinked_day_folder_leading_out_is_reported_not_followed(tmp_path):
    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    kept = make_sealed(data, paths.HourKey("2026-12-07", "23"))
    make_sealed(elsewhere, HOUR)  # a whole day of sealed files outside the data folder
    (data / "raw" / HOUR.date).symlink_to(elsewhere / "raw" / HOUR.date)
    files, unreadable = walk.walk_files(data, paths.DATA_SUFFIX)
    assert files == [kept.data]
    [item] = unreadable
    assert item.path == f"raw/{HOUR.date}"
    assert "symbolic link leading out of the data folder" in item.reason and str(elsewhere) in item.reason
    # find_sealed (upload's list) names it among the unusable instead of passing over it
    found, unusable = find_sealed(data)
    assert [f.rel_data for f in found] == [kept.rel_data]
    assert [u.path for u in unusable] == [f"raw/{HOUR.date}"]


def test_a_symlinked_file_leading_out_is_reported_and_one_inside_is_listed(tmp_path):
    data = tmp_path / "data"
    sealed = make_sealed(data, HOUR)
    outside = tmp_path / "outside.jsonl.gz"
    outside.write_bytes(b"x")
    out_link = sealed.data.with_name("orderbooks-2026-12-08T03Z-20261208T030000Z-0000aa.jsonl.gz")
    out_link.symlink_to(outside)
    in_link = sealed.data.with_name("orderbooks-2026-12-08T03Z-20261208T030000Z-0000bb.jsonl.gz")
    in_link.symlink_to(sealed.data)
    files, unreadable = walk.walk_files(data, paths.DATA_SUFFIX)
    assert files == sorted([sealed.data, in_link])
    assert [u.path for u in unreadable] == [paths.relative(data, out_link)]


def test_escape_names_the_link_and_passes_a_plain_path(tmp_path):
    data = tmp_path / "data"
    (data / "raw").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    target = data / "raw" / HOUR.date / HOUR.hour / "x.jsonl.gz.partial"
    assert walk.escape(data, target) is None  # nothing of it exists yet: fine
    (data / "raw" / HOUR.date).symlink_to(tmp_path / "elsewhere")
    reason = walk.escape(data, target)
    assert reason is not None and reason.startswith(f"raw/{HOUR.date} is a symbolic link leading out")
    # the data folder itself may be a link (e.g. onto a bigger disk): inside it all is well
    link = tmp_path / "data-link"
    link.symlink_to(data)
    assert walk.escape(link, link / "raw" / "2026-12-09" / "00" / "y") is None


def test_an_hour_folder_the_service_user_cannot_read_is_reported():
    with service_dir() as folder:
        data = folder / "data"
        kept = make_sealed(data, paths.HourKey("2026-12-08", "02"))
        hidden = make_sealed(data, HOUR)
        hand_over(folder)
        os.chmod(hidden.data.parent, 0o000)
        files, unreadable = as_service_user(walk.walk_files, data, paths.MANIFEST_SUFFIX)
        assert files == [kept.manifest]
        assert [(u.path, u.reason) for u in unreadable] == [
            (f"raw/{HOUR.date}/{HOUR.hour}", "cannot be read: Permission denied")
        ]
        _found, unusable = as_service_user(find_sealed, data)
        assert [u.path for u in unusable] == [f"raw/{HOUR.date}/{HOUR.hour}"]


def test_merge_keeps_each_path_once():
    a = walk.Unreadable("raw/x", "one")
    assert walk.merge([a], [walk.Unreadable("raw/x", "two"), walk.Unreadable("markets/y", "z")]) == [
        walk.Unreadable("markets/y", "z"),
        a,
    ]


def test_what_vanishes_while_walking_is_gone_not_unreadable(tmp_path, monkeypatch):
    """Prune removes emptied folders and the writer renames a sealed partial while status
    walks: neither is an unreadable path (a false alarm would fail the heartbeat)."""
    from orderbooks.store import survey

    make_sealed(tmp_path, HOUR)
    real_walk = os.walk

    def walk_meeting_a_removed_folder(top, onerror=None, **kw):
        onerror(FileNotFoundError(2, "No such file or directory", str(tmp_path / "raw" / "gone")))
        yield from real_walk(top, onerror=onerror, **kw)

    monkeypatch.setattr(os, "walk", walk_meeting_a_removed_folder)
    files, unreadable = walk.walk_files(tmp_path, paths.DATA_SUFFIX)
    assert files and unreadable == []

    vanished = tmp_path / "raw" / "vanished.jsonl.gz"
    monkeypatch.setattr(walk, "walk_files", lambda *_a, **_k: ([vanished], []))
    assert survey.unreadable(tmp_path) == []
