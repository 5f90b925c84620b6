"""Errors a user can cause, each with a message that names the thing and the fix."""

from __future__ import annotations

import errno
from pathlib import Path


class PosekitError(Exception):
    """Base class: the message is one line meant for the user."""


class ConfigError(PosekitError):
    """A bad flag, expert name, weights path or output location; nothing can run."""


class VideoError(PosekitError):
    """One input video cannot be used (corrupt, empty, not a video); other videos go on."""


class ShardError(PosekitError):
    """A shard file is missing, unreadable or not a posekit shard."""


class InputFileError(PosekitError):
    """One file of a dataset being imported cannot be read (truncated, wrong format); other files go on."""


def write_error(path: Path, exc: OSError, kept: str) -> PosekitError:
    """The one-line error for a failed write of ``path``: a full disk says what ``kept`` survives."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return PosekitError(f"disk full while writing {path}: free space or choose another --out; {kept}")
    return PosekitError(f"cannot write {path}: {exc.strerror or exc}")
