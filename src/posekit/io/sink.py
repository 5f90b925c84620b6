"""One commit point for extraction and re-aggregation: shards first, then their clips in the manifest."""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from posekit.io.manifest import MANIFEST_NAME, ManifestEntry, RunManifest
from posekit.io.outputs import OutputLock, check_output_dir
from posekit.io.schema import ShardInfo
from posekit.io.shards import SHARD_PATTERN, ShardWriter
from posekit.skeleton.layouts import JointLayout
from posekit.skeleton.records import ExpertFrame, SkeletonClip

log = logging.getLogger(__name__)


@contextlib.contextmanager
def locked_output(out: Path, overwrite: bool) -> Iterator[Path]:
    """:func:`prepare_output` under the folder's :class:`~posekit.io.outputs.OutputLock`, held while the block runs
    (one run writes into a folder at a time; a second is refused with one line naming the first)."""
    with OutputLock(check_output_dir(out, "--out")):
        prepare_output(out, overwrite)
        yield Path(out)


def prepare_output(out: Path, overwrite: bool) -> None:
    """Create ``out`` and check it takes files (before any work); with ``overwrite`` remove the shards
    and manifest a previous run left there."""
    out = check_output_dir(out, "--out")
    if overwrite:
        for path in out.iterdir():
            if SHARD_PATTERN.match(path.name) or path.name == MANIFEST_NAME:
                path.unlink()
            elif path.is_dir() and path.name == "proposals":
                shutil.rmtree(path)


class ShardSink:
    """Writes skeleton (and proposal) shards together and marks their clips done in the manifest.

    Finished clips are committed when a shard is full and, with ``commit_seconds``, at least that often:
    the shard being filled is then written as it stands (:meth:`ShardWriter.checkpoint`) and replaced when
    it grows, so a killed or preempted run loses at most that much work, and the shards an uninterrupted
    run leaves are the same whenever it committed. Opening a sink removes the shards the manifest does
    not name (:meth:`RunManifest.open` has checked those it names) and saves the manifest before any shard.
    """

    def __init__(
        self,
        out: Path,
        layout: JointLayout,
        experts: tuple[str, ...],
        manifest: RunManifest,
        shard_clips: int = 64,
        shard_bytes: int = 256 << 20,
        keep_proposals: bool = False,
        proposals_3d: bool = False,
        commit_seconds: float | None = None,
    ) -> None:
        """``proposals_3d``: the proposals shards also hold the experts' 3D joints (runs with ``--3d``)."""
        self.manifest = manifest
        self.commit_seconds = commit_seconds
        out = Path(out)
        self.skeletons = ShardWriter(out, ShardInfo("skeletons", layout, experts), shard_clips, shard_bytes)
        self.proposals = None
        if keep_proposals:
            (out / "proposals").mkdir(exist_ok=True)
            info = ShardInfo("proposals", layout, experts, columns=("keypoints_3d",) if proposals_3d else ())
            self.proposals = ShardWriter(out / "proposals", info, shard_clips, shard_bytes)
        self._pending: list[ManifestEntry] = []
        self._broken = False
        self._drop_uncommitted_shards(out)
        manifest.save()
        self._committed_at = time.monotonic()

    def _drop_uncommitted_shards(self, out: Path) -> None:
        """Remove shards the manifest does not name (a kill cut them off before it committed
        them) and the temporary files a kill left behind."""
        committed = self.manifest.committed_shards()
        for folder in (out, out / "proposals"):
            for path in folder.glob("*.parquet") if folder.is_dir() else ():
                if SHARD_PATTERN.match(path.name) and path.name not in committed:
                    log.info("removing %s: written by an interrupted run, its clips will be redone", path)
                    path.unlink()
            for path in folder.glob(".*.tmp-*") if folder.is_dir() else ():
                path.unlink(missing_ok=True)

    def add(self, clip: SkeletonClip, entry: ManifestEntry, expert_frames: list[ExpertFrame] | None = None) -> None:
        self.skeletons.add([clip])
        if self.proposals is not None and expert_frames is not None:
            self.proposals.add(expert_frames)
        self._pending.append(entry)
        if self.skeletons.should_flush or (self.proposals is not None and self.proposals.should_flush):
            self.flush()
        elif self.commit_seconds is not None and time.monotonic() - self._committed_at >= self.commit_seconds:
            self.commit(checkpoint=True)

    def flush(self) -> None:
        """Write the pending shards, then commit their clips in the manifest.

        After a failed write (a full disk) the sink stops: its clips stay uncommitted and the
        shards it may have half-written are removed when the run resumes.
        """
        self.commit(checkpoint=False)

    def commit(self, checkpoint: bool) -> None:
        """Write the shards being filled (closing them unless ``checkpoint``), then commit their new clips."""
        if not self._pending or self._broken:
            return
        try:
            if checkpoint:
                proposals = self.proposals.checkpoint() if self.proposals is not None else None
                shard = self.skeletons.checkpoint()
            else:
                proposals = self.proposals.flush() if self.proposals is not None else None
                shard = self.skeletons.flush()
            for entry in self._pending:
                entry.shard = shard.name if shard else ""
                entry.proposals_shard = proposals.name if proposals else ""
                self.manifest.record(entry)
            self._pending = []
            self.manifest.save()
            self._committed_at = time.monotonic()
        except BaseException:
            self._broken = True
            raise
