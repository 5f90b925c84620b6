"""Re-run SST-A from proposal shards alone: a new gamma or mode never re-runs a model.

Each clip goes through the refine step extraction uses (:func:`posekit.refine.clip.refine_clip`), and its
manifest entry is made as extraction makes it (:meth:`~posekit.workflows.extraction.clip.ClipResult.manifest_entry`).
From the extraction run's manifest come the person filters (``--min-track-frames``, ``--max-persons``), so
re-aggregating a run that kept one person keeps one person (a filter flag given again overrides it), and each
clip's source note and tracker drops (merged boxes), so both manifests count the same clip alike.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from posekit.core.errors import ConfigError, ShardError
from posekit.core.options import recorded_settings
from posekit.io.manifest import MANIFEST_NAME, ManifestEntry, RunManifest
from posekit.io.schema import ShardInfo
from posekit.io.shards import list_shards, read_proposals, read_shard_info
from posekit.io.sink import ShardSink, locked_output
from posekit.refine.clip import ClipProposals, refine_clip
from posekit.refine.tracking import TRACKER_DROP_REASONS
from posekit.refine.tracks import AggregationOptions, TrackFilterOptions
from posekit.skeleton.records import ExpertFrame
from posekit.workflows.extraction.clip import ClipResult, SourceNote

log = logging.getLogger(__name__)


def extraction_manifest(proposals: Path) -> RunManifest | None:
    """The manifest of the extraction run that wrote ``proposals`` (in ``proposals`` or the folder above, as
    ``posekit extract --keep-proposals`` lays them out); None when there is none."""
    for folder in (Path(proposals), Path(proposals).parent):
        manifest = folder / MANIFEST_NAME
        if manifest.is_file():
            return RunManifest.read(manifest)
    return None


def run_track_filters(run: RunManifest | None, given: dict[str, Any]) -> TrackFilterOptions:
    """The person filters the extraction run recorded in its manifest ``run``, with the fields ``given`` on the
    command line over them; the defaults when there is no run manifest."""
    recorded = run.settings.get("tracks", {}) if run is not None else {}
    return TrackFilterOptions(**{**recorded, **given})


@dataclass
class AggregateSummary:
    done: int = 0
    skipped: int = 0
    tracks: int = 0
    person_frames: int = 0
    dropped: dict[str, int] = field(default_factory=dict)


def aggregate_proposal_shards(
    proposals: Path,
    out: Path,
    options: AggregationOptions,
    min_joint_score: float = 0.3,
    overwrite: bool = False,
    shard_clips: int = 64,
    person_filters: dict[str, Any] | None = None,
) -> AggregateSummary:
    """SST-A over every clip of the proposal shards under ``proposals`` into skeleton shards in ``out``.

    The person filters are those the extraction run recorded, with the fields of ``person_filters`` over them
    (:func:`run_track_filters`). Resumable like extraction: clips already written to ``out`` are skipped.
    """
    shards = list_shards(proposals, "proposals")
    if not shards:
        raise ShardError(f"no proposals shards under {proposals} (write them with posekit extract --keep-proposals)")
    info = read_shard_info(shards[0])
    if Path(proposals).resolve().is_relative_to(Path(out).resolve()):
        raise ConfigError(f"--out {out} holds the proposals being read; write the new skeletons to another folder")
    run = extraction_manifest(proposals)
    tracks = run_track_filters(run, person_filters or {})
    extracted = run.entries if run is not None else {}
    with locked_output(out, overwrite):
        settings = {
            "proposals": str(Path(proposals).resolve()),
            "min_joint_score": min_joint_score,
            **options.settings(),
            "tracks": recorded_settings(tracks),
        }
        manifest = RunManifest.open(out, settings)
        sink = ShardSink(out, info.layout, info.experts, manifest, shard_clips)
        try:
            summary = _aggregate_clips(shards, info, manifest, sink, options, min_joint_score, tracks, extracted)
        finally:
            sink.flush()
    if summary.skipped:
        log.info("skipped %d clip(s) already aggregated in %s", summary.skipped, out)
    return summary


def _aggregate_clips(
    shards: list[Path],
    info: ShardInfo,
    manifest: RunManifest,
    sink: ShardSink,
    options: AggregationOptions,
    min_joint_score: float,
    tracks: TrackFilterOptions,
    extracted: dict[str, ManifestEntry],
) -> AggregateSummary:
    """SST-A and the person filters ``tracks`` over the clips of ``shards`` that ``manifest`` does not hold yet,
    each added to ``sink``; ``extracted``: the extraction run's manifest entries (source notes, tracker drops)."""
    summary = AggregateSummary()
    written: set[str] = set()
    for shard in shards:
        if read_shard_info(shard).experts != info.experts:
            raise ShardError(f"{shard} was made with other experts than {shards[0]}; aggregate them separately")
        by_clip: dict[str, list[ExpertFrame]] = defaultdict(list)
        for frame in read_proposals(shard):
            by_clip[frame.clip_id].append(frame)
        for clip_id, frames in by_clip.items():
            if manifest.is_done(clip_id) or clip_id in written:
                summary.skipped += 1
                continue
            written.add(clip_id)
            started = time.perf_counter()
            proposals = ClipProposals.from_expert_frames(frames, info.layout, info.experts)
            entry = extracted.get(clip_id)
            if entry is not None:
                proposals.dropped = {r: entry.dropped[r] for r in TRACKER_DROP_REASONS if r in entry.dropped}
            clip, dropped = refine_clip(proposals, options, min_joint_score, tracks)
            source = SourceNote.of_entry(entry) if entry is not None else SourceNote()
            result = ClipResult(clip, proposals, dropped, time.perf_counter() - started, source)
            sink.add(clip, result.manifest_entry())
            summary.done += 1
            summary.tracks += len(clip.tracks)
            summary.person_frames += sum(len(t) for t in clip.tracks)
            for reason, n in dropped.items():
                summary.dropped[reason] = summary.dropped.get(reason, 0) + n
            if any(dropped.values()):
                lost = ", ".join(f"{n} {reason}" for reason, n in dropped.items() if n)
                log.info("%s: %s dropped", clip_id, lost)
    return summary
