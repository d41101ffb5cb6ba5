"""Which folders ``orderbooks merge`` accepts: distinct data folders with sealed files, and an
output apart from them that holds no data yet (``check_folders``); ``MergeError`` says why not."""

from __future__ import annotations

from pathlib import Path

from orderbooks.exitcodes import ExitCode
from orderbooks.store import folder


class MergeError(Exception):
    """The merge cannot run: ``code`` is USAGE (the folders named contradict each other) or
    ENVIRONMENT (a source is no data folder, the output already holds data)."""

    def __init__(self, message: str, code: ExitCode = ExitCode.ENVIRONMENT) -> None:
        super().__init__(message)
        self.code = code


def check_folders(out_dir: Path, src_dirs: list[Path]) -> None:
    """MergeError unless the sources are distinct data folders with sealed files, apart from the output."""
    out_dir = Path(out_dir)
    if not src_dirs:
        raise MergeError("no source folder given", ExitCode.USAGE)
    for index, src in enumerate(src_dirs):
        for earlier in src_dirs[:index]:
            if folder.same_or_inside(src, earlier) and folder.same_or_inside(earlier, src):
                raise MergeError(f"source {src} is the same folder as source {earlier}", ExitCode.USAGE)
        if folder.same_or_inside(out_dir, src):
            where = "is" if folder.same_or_inside(src, out_dir) else "lies inside"
            raise MergeError(f"the output folder {out_dir} {where} the source {src}", ExitCode.USAGE)
        if folder.same_or_inside(src, out_dir):
            raise MergeError(f"the source {src} lies inside the output folder {out_dir}", ExitCode.USAGE)
    for src in src_dirs:
        problem = folder.not_a_data_folder(src)
        if problem is not None:
            raise MergeError(f"source {problem}")
        if not folder.holds_sealed_files(src):
            raise MergeError(f"source {src} holds no sealed file (raw/ or markets/): nothing to merge")
    if folder.holds_data(out_dir):
        raise MergeError(f"{out_dir} already holds a data folder; merge into a new folder")
