import numpy as np
import pytest

from posekit.core.errors import ConfigError
from posekit.estimators.base import EstimatorConfig
from posekit.estimators.crops import crop_person, crop_to_frame, crop_transform
from posekit.estimators.registry import ExpertSpec, build_estimator, parse_experts
from posekit.estimators.yolo import bundled_yolo_weights
from posekit.skeleton.layouts import BLAZEPOSE33, COCO17
from posekit.skeleton.records import PoseProposals

CONFIG = EstimatorConfig(imgsz=1280)


@pytest.fixture(scope="module")
def yolo():
    return build_estimator("yolo", CONFIG)


@pytest.fixture(scope="module")
def yolo_on_sample(yolo, sample_frames):
    return yolo.predict(sample_frames[:2])


def test_expert_specs_parse_names_and_weights(tmp_path):
    specs = parse_experts("yolo, yolo:runs/best.pt,mediapipe")
    assert [s.name for s in specs] == ["yolo", "yolo", "mediapipe"]
    assert specs[1].weights.as_posix() == "runs/best.pt" and specs[1].label == "yolo:best.pt"


@pytest.mark.parametrize(
    "text, match",
    [
        ("openpose", "unknown expert 'openpose'.*known experts: yolo, yolo-topdown, mediapipe"),
        ("", "empty"),
        ("yolo,yolo", "twice"),
    ],
)
def test_bad_expert_lists_get_one_clear_message(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_experts(text)


def test_missing_weights_file_is_named_with_the_fix(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(ConfigError, match=f"YOLO weights not found: {missing}"):
        build_estimator(ExpertSpec("yolo", missing), CONFIG)


def test_default_yolo_weights_come_from_the_installed_package():
    path = bundled_yolo_weights()
    assert path.name == "yolo11n-pose.pt" and path.is_file()


def test_mediapipe_rejects_a_weights_path(tmp_path):
    with pytest.raises(ConfigError, match="takes no weights path"):
        build_estimator(ExpertSpec("mediapipe", tmp_path / "x.tflite"), CONFIG)


def test_yolo_finds_the_small_pedestrians_of_the_sample_at_1280(yolo, yolo_on_sample):
    assert yolo.layout is COCO17 and not yolo.needs_boxes
    for props in yolo_on_sample:
        assert len(props) >= 2
        assert props.keypoints.shape == (len(props), 17, 2) and props.keypoints.dtype == np.float32
        assert props.joint_scores.shape == (len(props), 17)
        inside = (props.keypoints[..., 0] > 0) & (props.keypoints[..., 0] < 768)
        assert inside[~np.isnan(props.keypoints[..., 0])].all()
        x1, y1, x2, y2 = props.boxes.T
        assert ((x2 > x1) & (y2 > y1)).all() and ((props.scores > 0) & (props.scores <= 1)).all()


def test_yolo_is_batched_and_matches_single_frame_calls(yolo, yolo_on_sample, sample_frames):
    single = yolo.predict(sample_frames[1:2])[0]
    np.testing.assert_allclose(single.boxes, yolo_on_sample[1].boxes, atol=1.0)


def test_mediapipe_top_down_places_joints_inside_the_given_person_box(yolo_on_sample, sample_frames):
    mp = build_estimator("mediapipe", CONFIG)
    boxes = yolo_on_sample[0].boxes
    (props,) = mp.predict(sample_frames[:1], [boxes])
    assert mp.needs_boxes and props.layout is BLAZEPOSE33 and len(props) == len(boxes)
    found = ~np.isnan(props.keypoints).all(axis=(1, 2))
    assert found.sum() >= len(boxes) - 1
    for p in np.flatnonzero(found):
        x1, y1, x2, y2 = boxes[p]
        w = x2 - x1
        hips = props.keypoints[p, [BLAZEPOSE33.index("left_hip"), BLAZEPOSE33.index("right_hip")]].mean(0)
        assert x1 - 0.25 * w <= hips[0] <= x2 + 0.25 * w and y1 <= hips[1] <= y2
    coco = props.to_layout(COCO17)
    assert coco.keypoints.shape == (len(boxes), 17, 2)


def test_crop_transform_round_trips_points():
    box = np.array([100, 50, 130, 150], np.float32)
    M = crop_transform(box, 1.25, 256)
    pts = np.array([[115, 100], [100, 50]], np.float32)
    in_crop = pts @ M[:, :2].T + M[:, 2]
    np.testing.assert_allclose(in_crop[0], (128, 128))
    np.testing.assert_allclose(crop_to_frame(in_crop, M), pts, atol=1e-4)
    crop, _ = crop_person(np.zeros((200, 200, 3), np.uint8), box, 1.25, 256)
    assert crop.shape == (256, 256, 3)


def test_empty_proposals_have_consistent_shapes():
    empty = PoseProposals.empty(COCO17)
    assert len(empty) == 0 and empty.keypoints.shape == (0, 17, 2) and empty.track_ids.shape == (0,)


def test_yolo_topdown_agrees_with_the_full_frame_pass_on_upscaled_crops(yolo_on_sample, sample_frames):
    topdown = build_estimator("yolo-topdown", EstimatorConfig())
    boxes = yolo_on_sample[0].boxes
    (props,) = topdown.predict(sample_frames[:1], [boxes])
    assert topdown.needs_boxes and props.layout is COCO17 and len(props) == len(boxes)
    error = np.linalg.norm(props.keypoints - yolo_on_sample[0].keypoints, axis=-1)
    assert np.nanmedian(error) < 5.0
    (nobody,) = topdown.predict(sample_frames[:1], [np.array([[0, 0, 30, 30]], np.float32)])
    assert np.isnan(nobody.keypoints).all() and nobody.scores[0] == 0
