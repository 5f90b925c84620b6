"""One clip through the pipeline: :func:`propose` (an input's frames -> every expert's proposals, one
:class:`~posekit.refine.clip.ClipProposals`), then :func:`~posekit.refine.clip.refine_clip` (-> the tracked
skeleton clip, with the person filters, and every person-frame left out by reason). :func:`extract_clip` runs
both; :class:`ClipResult` is what a clip gave, and its manifest entry is made from it
(:meth:`ClipResult.manifest_entry`), in extraction and in re-aggregation alike. The degradation protocol
proposes through the same :func:`propose`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from posekit.core.errors import ConfigError, PosekitError, VideoError
from posekit.estimators.runtimes import release_free_heap
from posekit.io.inputs import iter_input_frames, probe_input
from posekit.io.manifest import ManifestEntry
from posekit.io.video import DecodeEnd, Frame, Prefetcher, VideoInfo, VideoInput, batched_frames, readable_frames
from posekit.refine.clip import ClipProposals, refine_clip
from posekit.refine.tracking import PersonTracker
from posekit.refine.tracks import stitch_track_ids
from posekit.skeleton.layouts import get_layout
from posekit.skeleton.records import PoseProposals, SkeletonClip
from posekit.workflows.extraction.experts import ExpertSet, experts_over_batches
from posekit.workflows.extraction.options import ExtractOptions


@dataclass
class SourceNote:
    """What reading one input learned about it, kept in its manifest entry."""

    frame_files: tuple[str, ...] = ()
    """The image file of each frame index (images and folders of frames; empty for videos)."""
    source_fps: float = 0.0
    """The input's own frame rate (frames/s); the clip's ``fps`` is the mean rate of the frames taken."""
    decoded: int = 0
    """Frames decoded, those ``fps`` skipped included (0 for images)."""
    truncated: dict[str, Any] = field(default_factory=dict)
    """For a video cut short, :func:`truncation_note`'s note; empty otherwise."""
    exif_orientation: int = 0
    """The EXIF orientation applied to an image input (``VideoInfo.exif_orientation``); 0 for videos."""

    @classmethod
    def of_entry(cls, entry: ManifestEntry) -> SourceNote:
        """The note a manifest entry recorded (re-aggregation carries the extraction run's over)."""
        return cls(
            tuple(entry.frame_files), entry.source_fps, entry.decoded_frames, entry.truncated, entry.exif_orientation
        )


@dataclass
class ClipResult:
    """What the pipeline made of one clip: its skeletons, the proposals they came from, what was left out."""

    clip: SkeletonClip
    proposals: ClipProposals | None
    """Every expert's proposals (None once left behind: a Ray worker ships none unless they are kept)."""
    dropped: dict[str, int]
    """Person-frames left out, by reason (:func:`~posekit.refine.clip.refine_clip`)."""
    seconds: float
    source: SourceNote = field(default_factory=SourceNote)
    input_sizes: dict[str, int] = field(default_factory=dict)
    """The network input size each full-frame expert ran at (pixels), by name (:meth:`ExpertSet.input_sizes`)."""
    unused: dict[str, str] = field(default_factory=dict)
    """Flags that did nothing for this clip, each with the one line saying so (e.g. ``--fps`` above its rate)."""

    def manifest_entry(self) -> ManifestEntry:
        """The clip's manifest entry, status done."""
        clip, source = self.clip, self.source
        return ManifestEntry(
            clip.clip_id,
            clip.video_path,
            "done",
            frames=clip.num_frames,
            tracks=len(clip.tracks),
            seconds=round(self.seconds, 3),
            dropped=self.dropped,
            frame_files=list(source.frame_files),
            fps=clip.fps,
            source_fps=source.source_fps,
            decoded_frames=source.decoded,
            truncated=source.truncated,
            exif_orientation=source.exif_orientation,
        )


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
    """:func:`extract_clip`, with the video's own failures turned into a failed outcome; the memory the clip
    freed goes back to the system after it (:func:`~posekit.estimators.runtimes.release_free_heap`)."""
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
    finally:
        release_free_heap()


def checked_sizes(batches: Iterable[list[Frame]], info: VideoInfo, path: Path) -> Iterator[list[Frame]]:
    """The batches, failing at the first frame whose size is not the video's."""
    for batch in batches:
        if batch[0].image.shape[:2] != (info.height, info.width):
            raise VideoError(f"{path}: frame size changes mid-stream, which posekit does not support")
        yield batch


def propose(
    video: VideoInput,
    experts: ExpertSet,
    options: ExtractOptions,
    on_frames: Callable[[int], None] | None = None,
) -> tuple[ClipProposals, SourceNote]:
    """Every expert's proposals in every sampled frame of ``video``, with track ids (fragments of one person
    stitched, in every expert's proposals), and what reading it learned; raise VideoError if it is unusable."""
    started = time.perf_counter()
    info = probe_input(video.path, options.images.frame_rate, options.max_pixels)
    sampled_fps = min(options.fps, info.fps) if options.fps and info.fps else (options.fps or info.fps)
    tracker = PersonTracker(sampled_fps, options.tracker)
    layout = get_layout(options.layout)
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
    proposals = ClipProposals(
        clip_id=video.clip_id,
        video_path=str(video.path.resolve()),
        width=info.width,
        height=info.height,
        fps=taken_rate(frame_index, info.fps),
        frame_index=np.array(frame_index, np.int32),
        timestamp=np.array(timestamps, np.float64),
        layout=layout,
        experts=experts.names,
        per_expert=[per_expert[name] for name in experts.names],
        dropped=tracker.dropped,
        seconds=time.perf_counter() - started,
    )
    source = SourceNote(info.frame_files, float(info.fps), end.decoded, truncated, info.exif_orientation)
    return proposals, source


def extract_clip(
    video: VideoInput,
    experts: ExpertSet,
    options: ExtractOptions,
    on_frames: Callable[[int], None] | None = None,
) -> ClipResult:
    """:func:`propose` then :func:`~posekit.refine.clip.refine_clip` on one input; raise VideoError if unusable."""
    started = time.perf_counter()
    proposals, source = propose(video, experts, options, on_frames)
    clip, dropped = refine_clip(
        proposals, options.aggregation, options.min_joint_score, options.tracks, with_3d=options.pose_3d
    )
    return ClipResult(
        clip,
        proposals,
        dropped,
        time.perf_counter() - started,
        source,
        input_sizes=experts.input_sizes(),
        unused=_unused_for_clip(video.clip_id, source.source_fps, options.fps, clip.fps),
    )


def taken_rate(frame_index: list[int], source_fps: float) -> float:
    """The mean rate (frames/s) of the frames taken, from their indices in a ``source_fps`` stream:
    ``(n - 1) * source_fps / (last - first)``, rounded to 1e-3; ``source_fps`` for a single frame.

    Indices, not timestamps: the timestamps of some AVI files with B-frames are out of order.
    """
    span = frame_index[-1] - frame_index[0] if frame_index else 0
    return round((len(frame_index) - 1) * source_fps / span, 3) if span > 0 else float(source_fps or 0.0)


def _unused_for_clip(clip_id: str, source_fps: float, requested: float | None, taken_fps: float) -> dict[str, str]:
    """The per-clip flags that did nothing, or did other than asked, each with its one line: ``--fps``
    (``requested``) at or above the clip's ``source_fps``, or not dividing it (``taken_fps`` is what it gave)."""
    if not requested or not source_fps:
        return {}
    if requested >= source_fps:
        line = f"--fps {requested:g} does nothing for {clip_id} ({source_fps:g} fps): every frame is taken"
        return {"--fps": line}
    step = source_fps / requested
    if abs(step - round(step)) > 1e-6:
        line = (
            f"--fps {requested:g} does not divide the {source_fps:g} fps of {clip_id}: the frames nearest a "
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
