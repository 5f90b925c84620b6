"""What every command shares: logging, one-line errors, the console."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from posekit.core.errors import PosekitError

console = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable)

EXIT_INPUT_FAILED = 1
EXIT_USAGE = 2


class Terminated(KeyboardInterrupt):
    """SIGTERM (what a cluster scheduler sends a preempted job), raised where Ctrl-C raises KeyboardInterrupt."""

    exit_code = 128 + signal.SIGTERM


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM raises :class:`Terminated`, so the clean-up a Ctrl-C runs (committing the
    finished clips) runs too; a second SIGTERM during that clean-up is ignored (the scheduler's SIGKILL ends it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def exit_interrupted(exc: KeyboardInterrupt, saved: str) -> typer.Exit:
    """The exit of a command stopped by Ctrl-C (130) or SIGTERM (143), after one line saying ``saved``."""
    cause = "SIGTERM" if isinstance(exc, Terminated) else "interrupted"
    console.print(f"{cause}: {saved}; rerun the same command to resume")
    return typer.Exit(getattr(exc, "exit_code", 130))


def setup_logging(verbose: bool = False) -> None:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("ULTRALYTICS_SAFE_LOAD", "1")
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_time=False, show_path=False, markup=False)],
        force=True,
    )
    for noisy in ("ultralytics", "absl", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def friendly_errors(fn: F) -> F:
    """Turn a :class:`PosekitError`, or an OSError naming a file (a write the library did not word),
    into one red line and exit code 2 instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PosekitError as exc:
            message = str(exc)
        except OSError as exc:
            if exc.filename is None:
                raise
            message = f"{exc.filename}: {exc.strerror or exc}"
        console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_USAGE) from None

    return wrapper  # type: ignore[return-value]
