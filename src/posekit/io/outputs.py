"""Output locations checked before any work starts: a folder that exists or can be made, and takes files.

A run that would only fail at its first write (a read-only mount, a folder of someone else's, a path
under a regular file) is refused at once with one line naming the flag, instead of after the work.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import logging
import os
import socket
import tempfile
from pathlib import Path

from posekit.core.errors import ConfigError

log = logging.getLogger(__name__)


def _unwritable_reason(folder: Path) -> str | None:
    """Why the folder ``folder`` cannot take a file (it is made if missing); None when it can."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        return "is a file" if existing == folder else f"lies under the file {existing}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".posekit-write-check-", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        return f"cannot be written ({exc.strerror or exc})"
    return None


def check_output_dir(path: Path, flag: str = "--out") -> Path:
    """Make the folder ``path`` (with its parents) and prove it takes a file; return it.

    Raises ConfigError naming ``flag`` when ``path`` is a file, lies under one, or cannot be created
    or written (read-only file system, no permission).
    """
    path = Path(path)
    reason = _unwritable_reason(path)
    if reason is not None:
        raise ConfigError(f"{flag} {path} {reason}; choose a writable folder")
    return path


def check_output_file(path: Path, flag: str = "--out") -> Path:
    """Check that the file ``path`` can be written (its folder is made if missing); return it.

    Raises ConfigError naming ``flag`` when ``path`` is a folder or its folder cannot take files.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{flag} {path} is a folder; give a file name inside it")
    reason = _unwritable_reason(path.parent)
    if reason is not None:
        raise ConfigError(f"{flag} {path}: its folder {path.parent} {reason}; choose a writable location")
    return path


LOCK_NAME = ".posekit.lock"
"""The lock file of an output folder: one run writes there at a time."""


class OutputLock:
    """An exclusive lock on an output folder (``fcntl.flock`` on ``LOCK_NAME``), holding who took it.

    The kernel drops the lock when its process ends (killed included), so a lock left by a dead run is
    taken over at once, with one line naming it. A second run into a held folder is refused
    (:class:`ConfigError`) with the holder's host, pid and start time.
    """

    def __init__(self, folder: Path, flag: str = "--out") -> None:
        self.path = Path(folder) / LOCK_NAME
        self.flag = flag
        self._fd: int | None = None

    def acquire(self) -> OutputLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise ConfigError(
                f"{self.flag} {self.path.parent} is in use by another posekit run ({holder}); wait for it to end, "
                "or give another folder"
            ) from None
        except OSError as exc:  # a file system without locks (some network mounts): the run goes on, said once
            log.warning("cannot lock %s (%s): make sure no other run writes into this folder", self.path, exc.strerror)
        previous = _read_holder(fd)
        if previous != "unknown":
            log.info("taking over %s: the run that held it (%s) is no longer running", self.path, previous)
        started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        with contextlib.suppress(OSError):  # who holds it is a courtesy: a full disk fails at the first shard
            os.ftruncate(fd, 0)
            os.pwrite(
                fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": started}).encode(), 0
            )
        self._fd = fd
        return self

    def release(self) -> None:
        """Empty the lock file (a clean end) and drop the lock."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    """``host pid N since TIME`` from a lock file's content; ``unknown`` when it is empty or unreadable."""
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"null")
        return f"host {holder['host']} pid {holder['pid']} since {holder['started']}"
    except (OSError, ValueError, TypeError, KeyError):
        return "unknown"
