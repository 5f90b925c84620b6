"""Output locations checked before any work starts: a folder that exists or can be made, and takes files.

A run that would only fail at its first write (a read-only mount, a folder of someone else's, a path
under a regular file) is refused at once with one line naming the flag, instead of after the work.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from posekit.core.errors import ConfigError


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
