"""Reading and writing shards: records <-> Arrow tables <-> atomic Parquet files."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from posekit.core.errors import ShardError, write_error
from posekit.core.files import atomic_path
from posekit.io.schema import ShardInfo
from posekit.skeleton.records import ExpertFrame, PoseProposals, SkeletonClip, SkeletonTrack

SHARD_PATTERN = re.compile(r"^(skeletons|proposals)-(\d{5,})\.parquet$")
NUMPY_TYPES = {
    pa.int8(): np.int8,
    pa.int32(): np.int32,
    pa.float32(): np.float32,
    pa.float64(): np.float64,
}


def _arrow(values: Sequence | np.ndarray, dtype: pa.DataType) -> pa.Array:
    """A flat Arrow array of numbers (``NUMPY_TYPES``), booleans or strings (None = null), built from its buffers.

    ``pa.array`` would do the same, but its first call imports pandas to look for pandas types (about 40 MB of
    memory and 0.3 s of CPU in every extraction process, which never uses pandas).
    """
    if pa.types.is_string(dtype):
        return _strings(values)
    if pa.types.is_boolean(dtype):
        bits = np.packbits(np.asarray(values, bool), bitorder="little")
        return pa.Array.from_buffers(dtype, len(values), [None, pa.py_buffer(bits)])
    data = np.ascontiguousarray(values, dtype=NUMPY_TYPES[dtype])
    return pa.Array.from_buffers(dtype, len(data), [None, pa.py_buffer(data)])


def _strings(values: Sequence[str | None]) -> pa.Array:
    encoded = [b"" if v is None else v.encode() for v in values]
    offsets = np.zeros(len(encoded) + 1, np.int32)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    valid = np.array([v is not None for v in values], bool)
    bitmap = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    buffers = [bitmap, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(pa.string(), len(encoded), buffers, null_count=int((~valid).sum()))


def _fixed(values: np.ndarray, dtype: pa.DataType) -> pa.Array:
    """``(N, d1, ..., dk)`` numpy -> length-N nested FixedSizeList array."""
    arr: pa.Array = _arrow(np.ascontiguousarray(values).reshape(-1), dtype)
    for dim in reversed(values.shape[1:]):
        arr = pa.FixedSizeListArray.from_arrays(arr, dim)
    return arr


def _lists(values: pa.Array, lengths: Sequence[int], null: Sequence[bool] | None = None) -> pa.Array:
    """Cut ``values`` into consecutive lists of ``lengths``; ``null`` marks entries stored as null."""
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int32)
    mask = None if null is None or not any(null) else _arrow(null, pa.bool_())
    return pa.ListArray.from_arrays(_arrow(offsets, pa.int32()), values, mask=mask)


def _lists_3d(
    joints: Sequence[np.ndarray | None], scores: Sequence[np.ndarray | None], V: int
) -> tuple[pa.Array, pa.Array]:
    """Lists of ``(n, V, 3)`` 3D joints and of their ``(n, V)`` scores, one per record; null where it has none."""
    null = [j is None for j in joints]
    n = [0 if j is None else len(j) for j in joints]
    joints_array = _fixed(_cat([j for j in joints if j is not None], (V, 3), np.float32), pa.float32())
    scores_array = _fixed(_cat([c for c in scores if c is not None], (V,), np.float32), pa.float32())
    return _lists(joints_array, n, null), _lists(scores_array, n, null)


def _cat(arrays: list[np.ndarray], tail: tuple[int, ...], dtype) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros((0, *tail), dtype)


def skeletons_to_table(clips: Sequence[SkeletonClip], info: ShardInfo) -> pa.Table:
    V = info.layout.num_joints
    tracks = [tr for clip in clips for tr in clip.tracks]
    n = [len(tr) for tr in tracks]
    track_struct = pa.StructArray.from_arrays(
        [
            _arrow([tr.track_id for tr in tracks], pa.int32()),
            _lists(_arrow(_cat([tr.t for tr in tracks], (), np.int32), pa.int32()), n),
            _lists(_fixed(_cat([tr.keypoints for tr in tracks], (V, 2), np.float32), pa.float32()), n),
            _lists(_fixed(_cat([tr.joint_scores for tr in tracks], (V,), np.float32), pa.float32()), n),
            _lists(_fixed(_cat([tr.joint_source for tr in tracks], (V,), np.int8), pa.int8()), n),
            _lists(_fixed(_cat([tr.boxes for tr in tracks], (4,), np.float32), pa.float32()), n),
            _lists(_arrow(_cat([tr.box_scores for tr in tracks], (), np.float32), pa.float32()), n),
            _lists(_arrow(_cat([tr.confidence for tr in tracks], (), np.float32), pa.float32()), n),
            _lists(_arrow(_cat([tr.normaliser for tr in tracks], (), np.int8), pa.int8()), n),
            *_lists_3d([tr.keypoints_3d for tr in tracks], [tr.joint_scores_3d for tr in tracks], V),
        ],
        fields=list(info.schema().field("tracks").type.value_type),
    )
    T = [clip.num_frames for clip in clips]
    columns = [
        _arrow([c.clip_id for c in clips], pa.string()),
        _arrow([c.video_path for c in clips], pa.string()),
        _arrow([c.width for c in clips], pa.int32()),
        _arrow([c.height for c in clips], pa.int32()),
        _arrow([c.fps for c in clips], pa.float64()),
        _arrow(T, pa.int32()),
        _lists(_arrow(_cat([c.frame_index for c in clips], (), np.int32), pa.int32()), T),
        _lists(_arrow(_cat([c.timestamp for c in clips], (), np.float64), pa.float64()), T),
        _lists(track_struct, [len(c.tracks) for c in clips]),
    ]
    schema = info.schema()
    columns += [_arrow([getattr(c, name) for c in clips], pa.string()) for name in schema.names[len(columns) :]]
    return pa.Table.from_arrays(columns, schema=schema)


def proposals_to_table(frames: Sequence[ExpertFrame], info: ShardInfo) -> pa.Table:
    V = info.layout.num_joints
    props = [f.proposals for f in frames]
    P = [len(p) for p in props]
    columns = [
        _arrow([f.clip_id for f in frames], pa.string()),
        _arrow([f.video_path for f in frames], pa.string()),
        _arrow([f.width for f in frames], pa.int32()),
        _arrow([f.height for f in frames], pa.int32()),
        _arrow([f.fps for f in frames], pa.float64()),
        _arrow([f.expert for f in frames], pa.string()),
        _arrow([f.t for f in frames], pa.int32()),
        _arrow([f.frame_index for f in frames], pa.int32()),
        _arrow([f.timestamp for f in frames], pa.float64()),
        _lists(_arrow(_cat([p.track_ids for p in props], (), np.int32), pa.int32()), P),
        _lists(_fixed(_cat([p.keypoints for p in props], (V, 2), np.float32), pa.float32()), P),
        _lists(_fixed(_cat([p.joint_scores for p in props], (V,), np.float32), pa.float32()), P),
        _lists(_fixed(_cat([p.boxes for p in props], (4,), np.float32), pa.float32()), P),
        _lists(_arrow(_cat([p.scores for p in props], (), np.float32), pa.float32()), P),
    ]
    if "keypoints_3d" in info.columns:
        columns += _lists_3d([p.keypoints_3d for p in props], [p.joint_scores_3d for p in props], V)
    return pa.Table.from_arrays(columns, schema=info.schema())


def _offsets(arr: pa.Array) -> np.ndarray:
    return arr.offsets.to_numpy() - arr.offsets[0].as_py()


def _values(arr: pa.Array, shape: tuple[int, ...]) -> np.ndarray:
    """Flatten a (list of) nested fixed-size list array into ``(N, *shape)`` numpy."""
    flat = arr
    while pa.types.is_list(flat.type) or pa.types.is_fixed_size_list(flat.type):
        flat = flat.flatten()
    return flat.to_numpy(zero_copy_only=False).reshape(-1, *shape)


def _split(values: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    return [values[a:b] for a, b in itertools.pairwise(offsets)]


def _column(table: pa.Table, name: str) -> pa.Array:
    return table.column(name).combine_chunks()


def _list_column(table: pa.Table, name: str, shape: tuple[int, ...] = ()) -> list[np.ndarray]:
    arr = _column(table, name)
    return _split(_values(arr, shape), _offsets(arr))


def table_to_skeletons(table: pa.Table, info: ShardInfo) -> list[SkeletonClip]:
    if table.num_rows == 0:
        return []
    V = info.layout.num_joints
    tracks_col = _column(table, "tracks")
    per_clip = _offsets(tracks_col)
    tracks = tracks_col.flatten()
    n_off = _offsets(tracks.field("t"))
    shapes = {
        "t": (),
        "keypoints": (V, 2),
        "joint_scores": (V,),
        "joint_source": (V,),
        "boxes": (4,),
        "box_scores": (),
        "confidence": (),
        "normaliser": (),
    }
    if tracks.type.get_field_index("normaliser") < 0:
        del shapes["normaliser"]  # shards written before the field existed: SkeletonTrack fills in -1
    split = {name: _split(_values(tracks.field(name), shape), n_off) for name, shape in shapes.items()}
    ids = tracks.field("track_id").to_numpy()
    all_tracks = [
        SkeletonTrack(track_id=int(ids[k]), **{name: split[name][k] for name in shapes}) for k in range(len(ids))
    ]
    if tracks.type.get_field_index("keypoints_3d") >= 0:  # schema version 2
        joints_3d, scores_3d = _read_3d(tracks.field("keypoints_3d"), tracks.field("joint_scores_3d"), V)
        for track, joints, scores in zip(all_tracks, joints_3d, scores_3d):
            track.keypoints_3d, track.joint_scores_3d = joints, scores
    names = ["clip_id", "video_path", "width", "height", "fps"]
    names += [name for name in ("label", "source_label", "text") if name in table.column_names]
    scalars = {name: _column(table, name).to_pylist() for name in names}
    frame_index = _list_column(table, "frame_index")
    timestamp = _list_column(table, "timestamp")
    return [
        SkeletonClip(
            **{name: values[i] for name, values in scalars.items()},
            frame_index=frame_index[i],
            timestamp=timestamp[i],
            tracks=all_tracks[per_clip[i] : per_clip[i + 1]],
        )
        for i in range(table.num_rows)
    ]


def _read_3d(
    joints_col: pa.Array, scores_col: pa.Array, V: int
) -> tuple[list[np.ndarray | None], list[np.ndarray | None]]:
    """Each record's ``(n, V, 3)`` 3D joints and ``(n, V)`` scores from :func:`_lists_3d`'s lists (None where null)."""
    offsets = _offsets(joints_col)
    joints = _split(_values(joints_col, (V, 3)), offsets)
    scores = _split(_values(scores_col, (V,)), offsets)
    valid = joints_col.is_valid().to_numpy(zero_copy_only=False)
    return [j if ok else None for j, ok in zip(joints, valid)], [c if ok else None for c, ok in zip(scores, valid)]


def table_to_proposals(table: pa.Table, info: ShardInfo) -> list[ExpertFrame]:
    if table.num_rows == 0:
        return []
    V = info.layout.num_joints
    arrays = {
        "track_ids": _list_column(table, "track_ids"),
        "keypoints": _list_column(table, "keypoints", (V, 2)),
        "joint_scores": _list_column(table, "joint_scores", (V,)),
        "boxes": _list_column(table, "boxes", (4,)),
        "scores": _list_column(table, "box_scores"),
    }
    if "keypoints_3d" in table.column_names:
        arrays["keypoints_3d"], arrays["joint_scores_3d"] = _read_3d(
            _column(table, "keypoints_3d"), _column(table, "joint_scores_3d"), V
        )
    names = ("clip_id", "video_path", "width", "height", "fps", "expert", "t", "frame_index", "timestamp")
    scalars = {name: _column(table, name).to_pylist() for name in names}
    return [
        ExpertFrame(
            **{name: values[i] for name, values in scalars.items()},
            proposals=PoseProposals(layout=info.layout, **{name: values[i] for name, values in arrays.items()}),
        )
        for i in range(table.num_rows)
    ]


def write_table_atomic(table: pa.Table, path: Path, row_group_size: int | None = None, compact: bool = False) -> None:
    """Write ``table`` to ``path`` so that the file either exists whole or not at all.

    ``row_group_size`` (rows) cuts the file into row groups, the unit of random access.
    ``compact`` dictionary-encodes only the string columns and stores floats with Parquet's
    BYTE_STREAM_SPLIT encoding, which zstd compresses far better than dictionary pages of
    noisy float32 (about 40 % smaller skeletons shards; every Parquet reader decodes it).
    """
    encoding: dict = {}
    if compact:
        strings = [f.name for f in table.schema if pa.types.is_string(f.type)]
        encoding = {"use_dictionary": strings, "use_byte_stream_split": True}
    try:
        with atomic_path(path, fsync=True) as tmp:
            pq.write_table(
                table,
                tmp,
                compression="zstd",
                compression_level=6,
                write_statistics=True,
                row_group_size=row_group_size,
                **encoding,
            )
    except OSError as exc:
        kept = "shards written before this one are complete and a rerun resumes after them"
        raise write_error(path, exc, kept) from exc


def next_shard_index(out_dir: Path, kind: str) -> int:
    used = [int(m.group(2)) for p in out_dir.glob(f"{kind}-*.parquet") if (m := SHARD_PATTERN.match(p.name))]
    return max(used, default=-1) + 1


class ShardWriter:
    """Buffers records and writes them as numbered shards ``{kind}-00000.parquet``, ...

    A shard is written when ``max_clips`` clips or about ``max_bytes`` of arrays are pending
    (the caller decides when, through :meth:`should_flush`), always atomically. Numbering
    continues after the shards already in ``out_dir``, so a resumed run never overwrites one.
    ``row_group_clips`` cuts skeletons shards into row groups of that many clips (the unit a
    random-access reader decodes); None keeps one row group per shard. ``compact``: see
    :func:`write_table_atomic`.
    """

    def __init__(
        self,
        out_dir: Path,
        info: ShardInfo,
        max_clips: int = 64,
        max_bytes: int = 256 << 20,
        row_group_clips: int | None = None,
        compact: bool = False,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.row_group_clips, self.compact = row_group_clips, compact
        self.info = info
        self.max_clips = max_clips
        self.max_bytes = max_bytes
        self._records: list = []
        self._clips = 0
        self._bytes = 0
        self._index = next_shard_index(self.out_dir, info.kind)

    def add(self, records: Sequence[SkeletonClip] | Sequence[ExpertFrame]) -> None:
        """Add the records of one clip."""
        self._records.extend(records)
        self._clips += 1
        self._bytes += sum(_record_nbytes(r) for r in records)

    @property
    def should_flush(self) -> bool:
        return self._clips >= self.max_clips or self._bytes >= self.max_bytes

    def flush(self) -> Path | None:
        """Write pending records as one shard; return its path (None if nothing was pending)."""
        path = self.checkpoint()
        if path is not None:
            self._index += 1
            self._records, self._clips, self._bytes = [], 0, 0
        return path

    def checkpoint(self) -> Path | None:
        """Write the pending records to the shard they will end in, and keep them pending.

        The next checkpoint or :meth:`flush` replaces that shard (atomically) with one holding them and
        those added since, so the shards a run leaves do not depend on when it checkpointed.
        """
        if not self._clips:
            return None
        to_table = skeletons_to_table if self.info.kind == "skeletons" else proposals_to_table
        table = to_table(self._records, self.info)
        path = self.out_dir / f"{self.info.kind}-{self._index:05d}.parquet"
        write_table_atomic(table, path, self.row_group_clips, self.compact)
        return path


def _record_nbytes(record: SkeletonClip | ExpertFrame) -> int:
    if isinstance(record, ExpertFrame):
        return record.proposals.keypoints.nbytes * 2
    return sum(tr.keypoints.nbytes * 2 for tr in record.tracks) + record.frame_index.nbytes * 3


def list_shards(path: Path, kind: str = "skeletons") -> list[Path]:
    """Shards of ``kind`` at ``path`` (a shard file, or a folder searched recursively), sorted."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ShardError(f"no shards at {path}: the path does not exist")
    return sorted(p for p in path.rglob(f"{kind}-*.parquet") if SHARD_PATTERN.match(p.name))


def read_shard_info(path: Path) -> ShardInfo:
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise ShardError(f"cannot read shard {path}: {exc}") from exc
    try:
        return ShardInfo.from_metadata(schema.metadata, str(path))
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise ShardError(
            f"{path} is not a posekit shard: its metadata lacks or garbles {exc}; give shards posekit wrote"
        ) from None


def _read(path: Path, kind: str, filters=None) -> tuple[pa.Table, ShardInfo]:
    info = read_shard_info(path)
    if info.kind != kind:
        raise ShardError(f"{path} holds {info.kind}, not {kind}")
    try:
        return pq.read_table(path, filters=filters), info
    except (OSError, pa.ArrowInvalid) as exc:
        raise ShardError(f"cannot read shard {path}: {exc}") from exc


def iter_skeleton_clips(path: Path) -> Iterator[tuple[SkeletonClip, ShardInfo]]:
    """Every clip of every skeletons shard under ``path``, with the info of its shard."""
    for shard in list_shards(path, "skeletons"):
        table, info = _read(shard, "skeletons")
        for clip in table_to_skeletons(table, info):
            yield clip, info


def read_skeletons(path: Path) -> list[SkeletonClip]:
    """All clips under ``path`` (a shard file or folder)."""
    return [clip for clip, _ in iter_skeleton_clips(path)]


def read_proposals(path: Path, clip_id: str | None = None) -> list[ExpertFrame]:
    """Expert frames under ``path``, optionally only those of one clip (pushed down to Parquet)."""
    filters = [("clip_id", "=", clip_id)] if clip_id is not None else None
    frames: list[ExpertFrame] = []
    for shard in list_shards(path, "proposals"):
        table, info = _read(shard, "proposals", filters)
        frames.extend(table_to_proposals(table, info))
    return frames
