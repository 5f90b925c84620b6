"""The run manifest: every input of an output folder with its status, saved atomically.

A clip is marked ``done`` only once the shards holding it are on disk, and the manifest is
the commit point: a shard it does not name was cut off by a kill and is removed when the run
resumes, so a run killed at any point redoes exactly the clips it had not committed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from posekit import __version__
from posekit.core.errors import ConfigError, write_error
from posekit.core.files import atomic_write_text
from posekit.io.images import ImageInputOptions
from posekit.io.shards import SHARD_PATTERN, write_table_atomic

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
STATUSES = ("done", "failed", "skipped")
SETTINGS_SINCE: dict[str, Any] = {
    "images": asdict(ImageInputOptions()),
    "tracks": {"min_track_frames": 1, "max_persons": None},
    "strict": False,
    "runtime": "torch",
    "tiles": 1,
    "tile_max_upscale": 2.0,
    "tile_below": 96.0,
    "second_pass": "tiles",
    "input_size_pass": "every",
    "pose_3d": False,
    "tracker": {"tracker": "bytetrack", "merged_boxes": "keep", "stitch_seconds": 0.0},
}
"""Settings recorded since image inputs, the person filters, ``--strict``, ``--runtime``, the tile pass, its zoom form
(``--second-pass``), the input-size pass on only the frames that need it (``--input-size-pass``), ``--3d`` and the
tracker's choices came, with the value every older run had (every track kept, truncated videos failed before
``--strict`` existed and are refused by it now, the YOLO experts on PyTorch, no tile pass, then tiles for every
expert, both passes on every frame, no 3D, ByteTrack with merged boxes kept and no stitching): a manifest without
them resumes with those values, and a run with today's defaults is told which setting differs."""


@dataclass
class ManifestEntry:
    clip_id: str
    path: str
    status: str
    reason: str = ""
    frames: int = 0
    tracks: int = 0
    shard: str = ""
    proposals_shard: str = ""
    seconds: float = 0.0
    dropped: dict[str, int] = field(default_factory=dict)
    """Person-frames of the clip's tracks left out of its skeletons, by reason (``refine.tracks.DROP_REASONS``)."""
    frame_files: list[str] = field(default_factory=list)
    """The image file name of each frame index of an image input or a folder of frames; empty for videos."""
    fps: float = 0.0
    """The mean rate of the frames taken (frames/s): the source rate, or what ``--fps`` really gave."""
    source_fps: float = 0.0
    """The input's own frame rate (frames/s)."""
    decoded_frames: int = 0
    """Frames decoded to take ``frames`` of them (those ``--fps`` skipped included; 0 for images)."""
    truncated: dict[str, Any] = field(default_factory=dict)
    """For a video that ends before the frame count its header declares: ``readable_frames``, ``declared_frames``,
    ``checked`` (``decoded``, or ``packets`` when ``--max-frames`` stopped decoding first) and the decoder's
    ``error`` if one ended the frames; empty otherwise."""
    exif_orientation: int = 0
    """For an image input, the EXIF orientation (1-8) of its first frame, applied to its pixels and coordinates
    (1: stored upright); 0 for videos (their display matrix is applied the same way)."""


@dataclass
class RunManifest:
    """``settings`` are what decide the output (experts, sampling, layout); a folder holds one set."""

    path: Path
    settings: dict[str, Any]
    entries: dict[str, ManifestEntry] = field(default_factory=dict)
    effective: dict[str, Any] = field(default_factory=dict)
    """What really ran where it differs from a setting's face value, e.g. ``imgsz``: the input size of each
    full-frame expert (Ultralytics rounds ``--imgsz`` up to its stride)."""

    @classmethod
    def open(cls, out_dir: Path, settings: dict[str, Any]) -> RunManifest:
        """Load the folder's manifest, or start one; refuse to mix runs made with other settings.

        The shards the manifest names are checked (:func:`verify_committed`): the clips of a damaged one are
        no longer done, and are redone by the run.

        A folder holding shards but no manifest is refused: which clips they hold cannot be checked, and
        finished shards are never deleted but by ``--overwrite`` (a run saves its manifest before its first shard).
        """
        path = Path(out_dir) / MANIFEST_NAME
        if not path.exists():
            folders = (Path(out_dir), Path(out_dir) / "proposals")  # where a run's own shards lie (not its parts')
            shards = [p for f in folders if f.is_dir() for p in f.glob("*.parquet") if SHARD_PATTERN.match(p.name)]
            if shards:
                raise ConfigError(
                    f"{out_dir} holds {len(shards)} shard(s) but no {MANIFEST_NAME}, so which clips they hold cannot "
                    "be checked; they are kept: give another --out, or --overwrite to delete them and start again"
                )
            return cls(path, settings)
        try:
            data = json.loads(path.read_text())
            entries = {e["clip_id"]: ManifestEntry(**e) for e in data.get("entries", [])}
            previous_settings = dict(data.get("settings", {}))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"cannot read {path} ({type(exc).__name__}: {exc}); the shards beside it are kept: restore it, "
                "give another --out, or --overwrite to delete them and start again"
            ) from None
        since = {key: value for key, value in SETTINGS_SINCE.items() if key in settings}
        previous = {**since, **previous_settings}
        for key, value in since.items():  # a group that gained a field since: its default filled in
            if isinstance(value, dict) and isinstance(previous[key], dict):
                previous[key] = {**value, **previous[key]}
        if previous != settings:
            changed = sorted(k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k))
            raise ConfigError(
                f"{out_dir} holds a run made with other settings ({', '.join(changed)} differ); "
                "use another --out, or --overwrite to start again"
            )
        manifest = cls(path, settings, entries, data.get("effective", {}))
        verify_committed(Path(out_dir), manifest)
        return manifest

    @classmethod
    def read(cls, path: Path) -> RunManifest:
        """Load a manifest file as it is (no settings check); ConfigError if unreadable."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            entries = {e["clip_id"]: ManifestEntry(**e) for e in data.get("entries", [])}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"cannot read {path} ({type(exc).__name__}: {exc}); give a manifest posekit wrote"
            ) from None
        return cls(path, data.get("settings", {}), entries, data.get("effective", {}))

    def with_status(self, status: str) -> list[ManifestEntry]:
        return [e for e in self.entries.values() if e.status == status]

    def is_done(self, clip_id: str) -> bool:
        entry = self.entries.get(clip_id)
        return entry is not None and entry.status == "done"

    def record(self, entry: ManifestEntry) -> None:
        if entry.status not in STATUSES:
            raise ValueError(f"unknown status {entry.status!r}")
        self.entries[entry.clip_id] = entry

    def committed_shards(self) -> set[str]:
        """Names of the shards that hold done clips (skeletons and proposals)."""
        done = [e for e in self.entries.values() if e.status == "done"]
        return {e.shard for e in done if e.shard} | {e.proposals_shard for e in done if e.proposals_shard}

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for e in self.entries.values():
            out[e.status] += 1
        return out

    def dropped(self) -> dict[str, int]:
        """Person-frames left out of the skeletons of the done clips, by reason, summed over clips."""
        total: dict[str, int] = {}
        for e in self.entries.values():
            if e.status == "done":
                for reason, n in e.dropped.items():
                    total[reason] = total.get(reason, 0) + n
        return total

    def save(self) -> None:
        data = {
            "posekit_version": __version__,
            "settings": self.settings,
            "counts": self.counts(),
            "dropped": self.dropped(),
            "truncated": sum(1 for e in self.entries.values() if e.status == "done" and e.truncated),
            "effective": self.effective,
            "entries": [asdict(e) for e in sorted(self.entries.values(), key=lambda e: e.clip_id)],
        }
        try:
            atomic_write_text(self.path, json.dumps(data, indent=1))
        except OSError as exc:
            raise write_error(self.path, exc, "clips committed before are kept and a rerun resumes after them") from exc


def verify_committed(out: Path, manifest: RunManifest) -> None:
    """Check that each shard the manifest names exists and holds exactly the done clips it names.

    A shard that is missing, unreadable or short of a clip is damaged: its clips are taken off the
    manifest's done list (redone by this run) with one line. A shard holding more clips than the manifest
    names (a commit cut between replacing a shard and saving the manifest) is rewritten with those it names.
    """
    damaged = False
    for path, expected in _named_shards(out, manifest).items():
        held = _clip_ids(path)
        if held is None or not expected <= held:
            what = "is missing" if not path.exists() else "cannot be read" if held is None else "lacks clips"
            log.warning("%s %s: its %d clip(s) will be redone", path, what, len(expected))
            for clip_id in expected:
                manifest.entries.pop(clip_id, None)
            damaged = True
    for path, expected in _named_shards(out, manifest).items():
        if _clip_ids(path) != expected:
            table = pq.read_table(path)
            keep = pc.is_in(table.column("clip_id"), value_set=pa.array(sorted(expected), pa.string()))
            write_table_atomic(table.filter(keep), path)
    if damaged:
        manifest.save()


def _named_shards(out: Path, manifest: RunManifest) -> dict[Path, set[str]]:
    """Each shard the manifest names, with the ids of the done clips it should hold.

    A run's own proposals shards lie in ``out/proposals``; a merged manifest names the shards of its parts by
    their path relative to ``out`` (``part-00000-of-00004/proposals/proposals-00000.parquet``).
    """
    named: dict[Path, set[str]] = {}
    for entry in manifest.with_status("done"):
        if entry.shard:
            named.setdefault(out / entry.shard, set()).add(entry.clip_id)
        if entry.proposals_shard:
            folder = out if "/" in entry.proposals_shard else out / "proposals"
            named.setdefault(folder / entry.proposals_shard, set()).add(entry.clip_id)
    return named


def _clip_ids(path: Path) -> set[str] | None:
    """The clip ids a shard holds; None when it is missing or unreadable."""
    try:
        return set(pq.read_table(path, columns=["clip_id"]).column("clip_id").to_pylist())
    except (OSError, pa.ArrowException):
        return None
