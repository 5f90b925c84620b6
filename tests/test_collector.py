"""The garbage collector paused around start-up: off inside, on after, a large block's reference cycles freed once."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref

import pytest

from posekit.core.collector import FULL_COLLECTION_AFTER, collection_paused


class Node:
    def __init__(self) -> None:
        self.me = self


def test_the_collector_is_paused_in_the_block_and_a_large_blocks_cycles_are_freed_and_its_survivors_frozen_after():
    assert gc.isenabled()
    frozen_before = gc.get_freeze_count()
    try:
        with collection_paused():
            assert not gc.isenabled()
            cycle = weakref.ref(Node())
            heap = [[] for _ in range(FULL_COLLECTION_AFTER)]  # a model's worth of new objects
            assert cycle() is not None, "a reference cycle outlives its last name only until the collector runs"
        assert gc.isenabled()
        assert cycle() is None
        assert gc.get_freeze_count() >= frozen_before + len(heap), "later full passes would rescan the model"
    finally:
        gc.unfreeze()
    del heap


def test_a_small_block_leaves_its_objects_to_the_collectors_own_schedule():
    gc.collect()
    frozen_before = gc.get_freeze_count()
    with collection_paused():
        small = [[] for _ in range(100)]
    assert gc.isenabled() and gc.get_count()[0] >= len(small), "a full pass ran after a block that built little"
    assert gc.get_freeze_count() == frozen_before


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


def test_a_run_loads_its_experts_with_one_full_collection_and_freezes_what_it_loaded():
    """In a fresh process, choosing the batch size on ``--device auto`` imports PyTorch: inside the pause too."""
    code = """
import gc, sys
full = []
gc.callbacks.append(lambda phase, info: full.append(phase) if phase == "stop" and info["generation"] == 2 else None)
from posekit.workflows.extraction.experts import load_run_experts
from posekit.workflows.extraction.options import ExtractOptions
from posekit.estimators.registry import parse_experts
assert "torch" not in sys.modules
gc.collect()
full.clear()
load_run_experts(ExtractOptions(experts=tuple(parse_experts("yolo"))), None)
print(len(full), gc.get_freeze_count() > 300_000)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1", "True"]
