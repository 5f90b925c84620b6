"""Where each annotated clip's skeletons come from: the build's own extraction or existing ``--shards``.

The extraction lies in ``OUT/extract/shards/`` (:func:`extraction_folder`), whole or in
``part-IIIII-of-NNNNN/`` folders, each with its manifest; :func:`extract_videos` runs it (or one part).
:func:`extraction_sources` reads which clips the manifests hold and which failed or have not run;
:func:`shard_sources` lists the clips of ``--shards``. :func:`match_sources` pairs the annotations with
them (by clip id, then by alias or file stem), :func:`clips_by_shard` groups the pairs so that assembly
reads each source shard once per pass, and :func:`read_clips` reads one.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq

from posekit.core.errors import ConfigError, ShardError
from posekit.core.hashing import stable_hash
from posekit.io.manifest import MANIFEST_NAME
from posekit.io.schema import ShardInfo
from posekit.io.shards import list_shards, read_shard_info, table_to_skeletons
from posekit.skeleton.records import SkeletonClip
from posekit.workflows.datasets.inputs import AnnotatedClip, link_inputs
from posekit.workflows.extraction.partition import Partition

if TYPE_CHECKING:
    from posekit.workflows.extraction.options import ExtractOptions
    from posekit.workflows.extraction.run import Backend

log = logging.getLogger(__name__)

EXTRACT_DIR = "extract"
EXTRACT_SHARDS = "shards"


@dataclass
class Source:
    """Where one clip's skeletons are: the ``shard`` file and the clip's id in it."""

    shard: Path
    clip_id: str


def extraction_folder(out: Path) -> Path:
    """Where a build of ``out`` extracts: ``OUT/extract/shards/``, apart from the split folders.

    Raises ConfigError, naming the move that fixes it, for a dataset whose extraction shards lie in
    ``OUT/extract/`` itself (posekit 0.1 layout), where ``OUT/*/skeletons-*.parquet`` also matches them.
    """
    old = Path(out) / EXTRACT_DIR
    if (old / MANIFEST_NAME).is_file() or any(old.glob("skeletons-*.parquet")) or part_folders(old):
        raise ConfigError(
            f"{old} holds extraction shards where a glob {out}/*/skeletons-*.parquet also finds them; move them "
            f"apart (nothing is re-extracted): cd {old} && mkdir -p {EXTRACT_SHARDS} && mv {MANIFEST_NAME} "
            f"skeletons-*.parquet $(ls -d proposals part-*-of-* 2>/dev/null) {EXTRACT_SHARDS}/"
        )
    return old / EXTRACT_SHARDS


def part_folders(extract: Path) -> list[Path]:
    """The ``part-IIIII-of-NNNNN`` folders of a partitioned extraction under ``extract``, in order."""
    return sorted(p for p in extract.glob("part-*-of-*") if p.is_dir() and Partition.from_folder_name(p.name))


def extract_videos(
    found: list[AnnotatedClip],
    out: Path,
    extract_options: ExtractOptions | None,
    overwrite: bool,
    progress: bool,
    partition: Partition | None,
    backend: Backend | None,
) -> dict:
    """Extract the ``found`` videos into the dataset's extraction folder, unless it holds a partitioned
    extraction to assemble (then nothing is run); return what the extraction did (empty when nothing ran)."""
    extract = extraction_folder(out)
    if partition is None and part_folders(extract):
        log.info("%s holds partitioned extraction; assembling the parts", extract)
        return {}
    if extract_options is None:
        raise ConfigError("extraction options are needed to extract the videos")
    from posekit.workflows.extraction.run import run_extraction

    videos = link_inputs(found, out / EXTRACT_DIR / "videos")
    summary = run_extraction(
        videos, extract, extract_options, overwrite=overwrite, progress=progress, partition=partition, backend=backend
    )
    if partition is not None:
        log.info("part %d of %d extracted; assemble with --assemble-only", partition.index, partition.count)
    return {
        "done": summary.done,
        "failed": summary.failed,
        "skipped": summary.skipped,
        "seconds": round(summary.seconds, 1),
    }


def extraction_sources(
    extract: Path, clips: list[AnnotatedClip], allow_incomplete: bool
) -> tuple[dict[str, Source], dict[str, str]]:
    """Clip id -> its committed shard, and clip id -> why it has none (failed, not yet run)."""
    folders = [extract, *part_folders(extract)]
    sources: dict[str, Source] = {}
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
                sources.setdefault(e["clip_id"], Source(folder / e["shard"], e["clip_id"]))
            elif e.get("status") == "failed":
                failed.setdefault(e["clip_id"], f"extraction failed: {e.get('reason', '')}")
    pending = [c for c in clips if c.path is not None and c.clip_id not in sources and c.clip_id not in failed]
    if pending:
        counts = sorted({Partition.from_folder_name(p.name).count for p in part_folders(extract)} or {1})
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


def extraction_settings(extract: Path) -> dict:
    """The settings the extraction recorded in its (first) manifest, for the dataset's provenance."""
    for folder in [extract, *part_folders(extract)]:
        path = folder / MANIFEST_NAME
        if path.is_file():
            return json.loads(path.read_text()).get("settings", {})
    return {}


def shard_sources(shards: Path) -> dict[str, Source]:
    """Clip id -> shard for every skeletons shard under ``shards`` (first occurrence wins)."""
    paths = list_shards(shards, "skeletons")
    if not paths:
        raise ShardError(f"no skeletons shards (skeletons-*.parquet) under {shards}")
    out: dict[str, Source] = {}
    for path in paths:
        read_shard_info(path)
        for cid in pq.read_table(path, columns=["clip_id"]).column("clip_id").to_pylist():
            out.setdefault(cid, Source(path, cid))
    return out


def match_sources(clips: list[AnnotatedClip], sources: dict[str, Source]) -> dict[str, Source]:
    """Annotated clip id -> source, by clip id, then by any alias against source ids and their stems."""
    by_stem: dict[str, str] = {}
    for cid in sources:
        by_stem.setdefault(Path(cid).stem, cid)
        by_stem.setdefault(Path(cid).name, cid)
    matched: dict[str, Source] = {}
    taken: set[str] = set()
    for clip in clips:
        for key in clip.keys:
            cid = key if key in sources else by_stem.get(key) or by_stem.get(Path(key).stem)
            if cid is not None and cid not in taken:
                matched[clip.clip_id] = sources[cid]
                taken.add(cid)
                break
    return matched


def clips_by_shard(matched: dict[str, Source]) -> dict[Path, dict[str, str]]:
    """Source shard -> {clip id in the shard: annotated clip id}, shards in sorted order."""
    groups: dict[Path, dict[str, str]] = defaultdict(dict)
    for annotated_id, src in matched.items():
        groups[src.shard][src.clip_id] = annotated_id
    return dict(sorted(groups.items()))


def read_clips(path: Path) -> tuple[list[SkeletonClip], ShardInfo]:
    """Every clip of the skeletons shard ``path``, and its info; ShardError for another kind or a bad file."""
    info = read_shard_info(path)
    if info.kind != "skeletons":
        raise ShardError(f"{path} holds {info.kind}, not skeletons")
    try:
        return table_to_skeletons(pq.read_table(path), info), info
    except OSError as exc:
        raise ShardError(f"cannot read shard {path}: {exc}") from exc
