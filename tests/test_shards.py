import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from posekit.core.errors import PosekitError, ShardError
from posekit.io.schema import ShardInfo
from posekit.io.shards import (
    ShardWriter,
    list_shards,
    read_proposals,
    read_shard_info,
    read_skeletons,
    write_table_atomic,
)
from posekit.skeleton.layouts import COCO17
from posekit.skeleton.records import ExpertFrame, PoseProposals, SkeletonClip, SkeletonTrack


def make_track(track_id: int, t: np.ndarray, rng: np.random.Generator) -> SkeletonTrack:
    n = len(t)
    kpts = (rng.random((n, 17, 2)) * 500).astype(np.float32)
    kpts[0, 3] = np.nan
    return SkeletonTrack(
        track_id=track_id,
        t=t.astype(np.int32),
        keypoints=kpts,
        joint_scores=rng.random((n, 17)).astype(np.float32),
        joint_source=np.where(np.isnan(kpts).any(-1), -1, 0).astype(np.int8),
        boxes=(rng.random((n, 4)) * 500).astype(np.float32),
        box_scores=rng.random(n).astype(np.float32),
        confidence=np.full(n, np.nan, np.float32),
    )


def make_clip(clip_id: str, T: int, n_tracks: int, seed: int = 0) -> SkeletonClip:
    rng = np.random.default_rng(seed)
    tracks = [make_track(k + 1, np.sort(rng.choice(T, size=T // 2, replace=False)), rng) for k in range(n_tracks)]
    return SkeletonClip(
        clip_id, f"/videos/{clip_id}", 768, 576, 10.0, np.arange(T, dtype=np.int32) * 2, np.arange(T) * 0.2, tracks
    )


INFO = ShardInfo("skeletons", COCO17, ("yolo",))


def write(tmp_path, clips, max_clips=64):
    writer = ShardWriter(tmp_path, INFO, max_clips=max_clips)
    paths = []
    for clip in clips:
        writer.add([clip])
        if writer.should_flush:
            paths.append(writer.flush())
    paths.append(writer.flush())
    return [p for p in paths if p]


def assert_clips_equal(a: SkeletonClip, b: SkeletonClip):
    assert (a.clip_id, a.width, a.height, a.fps) == (b.clip_id, b.width, b.height, b.fps)
    np.testing.assert_array_equal(a.frame_index, b.frame_index)
    np.testing.assert_array_equal(a.timestamp, b.timestamp)
    assert [t.track_id for t in a.tracks] == [t.track_id for t in b.tracks]
    for ta, tb in zip(a.tracks, b.tracks):
        for name in ("t", "keypoints", "joint_scores", "joint_source", "boxes", "box_scores", "confidence"):
            np.testing.assert_array_equal(getattr(ta, name), getattr(tb, name))
        for name in ("keypoints_3d", "joint_scores_3d"):
            if getattr(ta, name) is None:
                assert getattr(tb, name) is None
            else:
                np.testing.assert_array_equal(getattr(ta, name), getattr(tb, name))


def test_skeleton_round_trip_keeps_values_and_nan(tmp_path):
    clips = [make_clip("a.mp4", 20, 3, 1), make_clip("b.mp4", 7, 0, 2), make_clip("c.mp4", 11, 1, 3)]
    write(tmp_path, clips)
    back = read_skeletons(tmp_path)
    assert len(back) == 3
    for a, b in zip(clips, back):
        assert_clips_equal(a, b)
    assert np.isnan(back[0].tracks[0].keypoints[0, 3]).all()


def test_3d_round_trip_keeps_tracks_without_3d_as_none(tmp_path):
    clip = make_clip("a.mp4", 12, 3, 4)
    rng = np.random.default_rng(0)
    for track in clip.tracks[::2]:
        track.keypoints_3d = rng.normal(size=(len(track), 17, 3)).astype(np.float32)
        track.keypoints_3d[0, 5] = np.nan
        track.joint_scores_3d = rng.uniform(size=(len(track), 17)).astype(np.float32)
    write(tmp_path, [clip, make_clip("b.mp4", 5, 1, 5)])
    back = read_skeletons(tmp_path)
    assert_clips_equal(clip, back[0])
    assert back[0].has_3d and not back[1].has_3d
    xyz = back[0].to_array(max_persons=3, coords="3d")
    assert xyz.shape == (3, 12, 17, 3)
    assert (~np.isnan(xyz).all(axis=(0, 1, 2))).sum() == 2


def test_version_1_shards_still_read_without_3d(tmp_path):
    (path,) = write(tmp_path, [make_clip("a.mp4", 6, 2)])
    table = pq.read_table(path)
    tracks = table.column("tracks").combine_chunks()
    struct = tracks.values
    fields = [f for f in struct.type if not f.name.endswith("_3d")]
    old_struct = pa.StructArray.from_arrays([struct.field(f.name) for f in fields], fields=fields)
    old_tracks = pa.ListArray.from_arrays(tracks.offsets, old_struct)
    metadata = {**table.schema.metadata, b"posekit.schema_version": b"1"}
    del metadata[b"posekit.coordinates_3d"]
    old = table.set_column(table.schema.get_field_index("tracks"), "tracks", old_tracks)
    pq.write_table(old.replace_schema_metadata(metadata), path)
    (clip,) = read_skeletons(tmp_path)
    assert len(clip.tracks) == 2 and not clip.has_3d
    assert read_shard_info(path).schema_version == "1"


def test_writer_cuts_shards_by_clip_count_and_never_overwrites(tmp_path):
    clips = [make_clip(f"{i}.mp4", 5, 1, i) for i in range(5)]
    paths = write(tmp_path, clips, max_clips=2)
    assert [p.name for p in paths] == ["skeletons-00000.parquet", "skeletons-00001.parquet", "skeletons-00002.parquet"]
    more = write(tmp_path, [make_clip("x.mp4", 5, 1)], max_clips=2)
    assert more[0].name == "skeletons-00003.parquet"
    assert len(read_skeletons(tmp_path)) == 6


def test_shard_metadata_describes_schema_layout_and_coordinates(tmp_path):
    (path,) = write(tmp_path, [make_clip("a.mp4", 5, 1)])
    info = read_shard_info(path)
    assert info.kind == "skeletons" and info.layout == COCO17 and info.experts == ("yolo",)
    md = pq.read_schema(path).metadata
    assert md[b"posekit.schema_version"] == b"2"
    assert json.loads(md[b"posekit.layout"])["joints"][5] == "left_shoulder"
    assert b"pixels" in md[b"posekit.coordinates"]
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"


def test_same_clips_give_byte_identical_shards(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = write(tmp_path / "a", [make_clip("a.mp4", 9, 2, 5)])
    b = write(tmp_path / "b", [make_clip("a.mp4", 9, 2, 5)])
    assert a[0].read_bytes() == b[0].read_bytes()


def test_pyarrow_polars_and_duckdb_read_shards_without_posekit(tmp_path):
    clip = make_clip("walk.mp4", 10, 2)
    (path,) = write(tmp_path, [clip])
    table = pq.read_table(path)
    assert table.num_rows == 1 and table.column("tracks")[0][0]["track_id"].as_py() == 1
    df = pl.read_parquet(path)
    first = df["tracks"][0][0]["keypoints"][1]
    np.testing.assert_allclose(np.asarray(first, np.float32), clip.tracks[0].keypoints[1])
    (row,) = duckdb.sql(
        f"SELECT clip_id, len(tracks) AS n, tracks[1].keypoints[2][1][1] AS x FROM read_parquet('{path}')"
    ).fetchall()
    assert row[0] == "walk.mp4" and row[1] == 2
    assert row[2] == pytest.approx(float(clip.tracks[0].keypoints[1, 0, 0]))


def test_to_array_is_c_t_v_m_with_the_main_person_first():
    clip = make_clip("a.mp4", 12, 3)
    for track in clip.tracks[:2]:
        track.boxes[:] = [0, 0, 40, 60]
    clip.tracks[2].boxes[:] = [184, 88, 584, 488]
    arr = clip.to_array(max_persons=2, with_scores=True)
    assert arr.shape == (3, 12, 17, 2)
    best = clip.tracks[2]
    np.testing.assert_array_equal(arr[0:2, :, :, 0][:, best.t], best.keypoints.transpose(2, 0, 1))
    absent = np.setdiff1d(np.arange(12), best.t)
    assert np.isnan(arr[:, absent, :, 0]).all()


def test_proposals_round_trip_and_filter_by_clip(tmp_path):
    rng = np.random.default_rng(0)
    info = ShardInfo("proposals", COCO17, ("yolo", "mediapipe"))
    props = PoseProposals(
        rng.random((2, 17, 2)).astype(np.float32),
        rng.random((2, 17)).astype(np.float32),
        rng.random((2, 4)).astype(np.float32),
        rng.random(2).astype(np.float32),
        COCO17,
        np.array([4, -1], np.int32),
    )
    writer = ShardWriter(tmp_path, info)
    for clip in ("a.mp4", "b.mp4"):
        writer.add(
            [
                ExpertFrame(
                    clip, clip, 640, 480, 10.0, expert, t, t, t / 10, props if t % 2 else PoseProposals.empty(COCO17)
                )
                for expert in ("yolo", "mediapipe")
                for t in range(3)
            ]
        )
    writer.flush()
    frames = read_proposals(tmp_path, clip_id="b.mp4")
    assert len(frames) == 6 and {f.clip_id for f in frames} == {"b.mp4"}
    assert [len(f.proposals) for f in frames[:3]] == [0, 2, 0]
    np.testing.assert_array_equal(frames[1].proposals.keypoints, props.keypoints)
    np.testing.assert_array_equal(frames[1].proposals.track_ids, [4, -1])


def test_atomic_write_leaves_no_partial_file_on_failure(tmp_path, monkeypatch):
    import pyarrow.parquet as pq_mod

    def broken_write(table, where, **kwargs):
        Path(where).write_bytes(b"half a shard")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq_mod, "write_table", broken_write)
    from posekit.io.shards import skeletons_to_table

    target = tmp_path / "skeletons-00000.parquet"
    with pytest.raises(PosekitError, match="disk full while writing"):
        write_table_atomic(skeletons_to_table([make_clip("a.mp4", 4, 1)], INFO), target)
    assert os.listdir(tmp_path) == []


def test_reading_a_non_posekit_parquet_names_the_file(tmp_path):
    import pyarrow as pa

    path = tmp_path / "skeletons-00000.parquet"
    pq.write_table(pa.table({"x": [1]}), path)
    with pytest.raises(ShardError, match="not a posekit shard"):
        read_skeletons(path)
    with pytest.raises(ShardError, match="does not exist"):
        list_shards(tmp_path / "missing")


def test_writing_shards_does_not_import_pandas(tmp_path):
    """pandas costs an extraction process ~40 MB and 0.3 s and is never used there; ``pa.array`` would import it."""
    script = (
        "import sys; sys.path.insert(0, 'tests'); "
        "from test_shards import make_clip, write; from pathlib import Path; "
        f"write(Path({str(tmp_path)!r}), [make_clip('a.mp4', 9, 2), make_clip('b.mp4', 4, 0)]); "
        "assert 'pandas' not in sys.modules, 'pandas was imported'"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    assert [len(c.tracks) for c in read_skeletons(tmp_path)] == [2, 0]
