"""Which matched clips go into the dataset, and with which label.

A clip is kept when it has a pose in at least ``min_pose_frames`` of its frames (thesis 3.5) and the
label map gives its annotation a class (:func:`keep_or_drop`, which reads the clips without keeping
them); a second pass (:func:`labelled_clips`) reads the kept ones again, shard by shard, and labels
them, with a PoseCap caption when the dataset has a ``text`` column.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from posekit.core.errors import ConfigError
from posekit.io.schema import ShardInfo
from posekit.skeleton.records import SkeletonClip
from posekit.workflows.datasets.build.options import BuildOptions
from posekit.workflows.datasets.build.sources import read_clips
from posekit.workflows.datasets.build.write import Dropped
from posekit.workflows.datasets.inputs import AnnotatedClip
from posekit.workflows.datasets.labels import ClassMap, template_text


def pose_frame_fraction(clip: SkeletonClip) -> float:
    """Fraction of the clip's frames with at least one person pose (one joint or more present)."""
    if clip.num_frames == 0:
        return 0.0
    posed = np.zeros(clip.num_frames, bool)
    for track in clip.tracks:
        seen = np.isfinite(track.keypoints).all(-1).any(-1)
        posed[track.t[seen]] = True
    return float(posed.mean())


def keep_or_drop(
    groups: dict[Path, dict[str, str]],
    annotated: dict[str, AnnotatedClip],
    options: BuildOptions,
    class_map: ClassMap,
    dropped: list[Dropped],
) -> tuple[dict[str, str], dict[str, ShardInfo]]:
    """Every matched clip kept (annotation id -> dataset class) or appended to ``dropped`` with its reason,
    without keeping the clips themselves; and the info of each shard read. ConfigError when none is left."""
    kept: dict[str, str] = {}
    infos: dict[str, ShardInfo] = {}
    for shard, wanted in groups.items():
        clips, info = read_clips(shard)
        infos[str(shard)] = info
        for clip in clips:
            if clip.clip_id not in wanted:
                continue
            a = annotated[wanted[clip.clip_id]]
            fraction = pose_frame_fraction(clip)
            target = class_map.apply(a.label)
            if fraction < options.min_pose_frames or clip.num_frames == 0:
                reason = f"a pose in {fraction:.0%} of {clip.num_frames} frames (< {options.min_pose_frames:.0%})"
                dropped.append(Dropped(a.clip_id, a.label, "filter", reason))
            elif target is None:
                dropped.append(Dropped(a.clip_id, a.label, "label_map", f"{class_map.name} drops {a.label!r}"))
            else:
                kept[a.clip_id] = target
    if not kept:
        reasons = Counter(d.stage for d in dropped)
        raise ConfigError(
            f"no clip left to build a dataset from ({len(annotated)} matched to skeletons; dropped: "
            f"{', '.join(f'{n} at {s}' for s, n in reasons.items()) or 'none'}); "
            "see the reasons above, or lower --min-pose-frames"
        )
    return kept, infos


def _caption(a: AnnotatedClip, clip: SkeletonClip, captions: dict[str, str] | None, seed: int) -> str:
    if captions is not None:
        for key in (*a.keys, clip.clip_id, Path(clip.clip_id).stem):
            if key in captions:
                return captions[key]
    return template_text(a.label, a.clip_id, seed)


def labelled_clips(
    groups: dict[Path, dict[str, str]],
    annotated: dict[str, AnnotatedClip],
    kept: dict[str, str],
    split_of: dict[str, str],
    options: BuildOptions,
    captions: dict[str, str] | None,
) -> Iterator[tuple[str, SkeletonClip]]:
    """The kept clips, read again shard by shard (never all in memory), labelled, with their split."""
    for shard, wanted in groups.items():
        clips, _ = read_clips(shard)
        for clip in clips:
            a_id = wanted.get(clip.clip_id)
            if a_id is None or a_id not in kept:
                continue
            a = annotated[a_id]
            clip.label, clip.source_label = kept[a_id], a.label
            if options.kind == "posecap":
                clip.text = _caption(a, clip, captions, options.seed)
            yield split_of[a_id], clip
