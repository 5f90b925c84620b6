"""The garbage collector paused around start-up: off inside, on after, a large block's reference cycles freed once."""

from __future__ import annotations

import gc
import weakref

import pytest

from posekit.core.collector import FULL_COLLECTION_AFTER, collection_paused


class Node:
    def __init__(self) -> None:
        self.me = self


def test_the_collector_is_paused_in_the_block_and_a_large_blocks_cycles_are_freed_after():
    assert gc.isenabled()
    with collection_paused():
        assert not gc.isenabled()
        cycle = weakref.ref(Node())
        heap = [[] for _ in range(FULL_COLLECTION_AFTER)]  # a model's worth of new objects
        assert cycle() is not None, "a reference cycle outlives its last name only until the collector runs"
    assert gc.isenabled()
    assert cycle() is None
    del heap


def test_a_small_block_leaves_its_objects_to_the_collectors_own_schedule():
    gc.collect()
    with collection_paused():
        small = [[] for _ in range(100)]
    assert gc.isenabled() and gc.get_count()[0] >= len(small), "a full pass ran after a block that built little"


def test_a_collector_paused_by_the_caller_stays_paused():
    gc.disable()
    try:
        with collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_collector_comes_back_when_the_block_fails():
    with pytest.raises(RuntimeError), collection_paused():
        raise RuntimeError("model failed to load")
    assert gc.isenabled()
