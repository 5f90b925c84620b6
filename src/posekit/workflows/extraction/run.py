"""An extraction run: every input under a folder through the clip pipeline (:mod:`.clip`), on a backend (this
process, or Ray workers), committed to shards and the manifest in input order as clips finish; what a run did is
its :class:`RunSummary`. Finished clips are skipped on a rerun, failed inputs recorded and never fatal.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from posekit.core.errors import ConfigError, PosekitError
from posekit.core.progress import progress_bar
from posekit.io.images import IMAGE_EXTENSIONS
from posekit.io.inputs import find_inputs, printable_name, probe_input, unique_inputs
from posekit.io.manifest import MANIFEST_NAME, ManifestEntry, RunManifest
from posekit.io.sink import ShardSink, locked_output
from posekit.io.video import VIDEO_EXTENSIONS, VideoInput
from posekit.skeleton.layouts import get_layout
from posekit.workflows.extraction.clip import ClipOutcome, ClipResult, extract_outcome, truncation_text
from posekit.workflows.extraction.experts import load_run_experts
from posekit.workflows.extraction.options import ExtractOptions, unused_run_flags
from posekit.workflows.extraction.partition import Partition

log = logging.getLogger(__name__)


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
        experts = load_run_experts(options, options.runtime)
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


def _note_input_sizes(manifest: RunManifest, summary: RunSummary, options: ExtractOptions, result: ClipResult) -> None:
    """Record the input sizes the experts ran at (manifest ``effective.imgsz``) and say when ``--imgsz`` did
    nothing or was rounded."""
    if summary.done:
        return
    imgsz = options.estimator.imgsz
    manifest.effective["imgsz"] = result.input_sizes
    if imgsz is None:
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
    frames = result.proposals.expert_frames() if sink.proposals is not None and result.proposals else None
    sink.add(clip, result.manifest_entry(), frames)
    summary.done += 1
    if result.source.truncated:
        summary.truncated += 1
        log.warning(
            "%s: %s; its frames are kept (done, noted under 'truncated' in the manifest; --strict fails such files)",
            clip.clip_id,
            truncation_text(result.source.truncated),
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
