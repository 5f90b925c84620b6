"""The extraction driver: videos -> experts -> tracks -> skeleton (and proposal) shards.

Per video: frames stream from a decoding thread in batches; a person detector (the first
one-stage expert, or the bundled YOLO when every expert is top-down) finds people; ByteTrack
gives them track ids; top-down experts estimate a pose on each tracked box; other one-stage
experts are matched to the tracked boxes by IoU. With several experts, SST-A aggregates
each track's proposals into its skeleton (thesis 3.3.2); with one, the skeleton is its output.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from posekit.core.errors import ConfigError, PosekitError, VideoError
from posekit.core.options import check_bounds, recorded_settings
from posekit.estimators.base import Estimator, EstimatorConfig
from posekit.estimators.registry import ExpertSpec, build_estimator
from posekit.io.images import IMAGE_EXTENSIONS, ImageInputOptions
from posekit.io.inputs import find_inputs, iter_input_frames, probe_input, unique_inputs
from posekit.io.manifest import MANIFEST_NAME, ManifestEntry, RunManifest
from posekit.io.sink import ShardSink, prepare_output
from posekit.io.video import VIDEO_EXTENSIONS, Prefetcher, VideoInput, batched_frames
from posekit.refine.tracking import PersonTracker, TrackerConfig, match_boxes
from posekit.refine.tracks import AggregationOptions, skeleton_tracks
from posekit.skeleton.layouts import LAYOUTS, JointLayout, get_layout
from posekit.skeleton.records import ExpertFrame, PoseProposals, SkeletonClip
from posekit.workflows.extraction.partition import Partition

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractOptions:
    """Everything that decides what ``posekit extract`` writes.

    Attributes:
        experts: expert specs, in order (``joint_source`` indexes them).
        estimator: settings passed to every expert (device, input size, crops).
        layout: joint layout of the shards (every expert is converted to it).
        batch_size: frames per inference batch.
        fps: sample frames at this rate (None: every frame).
        max_frames: stop each video after this many sampled frames (None: all).
        min_joint_score: joints an expert scores below this count as missing (NaN).
        keep_proposals: also write every expert's raw output as proposals shards.
        shard_clips: clips per shard (a shard is also cut at ``shard_bytes``).
        aggregation: SST-A settings, used when there are several experts.
        images: how single images and folders of frames become clips (their frame rate).
    """

    experts: tuple[ExpertSpec, ...] = field(metadata={"cli": False})
    estimator: EstimatorConfig = field(default_factory=EstimatorConfig, metadata={"run_only": ("device",)})
    layout: str = field(default="coco17", metadata={"help": f"Joint layout of the shards: {', '.join(LAYOUTS)}."})
    batch_size: int = field(default=8, metadata={"help": "Frames per inference batch.", "min": 1, "resume": False})
    fps: float | None = field(
        default=None, metadata={"help": "Sample frames at this rate (default: all).", "min": 0, "min_open": True}
    )
    max_frames: int | None = field(
        default=None, metadata={"help": "Stop each video after N sampled frames.", "min": 1}
    )
    min_joint_score: float = field(
        default=0.3,
        metadata={"help": "Joints an expert scores below this count as missing (NaN).", "min": 0, "max": 1},
    )
    keep_proposals: bool = field(
        default=False, metadata={"help": "Also write every expert's raw output to OUT/proposals/."}
    )
    shard_clips: int = field(default=64, metadata={"help": "Clips per shard file.", "min": 1, "resume": False})
    shard_bytes: int = field(default=256 << 20, metadata={"cli": False, "resume": False})
    tracker: TrackerConfig = field(default_factory=TrackerConfig, metadata={"cli": False})
    aggregation: AggregationOptions = field(default_factory=AggregationOptions)
    images: ImageInputOptions = field(default_factory=ImageInputOptions)

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ConfigError(f"unknown layout {self.layout!r}; known layouts: {', '.join(LAYOUTS)}")
        if not self.experts:
            raise ConfigError("no experts given; name at least one, e.g. yolo")
        check_bounds(self)

    def settings(self) -> dict:
        """The options that change the output, as recorded in the manifest (a resume must match them).

        Derived from the fields (:func:`posekit.core.options.recorded_settings`), so a new option of any
        group is recorded; the estimator's fields sit at the top level as manifests have always had them,
        and SST-A's only count with several experts.
        """
        out = recorded_settings(self)
        out["experts"] = [s.name if s.weights is None else f"{s.name}:{s.weights}" for s in self.experts]
        out.update(out.pop("estimator"))
        if len(self.experts) < 2:
            out["aggregation"] = None
        return out


class ExpertSet:
    """The loaded models of a run: the experts in order, and the person detector."""

    def __init__(self, specs: tuple[ExpertSpec, ...], config: EstimatorConfig) -> None:
        self.experts: list[Estimator] = [build_estimator(spec, config) for spec in specs]
        one_stage = [e for e in self.experts if not e.needs_boxes]
        self.detector: Estimator = one_stage[0] if one_stage else build_estimator(ExpertSpec("yolo"), config)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.experts)


@dataclass
class ClipResult:
    clip: SkeletonClip
    expert_frames: list[ExpertFrame]
    seconds: float
    dropped: dict[str, int] = field(default_factory=dict)
    frame_files: tuple[str, ...] = ()
    """The image file of each frame index (images and folders of frames; empty for videos)."""


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
        from tqdm import tqdm

        experts = ExpertSet(options.experts, options.estimator)
        for video in videos:
            total = expected_frames(video, options) if progress else None
            with tqdm(total=total, desc=video.clip_id[-40:], unit="frame", leave=False, disable=not progress) as bar:
                yield extract_outcome(video, experts, options, on_frames=bar.update)


def expected_frames(video: VideoInput, options: ExtractOptions) -> int | None:
    """The frames :func:`extract_clip` will sample from ``video`` (a progress bar's total): the count its
    header declares, thinned by ``fps`` and capped by ``max_frames``; None when neither is known."""
    try:
        info = probe_input(video.path, options.images.frame_rate)
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
    detections = experts.detector.predict(images)
    tracked_boxes: list[np.ndarray] = []
    for props in detections:
        props.track_ids = tracker.update(props.boxes, props.scores)
        tracked_boxes.append(props.boxes[props.track_ids >= 0])
    out: dict[str, list[PoseProposals]] = {}
    for expert in experts.experts:
        if expert is experts.detector:
            frames = detections
        elif expert.needs_boxes:
            frames = expert.predict(images, tracked_boxes)
            for props, det in zip(frames, detections):
                props.track_ids = det.track_ids[det.track_ids >= 0].copy()
        else:
            frames = expert.predict(images)
            for props, det in zip(frames, detections):
                ref = det.track_ids >= 0
                match = match_boxes(det.boxes[ref], props.boxes)
                props.track_ids = np.full(len(match), -1, np.int32)
                props.track_ids[match >= 0] = det.track_ids[ref][match[match >= 0]]
        out[expert.name] = [p.to_layout(layout) for p in frames]
    return out


def extract_clip(
    video: VideoInput,
    experts: ExpertSet,
    options: ExtractOptions,
    on_frames: Callable[[int], None] | None = None,
) -> ClipResult:
    """Run the experts over one video and build its skeleton clip; raise VideoError if unusable."""
    started = time.perf_counter()
    info = probe_input(video.path, options.images.frame_rate)
    layout = get_layout(options.layout)
    sampled_fps = min(options.fps, info.fps) if options.fps and info.fps else (options.fps or info.fps)
    tracker = PersonTracker(sampled_fps, options.tracker)
    per_expert: dict[str, list[PoseProposals]] = {name: [] for name in experts.names}
    frame_index: list[int] = []
    timestamps: list[float] = []
    frames = Prefetcher(iter_input_frames(video.path, info, options.fps, options.max_frames), 2 * options.batch_size)
    for batch in batched_frames(iter(frames), options.batch_size):
        images = [f.image for f in batch]
        if images[0].shape[:2] != (info.height, info.width):
            raise VideoError(f"{video.path}: frame size changes mid-stream, which posekit does not support")
        for name, props in run_experts(experts, images, tracker, layout).items():
            per_expert[name].extend(props)
        frame_index.extend(f.index for f in batch)
        timestamps.extend(f.time for f in batch)
        if on_frames is not None:
            on_frames(len(batch))
    if not frame_index:
        raise VideoError(f"{video.path}: no decodable frames")
    _check_complete(video, info.declared_frames, frame_index[-1], len(frame_index), options, info.fps)
    refined = skeleton_tracks(
        [per_expert[name] for name in experts.names], layout, options.aggregation, options.min_joint_score
    )
    clip = SkeletonClip(
        clip_id=video.clip_id,
        video_path=str(video.path.resolve()),
        width=info.width,
        height=info.height,
        fps=float(sampled_fps or 0.0),
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
    return ClipResult(clip, expert_frames, time.perf_counter() - started, refined.dropped, frame_files=info.frame_files)


def _check_complete(
    video: VideoInput, declared: int, last_index: int, frames_kept: int, options: ExtractOptions, fps: float
) -> None:
    """A file that ends well before the frame count its header declares is truncated."""
    if declared <= 0 or (options.max_frames is not None and frames_kept >= options.max_frames):
        return
    stride = max(1.0, fps / options.fps) if options.fps and fps else 1.0
    decoded = last_index + 1
    if declared - decoded > max(2, 0.02 * declared) + stride:
        raise VideoError(f"{video.path}: truncated (decoded {decoded} of the {declared} frames its header declares)")


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

    @property
    def ok(self) -> bool:
        return self.failed == 0


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
    from tqdm import tqdm

    backend = backend if backend is not None else LocalBackend()
    videos, problems = find_inputs(input_path)
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
    prepare_output(out, overwrite)
    manifest = RunManifest.open(out, options.settings())
    summary = RunSummary(out=Path(out))
    for folder, reason in problems:
        _record_failure(manifest, summary, folder, reason)
    for video, reason in repeats:
        if not manifest.is_done(video.clip_id):
            manifest.record(ManifestEntry(video.clip_id, str(video.path.absolute()), "skipped", reason=reason))
        summary.duplicates += 1
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
    )
    started = time.perf_counter()
    outcomes = backend.outcomes(todo, options, progress)
    try:
        with tqdm(total=len(todo), desc="videos", unit="video", disable=not progress) as overall:
            for outcome in outcomes:
                if outcome.fatal:
                    raise ConfigError(outcome.reason)
                if outcome.result is None:
                    _record_failure(manifest, summary, outcome.video, outcome.reason)
                else:
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
    )
    sink.add(clip, entry, result.expert_frames)
    summary.done += 1
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
    manifest.record(ManifestEntry(video.clip_id, str(video.path.resolve()), "failed", reason=reason))
    manifest.save()
    summary.failed += 1
    summary.failures.append(reason)
