"""The garbage collector paused around start-up: off inside, on after, the block's reference cycles freed once."""

from __future__ import annotations

import gc
import weakref

import pytest

from posekit.core.collector import collection_paused


class Node:
    def __init__(self) -> None:
        self.me = self


def test_the_collector_is_paused_in_the_block_and_the_cycles_it_left_are_freed_after():
    assert gc.isenabled()
    with collection_paused():
        assert not gc.isenabled()
        cycle = weakref.ref(Node())
        assert cycle() is not None, "a reference cycle outlives its last name only until the collector runs"
    assert gc.isenabled()
    assert cycle() is None


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
