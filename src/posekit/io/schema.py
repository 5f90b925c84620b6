"""The two Parquet shard kinds, their Arrow schemas and file metadata.

*skeletons*: one row per clip; every person track of the clip nested inside.
*proposals*: one row per (clip, expert, frame); every person that expert saw nested inside.

Both store keypoints as ``FixedSizeList<FixedSizeList<float32, 2>, V>`` (pixels, origin at
the frame's top-left corner, x right, y down) with NaN for missing joints, so pyarrow,
pandas, polars and DuckDB read them as plain nested arrays. A skeleton track may also carry
``keypoints_3d`` ``(n, V, 3)`` in the unit and axes the metadata's ``posekit.coordinates_3d``
states (null when the track has no 3D). See ``docs/shards.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa

from posekit import __version__
from posekit.core.errors import ShardError
from posekit.skeleton.layouts import JointLayout

SCHEMA_VERSION = "2"
READABLE_SCHEMA_VERSIONS = ("1", "2")
"""Version 2 added the tracks' ``keypoints_3d`` / ``joint_scores_3d`` fields (a version-1 shard reads
with no 3D) and dropped version 1's clip-level ``keypoints_3d`` column, which was never filled."""
COORDINATES = "pixels; origin top-left of the frame; x right, y down; NaN = missing joint"
COORDINATES_3D = "metres; camera axes x right, y down, z away; origin at the mid-hip; NaN = missing joint"
"""What ``keypoints_3d`` holds unless a shard's metadata says otherwise (``ShardInfo.coordinates_3d``: an
importer of camera-space 3D, NTU RGB+D's Kinect coordinates say, records its own convention)."""
KINDS = ("skeletons", "proposals")


def keypoints_type(num_joints: int, dims: int = 2) -> pa.DataType:
    """One pose: ``V`` joints of ``dims`` float32 coordinates (2: pixels, 3: ``keypoints_3d``)."""
    return pa.list_(pa.list_(pa.float32(), dims), num_joints)


OPTIONAL_COLUMNS: dict[str, str] = {
    "label": "class name after the dataset's label map (datasets built by posekit build-dataset)",
    "source_label": "the label as the annotations gave it, before the label map",
    "text": "a textual description of the action (PoseCap)",
}
"""String columns a skeletons shard may carry after ``tracks`` (additive): readers that do not know
them ignore them. ``ShardInfo.columns`` names the ones a shard has."""

PROPOSALS_OPTIONAL_COLUMNS: dict[str, str] = {
    "keypoints_3d": "per person (P, V, 3) 3D joints, with joint_scores_3d (P, V) beside them (runs with --3d); "
    "null in the rows of an expert without 3D",
}
"""Columns a proposals shard may carry after ``box_scores``, named in ``ShardInfo.columns`` like
:data:`OPTIONAL_COLUMNS`: re-aggregating the proposals of a ``--3d`` run keeps its 3D without a model."""


def optional_column_type(name: str) -> pa.DataType:
    if name not in OPTIONAL_COLUMNS:
        raise ValueError(f"unknown optional column {name!r}; known: {', '.join(OPTIONAL_COLUMNS)}")
    return pa.string()


def skeletons_schema(num_joints: int, columns: tuple[str, ...] = ()) -> pa.Schema:
    """Arrow schema of a skeletons shard; ``columns`` adds optional columns (``OPTIONAL_COLUMNS``)."""
    V = num_joints
    track = pa.struct(
        [
            pa.field("track_id", pa.int32(), nullable=False),
            pa.field("t", pa.list_(pa.int32())),
            pa.field("keypoints", pa.list_(keypoints_type(V))),
            pa.field("joint_scores", pa.list_(pa.list_(pa.float32(), V))),
            pa.field("joint_source", pa.list_(pa.list_(pa.int8(), V))),
            pa.field("boxes", pa.list_(pa.list_(pa.float32(), 4))),
            pa.field("box_scores", pa.list_(pa.float32())),
            pa.field("confidence", pa.list_(pa.float32())),
            pa.field("normaliser", pa.list_(pa.int8())),
            pa.field("keypoints_3d", pa.list_(keypoints_type(V, 3))),
            pa.field("joint_scores_3d", pa.list_(pa.list_(pa.float32(), V))),
        ]
    )
    return pa.schema(
        [
            *_clip_fields(),
            pa.field("num_frames", pa.int32()),
            pa.field("frame_index", pa.list_(pa.int32())),
            pa.field("timestamp", pa.list_(pa.float64())),
            pa.field("tracks", pa.list_(track)),
            *[pa.field(name, optional_column_type(name)) for name in OPTIONAL_COLUMNS if name in columns],
        ]
    )


def _clip_fields() -> list[pa.Field]:
    """The columns every shard row starts with: which clip, from which file, at what size and rate."""
    return [
        pa.field("clip_id", pa.string(), nullable=False),
        pa.field("video_path", pa.string()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("fps", pa.float64()),
    ]


def proposals_schema(num_joints: int, columns: tuple[str, ...] = ()) -> pa.Schema:
    V = num_joints
    with_3d = [
        pa.field("keypoints_3d", pa.list_(keypoints_type(V, 3))),
        pa.field("joint_scores_3d", pa.list_(pa.list_(pa.float32(), V))),
    ]
    return pa.schema(
        [
            *_clip_fields(),
            pa.field("expert", pa.string(), nullable=False),
            pa.field("t", pa.int32(), nullable=False),
            pa.field("frame_index", pa.int32()),
            pa.field("timestamp", pa.float64()),
            pa.field("track_ids", pa.list_(pa.int32())),
            pa.field("keypoints", pa.list_(keypoints_type(V))),
            pa.field("joint_scores", pa.list_(pa.list_(pa.float32(), V))),
            pa.field("boxes", pa.list_(pa.list_(pa.float32(), 4))),
            pa.field("box_scores", pa.list_(pa.float32())),
            *(with_3d if "keypoints_3d" in columns else []),
        ]
    )


@dataclass(frozen=True)
class ShardInfo:
    """What a shard says about itself in its Parquet key-value metadata."""

    kind: str
    layout: JointLayout
    experts: tuple[str, ...]
    schema_version: str = SCHEMA_VERSION
    posekit_version: str = __version__
    coordinates: str = COORDINATES
    coordinates_3d: str = COORDINATES_3D
    extra: str = "{}"
    columns: tuple[str, ...] = ()

    def to_metadata(self) -> dict[bytes, bytes]:
        md = {
            b"posekit.kind": self.kind.encode(),
            b"posekit.schema_version": self.schema_version.encode(),
            b"posekit.version": self.posekit_version.encode(),
            b"posekit.layout": self.layout.to_json().encode(),
            b"posekit.experts": json.dumps(list(self.experts)).encode(),
            b"posekit.coordinates": self.coordinates.encode(),
            b"posekit.coordinates_3d": self.coordinates_3d.encode(),
            b"posekit.extra": self.extra.encode(),
        }
        if self.columns:
            md[b"posekit.columns"] = json.dumps(list(self.columns)).encode()
        return md

    @classmethod
    def from_metadata(cls, metadata: dict[bytes, bytes] | None, where: str) -> ShardInfo:
        md = metadata or {}
        if b"posekit.kind" not in md:
            raise ShardError(f"{where} is a Parquet file but not a posekit shard (no posekit metadata)")
        version = md[b"posekit.schema_version"].decode()
        if version not in READABLE_SCHEMA_VERSIONS:
            readable = ", ".join(READABLE_SCHEMA_VERSIONS)
            raise ShardError(
                f"{where} has shard schema version {version}; this posekit reads versions {readable}: "
                "upgrade posekit to read it"
            )
        kind = md[b"posekit.kind"].decode()
        known = OPTIONAL_COLUMNS if kind == "skeletons" else PROPOSALS_OPTIONAL_COLUMNS
        return cls(
            kind=kind,
            layout=JointLayout.from_json(md[b"posekit.layout"].decode()),
            experts=tuple(json.loads(md[b"posekit.experts"].decode())),
            schema_version=version,
            posekit_version=md[b"posekit.version"].decode(),
            coordinates=md[b"posekit.coordinates"].decode(),
            coordinates_3d=md.get(b"posekit.coordinates_3d", COORDINATES_3D.encode()).decode(),
            extra=md.get(b"posekit.extra", b"{}").decode(),
            columns=tuple(c for c in json.loads(md.get(b"posekit.columns", b"[]").decode()) if c in known),
        )

    def schema(self) -> pa.Schema:
        if self.kind not in KINDS:
            raise ValueError(f"unknown shard kind {self.kind!r}; kinds: {KINDS}")
        if self.kind == "skeletons":
            schema = skeletons_schema(self.layout.num_joints, self.columns)
        else:
            schema = proposals_schema(self.layout.num_joints, self.columns)
        return schema.with_metadata(self.to_metadata())
