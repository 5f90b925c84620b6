"""Build Posetics-style (thesis 3.5) and PoseCap-style (thesis 6.3.1) datasets.

Stages, each restartable:

1. **extract** (skipped with ``shards=``): the labelled videos are linked under
   ``OUT/extract/videos/<clip_id>`` and :func:`posekit.workflows.extraction.driver.run_extraction`
   writes ``OUT/extract/shards/`` (resumable through its manifest), two levels down so that a glob
   ``OUT/*/skeletons-*.parquet`` finds the training shards only. With a :class:`Partition` only
   that part is extracted, into ``OUT/extract/shards/part-IIIII-of-NNNNN/``, and the build stops
   there: one SLURM array task per part, then one assembly run.
2. **assemble**: every annotated clip is matched to its skeletons (extraction manifests, or
   the clip ids of ``--shards``); clips with at least one pose in fewer than
   ``min_pose_frames`` of their frames are dropped (thesis 3.5: "at least one human pose over
   50% of frames"); the label map merges classes; the official split is kept or a stratified
   one made; ``OUT/<split>/skeletons-*.parquet`` are written with ``label`` and
   ``source_label`` columns (PoseCap adds ``text``; 3D travels in the tracks' ``keypoints_3d``), then
   ``dataset.json`` (the commit point), ``README.md`` (the dataset card, with the Hugging Face
   metadata that makes ``datasets.load_dataset(OUT)`` give named splits and ``ClassLabel``
   labels) and ``histograms.png``.

Assembly never holds the whole dataset: it reads one source shard at a time (twice: once to
decide, once to write) and shuffles clips within a bounded window before writing, so an
output shard mixes classes. The same inputs, options and seed give byte-identical shards.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from posekit import __version__
from posekit.core.errors import ConfigError, PosekitError, ShardError
from posekit.core.hashing import stable_hash
from posekit.core.options import check_bounds
from posekit.io.manifest import MANIFEST_NAME
from posekit.io.outputs import check_output_dir
from posekit.io.schema import ShardInfo
from posekit.io.shards import ShardWriter, list_shards, read_shard_info, table_to_skeletons
from posekit.io.stats import ShardStats, add_clip, plot_histograms
from posekit.skeleton.records import SkeletonClip
from posekit.workflows.datasets.inputs import AnnotatedClip, Collection, link_inputs
from posekit.workflows.datasets.labels import IDENTITY, ClassMap, load_captions, load_class_map, template_text
from posekit.workflows.extraction.partition import Partition

log = logging.getLogger(__name__)

DATASET_JSON = "dataset.json"
EXTRACT_DIR = "extract"
EXTRACT_SHARDS = "shards"
HF_SPLITS = {"val": "validation"}
"""posekit split folders whose Hugging Face split name differs (``datasets`` calls ``val/`` validation)."""


@dataclass(frozen=True)
class BuildOptions:
    """What decides the assembled dataset (recorded in ``dataset.json``); ``kind`` and ``captions`` come from the
    command (``posecap`` adds a ``text`` column, from the captions file or label templates)."""

    kind: Literal["posetics", "posecap"] = field(default="posetics", metadata={"cli": False})
    min_pose_frames: float = field(
        default=0.5,
        metadata={"help": "Keep clips with a pose in at least this share of frames (thesis 3.5).", "min": 0, "max": 1},
    )
    label_map: str | None = field(
        default="auto",
        metadata={
            "help": "auto (kinetics400-posetics for a Kinetics CSV, else none), none, kinetics400-posetics, "
            "or a JSON/CSV file of label -> class."
        },
    )
    split: Literal["auto", "official", "stratified"] = field(
        default="auto",
        metadata={"help": "official (from the annotations), stratified, or auto (official when every clip has one)."},
    )
    val_fraction: float = field(
        default=0.1,
        metadata={
            "help": "Share of the clips in val (stratified split): round(clips x fraction), spread over the classes.",
            "min": 0,
            "max": 1,
            "max_open": True,
        },
    )
    val_every_class: bool = field(
        default=False,
        metadata={
            "help": "Stratified split: give every class of two or more clips at least one val and one train clip, "
            "even beyond round(clips x fraction)."
        },
    )
    seed: int = field(default=0, metadata={"help": "Seed of the split, the shuffling into shards and the templates."})
    shard_clips: int = field(default=256, metadata={"help": "Clips per output shard.", "min": 1})
    row_group_clips: int = field(
        default=16, metadata={"help": "Clips per Parquet row group (what random access decodes).", "min": 1}
    )
    shuffle_clips: int = field(
        default=2048, metadata={"help": "Clips held in memory and shuffled together before writing.", "min": 1}
    )
    captions: str | None = field(default=None, metadata={"cli": False})
    allow_incomplete: bool = field(
        default=False, metadata={"help": "Assemble even if some extraction parts have not finished."}
    )

    def __post_init__(self) -> None:
        check_bounds(self)

    @property
    def columns(self) -> tuple[str, ...]:
        extra = ("text",) if self.kind == "posecap" else ()
        return ("label", "source_label", *extra)


@dataclass
class Dropped:
    clip_id: str
    label: str
    stage: str
    reason: str


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


# ---------------------------------------------------------------------------------------------
# Where each clip's skeletons are


@dataclass
class _Source:
    shard: Path
    clip_id: str


def extraction_folder(out: Path) -> Path:
    """Where a build of ``out`` extracts: ``OUT/extract/shards/``, apart from the split folders.

    Raises ConfigError, naming the move that fixes it, for a dataset whose extraction shards lie in
    ``OUT/extract/`` itself (posekit 0.1 layout), where ``OUT/*/skeletons-*.parquet`` also matches them.
    """
    old = Path(out) / EXTRACT_DIR
    if (old / MANIFEST_NAME).is_file() or any(old.glob("skeletons-*.parquet")) or _part_folders(old):
        raise ConfigError(
            f"{old} holds extraction shards where a glob {out}/*/skeletons-*.parquet also finds them; move them "
            f"apart (nothing is re-extracted): cd {old} && mkdir -p {EXTRACT_SHARDS} && mv {MANIFEST_NAME} "
            f"skeletons-*.parquet $(ls -d proposals part-*-of-* 2>/dev/null) {EXTRACT_SHARDS}/"
        )
    return old / EXTRACT_SHARDS


def _part_folders(extract: Path) -> list[Path]:
    return sorted(p for p in extract.glob("part-*-of-*") if p.is_dir() and Partition.from_folder_name(p.name))


def _extraction_sources(
    extract: Path, clips: list[AnnotatedClip], allow_incomplete: bool
) -> tuple[dict[str, _Source], dict[str, str]]:
    """Clip id -> its committed shard, and clip id -> why it has none (failed, not yet run)."""
    folders = [extract, *_part_folders(extract)]
    sources: dict[str, _Source] = {}
    failed: dict[str, str] = {}
    for folder in folders:
        path = folder / MANIFEST_NAME
        if not path.is_file():
            continue
        try:
            entries = json.loads(path.read_text()).get("entries", [])
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
        for e in entries:
            if e.get("status") == "done" and e.get("shard"):
                sources.setdefault(e["clip_id"], _Source(folder / e["shard"], e["clip_id"]))
            elif e.get("status") == "failed":
                failed.setdefault(e["clip_id"], f"extraction failed: {e.get('reason', '')}")
    pending = [c for c in clips if c.path is not None and c.clip_id not in sources and c.clip_id not in failed]
    if pending:
        counts = sorted({Partition.from_folder_name(p.name).count for p in _part_folders(extract)} or {1})
        parts = sorted({stable_hash(c.clip_id) % counts[-1] for c in pending})
        where = (
            f"parts {', '.join(map(str, parts[:10]))} of {counts[-1]} have not finished"
            if counts[-1] > 1
            else "extraction has not run or was interrupted"
        )
        if not allow_incomplete:
            raise ConfigError(
                f"{len(pending)} clip(s) have no extraction result yet ({where}); run the missing parts "
                "(same command with --shard-index I --num-shards N), or pass --allow-incomplete"
            )
        for c in pending:
            failed[c.clip_id] = f"not extracted ({where})"
    return sources, failed


def _shard_sources(shards: Path) -> dict[str, _Source]:
    """Clip id -> shard for every skeletons shard under ``shards`` (first occurrence wins)."""
    paths = list_shards(shards, "skeletons")
    if not paths:
        raise ShardError(f"no skeletons shards (skeletons-*.parquet) under {shards}")
    out: dict[str, _Source] = {}
    for path in paths:
        read_shard_info(path)
        for cid in pq.read_table(path, columns=["clip_id"]).column("clip_id").to_pylist():
            out.setdefault(cid, _Source(path, cid))
    return out


def _match(clips: list[AnnotatedClip], sources: dict[str, _Source]) -> dict[str, _Source]:
    """Annotated clip id -> source, by clip id, then by any alias against source ids and their stems."""
    by_stem: dict[str, str] = {}
    for cid in sources:
        by_stem.setdefault(Path(cid).stem, cid)
        by_stem.setdefault(Path(cid).name, cid)
    matched: dict[str, _Source] = {}
    taken: set[str] = set()
    for clip in clips:
        for key in clip.keys:
            cid = key if key in sources else by_stem.get(key) or by_stem.get(Path(key).stem)
            if cid is not None and cid not in taken:
                matched[clip.clip_id] = sources[cid]
                taken.add(cid)
                break
    return matched


# ---------------------------------------------------------------------------------------------
# Filtering, labels, split


def pose_frame_fraction(clip: SkeletonClip) -> float:
    """Fraction of the clip's frames with at least one person pose (one joint or more present)."""
    if clip.num_frames == 0:
        return 0.0
    posed = np.zeros(clip.num_frames, bool)
    for track in clip.tracks:
        seen = np.isfinite(track.keypoints).all(-1).any(-1)
        posed[track.t[seen]] = True
    return float(posed.mean())


def stratified_split(
    labels: dict[str, str], val_fraction: float, seed: int, every_class: bool = False
) -> dict[str, str]:
    """Clip id -> ``train``/``val``: ``round(N * val_fraction)`` of the ``N`` clips go to val (halves round up),
    spread over the classes in proportion to their size (largest remainders first, ties by class name), never
    a class's last train clip; within a class, the clips with the lowest stable hash of ``seed:clip_id``.

    ``every_class`` also gives every class of two or more clips at least one val clip (when ``val_fraction > 0``).
    """
    by_class: dict[str, list[str]] = defaultdict(list)
    for cid, label in labels.items():
        by_class[label].append(cid)
    share = {label: len(ids) * val_fraction for label, ids in by_class.items()}
    n_val = {label: min(math.floor(q), max(len(by_class[label]) - 1, 0)) for label, q in share.items()}
    left = math.floor(len(labels) * val_fraction + 0.5) - sum(n_val.values())
    for label in sorted(share, key=lambda c: (-(share[c] - math.floor(share[c])), c)):
        if left <= 0:
            break
        if n_val[label] < len(by_class[label]) - 1:
            n_val[label] += 1
            left -= 1
    out: dict[str, str] = {}
    for label, ids in by_class.items():
        ids.sort(key=lambda cid: (stable_hash(f"{seed}:{cid}"), cid))
        count = n_val[label]
        if every_class and val_fraction > 0 and len(ids) >= 2:
            count = min(max(count, 1), len(ids) - 1)
        for k, cid in enumerate(ids):
            out[cid] = "val" if k < count else "train"
    return out


# ---------------------------------------------------------------------------------------------
# The build


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

    ``extract_options`` (:class:`posekit.workflows.extraction.driver.ExtractOptions`) is needed unless ``shards``
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
            one_part = _extract_videos(found, out, extract_options, result, overwrite, progress, partition, backend)
            if one_part:
                return result
        sources, failed = _extraction_sources(extract, found, options.allow_incomplete)
        clips = found
        label_of = {c.clip_id: c.label for c in found}
        for cid, reason in sorted(failed.items()):
            result.dropped.append(Dropped(cid, label_of.get(cid, ""), "extraction", reason))
        provenance = {"extraction": _extraction_settings(extract)}
    else:
        sources = _shard_sources(Path(shards))
        clips = list(collection.clips)
        failed = {}
        provenance = {"shards": str(shards)}
    matched = _match([c for c in clips if c.clip_id not in failed], sources)
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


def _extract_videos(
    found: list[AnnotatedClip],
    out: Path,
    extract_options,
    result: BuildResult,
    overwrite: bool,
    progress: bool,
    partition: Partition | None,
    backend,
) -> bool:
    """Extract the ``found`` videos into the dataset's extraction folder, unless it holds a partitioned
    extraction to assemble; True when this call extracted one part only (``partition``), which assembly waits for."""
    extract = extraction_folder(out)
    if partition is None and _part_folders(extract):
        log.info("%s holds partitioned extraction; assembling the parts", extract)
        return False
    if extract_options is None:
        raise ConfigError("extraction options are needed to extract the videos")
    from posekit.workflows.extraction.driver import run_extraction

    videos = link_inputs(found, out / EXTRACT_DIR / "videos")
    summary = run_extraction(
        videos, extract, extract_options, overwrite=overwrite, progress=progress, partition=partition, backend=backend
    )
    result.extraction = {
        "done": summary.done,
        "failed": summary.failed,
        "skipped": summary.skipped,
        "seconds": round(summary.seconds, 1),
    }
    if partition is not None:
        log.info("part %d of %d extracted; assemble with --assemble-only", partition.index, partition.count)
    return partition is not None


def _extraction_settings(extract: Path) -> dict:
    for folder in [extract, *_part_folders(extract)]:
        path = folder / MANIFEST_NAME
        if path.is_file():
            return json.loads(path.read_text()).get("settings", {})
    return {}


def _by_shard(matched: dict[str, _Source]) -> dict[Path, dict[str, str]]:
    """Source shard -> {clip id in the shard: annotated clip id}, shards in sorted order."""
    groups: dict[Path, dict[str, str]] = defaultdict(dict)
    for annotated_id, src in matched.items():
        groups[src.shard][src.clip_id] = annotated_id
    return dict(sorted(groups.items()))


def _read_clips(path: Path) -> tuple[list[SkeletonClip], ShardInfo]:
    info = read_shard_info(path)
    if info.kind != "skeletons":
        raise ShardError(f"{path} holds {info.kind}, not skeletons")
    try:
        return table_to_skeletons(pq.read_table(path), info), info
    except OSError as exc:
        raise ShardError(f"cannot read shard {path}: {exc}") from exc


def _assemble(
    annotated: dict[str, AnnotatedClip],
    matched: dict[str, _Source],
    out: Path,
    options: BuildOptions,
    class_map: ClassMap,
    captions: dict[str, str] | None,
    provenance: dict,
    result: BuildResult,
) -> None:
    """Filter and label the matched clips, split them and write the dataset: shards, ``dataset.json``, card."""
    groups = _by_shard(matched)
    kept, infos = _decide_clips(groups, annotated, options, class_map, result)
    info = _dataset_info(infos, options)
    split_of, use_official = _choose_split(annotated, kept, options)
    split_names = sorted(set(split_of.values()), key=lambda s: (s != "train", s != "val", s))
    classes = list(class_map.classes) if class_map.classes else sorted(set(kept.values()))
    clips = _labelled_clips(groups, annotated, kept, split_of, options, captions)
    written = write_split_shards(out, clips, split_names, info, options)
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


def _decide_clips(
    groups: dict[Path, dict[str, str]],
    annotated: dict[str, AnnotatedClip],
    options: BuildOptions,
    class_map: ClassMap,
    result: BuildResult,
) -> tuple[dict[str, str], dict[str, ShardInfo]]:
    """Every matched clip kept (annotation id -> dataset class) or dropped with its reason in ``result``, without
    keeping the clips themselves; and the info of each shard read. ConfigError when none is left."""
    kept: dict[str, str] = {}
    infos: dict[str, ShardInfo] = {}
    for shard, wanted in groups.items():
        clips, info = _read_clips(shard)
        infos[str(shard)] = info
        for clip in clips:
            if clip.clip_id not in wanted:
                continue
            a = annotated[wanted[clip.clip_id]]
            fraction = pose_frame_fraction(clip)
            target = class_map.apply(a.label)
            if fraction < options.min_pose_frames or clip.num_frames == 0:
                reason = f"a pose in {fraction:.0%} of {clip.num_frames} frames (< {options.min_pose_frames:.0%})"
                result.dropped.append(Dropped(a.clip_id, a.label, "filter", reason))
            elif target is None:
                result.dropped.append(Dropped(a.clip_id, a.label, "label_map", f"{class_map.name} drops {a.label!r}"))
            else:
                kept[a.clip_id] = target
    if not kept:
        reasons = Counter(d.stage for d in result.dropped)
        raise ConfigError(
            f"no clip left to build a dataset from ({len(annotated)} matched to skeletons; dropped: "
            f"{', '.join(f'{n} at {s}' for s, n in reasons.items()) or 'none'}); "
            "see the reasons above, or lower --min-pose-frames"
        )
    return kept, infos


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


def _choose_split(
    annotated: dict[str, AnnotatedClip], kept: dict[str, str], options: BuildOptions
) -> tuple[dict[str, str], bool]:
    """The split of each kept clip, and whether it is the annotations' official one (``--split``)."""
    official = {cid: annotated[cid].split for cid in kept}
    has_official = all(s is not None for s in official.values())
    if options.split == "official" and not has_official:
        raise ConfigError("--split official: some clips have no split in the annotations; use --split stratified")
    if options.split == "official" or (options.split == "auto" and has_official):
        return {c: s for c, s in official.items() if s is not None}, True
    return stratified_split(kept, options.val_fraction, options.seed, options.val_every_class), False


def _labelled_clips(
    groups: dict[Path, dict[str, str]],
    annotated: dict[str, AnnotatedClip],
    kept: dict[str, str],
    split_of: dict[str, str],
    options: BuildOptions,
    captions: dict[str, str] | None,
) -> Iterator[tuple[str, SkeletonClip]]:
    """The kept clips, read again shard by shard (never all in memory), labelled, with their split."""
    for shard, wanted in groups.items():
        clips, _ = _read_clips(shard)
        for clip in clips:
            a_id = wanted.get(clip.clip_id)
            if a_id is None or a_id not in kept:
                continue
            a = annotated[a_id]
            clip.label, clip.source_label = kept[a_id], a.label
            if options.kind == "posecap":
                clip.text = _caption(a, clip, captions, options.seed)
            yield split_of[a_id], clip


@dataclass
class WrittenSplits:
    """What :func:`write_split_shards` wrote: per split, clips per class, shard file names and statistics."""

    names: list[str]
    counts: dict[str, Counter[str]]
    shards: dict[str, list[str]]
    stats: dict[str, ShardStats]
    all_stats: ShardStats


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
    writers: dict[str, ShardWriter] = {}
    for name in split_names:
        (staging / name).mkdir(parents=True)
        writers[name] = ShardWriter(
            staging / name, info, options.shard_clips, 256 << 20, options.row_group_clips, compact=True
        )
    buffers: dict[str, list[SkeletonClip]] = {name: [] for name in split_names}
    chunks: Counter[str] = Counter()
    counts: dict[str, Counter[str]] = {name: Counter() for name in split_names}
    stats = {name: ShardStats(layout=info.layout.name, experts=info.experts) for name in split_names}
    all_stats = ShardStats(layout=info.layout.name, experts=info.experts)

    def drain(name: str) -> None:
        buf = buffers[name]
        rng = np.random.default_rng([options.seed, split_names.index(name), chunks[name]])
        chunks[name] += 1
        for k in rng.permutation(len(buf)):
            writers[name].add([buf[k]])
            if writers[name].should_flush:
                writers[name].flush()
        buffers[name] = []

    for name, clip in clips:
        add_clip(stats[name], clip)
        add_clip(all_stats, clip)
        counts[name][clip.label] += 1
        buffers[name].append(clip)
        if len(buffers[name]) >= options.shuffle_clips:
            drain(name)
    for name in split_names:
        drain(name)
        writers[name].flush()
    names = [name for name in split_names if counts[name]]
    for name in names:
        final = out / name
        if final.exists():
            shutil.rmtree(final)
        (staging / name).rename(final)
    shutil.rmtree(staging, ignore_errors=True)
    return WrittenSplits(
        names=names,
        counts={name: counts[name] for name in names},
        shards={name: sorted(p.name for p in (out / name).glob("skeletons-*.parquet")) for name in names},
        stats={name: stats[name] for name in names},
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
    tmp = out / f".{DATASET_JSON}.tmp"
    tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    tmp.replace(out / DATASET_JSON)


def _caption(a: AnnotatedClip, clip: SkeletonClip, captions: dict[str, str] | None, seed: int) -> str:
    if captions is not None:
        for key in (*a.keys, clip.clip_id, Path(clip.clip_id).stem):
            if key in captions:
                return captions[key]
    return template_text(a.label, a.clip_id, seed)


def _hf_type(kind: pa.DataType) -> dict:
    """The Hugging Face ``datasets`` feature (its YAML form, ``datasets`` >= 4) of an Arrow type."""
    if pa.types.is_struct(kind):
        return {"struct": [{"name": f.name, **_hf_type(f.type)} for f in kind]}
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        inner = _hf_type(kind.value_type)
        if pa.types.is_struct(kind.value_type):
            entry: dict = {"list": inner["struct"]}
        else:
            entry = {"list": inner.get("dtype", inner)}
        if pa.types.is_fixed_size_list(kind):
            entry["length"] = kind.list_size
        return entry
    names = {"float": "float32", "double": "float64", "halffloat": "float16"}
    return {"dtype": names.get(str(kind), str(kind))}


def hf_metadata(doc: dict, schema: pa.Schema) -> dict:
    """The card's YAML header for the Hugging Face Hub and ``datasets.load_dataset(OUT)``: one config whose
    splits are the split folders (``val`` named ``validation``), every column's feature from the shards'
    Arrow schema and ``label`` a ``ClassLabel`` over ``doc["classes"]`` (index = position)."""
    features = []
    for column in schema:
        if column.name == "label":
            names = {str(i): c for i, c in enumerate(doc["classes"])}
            features.append({"name": "label", "dtype": {"class_label": {"names": names}}})
        else:
            features.append({"name": column.name, **_hf_type(column.type)})
    splits = [(HF_SPLITS.get(name, name), split) for name, split in doc["splits"].items()]
    return {
        "license": "other",
        "license_name": "source-videos",
        "license_details": "Skeletons derived from the source videos; their terms apply.",
        "task_categories": ["video-classification"],
        "tags": ["skeleton", "pose-estimation", "action-recognition", "posekit", doc["kind"]],
        "pretty_name": f"{doc['name']} ({doc['kind']} skeletons)",
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": hf, "path": f"{split['folder']}/skeletons-*.parquet"} for hf, split in splits],
            }
        ],
        "dataset_info": {"features": features},
    }


def _build_lines(doc: dict) -> tuple[str, list[str]]:
    split = doc["split"]
    split_detail = f" (val fraction {split['val_fraction']}, seed {split['seed']})" if split["val_fraction"] else ""
    intro = f"Built by posekit {doc['posekit_version']} (`posekit build-dataset {doc['kind']}`) following the " + (
        "Posetics recipe of thesis section 3.5" if doc["kind"] == "posetics" else "PoseCap recipe (thesis 6.3.1)"
    )
    made = [
        f"- Annotations: {doc['provenance']['annotations']['format']}.",
        f"- Filter: clips keep a pose in at least {doc['filters']['min_pose_frames']:.0%} of their frames.",
        f"- Label map: {doc['label_map']['name']}"
        + (f" ({len(doc['label_map']['merged'])} merged classes)" if doc["label_map"]["merged"] else "")
        + ".",
        f"- Split: {split['method']}{split_detail}.",
    ]
    return intro, made


def _import_lines(doc: dict) -> tuple[str, list[str]]:
    source = doc["import"]
    intro = f"Imported by posekit {doc['posekit_version']} (`{source['command']}`) from {source['format']}"
    made = [f"- Source: {source['source']}.", *[f"- {line}" for line in source["notes"]]]
    made.append(f"- Split: {doc['split']['method']} ({doc['split']['rule']}).")
    return intro, made


def _card_3d(doc: dict) -> str:
    """The card's line on 3D: how many person-frames carry ``keypoints_3d``, in what convention, or that none do."""
    stats = doc["stats"]
    with_3d, poses = stats.get("person_frames_3d", 0), stats["person_frames"]
    if not with_3d:
        return "3D: none; `keypoints_3d` is null in every track (`build-dataset --3d` extracts 3D joints)."
    return (
        f"3D: the tracks' `keypoints_3d` (n, V, 3) and `joint_scores_3d` hold 3D joints beside the 2D ones on "
        f"{with_3d} of {poses} person-frames ({poses - with_3d} without); coordinates: {doc['coordinates_3d']}."
    )


def dataset_card(doc: dict, schema: pa.Schema | None = None) -> str:
    """The dataset's README: the Hugging Face YAML header (:func:`hf_metadata`, given the shards' schema),
    what it is, how it was made, per-class counts, histograms."""
    splits = list(doc["splits"])
    header = ["---", yaml.safe_dump(hf_metadata(doc, schema), sort_keys=False).rstrip(), "---", ""] if schema else []
    intro, made = _import_lines(doc) if "import" in doc else _build_lines(doc)
    lines = [
        *header,
        f"# {doc['name']}: a {doc['kind']} skeleton dataset",
        "",
        intro + f": {doc['num_clips']} clips, {doc['num_classes']} classes, layout `{doc['layout']['name']}` "
        f"({len(doc['layout']['joints'])} joints), experts {', '.join(doc['experts'])}.",
        "",
        "## Layout",
        "",
        *[f"- `{s}/`: {doc['splits'][s]['clips']} clips in {len(doc['splits'][s]['shards'])} shard(s)" for s in splits],
        "- `dataset.json`: classes (index = position), counts, how it was made, dropped clips and files",
        "- `histograms.png`: joint scores, SST-A confidence C (when aggregated), joint completeness per person-frame",
        "",
        f"Shard columns: the skeletons schema of posekit (docs/shards.md) plus {', '.join(doc['columns'])}. "
        f"Coordinates: {doc['coordinates']}.",
        "",
        _card_3d(doc),
        "",
        "## How it was made",
        "",
        *made,
    ]
    drops = doc["dropped_counts"]
    dropped_detail = f" ({', '.join(f'{n} at {k}' for k, n in drops.items())})" if drops else ""
    lines.append(f"- Dropped: {sum(drops.values())}{dropped_detail}; each with its reason in dataset.json.")
    if doc.get("text"):
        lines.append(f"- Text: {doc['text']}.")
    if doc.get("label_map", {}).get("merged"):
        lines += ["", "## Merged classes", "", "| class | from |", "| --- | --- |"]
        lines += [f"| {t} | {', '.join(s)} |" for t, s in doc["label_map"]["merged"].items()]
    lines += ["", "## Clips per class", "", "| class | " + " | ".join(splits) + " |", "|---" * (len(splits) + 1) + "|"]
    for c in doc["classes"]:
        lines.append(f"| {c} | " + " | ".join(str(doc["counts"][s].get(c, 0)) for s in splits) + " |")
    stats = doc["stats"]
    lines += [
        "",
        "## Skeleton quality",
        "",
        f"{stats['frames']} frames, {stats['tracks']} person tracks, {stats['person_frames']} person-frames; "
        f"missing joints {stats['missing_joint_rate']}, frames with a person {stats['frames_with_person_rate']}.",
        "",
        "![histograms](histograms.png)",
        "",
        "## Reading it",
        "",
        "```python",
        "from posekit.io.torch_dataset import SkeletonShardDataset   # random access, labels from dataset.json",
        "train = SkeletonShardDataset('train', window=150)",
        "from posekit.io.streaming import SkeletonShardStream        # shard-by-shard, for huge datasets",
        "import duckdb; duckdb.sql(\"SELECT label, count(*) FROM 'train/*.parquet' GROUP BY label\")",
        "import datasets; datasets.load_dataset('.')                  # named splits, label a ClassLabel",
        "```",
        "",
        "Train UNIK on it with `posekit train unik --data .`; export with `posekit export pyskl|ntu|coco`.",
        "",
    ]
    return "\n".join(lines)


def load_dataset_json(path: Path) -> dict:
    """``dataset.json`` of a built dataset (``path``: the file or the dataset folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / DATASET_JSON
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PosekitError(f"cannot read {path}: {exc}") from exc


__all__ = [
    "DATASET_JSON",
    "IDENTITY",
    "BuildOptions",
    "BuildResult",
    "build_dataset",
    "dataset_card",
    "extraction_folder",
    "hf_metadata",
    "load_dataset_json",
    "pose_frame_fraction",
    "stratified_split",
]
