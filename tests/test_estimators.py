import dataclasses
import logging
import subprocess
import sys

import numpy as np
import pytest

from posekit.core.errors import ConfigError, PosekitError
from posekit.estimators.base import EstimatorConfig, OneStageOptions, TopDownExpert, TopDownOptions
from posekit.estimators.crops import crop_person, crop_to_frame, crop_transform
from posekit.estimators.registry import BUILTIN_EXPERTS, EXPERTS, ExpertSpec, build_estimator, parse_experts
from posekit.estimators.yolo import bundled_yolo_weights
from posekit.skeleton.layouts import BLAZEPOSE33, COCO17
from posekit.skeleton.records import PoseProposals
from tests.fake_expert import PEOPLE, FakeDetector, FakeTopDown, figure_in, write_fake_plugin

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


@pytest.mark.slow
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


@pytest.mark.slow
def test_yolo_is_batched_and_matches_single_frame_calls(yolo, yolo_on_sample, sample_frames):
    single = yolo.predict(sample_frames[1:2])[0]
    np.testing.assert_allclose(single.boxes, yolo_on_sample[1].boxes, atol=1.0)


@pytest.mark.slow
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


@pytest.mark.slow
def test_yolo_topdown_agrees_with_the_full_frame_pass_on_upscaled_crops(yolo_on_sample, sample_frames):
    topdown = build_estimator("yolo-topdown", EstimatorConfig())
    boxes = yolo_on_sample[0].boxes
    (props,) = topdown.predict(sample_frames[:1], [boxes])
    assert topdown.needs_boxes and props.layout is COCO17 and len(props) == len(boxes)
    error = np.linalg.norm(props.keypoints - yolo_on_sample[0].keypoints, axis=-1)
    assert np.nanmedian(error) < 5.0
    (nobody,) = topdown.predict(sample_frames[:1], [np.array([[0, 0, 30, 30]], np.float32)])
    assert np.isnan(nobody.keypoints).all() and nobody.scores[0] == 0


@pytest.fixture
def fake_experts_installed(tmp_path, monkeypatch):
    """A package declaring two experts (and a third that tries to replace yolo) as entry points, on sys.path."""
    write_fake_plugin(tmp_path, "yolo = fake_posekit_plugin:FakeDetector\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    EXPERTS.refresh()
    yield
    monkeypatch.undo()
    sys.modules.pop("fake_posekit_plugin", None)
    EXPERTS.refresh()


def test_entry_point_experts_are_listed_unimported_and_built_by_name(fake_experts_installed, caplog):
    with caplog.at_level(logging.WARNING, logger="posekit.estimators.registry"):
        names = list(EXPERTS)
    assert names[: len(BUILTIN_EXPERTS)] == list(BUILTIN_EXPERTS) and names[-2:] == ["fake-detector", "fake-topdown"]
    assert "fake_posekit_plugin" not in sys.modules
    assert EXPERTS["fake-topdown"].provider == "fake-posekit-plugin"
    (spec,) = parse_experts("fake-topdown")
    expert = build_estimator(spec, EstimatorConfig())
    assert isinstance(expert, TopDownExpert) and expert.name == "fake-topdown" and "fake_posekit_plugin" in sys.modules
    assert "fake-posekit-plugin declares the expert 'yolo'" in caplog.text
    assert EXPERTS["yolo"].target == "posekit.estimators.yolo:YoloPose"


def test_listing_experts_imports_no_model_library():
    code = (
        "import sys; from posekit.estimators.registry import EXPERTS, parse_experts; list(EXPERTS); "
        "parse_experts('yolo,mediapipe,rtmpose'); "
        "print(sorted(m for m in ('ultralytics', 'torch', 'mediapipe', 'onnxruntime') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_topdown_base_maps_each_crop_pose_back_into_its_own_box_in_box_order(sample_frames):
    expert = FakeTopDown(None, EstimatorConfig())
    boxes = [PEOPLE[:2], PEOPLE[:0], PEOPLE[[1, 0, 2]]]
    out = expert.predict(sample_frames[:3], boxes)
    assert [len(p) for p in out] == [2, 0, 3]
    (crops,) = expert.crops_seen
    assert crops.shape == (5, 256, 256, 3) and crops.dtype == np.uint8
    for props, frame_boxes in zip(out, boxes):
        np.testing.assert_array_equal(props.boxes, frame_boxes)
        for p, box in enumerate(frame_boxes):
            np.testing.assert_allclose(props.keypoints[p], figure_in(box), atol=1e-3)
    assert out[2].keypoints.shape == (3, 17, 2) and np.isfinite(out[2].keypoints).all()
    (outside,) = expert.predict(sample_frames[:1], [np.array([[2000, 2000, 2050, 2100]], np.float32)])
    assert np.isnan(outside.keypoints).all() and outside.scores[0] == 0 and (outside.joint_scores == 0).all()


def test_topdown_base_names_a_hook_that_returns_the_wrong_shapes(sample_frames):
    class OnePointTooFew(FakeTopDown):
        def infer_crops(self, crops, boxes):
            found = super().infer_crops(crops, boxes)
            return found._replace(keypoints=found.keypoints[:, :16])

    with pytest.raises(PosekitError, match=r"infer_crops gave keypoints of shape \(2, 16, 2\), expected \(2, 17, 2\)"):
        OnePointTooFew(None, EstimatorConfig()).predict(sample_frames[:1], [PEOPLE[:2]])


def test_one_stage_base_drops_persons_below_min_box_score(sample_frames):
    (props,) = FakeDetector(None, EstimatorConfig()).predict(sample_frames[:1])
    np.testing.assert_array_equal(props.boxes, PEOPLE[:2])
    (props,) = FakeDetector(None, EstimatorConfig(min_box_score=0.01)).predict(sample_frames[:1])
    assert len(props) == 3
    with pytest.raises(ValueError, match="one-stage expert"):
        FakeDetector(None, EstimatorConfig()).predict(sample_frames[:1], [PEOPLE])


def test_estimator_config_is_every_kind_of_options_with_todays_fields():
    config = EstimatorConfig()
    assert isinstance(config, TopDownOptions) and isinstance(config, OneStageOptions)
    assert [f.name for f in dataclasses.fields(config)] == [
        "device",
        "imgsz",
        "min_box_score",
        "tiles",
        "second_pass",
        "input_size_pass",
        "tile_max_upscale",
        "tile_below",
        "crop_scale",
        "crop_size",
        "crop_batch",
    ]
    assert all(f.metadata["help"] for f in dataclasses.fields(config))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"crop_scale": 0.5}, r"--crop-scale must be >= 1 \(got 0.5\)"),
        ({"crop_size": 16}, r"--crop-size must be >= 32"),
        ({"imgsz": 0}, r"--imgsz must be >= 32"),
        ({"min_box_score": 1.5}, r"--min-box-score must be >= 0 and <= 1"),
        ({"device": "gpu0"}, r"unknown --device 'gpu0'"),
    ],
)
def test_expert_options_refuse_out_of_bounds_values_naming_the_flag(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        EstimatorConfig(**kwargs)
    if "crop_scale" in kwargs:
        with pytest.raises(ConfigError, match=match):
            TopDownOptions(**kwargs)
