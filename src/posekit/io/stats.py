"""Summary statistics of skeleton shards (what ``posekit inspect`` prints and plots)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from posekit.core.errors import write_error
from posekit.io.shards import iter_skeleton_clips, list_shards
from posekit.skeleton.records import SkeletonClip

HISTOGRAM_BINS = np.linspace(0.0, 1.0, 11)


@dataclass(frozen=True)
class ClipStats:
    """One clip's counts (a row of ``posekit inspect --clips``); ``poses`` are person-frames."""

    clip_id: str
    frames: int
    tracks: int
    poses: int
    joints: int
    missing_joints: int

    @property
    def missing_rate(self) -> float:
        """Fraction of the joints of its poses that are missing (NaN)."""
        return self.missing_joints / self.joints if self.joints else float("nan")


@dataclass
class ShardStats:
    """Totals over clips; histograms count person-frames per bin of ``HISTOGRAM_BINS``."""

    shards: int = 0
    clips: int = 0
    frames: int = 0
    tracks: int = 0
    person_frames: int = 0
    person_frames_3d: int = 0
    """Person-frames whose ``keypoints_3d`` has at least one joint."""
    joints: int = 0
    missing_joints: int = 0
    frames_with_person: int = 0
    layout: str = ""
    experts: tuple[str, ...] = ()
    score_hist: np.ndarray = field(default_factory=lambda: np.zeros(len(HISTOGRAM_BINS) - 1, np.int64))
    confidence_hist: np.ndarray = field(default_factory=lambda: np.zeros(len(HISTOGRAM_BINS) - 1, np.int64))
    confidence_values: int = 0
    completeness_hist: np.ndarray = field(default_factory=lambda: np.zeros(len(HISTOGRAM_BINS) - 1, np.int64))
    per_clip: list[ClipStats] = field(default_factory=list)
    """Filled by ``shard_stats(..., per_clip=True)``, in shard order."""

    @property
    def missing_rate(self) -> float:
        """Fraction of joints of present persons that are missing (NaN)."""
        return self.missing_joints / self.joints if self.joints else float("nan")

    @property
    def frames_with_person_rate(self) -> float:
        return self.frames_with_person / self.frames if self.frames else float("nan")


def add_clip(stats: ShardStats, clip: SkeletonClip) -> ClipStats:
    """Add one clip's frames, tracks, missing joints and histograms to ``stats``; return the clip's own counts."""
    poses = joints = missing_joints = 0
    occupied = np.zeros(clip.num_frames, bool)
    for track in clip.tracks:
        occupied[track.t] = True
        poses += len(track)
        if track.keypoints_3d is not None:
            stats.person_frames_3d += int(np.isfinite(track.keypoints_3d).all(-1).any(-1).sum())
        missing = np.isnan(track.keypoints).any(-1)
        joints += missing.size
        missing_joints += int(missing.sum())
        posed = ~missing.all(axis=1)
        scores = np.where(missing, 0.0, np.nan_to_num(track.joint_scores))[posed]
        mean_scores = scores.sum(axis=1) / (~missing[posed]).sum(axis=1)
        stats.score_hist += np.histogram(mean_scores, HISTOGRAM_BINS)[0]
        conf = track.confidence[np.isfinite(track.confidence)]
        stats.confidence_hist += np.histogram(np.clip(conf, 0, 1), HISTOGRAM_BINS)[0]
        stats.confidence_values += len(conf)
        if missing.size:
            stats.completeness_hist += np.histogram(1.0 - missing.mean(axis=1), HISTOGRAM_BINS)[0]
    stats.frames_with_person += int(occupied.sum())
    own = ClipStats(clip.clip_id, clip.num_frames, len(clip.tracks), poses, joints, missing_joints)
    stats.clips += 1
    stats.frames += own.frames
    stats.tracks += own.tracks
    stats.person_frames += own.poses
    stats.joints += own.joints
    stats.missing_joints += own.missing_joints
    return own


def shard_stats(path: Path, per_clip: bool = False) -> ShardStats:
    """Read every skeleton shard under ``path`` once and summarise it; with ``per_clip`` also list each clip."""
    stats = ShardStats(shards=len(list_shards(path, "skeletons")))
    for clip, info in iter_skeleton_clips(path):
        stats.layout, stats.experts = info.layout.name, info.experts
        own = add_clip(stats, clip)
        if per_clip:
            stats.per_clip.append(own)
    return stats


def plot_histograms(stats: ShardStats, out: Path, completeness: bool = False) -> Path:
    """PNG of the per-person-frame mean joint score, (when present) SST-A confidence C and
    (with ``completeness``) the fraction of joints present per person-frame."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("mean joint score per person-frame", stats.score_hist)]
    if stats.confidence_values:
        panels.append(("SST-A confidence C per person-frame", stats.confidence_hist))
    if completeness:
        panels.append(("joints present per person-frame (completeness)", stats.completeness_hist))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5), squeeze=False)
    centers = (HISTOGRAM_BINS[:-1] + HISTOGRAM_BINS[1:]) / 2
    for ax, (title, hist) in zip(axes[0], panels):
        ax.bar(centers, hist, width=0.09)
        ax.set_title(title)
        ax.set_xlabel("value")
        ax.set_ylabel("person-frames")
    fig.tight_layout()
    try:
        fig.savefig(out, dpi=100)
    except OSError as exc:
        raise write_error(Path(out), exc, "no histogram was written") from exc
    finally:
        plt.close(fig)
    return out
