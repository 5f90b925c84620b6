"""Python's cyclic garbage collector around start-up, where a process builds most of its long-lived objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collection_paused() -> Iterator[None]:
    """Run the block with the cyclic garbage collector paused, then collect once.

    Loading the models imports PyTorch, torchvision and Ultralytics and builds the networks: some 400,000
    objects that live as long as the process. Left on, the collector rescans the whole growing heap each time
    it has grown by a quarter (six full passes, about 0.6 s of CPU per process, as much as 9 frames at 640 on
    one core); paused, one full pass at the end frees whatever the block left in reference cycles. A collector
    paused by the caller stays paused.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()
