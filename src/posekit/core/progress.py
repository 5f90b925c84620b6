"""Progress that reads well where it goes: a live bar on a terminal, plain timed lines in a log file.

A job's stderr under SLURM, nohup or a pipe is a file; a bar redrawn there fills it with
carriage returns and cursor codes. There the same counts (done/total, elapsed, time left,
rate) are written as one line every :data:`LOG_EVERY_SECONDS`, and once when the work ends.
"""

from __future__ import annotations

import re
import sys
from typing import Any, TextIO

LOG_EVERY_SECONDS = 30.0
"""Seconds between progress lines when stderr is not a terminal."""
LINE_FORMAT = "{desc}: {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}, {rate_fmt}]"
_CONTROL = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|[\r\n]")


class _Lines:
    """A file for tqdm that writes each refresh as one plain line (no carriage returns, no cursor codes)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        line = _CONTROL.sub("", text).strip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(total: int | None = None, desc: str = "", unit: str = "it", enabled: bool = True, **kwargs: Any):
    """A ``tqdm`` bar on stderr when it is a terminal; otherwise one plain line every :data:`LOG_EVERY_SECONDS`
    (and one at the end unless ``leave=False``); nothing when not ``enabled``."""
    from tqdm import tqdm

    stream = sys.stderr
    if not enabled or stream.isatty():
        return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, file=stream, **kwargs)
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=_Lines(stream),
        mininterval=LOG_EVERY_SECONDS,
        maxinterval=LOG_EVERY_SECONDS,
        bar_format=LINE_FORMAT,
        **kwargs,
    )
