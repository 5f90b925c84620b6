"""Exports to pyskl/MMAction2 pickle, NTU-style arrays and COCO-keypoints JSON (posekit.workflows.datasets.exports)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from posekit.skeleton.layouts import COCO17, POSETICS17
from posekit.workflows.datasets.build import BuildOptions, build_dataset
from posekit.workflows.datasets.exports import export_coco, export_ntu, export_pyskl, person_arrays
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
    path = export_pyskl(dataset, tmp_path / "out" / "ds.pkl", split_prefix="xsub_")
    with open(path, "rb") as fh:
        data = pickle.load(fh)
    assert set(data) == {"split", "annotations"} and sorted(data["split"]) == ["xsub_train", "xsub_val"]
    ann = {a["frame_dir"]: a for a in data["annotations"]}
    assert sorted(ann) == ["a.mp4", "b.mp4", "c.mp4", "d.mp4"]
    a = ann["a.mp4"]
    assert set(a) == {"frame_dir", "label", "img_shape", "original_shape", "total_frames", "keypoint", "keypoint_score"}
    assert a["keypoint"].shape == (2, 5, 17, 2) and a["keypoint_score"].shape == (2, 5, 17)
    assert a["keypoint"].dtype == np.float32 and a["img_shape"] == (100, 200) and a["total_frames"] == 5
    assert a["label"] == 0 and ann["b.mp4"]["label"] == 1
    assert (a["keypoint"][0, 2, 3] == 0).all() and a["keypoint_score"][0, 2, 3] == 0
    np.testing.assert_allclose(a["keypoint"][0, 4, 0], [14, 10])
    assert (a["keypoint"][1, 0] == 0).all() and (a["keypoint_score"][1, 0] == 0).all()  # second person absent at t=0
    assert np.isfinite(a["keypoint"]).all()


def test_ntu_arrays_are_n_c_t_v_m_with_labels_padding_and_screen_coordinates(dataset: Path, tmp_path: Path) -> None:
    files = export_ntu(dataset, tmp_path / "ntu", frames=8, pad="zero")
    x = np.load(files["train"])
    assert x.shape == (2, 3, 8, 17, 2) and x.dtype == np.float32
    assert np.load(tmp_path / "ntu" / "train_label.npy").tolist() == [0, 1]
    assert (tmp_path / "ntu" / "classes.txt").read_text().split("\n")[:2] == ["jump", "run"]
    assert np.load(tmp_path / "ntu" / "train_num_frames.npy").tolist() == [5, 4]
    assert (x[0, :, 5:] == 0).all() and np.abs(x[:, :2]).max() <= 1.0
    nose = POSETICS17.index("nose")
    np.testing.assert_allclose(x[0, :2, 0, nose, 0], [(10 - 100) / 100, (10 + 0 - 50) / 100], atol=1e-6)
    looped = np.load(export_ntu(dataset, tmp_path / "loop", frames=10, pad="loop", coords="pixels", channels=2)["val"])
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
