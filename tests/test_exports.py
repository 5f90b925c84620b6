"""Exports to pyskl/MMAction2 pickle, NTU-style arrays and COCO-keypoints JSON (posekit.workflows.datasets.exports)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from posekit.core.errors import ConfigError
from posekit.skeleton.layouts import COCO17, POSETICS17
from posekit.testing.synthetic import write_synthetic_dataset
from posekit.workflows.datasets.build.options import BuildOptions
from posekit.workflows.datasets.build.run import build_dataset
from posekit.workflows.datasets.exports.arrays import person_arrays
from posekit.workflows.datasets.exports.coco import annotation_box, export_coco
from posekit.workflows.datasets.exports.ntu import NtuOptions, export_ntu
from posekit.workflows.datasets.exports.pyskl import PysklOptions, export_pyskl, frame_dirs
from posekit.workflows.datasets.inputs import read_collection
from tests.test_torch_dataset import _clip, _ramp, _track, _write


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """A built dataset of 4 COCO-17 clips (2 classes); clip a has a missing joint and two persons."""
    kp = _ramp(5) + 10
    kp[2, 3] = np.nan
    clips = [
        _clip("a.mp4", 5, [_track(0, kp), _track(1, _ramp(3) + 50, np.array([1, 2, 3]), score=0.2)]),
        _clip("b.mp4", 4, [_track(0, _ramp(4) + 20)]),
        _clip("c.mp4", 6, [_track(0, _ramp(6) + 30)]),
        _clip("d.mp4", 5, [_track(0, _ramp(5) + 40)]),
    ]
    src = _write(tmp_path / "src", clips, layout=COCO17)
    (tmp_path / "l.txt").write_text("a.mp4\tjump\ttrain\nb.mp4\trun\ttrain\nc.mp4\tjump\tval\nd.mp4\trun\tval\n")
    build_dataset(read_collection(tmp_path / "l.txt", None), tmp_path / "ds", BuildOptions(), shards=src)
    return tmp_path / "ds"


def test_pyskl_pickle_has_their_fields_shapes_and_zeros_for_missing(dataset: Path, tmp_path: Path) -> None:
    path = export_pyskl(dataset, tmp_path / "out" / "ds.pkl", PysklOptions(split_prefix="xsub_"))
    with open(path, "rb") as fh:
        data = pickle.load(fh)
    assert set(data) == {"split", "annotations", "layout"} and sorted(data["split"]) == ["xsub_train", "xsub_val"]
    assert data["split"]["xsub_train"] == ["a.mp4", "b.mp4"]  # PoseDataset matches splits by filename when present
    assert data["layout"]["name"] == "coco17" and data["layout"]["graph"] == "coco"
    assert data["layout"]["joints"] == list(COCO17.joints)
    ann = {a["frame_dir"]: a for a in data["annotations"]}
    assert sorted(ann) == ["a", "b", "c", "d"] and ann["a"]["filename"] == "a.mp4"
    a = ann["a"]
    assert set(a) == {
        "frame_dir", "filename", "label", "img_shape", "original_shape", "total_frames",
        "keypoint", "keypoint_score", "box_score", "valid",
    }  # fmt: skip
    assert a["keypoint"].shape == (2, 5, 17, 2) and a["keypoint_score"].shape == (2, 5, 17)
    assert a["keypoint"].dtype == np.float32 and a["img_shape"] == (100, 200) and a["total_frames"] == 5
    assert a["label"] == 0 and ann["b"]["label"] == 1
    assert a["box_score"].shape == (2, 5) and a["box_score"].dtype == np.float32
    assert a["box_score"][1, 0] == 0 and a["box_score"][1, 1] == pytest.approx(0.2)
    assert set(a["valid"]) == {0.5, 0.6, 0.7, 0.8, 0.9} and a["valid"][0.5] == 5
    assert (a["keypoint"][0, 2, 3] == 0).all() and a["keypoint_score"][0, 2, 3] == 0
    np.testing.assert_allclose(a["keypoint"][0, 4, 0], [14, 10])
    assert (a["keypoint"][1, 0] == 0).all() and (a["keypoint_score"][1, 0] == 0).all()  # second person absent at t=0
    assert np.isfinite(a["keypoint"]).all()


def test_ntu_arrays_are_n_c_t_v_m_with_labels_padding_and_screen_coordinates(dataset: Path, tmp_path: Path) -> None:
    files = export_ntu(dataset, tmp_path / "ntu", NtuOptions(frames=8, pad="zero"))
    x = np.load(files["train"])
    assert x.shape == (2, 3, 8, 17, 2) and x.dtype == np.float32
    assert np.load(tmp_path / "ntu" / "train_label.npy").tolist() == [0, 1]
    assert (tmp_path / "ntu" / "classes.txt").read_text().split("\n")[:2] == ["jump", "run"]
    assert np.load(tmp_path / "ntu" / "train_num_frames.npy").tolist() == [5, 4]
    assert (x[0, :, 5:] == 0).all() and np.abs(x[:, :2]).max() <= 1.0
    nose = POSETICS17.index("nose")
    np.testing.assert_allclose(x[0, :2, 0, nose, 0], [(10 - 100) / 100, (10 + 0 - 50) / 100], atol=1e-6)
    looped_files = export_ntu(
        dataset, tmp_path / "loop", NtuOptions(frames=10, pad="loop", coords="pixels", channels=2)
    )
    looped = np.load(looped_files["val"])
    assert looped.shape == (2, 2, 10, 17, 2)
    np.testing.assert_allclose(looped[0, 0, 6, nose, 0], looped[0, 0, 0, nose, 0])
    assert looped[0, 0, 0, nose, 0] == 30


def test_coco_json_one_image_per_frame_and_one_annotation_per_person_frame(dataset: Path, tmp_path: Path) -> None:
    files = export_coco(dataset, tmp_path / "coco")
    doc = json.loads(files["train"].read_text())
    assert len(doc["images"]) == 5 + 4 and len(doc["annotations"]) == 5 + 3 + 4
    assert doc["categories"][0]["keypoints"] == list(COCO17.joints) and doc["classes"] == ["jump", "run"]
    img = doc["images"][0]
    assert (
        img["file_name"] == "a/000000.jpg" and img["clip_id"] == "a.mp4" and (img["width"], img["height"]) == (200, 100)
    )
    missing = next(a for a in doc["annotations"] if a["image_id"] == 3 and a["track_id"] == 0)
    assert missing["num_keypoints"] == 16 and missing["keypoints"][9:12] == [0, 0, 0]
    assert missing["keypoints"][:3] == [12.0, 10.0, 2] and len(missing["bbox"]) == 4
    assert {a["track_id"] for a in doc["annotations"] if a["image_id"] <= 5} == {0, 1}
    assert doc["videos"][0]["label_name"] == "jump"


def test_person_arrays_of_a_clip_without_people_is_one_zero_person() -> None:
    kp, sc = person_arrays(_clip("e", 3, []), COCO17, COCO17)
    assert kp.shape == (1, 3, 17, 2) and not kp.any() and not sc.any()


def test_ntu_pads_every_split_to_one_length_the_longest_clip_overall(dataset: Path, tmp_path: Path) -> None:
    files = export_ntu(dataset, tmp_path / "ntu")
    train, val = np.load(files["train"]), np.load(files["val"])
    assert train.shape[2] == val.shape[2] == 6  # train clips have 5 and 4 frames, val 6 and 5
    assert (train[1, :, 4:] == 0).all() and np.load(tmp_path / "ntu" / "train_num_frames.npy").tolist() == [5, 4]


def test_pyskl_box_scores_follow_the_person_order_and_valid_counts_frames_per_threshold(
    dataset: Path, tmp_path: Path
) -> None:
    with open(export_pyskl(dataset, tmp_path / "p.pkl"), "rb") as fh:
        a = next(x for x in pickle.load(fh)["annotations"] if x["frame_dir"] == "a")
    present = a["keypoint_score"].any(-1)
    assert ((a["box_score"] > 0) == present).all()
    for thr, frames in a["valid"].items():
        assert frames == int((a["box_score"] >= thr).any(0).sum())


def test_pyskl_refuses_a_layout_their_graphs_do_not_know_unless_asked(tmp_path: Path) -> None:
    src = _write(tmp_path / "src", [_clip("a.mp4", 3, [_track(0, _ramp(3))])], layout=POSETICS17)
    (tmp_path / "l.txt").write_text("a.mp4\tjump\n")
    build_dataset(read_collection(tmp_path / "l.txt", None), tmp_path / "ds", BuildOptions(val_fraction=0), shards=src)
    with pytest.raises(
        ConfigError, match=r"layout posetics17 is not one MMAction2/pyskl .*--layout coco17.*--any-layout"
    ):
        export_pyskl(tmp_path / "ds", tmp_path / "p.pkl")
    assert not (tmp_path / "p.pkl").exists()
    with open(export_pyskl(tmp_path / "ds", tmp_path / "p.pkl", PysklOptions(any_layout=True)), "rb") as fh:
        kept = pickle.load(fh)
    assert kept["layout"]["name"] == "posetics17" and kept["layout"]["graph"] is None
    with open(export_pyskl(tmp_path / "ds", tmp_path / "c.pkl", PysklOptions(layout="coco17")), "rb") as fh:
        converted = pickle.load(fh)
    assert converted["layout"]["graph"] == "coco" and converted["annotations"][0]["keypoint"].shape[2] == 17
    with pytest.raises(ConfigError, match="--layout: unknown joint layout 'coco18'"):
        PysklOptions(layout="coco18")


def test_unlabelled_shards_are_refused_by_pyskl_and_ntu_unless_allowed(tmp_path: Path) -> None:
    shards = _write(tmp_path / "raw", [_clip("a.mp4", 3, [_track(0, _ramp(3))]), _clip("b.mp4", 2, [])], layout=COCO17)
    for export, out in ((export_pyskl, tmp_path / "p.pkl"), (export_ntu, tmp_path / "ntu")):
        with pytest.raises(ConfigError, match=r"2 clip\(s\) have no class \(first: a.mp4\).*--allow-unlabelled"):
            export(shards, out)
        assert not out.exists()
    with open(export_pyskl(shards, tmp_path / "p.pkl", PysklOptions(allow_unlabelled=True)), "rb") as fh:
        assert [a["label"] for a in pickle.load(fh)["annotations"]] == [-1, -1]
    files = export_ntu(shards, tmp_path / "ntu", NtuOptions(allow_unlabelled=True))
    assert np.load(tmp_path / "ntu" / "raw_label.npy").tolist() == [-1, -1] and np.load(files["raw"]).shape[2] == 3


def test_frame_dir_is_the_stem_and_keeps_the_folders_only_where_stems_repeat() -> None:
    assert frame_dirs(["walking/vtest-4s.mp4", "x_000001_000011.mp4"]) == ["vtest-4s", "x_000001_000011"]
    assert frame_dirs(["walking/a.mp4", "running/a.mp4", "b.avi"]) == ["walking_a", "running_a", "b"]
    with pytest.raises(ConfigError, match="appear twice"):
        frame_dirs(["a.mp4", "a.mp4"])


def test_synthetic_dataset_exports_keep_its_train_and_val_apart(tmp_path: Path) -> None:
    write_synthetic_dataset(tmp_path / "syn", {"train": 2, "val": 1}, actions=("waving", "walking"), frames=(8, 12))
    with open(export_pyskl(tmp_path / "syn", tmp_path / "syn.pkl"), "rb") as fh:
        data = pickle.load(fh)
    assert {k: len(v) for k, v in data["split"].items()} == {"train": 4, "val": 2}
    assert not set(data["split"]["train"]) & set(data["split"]["val"])
    assert sorted({a["label"] for a in data["annotations"]}) == [0, 1]
    coco = export_coco(tmp_path / "syn", tmp_path / "coco")
    assert sorted(coco) == ["train", "val"]
    ntu = export_ntu(tmp_path / "syn", tmp_path / "ntu")
    assert np.load(ntu["train"]).shape[2] == np.load(ntu["val"]).shape[2] <= 12


def test_coco_annotation_box_of_a_one_joint_pose_without_a_tracker_box_is_never_zero_area() -> None:
    nan2 = [np.nan, np.nan]
    boxes = np.array([[10, 20, 50, 120], [np.nan] * 4, [np.nan] * 4], np.float32)
    keypoints = np.array([[[0, 0], [40, 100]], [[0, 0], [100, 10]], [[200, 300], nan2]], np.float32)
    assert annotation_box(boxes, keypoints, 0).tolist() == [10, 20, 50, 120]
    assert annotation_box(boxes, keypoints, 2).tolist() == [180.0, 250.0, 220.0, 350.0]
    assert annotation_box(boxes, keypoints, 1).tolist() == [0.0, -45.0, 100.0, 55.0]
    untracked = np.full((3, 4), np.nan, np.float32)
    x1, y1, x2, y2 = annotation_box(untracked, keypoints, 2)
    assert (x2 - x1, y2 - y1) == (70.0, 55.0)
    assert annotation_box(untracked, np.full((3, 2, 2), np.nan, np.float32), 0).tolist() == [0, 0, 0, 0]
