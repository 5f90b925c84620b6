"""Pseudo labels from SST-A skeleton shards (thesis 3.3.3), on a real video with controlled shards."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from posekit.core.errors import ConfigError
from posekit.io.schema import ShardInfo
from posekit.io.shards import ShardWriter
from posekit.io.video import probe_video
from posekit.skeleton.layouts import COCO17
from posekit.skeleton.records import SkeletonClip, SkeletonTrack
from posekit.workflows.selftrain.anchors import assign_anchor_classes, fit_anchor_poses, normalise_to_box
from posekit.workflows.selftrain.frame_labels import pose_boxes, sample_positions
from posekit.workflows.selftrain.label_files import IGNORE_GREY
from posekit.workflows.selftrain.options import PseudoLabelOptions
from posekit.workflows.selftrain.pseudo_labels import DATASET_META, build_pseudo_labels
from tests.videos import write_clip

# A standing person, COCO-17, in a unit box (x right, y down).
STANDING = np.array(
    [[0.5, 0.05], [0.47, 0.03], [0.53, 0.03], [0.44, 0.05], [0.56, 0.05], [0.35, 0.2], [0.65, 0.2], [0.3, 0.38],
     [0.7, 0.38], [0.28, 0.52], [0.72, 0.52], [0.4, 0.55], [0.6, 0.55], [0.4, 0.77], [0.6, 0.77], [0.4, 0.98],
     [0.6, 0.98]]
)  # fmt: skip


def person(x: float, y: float, height: float, arms_up: bool = False) -> np.ndarray:
    """``(17, 2)`` pixels: a standing person of ``height`` px with its top-left at ``(x, y)``."""
    pose = STANDING.copy()
    if arms_up:
        pose[[7, 8, 9, 10], 1] = [0.1, 0.1, 0.0, 0.0]
    return np.array([x, y]) + pose * height


def track(track_id: int, t: list[int], kp: np.ndarray, c: float) -> SkeletonTrack:
    n = len(t)
    kps = np.repeat(kp[None], n, 0).astype(np.float32)
    lo, hi = kp.min(0), kp.max(0)
    return SkeletonTrack(
        track_id=track_id,
        t=np.array(t, np.int32),
        keypoints=kps,
        joint_scores=np.ones((n, 17), np.float32),
        joint_source=np.zeros((n, 17), np.int8),
        boxes=np.repeat(np.concatenate([lo, hi])[None], n, 0).astype(np.float32),
        box_scores=np.ones(n, np.float32),
        confidence=np.full(n, c, np.float32),
    )


def write_shards(out: Path, clips: list[SkeletonClip]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    writer = ShardWriter(out, ShardInfo("skeletons", COCO17, ("yolo", "yolo-topdown")))
    for clip in clips:
        writer.add([clip])
    writer.flush()
    return out


def make_clip(video: Path, clip_id: str, frames: int = 6) -> SkeletonClip:
    info = probe_video(video)
    return SkeletonClip(
        clip_id=clip_id,
        video_path=str(video),
        width=info.width,
        height=info.height,
        fps=10.0,
        frame_index=np.arange(frames, dtype=np.int32),
        timestamp=np.arange(frames) / 10.0,
        tracks=[
            track(1, list(range(frames)), person(100, 100, 200), 0.9),  # confident: a label everywhere
            track(2, list(range(frames)), person(400, 150, 150, arms_up=True), 0.05),  # C < gamma: ignored
            track(3, [t for t in range(frames) if t != 2], person(600, 200, 180, arms_up=True), 0.8),  # gap at t=2
        ],
    )


@pytest.fixture
def shards(tmp_path: Path, short_clip: Path) -> Path:
    return write_shards(tmp_path / "shards", [make_clip(short_clip, short_clip.name)])


def labels_of(root: Path, split: str) -> dict[str, np.ndarray]:
    out = {}
    for path in sorted((root / "labels" / split).glob("*.txt")):
        out[path.stem] = np.loadtxt(path, ndmin=2)
    return out


def test_box_is_the_pose_extent_expanded_by_ten_percent_and_clipped():
    kp = np.array([[[10.0, 20.0], [110.0, 220.0], [np.nan, np.nan]], [[-5.0, 0.0], [45.0, 100.0], [0.0, 0.0]]])
    boxes = pose_boxes(kp, width=640, height=480, margin=0.10)
    np.testing.assert_allclose(boxes[0], [5.0, 10.0, 115.0, 230.0])
    np.testing.assert_allclose(boxes[1], [0.0, 0.0, 47.5, 105.0])  # left and top clipped to the image


def test_anchor_class_is_the_nearest_kmeans_anchor_pose():
    rng = np.random.default_rng(0)
    up = np.stack([person(0, 0, 100, arms_up=True) + rng.normal(0, 1, (17, 2)) for _ in range(20)])
    down = np.stack([person(0, 0, 100) + rng.normal(0, 1, (17, 2)) for _ in range(20)])
    poses = np.concatenate([up, down])
    poses[3, 9] = np.nan  # a missing joint takes no part
    norm = normalise_to_box(poses, pose_boxes(poses, 1000, 1000))
    anchors = fit_anchor_poses(norm, 2, seed=0)
    classes = assign_anchor_classes(norm, anchors)
    assert len(set(classes[:20])) == 1 and len(set(classes[20:])) == 1
    assert classes[0] != classes[20]
    np.testing.assert_array_equal(fit_anchor_poses(norm, 2, seed=0), anchors)  # seeded


def test_frames_are_sampled_uniformly():
    np.testing.assert_array_equal(sample_positions(100, 0.1), np.arange(0, 100, 10))
    assert len(sample_positions(7, 0.1)) == 1
    np.testing.assert_array_equal(sample_positions(5, 1.0), np.arange(5))


def test_dataset_labels_confident_poses_with_anchor_classes_and_splits_one_video_by_time(shards, tmp_path):
    options = PseudoLabelOptions(frame_fraction=1.0, anchor_classes=2, val_fraction=0.34, box_source="pose")
    ds = build_pseudo_labels(shards, tmp_path / "pl", options=options)
    train, val = labels_of(ds.root, "train"), labels_of(ds.root, "val")
    assert len(train) == 4 and len(val) == 2
    # one video: split by time span, the last frames are validation
    assert max(int(k.rsplit("-", 1)[1]) for k in train) < min(int(k.rsplit("-", 1)[1]) for k in val)
    frame2 = train[next(k for k in train if k.endswith("-000002"))]
    frame0 = train[next(k for k in train if k.endswith("-000000"))]
    assert len(frame0) == 2 and len(frame2) == 1  # track 2 (C < gamma) never; track 3 not where it is absent
    W, H = 768, 576
    first = frame0[np.argmin(frame0[:, 1])]  # track 1, the leftmost
    kp = person(100, 100, 200)
    extent = kp.max(0) - kp.min(0)
    np.testing.assert_allclose(first[3:5], extent * 1.1 / [W, H], atol=1e-5)
    np.testing.assert_allclose(first[5:].reshape(17, 3)[:, :2], kp / [W, H], atol=1e-5)
    assert (first[5:].reshape(17, 3)[:, 2] == 2).all()
    # arms up and arms down get different anchor classes
    assert set(frame0[:, 0].astype(int)) == {0, 1}
    assert ds.meta["class_counts"] == [6, 5] or ds.meta["class_counts"] == [5, 6]
    yaml = (ds.root / "data.yaml").read_text()
    assert "kpt_shape: [17, 3]" in yaml and "flip_idx: [0, 2, 1, 4, 3, 6, 5" in yaml


def test_persons_sst_a_could_not_vouch_for_are_painted_grey(shards, tmp_path):
    ds = build_pseudo_labels(shards, tmp_path / "pl", options=PseudoLabelOptions(frame_fraction=1.0, anchor_classes=1))
    image = cv2.imread(str(next(ds.root.glob("images/train/*-000002.jpg"))))[..., ::-1]
    low_c = person(400, 150, 150, arms_up=True)
    gap = person(600, 200, 180, arms_up=True)
    confident = person(100, 100, 200)
    for kp in (low_c, gap):
        x, y = kp.mean(0).astype(int)
        assert np.abs(image[y - 5 : y + 5, x - 5 : x + 5].astype(int) - IGNORE_GREY).max() <= 8
    x, y = confident.mean(0).astype(int)
    assert np.abs(image[y - 5 : y + 5, x - 5 : x + 5].astype(int) - IGNORE_GREY).max() > 8


def test_the_data_file_is_a_valid_ultralytics_pose_dataset(shards, tmp_path):
    from ultralytics.data.utils import check_det_dataset

    ds = build_pseudo_labels(shards, tmp_path / "pl", options=PseudoLabelOptions(frame_fraction=1.0, anchor_classes=2))
    moved = shutil.move(ds.root, tmp_path / "moved")  # paths are relative: the dataset can move
    data = check_det_dataset(str(Path(moved) / "data.yaml"))
    assert data["nc"] == 2 and data["kpt_shape"] == [17, 3]
    assert Path(data["train"]).is_dir() and Path(data["val"]).is_dir()


def test_several_videos_split_by_video_never_by_frame(tmp_path, short_clip):
    videos = tmp_path / "videos"
    (videos / "sub").mkdir(parents=True)
    ids = ["a.mp4", "b.mp4", "sub/c.mp4", "sub/d e.mp4"]
    for clip_id in ids:
        shutil.copy(short_clip, videos / clip_id)
    shards = write_shards(tmp_path / "shards", [make_clip(videos / i, i) for i in ids])
    ds = build_pseudo_labels(shards, tmp_path / "pl", options=PseudoLabelOptions(frame_fraction=0.5, anchor_classes=1))
    split_of = {}
    for split in ("train", "val"):
        for path in (ds.root / "images" / split).glob("*.jpg"):
            split_of.setdefault(path.stem.rsplit("-", 1)[0], set()).add(split)
    assert len(split_of) == 4 and all(len(s) == 1 for s in split_of.values())
    assert ds.meta["split"].startswith("by video: 3 train, 1 val")


def test_videos_folder_that_does_not_match_the_shards_fails_clearly(shards, tmp_path, sample_frames):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=r"not found at .*--videos .* does not match the shards"):
        build_pseudo_labels(shards, tmp_path / "pl", videos=empty)
    other = tmp_path / "other"
    other.mkdir()
    name = Path(next(iter(ShardClipIds(shards))))
    small = [cv2.resize(f, (320, 240)) for f in sample_frames[:6]]
    write_clip(other / name, small)
    with pytest.raises(ConfigError, match="is 320x240 but the shards' clip"):
        build_pseudo_labels(shards, tmp_path / "pl", videos=other)
    assert not (tmp_path / "pl").exists()


def ShardClipIds(shards: Path) -> list[str]:  # noqa: N802 - reads like the set it returns
    from posekit.io.shards import read_skeletons

    return [c.clip_id for c in read_skeletons(shards)]


def test_moved_videos_are_found_with_the_videos_folder(shards, tmp_path, short_clip):
    moved = tmp_path / "moved videos"
    moved.mkdir()
    shutil.copy(short_clip, moved / short_clip.name)
    ds = build_pseudo_labels(
        shards, tmp_path / "pl", videos=moved, options=PseudoLabelOptions(frame_fraction=1.0, anchor_classes=1)
    )
    assert ds.meta["frames"] == {"train": 5, "val": 1}


def test_no_pose_above_gamma_fails_clearly_and_writes_nothing(shards, tmp_path):
    with pytest.raises(ConfigError, match=r"no pose .* C >= gamma = 0\.95"):
        build_pseudo_labels(shards, tmp_path / "pl", options=PseudoLabelOptions(gamma=0.95))
    assert not list(tmp_path.glob("*pl*"))


def test_too_few_frames_for_the_split_fails_clearly(shards, tmp_path):
    with pytest.raises(ConfigError, match="too few labelled frames for a train/val split"):
        build_pseudo_labels(shards, tmp_path / "pl", options=PseudoLabelOptions(frame_fraction=0.1, anchor_classes=1))
    with pytest.raises(ConfigError, match="fewer than the 20 anchor poses"):
        build_pseudo_labels(shards, tmp_path / "pl", options=PseudoLabelOptions(frame_fraction=1.0, anchor_classes=20))
    assert not list(tmp_path.glob("*pl*"))


def test_a_complete_dataset_is_reused_and_other_settings_are_refused(shards, tmp_path):
    options = PseudoLabelOptions(frame_fraction=1.0, anchor_classes=1)
    ds = build_pseudo_labels(shards, tmp_path / "pl", options=options)
    stamp = (ds.root / DATASET_META).stat().st_mtime_ns
    again = build_pseudo_labels(shards, tmp_path / "pl", options=options)
    assert (again.root / DATASET_META).stat().st_mtime_ns == stamp
    with pytest.raises(ConfigError, match="other settings"):
        build_pseudo_labels(shards, tmp_path / "pl", options=PseudoLabelOptions(frame_fraction=1.0, anchor_classes=2))


def test_missing_shards_fail_clearly(tmp_path):
    (tmp_path / "none").mkdir()
    with pytest.raises(ConfigError, match="no skeleton shards"):
        build_pseudo_labels(tmp_path / "none", tmp_path / "pl")


def test_detector_box_source_labels_the_extraction_person_box(shards, tmp_path):
    options = PseudoLabelOptions(frame_fraction=1.0, anchor_classes=1, box_source="detector")
    ds = build_pseudo_labels(shards, tmp_path / "pl", options=options)
    train = labels_of(ds.root, "train")
    frame0 = train[next(k for k in train if k.endswith("-000000"))]
    first = frame0[np.argmin(frame0[:, 1])]
    kp = person(100, 100, 200)
    W, H = 768, 576
    np.testing.assert_allclose(
        first[1:5], [*((kp.min(0) + kp.max(0)) / 2 / [W, H]), *((kp.max(0) - kp.min(0)) / [W, H])], atol=1e-5
    )
    with pytest.raises(ConfigError, match=r"box[_-]source"):
        PseudoLabelOptions(box_source="extent")
