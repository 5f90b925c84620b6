"""Python's cyclic garbage collector around start-up, where a process builds most of its long-lived objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

FULL_COLLECTION_AFTER = 100_000
"""A paused block that left at least this many new objects tracked by the collector ends with a full collection and
freezes what survives it (importing PyTorch and Ultralytics and loading a model: ~600,000); a smaller one (models
already imported in this process) leaves them to the collector's own schedule, as a full pass over a large heap would
cost more than it saves."""


@contextmanager
def collection_paused() -> Iterator[None]:
    """Run the block with the cyclic garbage collector paused, then collect once and freeze if it built a heap.

    Loading the models imports PyTorch, torchvision and Ultralytics and builds the networks: some 600,000 objects
    the collector tracks, ~390,000 of them alive for the rest of the process. Left on, the collector rescans the
    whole growing heap each time it has grown by a quarter (six full passes, about 0.6 s of CPU per process, as much
    as 9 frames at 640 on one core); paused, one full pass at the end (:data:`FULL_COLLECTION_AFTER`) frees whatever
    the block left in reference cycles, and the objects alive after it move to the collector's permanent generation
    (``gc.freeze``), so no later full pass rescans them: each would cost ~0.2 s, the one at interpreter exit
    included. Reference cycles among frozen objects are no longer freed (``gc.unfreeze()`` gives them back to the
    collector). A collector paused by the caller stays paused (an outer block of this kind collects once).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        built = gc.get_count()[0]
        gc.enable()
        if built >= FULL_COLLECTION_AFTER:
            gc.collect()
            gc.freeze()
