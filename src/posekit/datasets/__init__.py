"""Shard schema, writer and readers."""

from posekit.datasets.records import ExpertFrame, SkeletonClip, SkeletonTrack
from posekit.datasets.schema import SCHEMA_VERSION, ShardInfo
from posekit.datasets.shards import (
    ShardWriter,
    iter_skeleton_clips,
    list_shards,
    read_proposals,
    read_shard_info,
    read_skeletons,
)

__all__ = [
    "SCHEMA_VERSION",
    "ExpertFrame",
    "ShardInfo",
    "ShardWriter",
    "SkeletonClip",
    "SkeletonTrack",
    "iter_skeleton_clips",
    "list_shards",
    "read_proposals",
    "read_shard_info",
    "read_skeletons",
]
