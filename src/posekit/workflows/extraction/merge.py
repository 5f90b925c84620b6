"""``posekit manifest merge``: join the parts of a ``--shard-index/--num-shards`` run into one manifest.

Each part folder ``OUT/part-IIIII-of-NNNNN/`` is a complete output folder with its own
manifest (its commit point). The merge writes ``OUT/manifest.json`` naming every clip of
every part with its shard path relative to ``OUT``, so ``OUT`` reads as one dataset (readers
recurse) and a later run on ``OUT`` itself (``posekit extract ... --out OUT --retry-failed``)
resumes from it: clips such a run committed in ``OUT`` itself are kept by the next merge.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from posekit.core.errors import ConfigError
from posekit.core.hashing import stable_hash
from posekit.io.inputs import find_inputs, unique_inputs
from posekit.io.manifest import MANIFEST_NAME, ManifestEntry, RunManifest
from posekit.workflows.extraction.partition import Partition


@dataclass
class MergeReport:
    """What the parts hold: counts, and everything that keeps the run from being complete."""

    out: Path
    num_parts: int
    manifest: RunManifest
    missing_parts: list[str] = field(default_factory=list)
    missing_clips: dict[str, str] = field(default_factory=dict)
    """clip id -> the part folder that should hold it (only with ``inputs``)."""
    failed_in: dict[str, str] = field(default_factory=dict)
    """failed clip id -> the folder that recorded the failure."""
    duplicates: dict[str, list[str]] = field(default_factory=dict)
    """clip id -> the folders that each hold it as done."""

    @property
    def counts(self) -> dict[str, int]:
        return self.manifest.counts()

    @property
    def failed(self) -> list[ManifestEntry]:
        return sorted(self.manifest.with_status("failed"), key=lambda e: e.clip_id)

    @property
    def parts_to_rerun(self) -> list[int]:
        """Part indices with a missing, incomplete or failed piece (for ``sbatch --array=...``)."""
        names = {*self.missing_parts, *self.missing_clips.values(), *self.failed_in.values()}
        return sorted(p.index for name in names if (p := Partition.from_folder_name(name)) is not None)

    @property
    def ok(self) -> bool:
        return not (self.missing_parts or self.missing_clips or self.duplicates or self.failed)


@dataclass
class Merged:
    entries: dict[str, ManifestEntry] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    holders: dict[str, list[str]] = field(default_factory=dict)


def merge_manifests(out: Path, inputs: Path | None = None) -> MergeReport:
    """Merge ``out/part-*-of-*/manifest.json`` into ``out/manifest.json`` and report what is missing.

    Raises ConfigError when there are no parts, when they come from different ``--num-shards``,
    or when they were made with different settings. With ``inputs`` (the folder or list the
    parts were extracted from) clips that no part records are reported as missing.
    """
    out = Path(out)
    found = [
        (p, f) for f in sorted(out.glob("part-*-of-*")) if f.is_dir() and (p := Partition.from_folder_name(f.name))
    ]
    if not found:
        raise ConfigError(f"no part-IIIII-of-NNNNN folders in {out}; nothing to merge")
    counts = sorted({p.count for p, _ in found})
    if len(counts) > 1:
        raise ConfigError(
            f"{out} holds parts of different splits (--num-shards {', '.join(map(str, counts))}); keep one split"
        )
    count = counts[0]
    report = MergeReport(out, count, RunManifest(out / MANIFEST_NAME, {}))
    merged = Merged()
    settings: dict | None = None
    first = ""
    for index in range(count):
        name = Partition(index, count).folder_name
        path = out / name / MANIFEST_NAME
        if not path.is_file():
            report.missing_parts.append(name)
            continue
        manifest = RunManifest.read(path)
        if settings is None:
            settings, first = manifest.settings, name
        elif manifest.settings != settings:
            keys = set(settings) | set(manifest.settings)
            changed = sorted(k for k in keys if settings.get(k) != manifest.settings.get(k))
            raise ConfigError(
                f"{name} was made with other settings than {first} ({', '.join(changed)} differ); "
                "rerun it with the same flags"
            )
        for entry in manifest.entries.values():
            _add(merged, name, entry)
    if settings is None:
        raise ConfigError(f"no part of {out} has a {MANIFEST_NAME} yet; nothing to merge")
    previous = out / MANIFEST_NAME
    if previous.is_file():
        # Clips that a run on OUT itself committed (--retry-failed after a merge) live in OUT's own shards.
        for entry in RunManifest.read(previous).entries.values():
            if entry.status == "done" and entry.shard and "/" not in entry.shard:
                _add(merged, ".", entry)
    report.duplicates = {clip: where for clip, where in merged.holders.items() if len(where) > 1}
    if inputs is not None:
        videos, _ = find_inputs(inputs, bool((settings.get("images") or {}).get("photos", False)))
        videos, repeats = unique_inputs(videos)
        for video in [*videos, *(v for v, _ in repeats)]:
            if video.clip_id not in merged.entries:
                report.missing_clips[video.clip_id] = Partition(stable_hash(video.clip_id) % count, count).folder_name
    report.manifest = RunManifest(out / MANIFEST_NAME, settings, merged.entries)
    report.failed_in = {e.clip_id: merged.origin[e.clip_id] for e in report.failed}
    report.manifest.save()
    return report


def _add(merged: Merged, folder: str, entry: ManifestEntry) -> None:
    """Add one folder's entry, its shard paths made relative to OUT; a done entry wins."""
    if folder != ".":
        entry = replace(
            entry,
            shard=f"{folder}/{entry.shard}" if entry.shard else "",
            proposals_shard=f"{folder}/proposals/{entry.proposals_shard}" if entry.proposals_shard else "",
        )
    if entry.status == "done":
        merged.holders.setdefault(entry.clip_id, []).append(folder)
    current = merged.entries.get(entry.clip_id)
    if current is None or (entry.status == "done" and current.status != "done"):
        merged.entries[entry.clip_id] = entry
        merged.origin[entry.clip_id] = folder
