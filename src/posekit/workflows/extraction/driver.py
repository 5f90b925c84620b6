"""The extraction driver: videos -> experts -> tracks -> skeleton (and proposal) shards.

Per video: frames stream from a decoding thread in batches; a person detector (the first
one-stage expert, or the bundled YOLO when every expert is top-down) finds people; ByteTrack
gives them track ids; top-down experts estimate a pose on each tracked box; other one-stage
experts are matched to the tracked boxes by IoU. With several experts, SST-A aggregates
each track's proposals into its skeleton (thesis 3.3.2); with one, the skeleton is its output.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from posekit.core.errors import ConfigError, PosekitError, VideoError
from posekit.core.options import check_bounds, flag_name, recorded_settings
from posekit.core.progress import progress_bar
from posekit.estimators.base import Estimator, EstimatorConfig
from posekit.estimators.registry import ExpertSpec, build_estimator, expert_class, parse_experts
from posekit.estimators.runtimes import RuntimeOptions, fix_mmap_threshold, one_torch_thread, require_runtime
from posekit.io.images import IMAGE_EXTENSIONS, ImageInputOptions
from posekit.io.inputs import find_inputs, iter_input_frames, printable_name, probe_input, unique_inputs
from posekit.io.manifest import MANIFEST_NAME, ManifestEntry, RunManifest
from posekit.io.sink import ShardSink, locked_output
from posekit.io.video import (
    MAX_PIXELS,
    VIDEO_EXTENSIONS,
    DecodeEnd,
    Frame,
    Prefetcher,
    VideoInfo,
    VideoInput,
    batched_frames,
    readable_frames,
)
from posekit.refine.pose3d import expert_3d_source
from posekit.refine.tracking import PersonTracker, TrackerConfig, match_boxes
from posekit.refine.tracks import (
    AggregationOptions,
    TrackFilterOptions,
    filter_tracks,
    skeleton_tracks,
    stitch_track_ids,
)
from posekit.skeleton.layouts import LAYOUTS, JointLayout, check_layout_option, get_layout
from posekit.skeleton.records import ExpertFrame, PoseProposals, SkeletonClip
from posekit.workflows.extraction.partition import Partition

log = logging.getLogger(__name__)

GPU_BATCH_FRAMES = 8
"""Frames per inference batch on a GPU when ``--batch-size`` is not given."""


@dataclass(frozen=True)
class ExtractOptions:
    """Everything that decides what ``posekit extract`` writes.

    Attributes:
        experts: expert specs, in order (``joint_source`` indexes them).
        estimator: settings passed to every expert (device, input size, crops).
        layout: joint layout of the shards (every expert is converted to it).
        batch_size: frames per inference batch (None: :attr:`frames_per_batch` picks it by device).
        fps: sample frames at this rate (None: every frame).
        max_frames: stop each video after this many sampled frames (None: all).
        min_joint_score: joints an expert scores below this count as missing (NaN).
        keep_proposals: also write every expert's raw output as proposals shards.
        shard_clips: clips per shard (a shard is also cut at ``shard_bytes``).
        max_pixels: inputs with larger frames fail (checked from the header, before decoding).
        commit_seconds: finished clips are committed at least this often (seconds).
        aggregation: SST-A settings, used when there are several experts.
        images: how single images and folders of frames become clips (their frame rate).
        tracks: which skeleton tracks are kept (minimum length, the main persons).
        strict: a truncated video fails instead of keeping its readable frames.
        runtime: where the YOLO experts run, and how many CPU threads the run uses.
        pose_3d: give each skeleton track 3D joints from an expert that estimates them
            (:mod:`posekit.refine.pose3d`), and keep them in the proposals shards.
    """

    experts: tuple[ExpertSpec, ...] = field(metadata={"cli": False})
    estimator: EstimatorConfig = field(default_factory=EstimatorConfig, metadata={"run_only": ("device",)})
    layout: str = field(
        default="coco17",
        metadata={"help": f"Joint layout of the shards: {', '.join(LAYOUTS)}, or a layout file (.json/.yaml)."},
    )
    batch_size: int | None = field(
        default=None,
        metadata={
            "help": "Frames per inference batch. Default: 1 on the CPU (larger batches save no CPU there and make "
            "tensors too large for the allocator to reuse), 8 on a GPU.",
            "min": 1,
            "resume": False,
        },
    )
    fps: float | None = field(
        default=None, metadata={"help": "Sample frames at this rate (default: all).", "min": 0, "min_open": True}
    )
    max_frames: int | None = field(default=None, metadata={"help": "Stop each video after N sampled frames.", "min": 1})
    min_joint_score: float = field(
        default=0.3,
        metadata={"help": "Joints an expert scores below this count as missing (NaN).", "min": 0, "max": 1},
    )
    keep_proposals: bool = field(
        default=False, metadata={"help": "Also write every expert's raw output to OUT/proposals/."}
    )
    shard_clips: int = field(default=64, metadata={"help": "Clips per shard file.", "min": 1, "resume": False})
    shard_bytes: int = field(default=256 << 20, metadata={"cli": False, "resume": False})
    max_pixels: int = field(
        default=MAX_PIXELS,
        metadata={
            "help": "Refuse inputs whose frames hold more pixels than this, read from the header before decoding "
            "(a decoding queue of larger frames would need gigabytes).",
            "min": 1,
            "resume": False,
        },
    )
    commit_seconds: float = field(
        default=60.0,
        metadata={
            "help": "Commit finished clips at least this often (seconds), so that a killed or preempted run loses "
            "at most this much work; the shard being filled is rewritten as it grows.",
            "min": 0,
            "min_open": True,
            "resume": False,
        },
    )
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    aggregation: AggregationOptions = field(default_factory=AggregationOptions)
    images: ImageInputOptions = field(default_factory=ImageInputOptions)
    tracks: TrackFilterOptions = field(default_factory=TrackFilterOptions)
    strict: bool = field(
        default=False,
        metadata={
            "help": "Record a truncated video (fewer frames than its header declares) as failed instead of "
            "keeping its readable frames."
        },
    )
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    pose_3d: bool = field(
        default=False,
        metadata={
            "flag": "--3d",
            "help": "Also give each person track 3D joints (metres, camera axes, origin at the mid-hip) from an "
            "expert that estimates them: mediapipe (BlazePose's world landmarks).",
        },
    )

    def __post_init__(self) -> None:
        check_layout_option(self.layout, "--layout")
        if not self.experts:
            raise ConfigError("no experts given; name at least one, e.g. yolo")
        if self.pose_3d and not any(getattr(expert_class(s.name), "gives_3d", False) for s in self.experts):
            named = ",".join(s.label for s in self.experts)
            raise ConfigError(
                f"--3d needs an expert that estimates 3D: add mediapipe, e.g. --experts {named},mediapipe"
            )
        check_bounds(self)

    @classmethod
    def from_flags(
        cls,
        experts: str,
        estimator: EstimatorConfig,
        aggregation: AggregationOptions,
        images: ImageInputOptions,
        fields: dict,
    ) -> ExtractOptions:
        """The options from the flag groups of a command that extracts (``posekit extract``, ``build-dataset``):
        ``experts`` as typed (``yolo,mediapipe``, ``yolo:run/best.pt``), the groups built, the other fields."""
        return cls(
            experts=tuple(parse_experts(experts)), estimator=estimator, aggregation=aggregation, images=images, **fields
        )

    @property
    def frames_per_batch(self) -> int:
        """Frames per inference batch: ``batch_size``, or 1 on the CPU and 8 on a GPU.

        On the CPU a batch of 8 frames at 640 px makes 30-50 MB tensors, above the 32 MB glibc serves from
        reusable heap, so each one comes with fresh pages: 4-7x the page faults and system time of one frame at
        a time, for no less user time (measured in ``bench/vs_ultralytics.py``).
        """
        if self.batch_size is not None:
            return self.batch_size
        return 1 if self.estimator.device == "cpu" else GPU_BATCH_FRAMES

    def settings(self) -> dict:
        """The options that change the output, as recorded in the manifest (a resume must match them).

        Derived from the fields (:func:`posekit.core.options.recorded_settings`), so a new option of any
        group is recorded; the estimator's fields sit at the top level as manifests have always had them,
        and SST-A's only count with several experts.
        """
        out = recorded_settings(self)
        out["experts"] = [s.name if s.weights is None else f"{s.name}:{s.weights}" for s in self.experts]
        out.update(out.pop("estimator"))
        out.update(out.pop("runtime"))
        if len(self.experts) < 2:
            out["aggregation"] = None
        return out


class ExpertSet:
    """The loaded models of a run: the experts in order, and the person detector.

    With ``runtime`` (else each model keeps its library's settings, one batch after the other), experts that
    can (the YOLO ones) run on its runtime, every model on one CPU thread, and with ``runtime.cpu_threads``
    workers >= 2 the batches go through :func:`experts_over_batches`' pipeline: ``detectors`` holds one copy
    of the person detector per worker, each detecting its own batch. With batches of several frames the
    pipeline fixes glibc's mmap threshold (:func:`~posekit.estimators.runtimes.fix_mmap_threshold`): otherwise
    its peak RSS grows with video length. One frame per batch (the CPU default) needs no fix: its tensors stay
    below glibc's reuse limit, and peak RSS stays flat without the page faults the fixed threshold costs.
    """

    def __init__(
        self,
        specs: tuple[ExpertSpec, ...],
        config: EstimatorConfig,
        runtime: RuntimeOptions | None = None,
        frames_per_batch: int = 1,
    ) -> None:
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
        if runtime is not None:
            chosen = require_runtime(runtime.runtime)
            for expert in dict.fromkeys([*self.detectors, *self.experts]):
                use_runtime = getattr(expert, "use_runtime", None)
                if use_runtime is not None:
                    use_runtime(chosen, 1)

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


@dataclass
class ClipResult:
    clip: SkeletonClip
    expert_frames: list[ExpertFrame]
    seconds: float
    dropped: dict[str, int] = field(default_factory=dict)
    frame_files: tuple[str, ...] = ()
    """The image file of each frame index (images and folders of frames; empty for videos)."""
    source_fps: float = 0.0
    """The input's own frame rate (frames/s); ``clip.fps`` is the mean rate of the frames taken."""
    decoded: int = 0
    """Frames decoded, those ``fps`` skipped included (0 for images)."""
    truncated: dict[str, Any] = field(default_factory=dict)
    """For a video cut short, :func:`truncation_note`'s note; empty otherwise."""
    input_sizes: dict[str, int] = field(default_factory=dict)
    """The network input size each full-frame expert ran at (pixels), by name (:meth:`ExpertSet.input_sizes`)."""
    unused: dict[str, str] = field(default_factory=dict)
    """Flags that did nothing for this clip, each with the one line saying so (e.g. ``--fps`` above its rate)."""
    exif_orientation: int = 0
    """The EXIF orientation applied to an image input (``VideoInfo.exif_orientation``); 0 for videos."""


@dataclass
class ClipOutcome:
    """What one video gave: its result, or the one-line reason it failed.

    ``fatal`` marks a reason that is not the video's fault (a wrong setting, e.g. missing
    weights on a worker): the run stops with it instead of recording every clip as failed.
    """

    video: VideoInput
    result: ClipResult | None = None
    reason: str = ""
    fatal: bool = False


def extract_outcome(
    video: VideoInput, experts: ExpertSet, options: ExtractOptions, on_frames: Callable[[int], None] | None = None
) -> ClipOutcome:
    """:func:`extract_clip`, with the video's own failures turned into a failed outcome."""
    try:
        return ClipOutcome(video, extract_clip(video, experts, options, on_frames=on_frames))
    except VideoError as exc:
        return ClipOutcome(video, reason=str(exc))
    except (ConfigError, MemoryError):
        raise
    except PosekitError as exc:
        return ClipOutcome(video, reason=f"{video.path}: {exc}")
    except Exception as exc:
        return ClipOutcome(video, reason=f"{video.path}: {type(exc).__name__}: {exc}")


class Backend(Protocol):
    """Runs the experts over videos; the driver commits what it yields (shards, manifest)."""

    name: str

    def outcomes(self, videos: list[VideoInput], options: ExtractOptions, progress: bool) -> Iterator[ClipOutcome]:
        """One outcome per video, in the order of ``videos`` (so shards do not depend on timing)."""
        ...


class LocalBackend:
    """Everything in this process: models loaded once, videos one after the other."""

    name = "local"

    def outcomes(self, videos: list[VideoInput], options: ExtractOptions, progress: bool) -> Iterator[ClipOutcome]:
        experts = ExpertSet(options.experts, options.estimator, options.runtime, options.frames_per_batch)
        for video in videos:
            total = expected_frames(video, options) if progress else None
            with progress_bar(total, video.clip_id[-40:], "frame", progress, leave=False) as bar:
                yield extract_outcome(video, experts, options, on_frames=bar.update)


def expected_frames(video: VideoInput, options: ExtractOptions) -> int | None:
    """The frames :func:`extract_clip` will sample from ``video`` (a progress bar's total): the count its
    header declares, thinned by ``fps`` and capped by ``max_frames``; None when neither is known."""
    try:
        info = probe_input(video.path, options.images.frame_rate, options.max_pixels)
    except PosekitError:
        return options.max_frames
    declared = info.declared_frames
    if declared > 0 and options.fps and info.fps > options.fps:
        declared = math.ceil(declared * options.fps / info.fps)
    if declared <= 0:
        return options.max_frames
    return min(declared, options.max_frames) if options.max_frames else declared


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


def checked_sizes(batches: Iterable[list[Frame]], info: VideoInfo, path: Path) -> Iterator[list[Frame]]:
    """The batches, failing at the first frame whose size is not the video's."""
    for batch in batches:
        if batch[0].image.shape[:2] != (info.height, info.width):
            raise VideoError(f"{path}: frame size changes mid-stream, which posekit does not support")
        yield batch


def extract_clip(
    video: VideoInput,
    experts: ExpertSet,
    options: ExtractOptions,
    on_frames: Callable[[int], None] | None = None,
) -> ClipResult:
    """Run the experts over one video and build its skeleton clip; raise VideoError if unusable."""
    started = time.perf_counter()
    info = probe_input(video.path, options.images.frame_rate, options.max_pixels)
    layout = get_layout(options.layout)
    sampled_fps = min(options.fps, info.fps) if options.fps and info.fps else (options.fps or info.fps)
    tracker = PersonTracker(sampled_fps, options.tracker)
    per_expert: dict[str, list[PoseProposals]] = {name: [] for name in experts.names}
    frame_index: list[int] = []
    timestamps: list[float] = []
    end = DecodeEnd()
    frames = Prefetcher(
        iter_input_frames(video.path, info, options.fps, options.max_frames, end), 2 * options.frames_per_batch
    )
    batches = checked_sizes(batched_frames(iter(frames), options.frames_per_batch), info, video.path)
    for batch, proposals in experts_over_batches(experts, batches, tracker, layout):
        for name, props in proposals.items():
            per_expert[name].extend(props)
        frame_index.extend(f.index for f in batch)
        timestamps.extend(f.time for f in batch)
        if on_frames is not None:
            on_frames(len(batch))
    if not frame_index:
        raise VideoError(f"{video.path}: no decodable frames")
    truncated = truncation_note(video.path, info, end)
    if truncated and options.strict:
        raise VideoError(
            f"{video.path}: {truncation_text(truncated)}; --strict refuses it (without --strict its "
            f"{truncated['readable_frames']} readable frames are kept)"
        )
    stitch_track_ids(list(per_expert.values()), round(options.tracker.stitch_seconds * (sampled_fps or 30.0)))
    proposals = [per_expert[name] for name in experts.names]
    source_3d = expert_3d_source(proposals) if options.pose_3d else None
    refined = skeleton_tracks(proposals, layout, options.aggregation, options.min_joint_score, source_3d)
    refined.dropped["merged_box"] = tracker.merged
    taken_fps = taken_rate(frame_index, info.fps)
    refined = filter_tracks(refined, options.tracks, info.width, info.height, taken_fps)
    clip = SkeletonClip(
        clip_id=video.clip_id,
        video_path=str(video.path.resolve()),
        width=info.width,
        height=info.height,
        fps=taken_fps,
        frame_index=np.array(frame_index, np.int32),
        timestamp=np.array(timestamps, np.float64),
        tracks=refined.tracks,
    )
    expert_frames = [
        ExpertFrame(
            clip.clip_id, clip.video_path, clip.width, clip.height, clip.fps, name, t, frame_index[t], timestamps[t], p
        )
        for name, props in per_expert.items()
        for t, p in enumerate(props)
    ]
    return ClipResult(
        clip,
        expert_frames,
        time.perf_counter() - started,
        refined.dropped,
        frame_files=info.frame_files,
        source_fps=float(info.fps),
        decoded=end.decoded,
        truncated=truncated,
        input_sizes=experts.input_sizes(),
        unused=_unused_for_clip(video, info, options, taken_fps),
        exif_orientation=info.exif_orientation,
    )


def taken_rate(frame_index: list[int], source_fps: float) -> float:
    """The mean rate (frames/s) of the frames taken, from their indices in a ``source_fps`` stream:
    ``(n - 1) * source_fps / (last - first)``, rounded to 1e-3; ``source_fps`` for a single frame.

    Indices, not timestamps: the timestamps of some AVI files with B-frames are out of order.
    """
    span = frame_index[-1] - frame_index[0] if frame_index else 0
    return round((len(frame_index) - 1) * source_fps / span, 3) if span > 0 else float(source_fps or 0.0)


def _unused_for_clip(video: VideoInput, info: VideoInfo, options: ExtractOptions, taken_fps: float) -> dict[str, str]:
    """The per-clip flags that did nothing, or did other than asked, each with its one line."""
    requested = options.fps
    if not requested or not info.fps:
        return {}
    if requested >= info.fps:
        line = f"--fps {requested:g} does nothing for {video.clip_id} ({info.fps:g} fps): every frame is taken"
        return {"--fps": line}
    step = info.fps / requested
    if abs(step - round(step)) > 1e-6:
        line = (
            f"--fps {requested:g} does not divide the {info.fps:g} fps of {video.clip_id}: the frames nearest a "
            f"{requested:g} fps grid are taken, unevenly spaced (mean {taken_fps:g} fps; the manifest records each "
            "clip's fps, the shards its frame indices)"
        )
        return {"--fps": line}
    return {}


TRUNCATION_TOLERANCE = 0.02
"""A video is truncated when its data stops more than this share of its declared frames (and 2 frames) early:
headers round, and some encoders count a frame or two the stream does not hold."""


def truncation_note(path: Path, info: VideoInfo, end: DecodeEnd) -> dict[str, Any]:
    """The note of a video that ends well before the frame count its header declares; empty when it does not.

    Decoded to its end, the frames decoded are what it holds (``checked: "decoded"``). When ``max_frames``
    stopped decoding early, the rest is checked without decoding it (:func:`posekit.io.video.readable_frames`:
    packet timestamps from a seek near the declared end; ``checked: "packets"``), so ``--max-frames 10`` on a
    file cut after frame 71 of 300 records it as truncated at 71 too. A decoding error that ended the frames is
    noted with its reason whatever the counts. Images and videos declaring no frame count get no note.
    """
    declared = info.declared_frames
    if info.frame_files or declared <= 0:
        return {}
    if end.stopped_early:
        readable, checked = readable_frames(path), "packets"
        if readable is None:
            return {}
    else:
        readable, checked = end.decoded, "decoded"
    short = declared - readable > max(2, TRUNCATION_TOLERANCE * declared)
    if not (short or end.error):
        return {}
    note: dict[str, Any] = {"readable_frames": readable, "declared_frames": declared, "checked": checked}
    if end.error:
        note["error"] = end.error
    return note


def truncation_text(note: dict[str, Any]) -> str:
    """One line for a truncation note, e.g. ``truncated (decoded 71 of the 300 frames its header declares)``."""
    readable, declared = note["readable_frames"], note["declared_frames"]
    if note["checked"] == "decoded":
        text = f"truncated (decoded {readable} of the {declared} frames its header declares)"
    else:
        text = f"truncated (its packets end after frame {readable} of the {declared} its header declares)"
    return f"{text}: {note['error']}" if "error" in note else text


@dataclass
class RunSummary:
    out: Path
    done: int = 0
    failed: int = 0
    skipped: int = 0
    duplicates: int = 0
    frames: int = 0
    tracks: int = 0
    poses: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    truncated: int = 0
    """Clips done from the readable frames of a truncated video."""
    unused: dict[str, str] = field(default_factory=dict)
    """Each flag that did nothing in this run (or other than asked), with the warning said once."""

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def say_unused(self, flag: str, line: str) -> None:
        """Warn once per run that ``flag`` did nothing (or other than asked)."""
        if flag not in self.unused:
            self.unused[flag] = line
            log.warning("%s", line)


def unused_run_flags(options: ExtractOptions) -> dict[str, str]:
    """The flags this run cannot use, whatever its inputs, with their one line (SST-A's with one expert)."""
    if len(options.experts) > 1:
        return {}
    changed = _changed_flags(options.aggregation, AggregationOptions())
    if not changed:
        return {}
    line = (
        f"{', '.join(changed)}: SST-A aggregates several experts and this run has one "
        f"({options.experts[0].label}), so its poses are the skeletons as they are and the manifest records "
        "aggregation: null; give several experts (e.g. --experts yolo,yolo-topdown) to aggregate"
    )
    return {", ".join(changed): line}


def _changed_flags(options: Any, default: Any) -> list[str]:
    """The flags of the fields of an options dataclass (nested ones included) that differ from ``default``."""
    out = []
    for f in dataclasses.fields(options):
        value, base = getattr(options, f.name), getattr(default, f.name)
        if dataclasses.is_dataclass(value):
            out += _changed_flags(value, base)
        elif value != base:
            out.append(flag_name(f))
    return out


def _note_input_sizes(manifest: RunManifest, summary: RunSummary, options: ExtractOptions, result: ClipResult) -> None:
    """Record the input sizes the experts ran at (manifest ``effective.imgsz``) and say when ``--imgsz`` did
    nothing or was rounded."""
    if summary.done:
        return
    imgsz = options.estimator.imgsz
    manifest.effective["imgsz"] = result.input_sizes
    if imgsz is None:  # not given: each expert ran at its own size (a student's card, else 640)
        return
    rounded = {name: size for name, size in result.input_sizes.items() if size != imgsz}
    if rounded:
        runs = ", ".join(f"{name} runs at {size}" for name, size in rounded.items())
        line = (
            f"--imgsz {imgsz}: {runs} (Ultralytics rounds it up to a multiple of the model's stride); "
            "the manifest records the sizes used under effective.imgsz"
        )
        summary.say_unused("--imgsz", line)
    elif not result.input_sizes:
        line = (
            f"--imgsz {imgsz} does nothing here: no expert of this run reads it "
            "(top-down experts use --crop-size, ONNX models their own input size)"
        )
        summary.say_unused("--imgsz", line)


def run_extraction(
    input_path: Path,
    out: Path,
    options: ExtractOptions,
    overwrite: bool = False,
    progress: bool = True,
    partition: Partition | None = None,
    *,
    backend: Backend | None = None,
    retry_failed: bool = False,
) -> RunSummary:
    """Extract every video under ``input_path`` into shards in ``out``; resume what is done.

    Bad inputs are recorded as failed in the manifest and never stop the other videos. With a
    ``partition``, only its clips are extracted, into ``out/part-IIIII-of-NNNNN/`` (a complete
    output folder of its own; ``posekit manifest merge`` joins the parts). ``backend`` runs the
    models (default :class:`LocalBackend`; ``posekit.workflows.extraction.ray_backend.RayBackend`` for a
    Ray cluster); this process alone writes shards and manifest, in input order, so both give
    the same shards. ``retry_failed`` redoes only the clips the manifest records as failed.
    The same file listed twice (a symlink, a list naming it twice) is extracted once.
    """
    backend = backend if backend is not None else LocalBackend()
    videos, problems = find_inputs(input_path, options.images.photos)
    videos, repeats = unique_inputs(videos)
    if not (videos or problems or repeats):
        raise ConfigError(
            f"no input found in {input_path}: it holds no video ({', '.join(VIDEO_EXTENSIONS)}) "
            f"and no image ({', '.join(IMAGE_EXTENSIONS)})"
        )
    if partition is not None:
        out = Path(out) / partition.folder_name
        videos = [v for v in videos if partition.contains(v.clip_id)]
        problems = [(v, reason) for v, reason in problems if partition.contains(v.clip_id)]
        repeats = [(v, reason) for v, reason in repeats if partition.contains(v.clip_id)]
        log.info("part %d of %d: %d video(s) -> %s", partition.index, partition.count, len(videos), out)
    if retry_failed and overwrite:
        raise ConfigError("--retry-failed keeps the finished clips and --overwrite deletes them; give one of them")
    if retry_failed and not (Path(out) / MANIFEST_NAME).is_file():
        raise ConfigError(f"--retry-failed: {out} has no {MANIFEST_NAME}; run without --retry-failed first")
    with locked_output(out, overwrite) as folder:
        return _extract_locked(folder, videos, problems, repeats, options, backend, progress, retry_failed)


def _extract_locked(
    out: Path,
    videos: list[VideoInput],
    problems: list[tuple[VideoInput, str]],
    repeats: list[tuple[VideoInput, str]],
    options: ExtractOptions,
    backend: Backend,
    progress: bool,
    retry_failed: bool,
) -> RunSummary:
    """:func:`run_extraction` once ``out`` is locked: skip what is done, extract the rest, commit as it goes."""
    manifest = RunManifest.open(out, options.settings())
    summary = RunSummary(out=Path(out))
    for flag, line in unused_run_flags(options).items():
        summary.say_unused(flag, line)
    for folder, reason in problems:
        _record_failure(manifest, summary, folder, reason)
    for video, reason in repeats:
        if not manifest.is_done(video.clip_id):
            manifest.record(ManifestEntry(video.clip_id, str(video.path.absolute()), "skipped", reason=reason))
        summary.duplicates += 1
    todo, left = _clips_to_do(manifest, videos, out, summary, retry_failed)
    if summary.skipped:
        log.info("skipping %d video(s) already done in %s", summary.skipped, out)
    if summary.duplicates:
        log.info("%d input(s) name a file already listed under another clip id: extracted once", summary.duplicates)
    if retry_failed:
        log.info(
            "retrying %d failed clip(s); %d never tried are left for a run without --retry-failed", len(todo), left
        )
    if not todo:
        manifest.save()
        return summary
    sink = ShardSink(
        Path(out),
        get_layout(options.layout),
        tuple(spec.label for spec in options.experts),
        manifest,
        options.shard_clips,
        options.shard_bytes,
        options.keep_proposals,
        options.pose_3d,
        options.commit_seconds,
    )
    started = time.perf_counter()
    outcomes = backend.outcomes(todo, options, progress)
    try:
        with progress_bar(len(todo), "videos", "video", progress) as overall:
            for outcome in outcomes:
                if outcome.fatal:
                    raise ConfigError(outcome.reason)
                if outcome.result is None:
                    _record_failure(manifest, summary, outcome.video, outcome.reason)
                else:
                    _note_input_sizes(manifest, summary, options, outcome.result)
                    _commit(sink, summary, outcome.result)
                overall.update(1)
    finally:
        try:
            sink.flush()
        finally:
            close = getattr(outcomes, "close", None)
            if close is not None:
                close()  # stop the backend's workers now, not when the generator is collected
            summary.seconds = time.perf_counter() - started
    return summary


def _clips_to_do(
    manifest: RunManifest, videos: list[VideoInput], out: Path, summary: RunSummary, retry_failed: bool
) -> tuple[list[VideoInput], int]:
    """The inputs this run extracts, and how many ``retry_failed`` leaves for a plain run; the done ones are
    counted as skipped (or failed, when another input already holds their clip id)."""
    todo = []
    left = 0
    for video in videos:
        done = manifest.entries.get(video.clip_id)
        if done is not None and done.status == "done":
            if done.path != str(video.path.resolve()):
                reason = (
                    f"{video.path}: {out} already holds clip id {video.clip_id!r} from {done.path}; use another --out"
                )
                log.error("failed: %s", reason)
                summary.failures.append(reason)
                summary.failed += 1
            else:
                summary.skipped += 1
        elif retry_failed and (done is None or done.status != "failed"):
            left += 1
        else:
            todo.append(video)
    return todo, left


def _commit(sink: ShardSink, summary: RunSummary, result: ClipResult) -> None:
    clip = result.clip
    entry = ManifestEntry(
        clip.clip_id,
        clip.video_path,
        "done",
        frames=clip.num_frames,
        tracks=len(clip.tracks),
        seconds=round(result.seconds, 3),
        dropped=result.dropped,
        frame_files=list(result.frame_files),
        fps=clip.fps,
        source_fps=result.source_fps,
        decoded_frames=result.decoded,
        truncated=result.truncated,
        exif_orientation=result.exif_orientation,
    )
    sink.add(clip, entry, result.expert_frames)
    summary.done += 1
    if result.truncated:
        summary.truncated += 1
        log.warning(
            "%s: %s; its frames are kept (done, noted under 'truncated' in the manifest; --strict fails such files)",
            clip.clip_id,
            truncation_text(result.truncated),
        )
    for flag, line in result.unused.items():
        summary.say_unused(flag, line)
    summary.frames += clip.num_frames
    summary.tracks += len(clip.tracks)
    poses = sum(len(track) for track in clip.tracks)
    summary.poses += poses
    for reason, n in result.dropped.items():
        summary.dropped[reason] = summary.dropped.get(reason, 0) + n
    if any(result.dropped.values()):
        lost = ", ".join(f"{n} {reason}" for reason, n in result.dropped.items() if n)
        log.info("%s: %d person-frame(s) kept, %s dropped", clip.clip_id, poses, lost)


def _record_failure(manifest: RunManifest, summary: RunSummary, video: VideoInput, reason: str) -> None:
    log.error("failed: %s", reason)
    path = printable_name(os.path.abspath(video.path))  # a symbolic link loop has no resolved path
    manifest.record(ManifestEntry(video.clip_id, path, "failed", reason=reason))
    manifest.save()
    summary.failed += 1
    summary.failures.append(reason)
