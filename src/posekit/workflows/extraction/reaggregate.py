"""Re-run SST-A from proposal shards alone: a new gamma or mode never re-runs a model.

The person filters (``--min-track-frames``, ``--max-persons``) are those the extraction run recorded in its
manifest, so re-aggregating a run that kept one person keeps one person; a filter flag given again overrides it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from posekit.core.errors import ConfigError, ShardError
from posekit.core.options import recorded_settings
from posekit.io.manifest import MANIFEST_NAME, ManifestEntry, RunManifest
from posekit.io.schema import ShardInfo
from posekit.io.shards import list_shards, read_proposals, read_shard_info
from posekit.io.sink import ShardSink, locked_output
from posekit.refine.pose3d import expert_3d_source
from posekit.refine.tracks import AggregationOptions, TrackFilterOptions, filter_tracks, skeleton_tracks
from posekit.skeleton.records import ExpertFrame, PoseProposals, SkeletonClip

log = logging.getLogger(__name__)


def run_track_filters(proposals: Path, given: dict[str, Any]) -> TrackFilterOptions:
    """The person filters recorded by the extraction run that wrote ``proposals`` (its manifest, in ``proposals``
    or the folder above, as ``posekit extract --keep-proposals`` lays them out), with the fields ``given`` on the
    command line over them; the defaults when no run manifest is found."""
    recorded: dict[str, Any] = {}
    for folder in (Path(proposals), Path(proposals).parent):
        manifest = folder / MANIFEST_NAME
        if manifest.is_file():
            recorded = RunManifest.read(manifest).settings.get("tracks", {})
            break
    return TrackFilterOptions(**{**recorded, **given})


def clip_from_proposals(
    frames: list[ExpertFrame],
    info: ShardInfo,
    options: AggregationOptions,
    min_joint_score: float,
    tracks: TrackFilterOptions | None = None,
) -> tuple[SkeletonClip, dict[str, int]]:
    """One clip's skeletons from its expert frames (every expert, every frame ``t``), with the person filters
    ``tracks`` applied as extraction applies them, and its person-frames left out by reason
    (``posekit.refine.tracks.DROP_REASONS``, ``TRACK_DROP_REASONS``). Proposals of a ``--3d`` run carry their
    experts' 3D, which the tracks keep (:func:`posekit.refine.pose3d.expert_3d_source`)."""
    T = max(f.t for f in frames) + 1
    empty = PoseProposals.empty(info.layout)
    per_expert = {name: [empty] * T for name in info.experts}
    frame_index = np.zeros(T, np.int32)
    timestamp = np.zeros(T, np.float64)
    for f in frames:
        if f.expert not in per_expert:
            raise ShardError(
                f"proposals of clip {f.clip_id!r} name expert {f.expert!r}, absent from the shard metadata"
            )
        per_expert[f.expert][f.t] = f.proposals
        frame_index[f.t], timestamp[f.t] = f.frame_index, f.timestamp
    first = frames[0]
    proposals = list(per_expert.values())
    refined = skeleton_tracks(proposals, info.layout, options, min_joint_score, expert_3d_source(proposals))
    refined = filter_tracks(refined, tracks or TrackFilterOptions(), first.width, first.height, first.fps)
    clip = SkeletonClip(
        clip_id=first.clip_id,
        video_path=first.video_path,
        width=first.width,
        height=first.height,
        fps=first.fps,
        frame_index=frame_index,
        timestamp=timestamp,
        tracks=refined.tracks,
    )
    return clip, refined.dropped


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
    tracks: TrackFilterOptions | None = None,
) -> AggregateSummary:
    """SST-A over every clip of the proposal shards under ``proposals`` into skeleton shards in ``out``.

    ``tracks``: the person filters (None: those the extraction run recorded, :func:`run_track_filters`).
    Resumable like extraction: clips already written to ``out`` are skipped.
    """
    shards = list_shards(proposals, "proposals")
    if not shards:
        raise ShardError(f"no proposals shards under {proposals} (write them with posekit extract --keep-proposals)")
    info = read_shard_info(shards[0])
    if Path(proposals).resolve().is_relative_to(Path(out).resolve()):
        raise ConfigError(f"--out {out} holds the proposals being read; write the new skeletons to another folder")
    tracks = tracks or run_track_filters(proposals, {})
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
            summary = _aggregate_clips(shards, info, manifest, sink, options, min_joint_score, tracks)
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
) -> AggregateSummary:
    """SST-A and the person filters ``tracks`` over the clips of ``shards`` that ``manifest`` does not hold yet,
    each added to ``sink``."""
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
            clip, dropped = clip_from_proposals(frames, info, options, min_joint_score, tracks)
            entry = ManifestEntry(
                clip_id, clip.video_path, "done", frames=clip.num_frames, tracks=len(clip.tracks), dropped=dropped
            )
            sink.add(clip, entry)
            summary.done += 1
            summary.tracks += len(clip.tracks)
            summary.person_frames += sum(len(t) for t in clip.tracks)
            for reason, n in dropped.items():
                summary.dropped[reason] = summary.dropped.get(reason, 0) + n
            if any(dropped.values()):
                lost = ", ".join(f"{n} {reason}" for reason, n in dropped.items() if n)
                log.info("%s: %s dropped", clip_id, lost)
    return summary
