"""The models of a run and how a batch of frames goes through them: the person detector and its tracker first,
then every other expert on the tracked persons (top-down experts pose their boxes, one-stage experts are matched
to them by IoU), on a pipeline of worker threads when the runtime gives several."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack

import numpy as np

from posekit.core.collector import collection_paused
from posekit.estimators.base import Estimator, EstimatorConfig
from posekit.estimators.registry import ExpertSpec, build_estimator
from posekit.estimators.runtimes import (
    RuntimeOptions,
    fix_mmap_threshold,
    keep_freed_heap,
    one_torch_thread,
    require_runtime,
)
from posekit.io.video import Frame
from posekit.refine.tracking import PersonTracker, match_boxes
from posekit.skeleton.layouts import JointLayout
from posekit.skeleton.records import PoseProposals
from posekit.workflows.extraction.options import ExtractOptions


class ExpertSet:
    """The loaded models of a run: the experts in order, and the person detector.

    With ``runtime`` (else each model keeps its library's settings, one batch after the other), experts that
    can (the YOLO ones) run on its runtime, every model on one CPU thread, and with ``runtime.cpu_threads``
    workers >= 2 the batches go through :func:`experts_over_batches`' pipeline: ``detectors`` holds one copy
    of the person detector per worker, each detecting its own batch. With batches of several frames the
    pipeline fixes glibc's mmap threshold (:func:`~posekit.estimators.runtimes.fix_mmap_threshold`): otherwise
    its peak RSS grows with video length. With one frame per batch (the CPU default) the arenas keep what a frame
    freed for the next (:func:`~posekit.estimators.runtimes.keep_freed_heap`): its tensors stay below glibc's
    reuse limit, and peak RSS stays flat without the page faults either threshold left to glibc can cost.

    Experts that can (the YOLO ones) start their predictors here, not on the first frames, so the models load and
    start with the garbage collector paused (:func:`~posekit.core.collector.collection_paused`).
    """

    def __init__(
        self,
        specs: tuple[ExpertSpec, ...],
        config: EstimatorConfig,
        runtime: RuntimeOptions | None = None,
        frames_per_batch: int = 1,
    ) -> None:
        with collection_paused():
            self.experts: list[Estimator] = [build_estimator(spec, config) for spec in specs]
            one_stage = [(spec, e) for spec, e in zip(specs, self.experts) if not e.needs_boxes]
            detector_spec, self.detector = one_stage[0] if one_stage else (ExpertSpec("yolo"), None)
            if self.detector is None:
                self.detector = build_estimator(detector_spec, config)
            self.workers = runtime.cpu_threads if runtime is not None else 1
            self.detectors: list[Estimator] = [self.detector] + [
                build_estimator(detector_spec, config) for _ in range(self.workers - 1)
            ]
            if self.workers >= 2 and frames_per_batch > 1:
                fix_mmap_threshold()
            else:
                keep_freed_heap()
            every = dict.fromkeys([*self.detectors, *self.experts])
            if runtime is not None:
                chosen = require_runtime(runtime.runtime)
                for expert in every:
                    use_runtime = getattr(expert, "use_runtime", None)
                    if use_runtime is not None:
                        use_runtime(chosen, 1)
            for expert in every:
                warm_up = getattr(expert, "warm_up", None)
                if warm_up is not None:
                    warm_up()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.experts)

    def input_sizes(self) -> dict[str, int]:
        """The network input size (pixels) that each full-frame expert reading ``--imgsz`` really runs at
        (:meth:`~posekit.estimators.base.OneStageExpert.network_side`: Ultralytics models round it up to a
        multiple of their stride, ``--imgsz 100`` runs at 128). Experts with an input size of their own (RTMO)
        and top-down experts (``crop_size``) do not read it and are left out.
        """
        experts = dict.fromkeys([self.detector, *self.experts])
        return {e.name: e.network_side() for e in experts if not e.needs_boxes and e.reads_imgsz}


def load_run_experts(options: ExtractOptions, runtime: RuntimeOptions | None) -> ExpertSet:
    """The :class:`ExpertSet` of an extraction run with ``options`` (models on ``runtime``), loaded with the garbage
    collector paused from the choice of the batch size on: on ``--device auto`` that choice imports PyTorch, which
    outside the pause cost three more full collections (~0.2 s of CPU per process). The set's own pause nests in
    this one (:func:`~posekit.core.collector.collection_paused`)."""
    with collection_paused():
        return ExpertSet(options.experts, options.estimator, runtime, options.frames_per_batch)


def run_experts(
    experts: ExpertSet, images: list[np.ndarray], tracker: PersonTracker, layout: JointLayout
) -> dict[str, list[PoseProposals]]:
    """Every expert's proposals for a batch of frames, in ``layout``, with track ids."""
    detections = track_detections(experts.detector.predict(images), tracker)
    return {e.name: expert_batch(e, experts, images, detections, layout) for e in experts.experts}


def track_detections(detections: list[PoseProposals], tracker: PersonTracker) -> list[PoseProposals]:
    """The person detector's proposals of consecutive frames, given the tracker's ids (-1: not tracked)."""
    for props in detections:
        props.track_ids = tracker.update(props.boxes, props.scores)
    return detections


def expert_batch(
    expert: Estimator,
    experts: ExpertSet,
    images: list[np.ndarray],
    detections: list[PoseProposals],
    layout: JointLayout,
) -> list[PoseProposals]:
    """One expert's proposals for a batch of frames whose tracked detections are known, in ``layout``:
    top-down experts pose the tracked boxes, other one-stage experts are matched to them by IoU."""
    if expert is experts.detector:
        frames = detections
    elif expert.needs_boxes:
        frames = expert.predict(images, [props.boxes[props.track_ids >= 0] for props in detections])
        for props, det in zip(frames, detections):
            props.track_ids = det.track_ids[det.track_ids >= 0].copy()
    else:
        frames = expert.predict(images)
        for props, det in zip(frames, detections):
            ref = det.track_ids >= 0
            match = match_boxes(det.boxes[ref], props.boxes)
            props.track_ids = np.full(len(match), -1, np.int32)
            props.track_ids[match >= 0] = det.track_ids[ref][match[match >= 0]]
    return [p.to_layout(layout) for p in frames]


def experts_over_batches(
    experts: ExpertSet, batches: Iterable[list[Frame]], tracker: PersonTracker, layout: JointLayout
) -> Iterator[tuple[list[Frame], dict[str, list[PoseProposals]]]]:
    """Each batch with every expert's proposals (:func:`run_experts`), in order.

    With ``experts.workers`` = W >= 2, a pipeline: W batches are detected at once, batch k by detector copy
    k mod W; the tracker then takes their detections in order, and each other expert works through the
    tracked batches in order on a lane (thread) of its own, while the next batches are being detected. Every
    model sees the batches it would see one after the other, on one thread, so the output is the same bytes;
    at most W batches are detected and W posed at once; the worker threads' large tensors get pages of their
    own (:class:`ExpertSet` fixes glibc's mmap threshold), which keeps peak RSS flat with video length.
    """
    if experts.workers < 2:
        for batch in batches:
            yield batch, run_experts(experts, [f.image for f in batch], tracker, layout)
        return
    workers = experts.workers
    others = [e for e in experts.experts if e is not experts.detector]
    with ExitStack() as stack:

        def pool(threads: int, name: str) -> ThreadPoolExecutor:
            """A pool whose queued work is dropped when the clip ends early (an error, an interrupt)."""
            executor = ThreadPoolExecutor(threads, name, one_torch_thread)
            stack.callback(executor.shutdown, wait=True, cancel_futures=True)
            return executor

        detect_pool = pool(workers, "posekit-detect")
        lanes = {id(e): pool(1, f"posekit-{e.name}") for e in others}
        detecting: deque[tuple[list[Frame], list[np.ndarray], Future]] = deque()
        posing: deque[tuple[list[Frame], list[np.ndarray], list[PoseProposals], dict[int, Future]]] = deque()

        def start_posing() -> None:
            batch, images, detected = detecting.popleft()
            detections = track_detections(detected.result(), tracker)
            futures = {id(e): lanes[id(e)].submit(expert_batch, e, experts, images, detections, layout) for e in others}
            posing.append((batch, images, detections, futures))

        def finished() -> tuple[list[Frame], dict[str, list[PoseProposals]]]:
            batch, images, detections, futures = posing.popleft()
            out = {
                e.name: futures[id(e)].result()
                if id(e) in futures
                else expert_batch(e, experts, images, detections, layout)
                for e in experts.experts
            }
            return batch, out

        for k, batch in enumerate(batches):
            images = [f.image for f in batch]
            detecting.append((batch, images, detect_pool.submit(experts.detectors[k % workers].predict, images)))
            if len(detecting) == workers:
                start_posing()
            if len(posing) > workers:
                yield finished()
        while detecting:
            start_posing()
        while posing:
            yield finished()
