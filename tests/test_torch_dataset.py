"""The torch Dataset over skeletons shards (posekit.io.torch_dataset)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from posekit.core.errors import ConfigError, ShardError
from posekit.io.samples import LabelMap, find_labels, window_indices
from posekit.io.schema import ShardInfo
from posekit.io.shards import ShardWriter, read_skeletons
from posekit.io.torch_dataset import SkeletonShardDataset
from posekit.skeleton.layouts import COCO17, POSETICS17, JointLayout
from posekit.skeleton.records import SkeletonClip, SkeletonTrack
from posekit.testing.synthetic import write_synthetic_dataset


def _track(track_id: int, keypoints: np.ndarray, t: np.ndarray | None = None, score: float = 0.9) -> SkeletonTrack:
    n, V, _ = keypoints.shape
    t = np.arange(n, dtype=np.int32) if t is None else t.astype(np.int32)
    return SkeletonTrack(
        track_id=track_id,
        t=t,
        keypoints=keypoints.astype(np.float32),
        joint_scores=np.ones((n, V), np.float32),
        joint_source=np.zeros((n, V), np.int8),
        boxes=np.zeros((n, 4), np.float32),
        box_scores=np.full(n, score, np.float32),
        confidence=np.ones(n, np.float32),
    )


def _clip(clip_id: str, T: int, tracks: list[SkeletonTrack], width: int = 200, height: int = 100) -> SkeletonClip:
    return SkeletonClip(
        clip_id=clip_id,
        video_path=f"{clip_id}.mp4",
        width=width,
        height=height,
        fps=25.0,
        frame_index=np.arange(T, dtype=np.int32),
        timestamp=np.arange(T) / 25.0,
        tracks=tracks,
    )


def _write(folder: Path, clips: list[SkeletonClip], layout: JointLayout = POSETICS17, per_shard: int = 64) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    writer = ShardWriter(folder, ShardInfo(kind="skeletons", layout=layout, experts=("test",)), max_clips=per_shard)
    for clip in clips:
        writer.add([clip])
        if writer.should_flush:
            writer.flush()
    writer.flush()
    return folder


def _ramp(T: int, V: int = 17) -> np.ndarray:
    """``(T, V, 2)`` pixels whose x is the frame number, y the joint number."""
    kp = np.zeros((T, V, 2), np.float32)
    kp[..., 0] = np.arange(T)[:, None]
    kp[..., 1] = np.arange(V)[None, :]
    return kp


def test_normalises_pixels_to_minus_one_one_keeping_the_aspect_ratio(tmp_path: Path) -> None:
    kp = np.zeros((1, 17, 2), np.float32)
    kp[0, 0] = (0, 0)
    kp[0, 1] = (200, 100)
    kp[0, 2] = (100, 50)
    kp[0, 3] = (150, 0)
    _write(tmp_path, [_clip("a", 1, [_track(0, kp)], width=200, height=100)])
    ds = SkeletonShardDataset(tmp_path, labels=None, window=None)
    x = ds.joints(0)
    assert x.shape == (2, 1, 17, 2)
    np.testing.assert_allclose(x[:, 0, 0, 0], [-1.0, -0.5])
    np.testing.assert_allclose(x[:, 0, 1, 0], [1.0, 0.5])
    np.testing.assert_allclose(x[:, 0, 2, 0], [0.0, 0.0])
    np.testing.assert_allclose(x[:, 0, 3, 0], [0.5, -0.5])
    assert np.isnan(x[..., 1]).all()


def test_converts_the_shard_layout_to_posetics17(tmp_path: Path) -> None:
    kp = np.full((1, 17, 2), 10.0, np.float32)
    kp[0, COCO17.index("left_shoulder")] = (40, 20)
    kp[0, COCO17.index("right_shoulder")] = (60, 20)
    kp[0, COCO17.index("left_hip")] = (40, 60)
    kp[0, COCO17.index("right_hip")] = (60, 60)
    _write(tmp_path, [_clip("a", 1, [_track(0, kp)], width=100, height=100)], layout=COCO17)
    x = SkeletonShardDataset(tmp_path, labels=None, window=None).joints(0)
    px = x[:, 0, :, 0] * 50 + 50
    np.testing.assert_allclose(px[:, POSETICS17.index("neck")], [50, 20], atol=1e-4)
    np.testing.assert_allclose(px[:, POSETICS17.index("mid_hip")], [50, 60], atol=1e-4)
    np.testing.assert_allclose(px[:, POSETICS17.index("chest")], [50, 40], atol=1e-4)
    np.testing.assert_allclose(px[:, POSETICS17.index("left_hip")], [40, 60], atol=1e-4)


def test_missing_joints_and_absent_persons_become_zero(tmp_path: Path) -> None:
    kp = np.full((3, 17, 2), 150.0, np.float32)
    kp[1, 5] = np.nan
    _write(tmp_path, [_clip("a", 3, [_track(0, kp)], width=200, height=200)])
    x, label, index = SkeletonShardDataset(tmp_path, labels=None, window=3, train=False)[0]
    assert x.dtype == torch.float32 and x.shape == (2, 3, 17, 2)
    assert (label, index) == (-1, 0)
    assert torch.all(x[:, 1, 5, 0] == 0)
    assert torch.allclose(x[:, 0, 5, 0], torch.tensor([0.5, 0.5]))
    assert torch.all(x[..., 1] == 0)
    assert torch.isfinite(x).all()


def test_keeps_the_two_main_persons_main_first(tmp_path: Path) -> None:
    T = 4
    tracks = [
        _track(7, np.full((2, 17, 2), 10.0), np.array([0, 1]), score=0.9),
        _track(8, np.full((4, 17, 2), 20.0), score=0.3),
        _track(9, np.full((4, 17, 2), 30.0), score=0.9),
    ]
    for track, box in zip(tracks, ([20, 10, 80, 90], [20, 10, 80, 90], [0, 0, 10, 20])):
        track.boxes[:] = box
    _write(tmp_path, [_clip("a", T, tracks, width=100, height=100)])
    x = SkeletonShardDataset(tmp_path, labels=None, window=None).joints(0)
    assert x.shape == (2, T, 17, 2)
    np.testing.assert_allclose(x[0, :, 0, 0] * 50 + 50, 20.0, atol=1e-4)
    np.testing.assert_allclose(x[0, :2, 0, 1] * 50 + 50, 10.0, atol=1e-4)
    assert np.isnan(x[0, 2:, 0, 1]).all()


def test_training_windows_are_random_per_epoch_and_eval_windows_centred(tmp_path: Path) -> None:
    _write(tmp_path, [_clip("a", 100, [_track(0, _ramp(100))], width=100, height=100)])
    train = SkeletonShardDataset(tmp_path, labels=None, window=10, train=True, seed=3)
    frame0 = lambda ds: round(float(ds[0][0][0, 0, 0, 0]) * 50 + 50)  # noqa: E731
    starts = set()
    for epoch in range(6):
        train.set_epoch(epoch)
        starts.add(frame0(train))
        assert frame0(train) == frame0(train)
    assert len(starts) > 1
    assert all(0 <= s <= 90 for s in starts)
    again = SkeletonShardDataset(tmp_path, labels=None, window=10, train=True, seed=3)
    again.set_epoch(5)
    assert frame0(again) == frame0(train)
    val = SkeletonShardDataset(tmp_path, labels=None, window=10, train=False)
    assert frame0(val) == 45
    x = val[0][0]
    np.testing.assert_allclose(x[0, :, 0, 0].numpy() * 50 + 50, np.arange(45, 55), atol=1e-4)


def test_short_clips_are_padded_by_looping_or_with_zeros() -> None:
    np.testing.assert_array_equal(window_indices(3, 7, 0, "loop"), [0, 1, 2, 0, 1, 2, 0])
    np.testing.assert_array_equal(window_indices(3, 5, 0, "zero"), [0, 1, 2, -1, -1])
    np.testing.assert_array_equal(window_indices(0, 3, 0, "loop"), [-1, -1, -1])
    np.testing.assert_array_equal(window_indices(10, 4, 6, "loop"), [6, 7, 8, 9])


def test_short_clip_items_loop_and_zero_pad(tmp_path: Path) -> None:
    kp = _ramp(3) + 1
    _write(tmp_path, [_clip("a", 3, [_track(0, kp)], width=100, height=100)])
    looped = SkeletonShardDataset(tmp_path, labels=None, window=7, pad="loop")[0][0]
    np.testing.assert_allclose(looped[0, :, 0, 0].numpy() * 50 + 50, [1, 2, 3, 1, 2, 3, 1], atol=1e-4)
    zeros = SkeletonShardDataset(tmp_path, labels=None, window=5, pad="zero")[0][0]
    assert torch.all(zeros[:, 3:] == 0)
    assert torch.all(zeros[0, :3, 0, 0] != 0)


def test_clip_without_any_person_gives_zeros(tmp_path: Path) -> None:
    _write(tmp_path, [_clip("empty", 5, []), _clip("none", 0, [])])
    ds = SkeletonShardDataset(tmp_path, labels=None, window=8)
    for i in range(2):
        x = ds[i][0]
        assert x.shape == (2, 8, 17, 2)
        assert torch.all(x == 0)


def test_bone_stream_item_is_relative_to_the_parent_joint(tmp_path: Path) -> None:
    kp = np.random.default_rng(0).uniform(10, 90, (4, 17, 2)).astype(np.float32)
    _write(tmp_path, [_clip("a", 4, [_track(0, kp)], width=100, height=100)])
    joint = SkeletonShardDataset(tmp_path, labels=None, window=4, train=False)[0][0]
    bone = SkeletonShardDataset(tmp_path, labels=None, window=4, train=False, stream="bone")[0][0]
    lw, le = POSETICS17.index("left_wrist"), POSETICS17.index("left_elbow")
    torch.testing.assert_close(bone[:, :, lw, 0], joint[:, :, lw, 0] - joint[:, :, le, 0])
    assert torch.all(bone[:, :, POSETICS17.center] == 0)


def test_center_option_puts_the_mean_chest_at_zero(tmp_path: Path) -> None:
    kp = np.random.default_rng(1).uniform(60, 90, (6, 17, 2)).astype(np.float32)
    _write(tmp_path, [_clip("a", 6, [_track(0, kp)], width=100, height=100)])
    x = SkeletonShardDataset(tmp_path, labels=None, window=None, center=True).joints(0)
    np.testing.assert_allclose(x[:, :, POSETICS17.center, 0].mean(axis=1), 0.0, atol=1e-6)


def test_labels_json_beside_or_above_the_shards_and_unlabelled_clips_skipped(tmp_path: Path) -> None:
    clips = [_clip(f"c{i}", 2, [_track(0, _ramp(2))]) for i in range(4)]
    _write(tmp_path / "train", clips)
    LabelMap(("run", "sit"), {"c0": "sit", "c1": "run", "c3": "sit"}).save(tmp_path / "labels.json")
    assert find_labels(tmp_path / "train") == tmp_path / "labels.json"
    ds = SkeletonShardDataset(tmp_path / "train")
    assert ds.classes == ("run", "sit")
    assert ds.clip_ids == ["c0", "c1", "c3"]
    assert [ds[i][1] for i in range(len(ds))] == [1, 0, 1]
    assert ds.skipped == 1
    unlabelled = SkeletonShardDataset(tmp_path / "train", labels=None)
    assert len(unlabelled) == 4 and unlabelled.num_classes == 0


def test_labels_csv_gives_sorted_classes(tmp_path: Path) -> None:
    _write(tmp_path, [_clip(f"c{i}", 2, [_track(0, _ramp(2))]) for i in range(2)])
    (tmp_path / "labels.csv").write_text("clip_id,label\nc0,wave\nc1,clap\n")
    ds = SkeletonShardDataset(tmp_path)
    assert ds.classes == ("clap", "wave")
    assert [ds[0][1], ds[1][1]] == [1, 0]
    (tmp_path / "labels.csv").write_text("clip,name\nc0,wave\n")
    with pytest.raises(ConfigError, match="clip_id,label"):
        SkeletonShardDataset(tmp_path)
    with pytest.raises(ConfigError, match="not in the class list"):
        LabelMap(("a",), {"c0": "b"})


def test_random_access_decodes_only_the_row_group_of_the_clip(tmp_path: Path) -> None:
    clips = [_clip(f"c{i}", 3, [_track(0, _ramp(3) + i)]) for i in range(10)]
    _write(tmp_path, clips, per_shard=3)
    ds = SkeletonShardDataset(tmp_path, labels=None, window=3, train=False, cache_row_groups=2)
    assert len(ds.shards) == 4 and len(ds) == 10
    x = ds[7][0]
    assert list(ds._cache) == [(2, 0)]
    np.testing.assert_allclose(x[0, 0, 0, 0].item() * 100 + 100, 7.0, atol=1e-4)
    ds[0], ds[4], ds[9]
    assert len(ds._cache) == 2
    assert ds.clip(5).clip_id == "c5"


def test_worker_processes_read_the_same_items_as_the_main_process(tmp_path: Path) -> None:
    write_synthetic_dataset(tmp_path, {"train": 3}, actions=("waving", "walking"), frames=(20, 30), seed=1)
    ds = SkeletonShardDataset(tmp_path / "train", window=16, train=True, seed=4)
    ds.set_epoch(2)
    batches = list(DataLoader(ds, batch_size=2, num_workers=2))
    assert ds._files == {} and not ds._cache
    parallel = torch.cat([b[0] for b in batches])
    serial = torch.stack([ds[i][0] for i in range(len(ds))])
    torch.testing.assert_close(parallel, serial)
    assert torch.cat([b[2] for b in batches]).tolist() == list(range(len(ds)))


def test_bad_paths_and_options_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ShardError, match="does not exist"):
        SkeletonShardDataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ShardError, match="no skeletons shards"):
        SkeletonShardDataset(tmp_path / "empty")
    _write(tmp_path / "ok", [_clip("a", 2, [_track(0, _ramp(2))])])
    with pytest.raises(ConfigError, match="unknown stream"):
        SkeletonShardDataset(tmp_path / "ok", stream="velocity")
    with pytest.raises(ConfigError, match="pad"):
        SkeletonShardDataset(tmp_path / "ok", pad="mirror")


def test_synthetic_dataset_is_real_labelled_shards(tmp_path: Path) -> None:
    labels = write_synthetic_dataset(tmp_path, {"train": 2, "val": 1}, frames=(20, 30), seed=0)
    assert labels.classes[:5] == ("waving", "clapping", "squatting", "jumping", "walking")
    clips = read_skeletons(tmp_path / "train")
    assert len(clips) == 2 * len(labels.classes)
    assert len(read_skeletons(tmp_path / "val")) == len(labels.classes)
    sidecar = json.loads((tmp_path / "labels.json").read_text())
    assert set(sidecar["clips"]) == {c.clip_id for c in clips} | {c.clip_id for c in read_skeletons(tmp_path / "val")}
    kp = np.concatenate([tr.keypoints for c in clips for tr in c.tracks])
    assert kp.shape[1:] == (17, 2)
    assert np.isnan(kp).any() and np.isfinite(kp).mean() > 0.6
    assert all(20 <= c.num_frames <= 30 for c in clips)
    again = write_synthetic_dataset(tmp_path / "again", {"train": 2, "val": 1}, frames=(20, 30), seed=0)
    assert again.clips == labels.clips
    kp2 = np.concatenate([tr.keypoints for c in read_skeletons(tmp_path / "again" / "train") for tr in c.tracks])
    np.testing.assert_array_equal(kp, kp2)


def test_label_column_labels_clips_without_a_sidecar(tmp_path: Path) -> None:
    info = ShardInfo(kind="skeletons", layout=POSETICS17, experts=("test",), columns=("label",))
    clips = [_clip(f"c{i}", 2, [_track(0, _ramp(2))]) for i in range(3)]
    for clip, name in zip(clips, ["sit", "run", None]):
        clip.label = name
    writer = ShardWriter(tmp_path, info)
    for clip in clips:
        writer.add([clip])
    writer.flush()
    assert [c.label for c in read_skeletons(tmp_path)] == ["sit", "run", None]
    ds = SkeletonShardDataset(tmp_path)
    assert ds.classes == ("run", "sit") and ds.clip_ids == ["c0", "c1"] and ds.targets.tolist() == [1, 0]
    plain = ShardInfo(kind="skeletons", layout=POSETICS17, experts=("test",))
    assert b"posekit.columns" not in plain.to_metadata() and "label" not in plain.schema().names
