"""The extraction pipeline of several workers: detector copies on consecutive batches, one lane per expert."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pytest

from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import BUILTIN_EXPERTS, EXPERTS, ExpertEntry, ExpertSpec
from posekit.estimators.runtimes import RuntimeOptions
from posekit.io.video import Frame
from posekit.refine.tracking import PersonTracker, TrackerConfig
from posekit.skeleton.layouts import COCO17
from posekit.skeleton.records import PoseProposals
from posekit.workflows.extraction.experts import ExpertSet, experts_over_batches
from tests.fake_expert import FakeDetector, FakeTopDown

FRAME = (320, 640, 3)


class Probe:
    """What the fakes saw, across threads: calls per model and the most models running at once.

    With ``expect_overlap`` a model call waits (up to a minute) until two models have run at once, so the
    overlap of a pipeline that can overlap is seen on any machine without timing assumptions.
    """

    def __init__(self, expect_overlap: bool = False) -> None:
        self.expect_overlap = expect_overlap
        self.overlapped = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.most_running = 0
        self.detected: list[tuple[int, int]] = []
        self.posed: list[int] = []

    def enter(self) -> None:
        with self.lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            if self.running >= 2:
                self.overlapped.set()
        if self.expect_overlap:
            self.overlapped.wait(timeout=60)

    def leave(self) -> None:
        with self.lock:
            self.running -= 1


PROBE = Probe()


class ProbedDetector(FakeDetector):
    """:class:`FakeDetector` that records (its copy, the batch's first frame number) and how many models run."""

    name = "probed-detector"

    def infer_frames(self, frames: Sequence[np.ndarray]) -> list[PoseProposals]:
        PROBE.enter()
        with PROBE.lock:
            PROBE.detected.append((id(self), int(frames[0][0, 0, 0])))
        PROBE.leave()
        return super().infer_frames(frames)


class ProbedTopDown(FakeTopDown):
    """:class:`FakeTopDown` that records the frame numbers of the batches it poses and how many models run."""

    name = "probed-topdown"

    def predict(self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray] | None = None) -> list[PoseProposals]:
        PROBE.enter()
        PROBE.posed.extend(int(f[0, 0, 0]) for f in frames)
        PROBE.leave()
        return super().predict(frames, boxes)


def numbered_batches(frames: int, batch_size: int) -> list[list]:
    """Batches of frames whose pixel (0, 0) holds the frame number."""
    out = []
    for start in range(0, frames, batch_size):
        batch = []
        for index in range(start, min(frames, start + batch_size)):
            image = np.full(FRAME, 200, np.uint8)
            image[0, 0, 0] = index
            batch.append(Frame(index=index, time=index / 25.0, image=image))
        out.append(batch)
    return out


def run(workers: int, monkeypatch: pytest.MonkeyPatch) -> tuple[list[list[int]], dict, ExpertSet]:
    """The probed fakes over 22 numbered frames in batches of 3 with ``workers`` workers."""
    monkeypatch.setitem(BUILTIN_EXPERTS, "probed-detector", ExpertEntry(f"{__name__}:ProbedDetector"))
    monkeypatch.setitem(BUILTIN_EXPERTS, "probed-topdown", ExpertEntry(f"{__name__}:ProbedTopDown"))
    EXPERTS.refresh()
    specs = (ExpertSpec("probed-detector"), ExpertSpec("probed-topdown"))
    experts = ExpertSet(specs, EstimatorConfig(tiles=1), RuntimeOptions(threads=workers))
    EXPERTS.refresh()
    assert len(experts.detectors) == workers and len({id(d) for d in experts.detectors}) == workers
    tracker = PersonTracker(25.0, TrackerConfig())
    order: list[list[int]] = []
    out: dict[str, list[PoseProposals]] = {name: [] for name in experts.names}
    for batch, proposals in experts_over_batches(experts, numbered_batches(22, 3), tracker, COCO17):
        order.append([f.index for f in batch])
        for name, props in proposals.items():
            out[name].extend(props)
    return order, out, experts


def test_workers_give_the_same_proposals_in_order_as_one_batch_after_the_other(monkeypatch: pytest.MonkeyPatch) -> None:
    global PROBE
    PROBE = Probe()
    order_1, one, _ = run(1, monkeypatch)
    assert PROBE.most_running == 1
    PROBE = Probe(expect_overlap=True)
    order_3, three, experts = run(3, monkeypatch)
    assert order_1 == order_3 == [list(range(s, min(22, s + 3))) for s in range(0, 22, 3)]
    for name in one:
        assert len(one[name]) == len(three[name]) == 22
        for a, b in zip(one[name], three[name]):
            np.testing.assert_array_equal(a.keypoints, b.keypoints)
            np.testing.assert_array_equal(a.track_ids, b.track_ids)
    assert PROBE.posed == list(range(22)), "the top-down lane poses the batches in order"
    copies = {id(d): i for i, d in enumerate(experts.detectors)}
    assert [(copies[c], first) for c, first in sorted(PROBE.detected, key=lambda d: d[1])] == [
        (k % 3, 3 * k) for k in range(8)
    ], "batch k is detected by copy k mod 3"
    assert 2 <= PROBE.most_running <= 4, "detectors and the lane overlap, no more than W + 1 at once"


class BrokenTopDown(ProbedTopDown):
    """:class:`ProbedTopDown` that fails on the batch holding frame 9."""

    name = "broken-topdown"

    def predict(self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray] | None = None) -> list[PoseProposals]:
        if any(int(f[0, 0, 0]) == 9 for f in frames):
            raise RuntimeError("pose model failed on frame 9")
        return super().predict(frames, boxes)


def test_an_expert_failing_on_a_lane_stops_the_clip_with_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    global PROBE
    PROBE = Probe()
    monkeypatch.setitem(BUILTIN_EXPERTS, "probed-detector", ExpertEntry(f"{__name__}:ProbedDetector"))
    monkeypatch.setitem(BUILTIN_EXPERTS, "broken-topdown", ExpertEntry(f"{__name__}:BrokenTopDown"))
    EXPERTS.refresh()
    specs = (ExpertSpec("probed-detector"), ExpertSpec("broken-topdown"))
    experts = ExpertSet(specs, EstimatorConfig(tiles=1), RuntimeOptions(threads=2))
    EXPERTS.refresh()
    yielded = []
    tracker = PersonTracker(25.0, TrackerConfig())
    with pytest.raises(RuntimeError, match="frame 9"):
        for batch, _ in experts_over_batches(experts, numbered_batches(60, 3), tracker, COCO17):
            yielded.append(batch[0].index)
    assert yielded == [0, 3, 6], "every batch before the failing one came out, in order"
    assert max(first for _, first in PROBE.detected) <= 9 + 3 * 3, "the pipeline stopped reading ahead"


def test_cpu_runs_one_frame_per_batch_unless_told_otherwise() -> None:
    from posekit.workflows.extraction.options import ExtractOptions

    assert ExtractOptions(experts=(ExpertSpec("yolo"),)).frames_per_batch == 1
    assert ExtractOptions(experts=(ExpertSpec("yolo"),), batch_size=4).frames_per_batch == 4


@pytest.mark.slow
def test_the_yolo_predictors_start_when_the_experts_load_not_on_the_first_frames() -> None:
    experts = ExpertSet(
        (ExpertSpec("yolo"), ExpertSpec("yolo-topdown")), EstimatorConfig(tiles=1), RuntimeOptions(threads=2)
    )
    runners = [e.runner for e in dict.fromkeys([*experts.detectors, *experts.experts])]
    assert len(runners) == 3 and all(r.started for r in runners)  # two detector workers and the top-down expert
    assert len({id(r.predictor_model.predictor) for r in runners}) == 3
