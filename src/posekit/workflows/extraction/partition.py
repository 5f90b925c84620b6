"""Static partitions of the inputs for schedulers: one SLURM array task = one part.

A clip belongs to part ``stable_hash(clip_id) mod count``: the rule depends on the clip id
alone (not on the order of files, the machine, or Python's per-process hash seed), so every
task of an array agrees on who does what without talking to the others, and adding videos
never moves a clip that is already done to another part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from posekit.core.errors import ConfigError
from posekit.core.hashing import stable_hash
from posekit.core.options import check_bounds

_PART_FOLDER = re.compile(r"^part-(\d{5})-of-(\d{5})$")


@dataclass(frozen=True)
class Partition:
    """Part ``index`` of ``count`` (0-based, as ``$SLURM_ARRAY_TASK_ID`` with ``--array=0-N``)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ConfigError(f"--num-shards must be at least 1; got {self.count}")
        if not 0 <= self.index < self.count:
            raise ConfigError(
                f"--shard-index must be in [0, {self.count - 1}] for --num-shards {self.count}; got {self.index}"
            )

    def contains(self, clip_id: str) -> bool:
        return stable_hash(clip_id) % self.count == self.index

    @property
    def folder_name(self) -> str:
        """Sub-folder of the output that holds this part's shards and manifest."""
        return f"part-{self.index:05d}-of-{self.count:05d}"

    @classmethod
    def from_folder_name(cls, name: str) -> Partition | None:
        match = _PART_FOLDER.match(name)
        return cls(int(match[1]), int(match[2])) if match else None

    @classmethod
    def from_options(cls, index: int | None, count: int | None) -> Partition | None:
        """The partition asked for on the command line, or None when neither flag is given."""
        if index is None and count is None:
            return None
        if index is None or count is None:
            raise ConfigError("--shard-index and --num-shards go together; give both, or neither")
        return cls(index, count)


@dataclass(frozen=True)
class PartitionOptions:
    """The scheduler-array flags: which static part of the inputs this task does."""

    shard_index: int | None = field(
        default=None,
        metadata={
            "help": "Do only part I of --num-shards (e.g. $SLURM_ARRAY_TASK_ID); writes OUT/part-I-of-N/.",
            "min": 0,
        },
    )
    num_shards: int | None = field(
        default=None, metadata={"help": "Split the inputs into N parts by a stable hash of the clip id.", "min": 1}
    )

    def __post_init__(self) -> None:
        check_bounds(self)

    def partition(self) -> Partition | None:
        """The part asked for, or None when neither flag is given."""
        return Partition.from_options(self.shard_index, self.num_shards)
