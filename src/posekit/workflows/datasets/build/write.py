"""Writing a dataset folder, for ``posekit build-dataset`` and ``posekit import`` alike.

:func:`write_split_shards` writes labelled ``(split, clip)`` pairs as ``OUT/<split>/skeletons-*.parquet``;
:func:`dataset_doc` makes the ``dataset.json`` entries every dataset has (each command adds how it made
it), with the clips left out (:class:`Dropped`); :func:`finish_dataset` writes the histograms, the card
(:mod:`posekit.workflows.datasets.build.card`) and, last, ``dataset.json``.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from posekit import __version__
from posekit.core.files import atomic_write_text
from posekit.io.samples import DATASET_JSON
from posekit.io.schema import ShardInfo
from posekit.io.shards import ShardWriter
from posekit.io.stats import ShardStats, add_clip, plot_histograms
from posekit.skeleton.records import SkeletonClip
from posekit.workflows.datasets.build.card import dataset_card
from posekit.workflows.datasets.build.options import BuildOptions


@dataclass
class Dropped:
    """A clip left out of the dataset: at which ``stage`` (input, extraction, filter, label_map, read, ...) and
    why; ``dataset.json`` and the card list them."""

    clip_id: str
    label: str
    stage: str
    reason: str


@dataclass
class WrittenSplits:
    """What :func:`write_split_shards` wrote: per split, clips per class, shard file names and statistics."""

    names: list[str]
    counts: dict[str, Counter[str]]
    shards: dict[str, list[str]]
    stats: dict[str, ShardStats]
    all_stats: ShardStats


class _SplitWriter:
    """One split being written: its shard writer, the window of clips waiting to be shuffled (the ``index``-th
    split's ``w``-th window is shuffled with the seed ``(options.seed, index, w)``), clips per class and
    statistics."""

    def __init__(self, folder: Path, index: int, info: ShardInfo, options: BuildOptions) -> None:
        folder.mkdir(parents=True)
        self.writer = ShardWriter(folder, info, options.shard_clips, 256 << 20, options.row_group_clips, compact=True)
        self.seed, self.index, self.window_clips = options.seed, index, options.shuffle_clips
        self.window: list[SkeletonClip] = []
        self.windows_written = 0
        self.counts: Counter[str] = Counter()
        self.stats = ShardStats(layout=info.layout.name, experts=info.experts)

    def add(self, clip: SkeletonClip) -> None:
        add_clip(self.stats, clip)
        self.counts[clip.label] += 1
        self.window.append(clip)
        if len(self.window) >= self.window_clips:
            self._write_window()

    def close(self) -> None:
        self._write_window()
        self.writer.flush()

    def _write_window(self) -> None:
        rng = np.random.default_rng([self.seed, self.index, self.windows_written])
        self.windows_written += 1
        for k in rng.permutation(len(self.window)):
            self.writer.add([self.window[k]])
            if self.writer.should_flush:
                self.writer.flush()
        self.window = []


def write_split_shards(
    out: Path,
    clips: Iterable[tuple[str, SkeletonClip]],
    split_names: list[str],
    info: ShardInfo,
    options: BuildOptions,
) -> WrittenSplits:
    """Write labelled ``(split, clip)`` pairs as ``OUT/<split>/skeletons-*.parquet`` (with ``info.columns``).

    Clips are shuffled within windows of ``options.shuffle_clips`` (seeded, so the same input gives
    byte-identical shards; 1 keeps the input order), cut into shards of ``options.shard_clips`` and row
    groups of ``options.row_group_clips``. Everything is written under ``OUT/.assembling`` and each split
    folder renamed into place at the end, so a killed run leaves the old dataset. Splits without a clip
    are left out of the result (and of the dataset).
    """
    staging = out / ".assembling"
    shutil.rmtree(staging, ignore_errors=True)
    splits = {name: _SplitWriter(staging / name, k, info, options) for k, name in enumerate(split_names)}
    all_stats = ShardStats(layout=info.layout.name, experts=info.experts)
    for name, clip in clips:
        splits[name].add(clip)
        add_clip(all_stats, clip)
    for split in splits.values():
        split.close()
    names = [name for name in split_names if splits[name].counts]
    for name in names:
        final = out / name
        if final.exists():
            shutil.rmtree(final)
        (staging / name).rename(final)
    shutil.rmtree(staging, ignore_errors=True)
    return WrittenSplits(
        names=names,
        counts={name: splits[name].counts for name in names},
        shards={name: sorted(p.name for p in (out / name).glob("skeletons-*.parquet")) for name in names},
        stats={name: splits[name].stats for name in names},
        all_stats=all_stats,
    )


def dataset_doc(
    out: Path, kind: str, classes: list[str], written: WrittenSplits, info: ShardInfo, dropped: list[Dropped]
) -> dict:
    """The ``dataset.json`` entries every dataset has (builds and imports add how they were made)."""
    all_stats = written.all_stats
    counts = {name: {c: written.counts[name][c] for c in classes if written.counts[name][c]} for name in written.names}
    return {
        "name": out.name,
        "kind": kind,
        "posekit_version": __version__,
        "classes": classes,
        "num_classes": len(classes),
        "num_clips": sum(sum(c.values()) for c in written.counts.values()),
        "splits": {
            name: {
                "folder": name,
                "clips": sum(written.counts[name].values()),
                "shards": written.shards[name],
                "frames": written.stats[name].frames,
                "person_frames": written.stats[name].person_frames,
                "person_frames_3d": written.stats[name].person_frames_3d,
            }
            for name in written.names
        },
        "counts": counts,
        "layout": json.loads(info.layout.to_json()),
        "experts": list(info.experts),
        "coordinates": info.coordinates,
        "coordinates_3d": info.coordinates_3d if all_stats.person_frames_3d else None,
        "columns": list(info.columns),
        "stats": {
            "frames": all_stats.frames,
            "tracks": all_stats.tracks,
            "person_frames": all_stats.person_frames,
            "person_frames_3d": all_stats.person_frames_3d,
            "missing_joint_rate": round(all_stats.missing_rate, 4) if all_stats.joints else None,
            "frames_with_person_rate": round(all_stats.frames_with_person_rate, 4) if all_stats.frames else None,
            "confidence_hist": all_stats.confidence_hist.tolist(),
            "completeness_hist": all_stats.completeness_hist.tolist(),
        },
        "dropped_counts": dict(Counter(d.stage for d in dropped)),
        "dropped": [asdict(d) for d in dropped],
    }


def finish_dataset(out: Path, doc: dict, written: WrittenSplits) -> None:
    """Write ``histograms.png``, the dataset card ``README.md`` and, last (the commit point), ``dataset.json``."""
    plot_histograms(written.all_stats, out / "histograms.png", completeness=True)
    first = written.names[0]
    schema = pq.read_schema(out / first / written.shards[first][0])
    (out / "README.md").write_text(dataset_card(doc, schema), encoding="utf-8")
    atomic_write_text(out / DATASET_JSON, json.dumps(doc, indent=1, ensure_ascii=False))
