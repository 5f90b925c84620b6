"""Third-party native libraries' start-up chatter kept off the user's terminal, their real errors kept on it.

TFLite and absl (inside MediaPipe) write straight to file descriptor 2 from C++, below Python's
``logging`` and ``warnings``; no environment variable of ``mediapipe==0.10.14`` turns those lines off.
:func:`filtered_native_stderr` sends descriptor 2 to a temporary file for the duration of a call and
writes back every line that is not a known, harmless notice, so an error from the library still shows.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator

KNOWN_NOTICES = (
    re.compile(r"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.$"),
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"),
    re.compile(r"^[IW]\d{4} [\d:.]+ +\d+ \S+\.cc:\d+\] .*(Feedback manager|feedback tensors|GL version).*$"),
)
"""Lines MediaPipe 0.10.14 prints when a graph starts on the CPU; each says nothing a user can act on."""


def is_known_notice(line: str) -> bool:
    return any(pattern.match(line) for pattern in KNOWN_NOTICES)


@contextlib.contextmanager
def filtered_native_stderr() -> Iterator[None]:
    """Run the body with descriptor 2 (where native code writes) captured; replay what is not a known notice."""
    fd = 2
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), fd)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode(errors="replace").splitlines() if not is_known_notice(line)]
            if kept:
                os.write(fd, ("\n".join(kept) + "\n").encode())
