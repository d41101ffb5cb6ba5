"""Named exit codes shared by every subcommand."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    #: Something checked was inconsistent (verify, quality thresholds, upload mismatch).
    FAILED = 1
    #: Bad command line, bad config value or bad environment variable.
    USAGE = 2
    #: A precondition outside our control: missing binary, unreadable config,
    #: unwritable data dir, unknown remote.
    ENVIRONMENT = 3
    #: Interrupted by a signal before the work could finish cleanly.
    INTERRUPTED = 130
