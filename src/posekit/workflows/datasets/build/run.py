"""``posekit build-dataset``, the stages in order: extract (or take ``--shards``), match the annotations to
their skeletons, keep and label, split, write (see :mod:`posekit.workflows.datasets.build`).

Read top to bottom: what a build returns, the dataset shards' info, the assembly of the matched clips, and
:func:`build_dataset`, which ties them together.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from posekit import __version__
from posekit.core.errors import ConfigError
from posekit.io.outputs import check_output_dir
from posekit.io.schema import ShardInfo
from posekit.workflows.datasets.build.options import BuildOptions
from posekit.workflows.datasets.build.selection import keep_or_drop, labelled_clips
from posekit.workflows.datasets.build.sources import (
    Source,
    clips_by_shard,
    extract_videos,
    extraction_folder,
    extraction_settings,
    extraction_sources,
    match_sources,
    shard_sources,
)
from posekit.workflows.datasets.build.split import choose_split, split_order
from posekit.workflows.datasets.build.write import Dropped, dataset_doc, finish_dataset, write_split_shards
from posekit.workflows.datasets.inputs import AnnotatedClip, Collection
from posekit.workflows.datasets.labels import ClassMap, load_captions, load_class_map
from posekit.workflows.extraction.partition import Partition

log = logging.getLogger(__name__)


@dataclass
class BuildResult:
    """What a build did; ``assembled`` is False for a partitioned extraction run."""

    out: Path
    assembled: bool = False
    extraction: dict = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    shards: dict[str, list[str]] = field(default_factory=dict)

    @property
    def kept(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())


def _dataset_info(infos: dict[str, ShardInfo], options: BuildOptions) -> ShardInfo:
    """The dataset shards' info, from the extraction shards' (which must share one layout and expert set)."""
    layouts = {i.layout.name for i in infos.values()}
    experts = {i.experts for i in infos.values()}
    if len(layouts) > 1 or len(experts) > 1:
        raise ConfigError(
            f"the skeletons come from shards with different layouts or experts ({sorted(layouts)}, "
            f"{sorted(experts)}); build from one extraction setting"
        )
    first = next(iter(infos.values()))
    return ShardInfo(
        "skeletons",
        first.layout,
        first.experts,
        coordinates_3d=first.coordinates_3d,
        extra=json.dumps({"dataset": options.kind, "seed": options.seed}),
        columns=options.columns,
    )


def _assemble(
    annotated: dict[str, AnnotatedClip],
    matched: dict[str, Source],
    out: Path,
    options: BuildOptions,
    class_map: ClassMap,
    captions: dict[str, str] | None,
    provenance: dict,
    result: BuildResult,
) -> None:
    """Filter and label the matched clips, split them and write the dataset: shards, ``dataset.json``, card."""
    groups = clips_by_shard(matched)
    kept, infos = keep_or_drop(groups, annotated, options, class_map, result.dropped)
    info = _dataset_info(infos, options)
    split_of, use_official = choose_split(annotated, kept, options)
    classes = list(class_map.classes) if class_map.classes else sorted(set(kept.values()))
    clips = labelled_clips(groups, annotated, kept, split_of, options, captions)
    written = write_split_shards(out, clips, split_order(split_of), info, options)
    result.assembled = True
    result.classes = classes
    result.shards = written.shards
    source_labels = [annotated[cid].label for cid in kept]
    doc = {
        **dataset_doc(out, options.kind, classes, written, info, result.dropped),
        "filters": {"min_pose_frames": options.min_pose_frames, "rule": "at least one pose in this share of frames"},
        "label_map": {**class_map.describe(), "merged": class_map.merged(source_labels)},
        "split": {
            "method": "official" if use_official else "stratified",
            "val_fraction": None if use_official else options.val_fraction,
            "seed": options.seed,
        },
        "text": None
        if options.kind != "posecap"
        else ("captions file " + str(options.captions) if captions is not None else "templates from label names"),
        "options": asdict(options),
        "provenance": provenance,
    }
    result.counts = doc["counts"]
    finish_dataset(out, doc, written)
    for d in result.dropped:
        log.info("dropped %s (%s): %s", d.clip_id, d.stage, d.reason)


def _default_map(collection: Collection) -> str | None:
    return "kinetics400-posetics" if collection.format == "kinetics-csv" else None


def build_dataset(
    collection: Collection,
    out: Path,
    options: BuildOptions,
    extract_options=None,
    shards: Path | None = None,
    partition: Partition | None = None,
    assemble_only: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    backend=None,
) -> BuildResult:
    """Build (or extract one part of) a dataset from a labelled ``collection`` into ``out``.

    ``extract_options`` (:class:`posekit.workflows.extraction.options.ExtractOptions`) is needed unless ``shards``
    (existing skeletons shards) is given or ``assemble_only``; ``backend`` is the extraction
    backend (:class:`posekit.workflows.extraction.ray_backend.RayBackend`; default: this process).
    """
    out = Path(out)
    check_output_dir(out, "--out")
    class_map = load_class_map(options.label_map, _default_map(collection))
    captions = load_captions(Path(options.captions)) if options.captions else None
    if not collection.clips:
        raise ConfigError(f"no labelled clips in {collection.source}")
    result = BuildResult(out=out)
    for key, reason in collection.problems:
        result.dropped.append(Dropped(key, "", "input", reason))
    if shards is None:
        extract = extraction_folder(out)
        found = [c for c in collection.clips if c.path is not None]
        for c in collection.clips:
            if c.path is None:
                result.dropped.append(Dropped(c.clip_id, c.label, "input", "video not found"))
        if not assemble_only:
            result.extraction = extract_videos(found, out, extract_options, overwrite, progress, partition, backend)
            if partition is not None:
                return result
        sources, failed = extraction_sources(extract, found, options.allow_incomplete)
        clips = found
        label_of = {c.clip_id: c.label for c in found}
        for cid, reason in sorted(failed.items()):
            result.dropped.append(Dropped(cid, label_of.get(cid, ""), "extraction", reason))
        provenance = {"extraction": extraction_settings(extract)}
    else:
        sources = shard_sources(Path(shards))
        clips = list(collection.clips)
        failed = {}
        provenance = {"shards": str(shards)}
    matched = match_sources([c for c in clips if c.clip_id not in failed], sources)
    for c in clips:
        if c.clip_id not in matched and c.clip_id not in failed:
            where = "the --shards folder" if shards is not None else "the extraction output"
            result.dropped.append(Dropped(c.clip_id, c.label, "extraction", f"no skeletons for it in {where}"))
    annotated = {c.clip_id: c for c in clips if c.clip_id in matched}
    provenance.update(
        {"annotations": {"format": collection.format, "source": collection.source}, "posekit_version": __version__}
    )
    _assemble(annotated, matched, out, options, class_map, captions, provenance, result)
    return result
