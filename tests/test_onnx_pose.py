"""ONNX Runtime experts on small ONNX models exported here with the RTMPose/RTMO signatures.

The SimCC model's logits peak at known bins whatever the crop holds, so where each joint
lands in the frame follows from the crop geometry alone; RTMO's outputs are constants in
model pixels, so the frame coordinates follow from the letterbox ratio alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from posekit.core.errors import ConfigError  # noqa: E402
from posekit.estimators.base import EstimatorConfig  # noqa: E402
from posekit.estimators.crops import crop_transform  # noqa: E402
from posekit.estimators.onnx_pose import RTMO, DWPose, RTMPose  # noqa: E402
from posekit.estimators.registry import build_estimator  # noqa: E402

K = 17
MEAN = np.array([123.675, 116.28, 103.53])
STD = np.array([58.395, 57.12, 57.375])


def _save(path: Path, nodes: list, inputs: list, outputs: list, constants: dict[str, np.ndarray]) -> Path:
    graph = helper.make_graph(
        nodes, "posekit_test", inputs, outputs, [numpy_helper.from_array(v, k) for k, v in constants.items()]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def simcc_peaks(joints: int = K, width: int = 192, height: int = 256, ratio: float = 2.0) -> dict[str, np.ndarray]:
    """Bins and peak values of the test SimCC model; the last joint's peaks are negative (no joint)."""
    k = np.arange(joints)
    bins_x = (10 + 17 * k) % int(width * ratio)
    bins_y = (20 + 23 * k) % int(height * ratio)
    peak_x = 0.5 + 0.02 * k
    peak_y = 0.9 - 0.01 * k
    peak_x[-1] = peak_y[-1] = -0.5
    return {"bins_x": bins_x, "bins_y": bins_y, "peak_x": peak_x, "peak_y": peak_y}


def write_simcc_model(
    path: Path,
    width: int = 192,
    height: int = 256,
    ratio: float = 2.0,
    joints: int = K,
    batch: int | str = "N",
    mean_gain: float = 0.0,
    declared_width: int | str | None = None,
) -> Path:
    """An ONNX model with RTMPose's signature: ``input (N,3,H,W)`` -> ``simcc_x``, ``simcc_y``.

    The logits are constants peaking at :func:`simcc_peaks`, plus ``mean_gain`` times the
    mean of the (normalised) input crop, broadcast over every bin.
    """
    peaks = simcc_peaks(joints, width, height, ratio)
    wx, hy = int(width * ratio), int(height * ratio)
    logits_x = np.full((1, joints, wx), -1.0, np.float32)
    logits_y = np.full((1, joints, hy), -1.0, np.float32)
    logits_x[0, np.arange(joints), peaks["bins_x"]] = peaks["peak_x"]
    logits_y[0, np.arange(joints), peaks["bins_y"]] = peaks["peak_y"]
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["m"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Reshape", ["m", "shape3"], ["m3"]),
        helper.make_node("Mul", ["m3", "gain"], ["g"]),
        helper.make_node("Add", ["g", "const_x"], ["simcc_x"]),
        helper.make_node("Add", ["g", "const_y"], ["simcc_y"]),
    ]
    constants = {
        "shape3": np.array([-1, 1, 1], np.int64),
        "gain": np.array(mean_gain, np.float32),
        "const_x": logits_x,
        "const_y": logits_y,
    }
    declared = [batch, 3, height, width if declared_width is None else declared_width]
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, declared)]
    outputs = [
        helper.make_tensor_value_info("simcc_x", TensorProto.FLOAT, [batch, joints, wx]),
        helper.make_tensor_value_info("simcc_y", TensorProto.FLOAT, [batch, joints, hy]),
    ]
    return _save(path, nodes, inputs, outputs, constants)


RTMO_DETS = np.array(
    [[40.0, 60.0, 90.0, 200.0, 0.9], [150.0, 30.0, 210.0, 180.0, 0.6], [5.0, 5.0, 20.0, 20.0, 0.05]], np.float32
)


def rtmo_keypoints() -> np.ndarray:
    """``(3, K, 3)`` constant keypoints in model pixels: x, y, score."""
    n, k = np.meshgrid(np.arange(3), np.arange(K), indexing="ij")
    return np.stack([50.0 + 3 * k + 100 * n, 70.0 + 5 * k + 20 * n, 0.2 + 0.04 * k], axis=-1).astype(np.float32)


def write_rtmo_model(path: Path, width: int = 320, height: int = 320, blue_gain: float = 0.0) -> Path:
    """An ONNX model with RTMO's signature: ``input (1,3,H,W)`` -> ``dets (1,N,5)``, ``keypoints (1,N,K,3)``.

    The person scores get ``blue_gain`` times the mean of input channel 0 (blue in BGR) added.
    """
    nodes = [
        helper.make_node("Gather", ["input", "first"], ["c0"], axis=1),
        helper.make_node("ReduceMean", ["c0"], ["m"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Mul", ["m", "gains"], ["g"]),
        helper.make_node("Add", ["g", "dets_c"], ["dets"]),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["z", "kpts_c"], ["keypoints"]),
    ]
    constants = {
        "first": np.array([0], np.int64),
        "gains": np.array([0, 0, 0, 0, blue_gain], np.float32),
        "zero": np.array(0.0, np.float32),
        "dets_c": RTMO_DETS[None],
        "kpts_c": rtmo_keypoints()[None],
    }
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, height, width])]
    outputs = [
        helper.make_tensor_value_info("dets", TensorProto.FLOAT, [1, 3, 5]),
        helper.make_tensor_value_info("keypoints", TensorProto.FLOAT, [1, 3, K, 3]),
    ]
    return _save(path, nodes, inputs, outputs, constants)


def expected_simcc_frame_points(
    box: np.ndarray, width: int, height: int, ratio: float, scale: float = 1.25
) -> tuple[np.ndarray, np.ndarray]:
    """Where the test model's joints land in the frame for ``box``: ``(K, 2)`` pixels and ``(K,)`` scores."""
    peaks = simcc_peaks(K, width, height, ratio)
    x1, y1, x2, y2 = box
    bw, bh = (x2 - x1) * scale, (y2 - y1) * scale
    if bw / bh > width / height:
        bh = bw * height / width
    else:
        bw = bh * width / height
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    crop_x = peaks["bins_x"] / (int(width * ratio) / width)
    crop_y = peaks["bins_y"] / (int(height * ratio) / height)
    points = np.stack([cx + (crop_x / width - 0.5) * bw, cy + (crop_y / height - 0.5) * bh], axis=-1)
    scores = np.minimum(peaks["peak_x"], peaks["peak_y"])
    points[scores <= 0] = np.nan
    return points, np.clip(scores, 0, 1)


BOXES = [
    np.array([[100.0, 150.0, 160.0, 330.0], [400.0, 200.0, 520.0, 260.0]], np.float32),
    np.zeros((0, 4), np.float32),
    np.array([[650.0, 10.0, 760.0, 300.0]], np.float32),
]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx")


@pytest.mark.parametrize(("width", "height", "ratio"), [(192, 256, 2.0), (96, 128, 1.5), (288, 384, 2.0)])
def test_rtmpose_joints_land_where_crop_simcc_and_backprojection_say(
    models: Path, sample_frames: list[np.ndarray], width: int, height: int, ratio: float
) -> None:
    path = write_simcc_model(models / f"simcc-{width}x{height}-{ratio}.onnx", width, height, ratio)
    expert = RTMPose(path, EstimatorConfig())
    assert expert.input_size == (width, height)
    out = expert.predict(sample_frames[:3], BOXES)
    assert [len(p) for p in out] == [2, 0, 1]
    for proposals, boxes in zip(out, BOXES):
        assert proposals.layout.name == "coco17"
        assert proposals.keypoints.shape == (len(boxes), K, 2)
        assert proposals.keypoints.dtype == np.float32
        np.testing.assert_array_equal(proposals.boxes, boxes)
        for p, box in enumerate(boxes):
            points, scores = expected_simcc_frame_points(box, width, height, ratio)
            np.testing.assert_allclose(proposals.keypoints[p], points, atol=1e-3)
            np.testing.assert_allclose(proposals.joint_scores[p], scores, atol=1e-6)
            assert proposals.scores[p] == pytest.approx(scores.mean(), abs=1e-6)


def test_rtmpose_joint_with_no_positive_peak_is_nan_with_zero_score(
    models: Path, sample_frames: list[np.ndarray]
) -> None:
    out = RTMPose(write_simcc_model(models / "nan.onnx"), EstimatorConfig()).predict(sample_frames[:1], BOXES[:1])
    assert np.isnan(out[0].keypoints[:, -1]).all()
    assert (out[0].joint_scores[:, -1] == 0).all()
    assert np.isfinite(out[0].keypoints[:, :-1]).all()


def test_rtmpose_fixed_batch_model_loops_and_matches_dynamic_batch(
    models: Path, sample_frames: list[np.ndarray]
) -> None:
    dynamic = RTMPose(write_simcc_model(models / "dyn.onnx", batch="N"), EstimatorConfig())
    fixed = RTMPose(write_simcc_model(models / "fixed.onnx", batch=1), EstimatorConfig())
    fixed3 = RTMPose(write_simcc_model(models / "fixed3.onnx", batch=3), EstimatorConfig())
    assert (dynamic.batch_size, fixed.batch_size, fixed3.batch_size) == (None, 1, 3)
    runs = []
    original = fixed.session.run
    fixed.session.run = lambda *a: runs.append(1) or original(*a)
    ref = dynamic.predict(sample_frames[:3], BOXES)
    for expert in (fixed, fixed3):
        for a, b in zip(ref, expert.predict(sample_frames[:3], BOXES)):
            np.testing.assert_array_equal(a.keypoints, b.keypoints)
            np.testing.assert_array_equal(a.joint_scores, b.joint_scores)
    assert len(runs) == 3


def test_rtmpose_feeds_rgb_crops_normalised_with_mmpose_mean_and_std(models: Path) -> None:
    """A mean-coloured frame normalises to 0; a white one to the known ((255 - mean) / std).mean()."""
    expert = RTMPose(write_simcc_model(models / "gain.onnx", mean_gain=0.1), EstimatorConfig())
    box = np.array([[300.0, 200.0, 360.0, 330.0]], np.float32)
    base = expected_simcc_frame_points(box[0], 192, 256, 2.0)[1]
    mean_frame = np.broadcast_to(np.round(MEAN).astype(np.uint8), (576, 768, 3)).copy()
    shift = 0.1 * ((np.round(MEAN) - MEAN) / STD).mean()
    got = expert.predict([mean_frame], [box])[0].joint_scores[0]
    np.testing.assert_allclose(got[:-1], np.clip(base[:-1] + shift, 0, 1), atol=1e-5)
    white = np.full((576, 768, 3), 255, np.uint8)
    shift = 0.1 * ((255 - MEAN) / STD).mean()
    got = expert.predict([white], [box])[0].joint_scores[0]
    np.testing.assert_allclose(got[:-1], np.clip(base[:-1] + shift, 0, 1), atol=1e-5)


def test_crop_transform_keeps_people_undistorted_and_centred_at_the_model_aspect() -> None:
    M = crop_transform(np.array([100.0, 100.0, 150.0, 300.0]), 1.25, 192, 256)
    assert M[0, 0] == M[1, 1]
    np.testing.assert_allclose(M[:, :2] @ [125.0, 200.0] + M[:, 2], [96.0, 128.0])
    assert M[1, 1] == pytest.approx(256 / 250)


def test_dwpose_keeps_the_coco17_body_of_a_wholebody_133_model(models: Path, sample_frames: list[np.ndarray]) -> None:
    path = write_simcc_model(models / "wholebody.onnx", 288, 384, 2.0, joints=133)
    out = DWPose(path, EstimatorConfig()).predict(sample_frames[:1], BOXES[:1])[0]
    assert out.layout.name == "coco17" and out.keypoints.shape == (2, K, 2)
    peaks = simcc_peaks(133, 288, 384)
    np.testing.assert_allclose(out.joint_scores[0], np.minimum(peaks["peak_x"], peaks["peak_y"])[:K], atol=1e-6)
    with pytest.raises(ConfigError, match="17 joints"):
        DWPose(write_simcc_model(models / "body.onnx"), EstimatorConfig())


def test_rtmo_maps_letterboxed_detections_back_to_frame_pixels(models: Path, sample_frames: list[np.ndarray]) -> None:
    """Without the tile pass: the test model's detections do not depend on the image it is given."""
    expert = RTMO(write_rtmo_model(models / "rtmo.onnx", 320, 256), EstimatorConfig(min_box_score=0.1, tiles=1))
    assert expert.input_size == (320, 256) and not expert.needs_boxes
    assert expert.network_side() == 320  # the tile pass sizes its tiles for the model's input, not --imgsz
    out = expert.predict(sample_frames[:2])
    ratio = min(256 / 576, 320 / 768)
    for proposals in out:
        assert len(proposals) == 2 and proposals.layout.name == "coco17"
        np.testing.assert_allclose(proposals.boxes, RTMO_DETS[:2, :4] / ratio, rtol=1e-6)
        np.testing.assert_allclose(proposals.scores, RTMO_DETS[:2, 4])
        np.testing.assert_allclose(proposals.keypoints, rtmo_keypoints()[:2, :, :2] / ratio, rtol=1e-6)
        np.testing.assert_allclose(proposals.joint_scores, rtmo_keypoints()[:2, :, 2], rtol=1e-6)


def test_rtmo_keeps_the_tile_pass_under_the_zoom_default_its_input_is_fixed(models: Path) -> None:
    """--second-pass zoom (the default) cannot enlarge a fixed input: RTMO's second pass runs on the 2x2 tiles."""

    class SeenRTMO(RTMO):
        def infer_frames(self, frames):
            self.seen = [*getattr(self, "seen", []), *(frame.shape[:2] for frame in frames)]
            return super().infer_frames(frames)

    expert = SeenRTMO(write_rtmo_model(models / "rtmo-tiles.onnx", 320, 256), EstimatorConfig(min_box_score=0.1))
    assert expert.config.second_pass == "zoom"
    expert.predict([np.zeros((576, 768, 3), np.uint8)])
    assert expert.seen[0] == (576, 768) and len(expert.seen) == 5
    assert all(h < 576 and w < 768 for h, w in expert.seen[1:])


def test_rtmo_letterbox_puts_the_frame_top_left_on_grey() -> None:
    from posekit.estimators.onnx_pose import letterbox

    frame = np.full((576, 768, 3), 7, np.uint8)
    image, ratio = letterbox(frame, 320, 320)
    assert ratio == pytest.approx(320 / 768)
    assert (image[:240] == 7).all() and (image[240:] == 114).all()


def test_rtmo_feeds_bgr_0_to_255_letterboxed_on_grey(models: Path) -> None:
    """A pure red RGB frame: blue channel 0 inside the image, 114 in the 16 padding rows of 256 (no tile pass)."""
    expert = RTMO(
        write_rtmo_model(models / "rtmo-blue.onnx", 320, 256, blue_gain=0.01),
        EstimatorConfig(min_box_score=0.3, tiles=1),
    )
    red = np.zeros((576, 768, 3), np.uint8)
    red[..., 0] = 255
    scores = expert.predict([red])[0].scores
    np.testing.assert_allclose(scores, RTMO_DETS[:2, 4] + 0.01 * 114 * 16 / 256, rtol=1e-5)


def test_missing_weights_raise_config_error_naming_the_file_and_where_to_get_it(tmp_path: Path) -> None:
    missing = tmp_path / "rtmpose-m.onnx"
    with pytest.raises(ConfigError, match=r"rtmpose-m\.onnx.*projects/rtmpose"):
        build_estimator(f"rtmpose:{missing}", EstimatorConfig())
    with pytest.raises(ConfigError, match=r"rtmo:path/to/model\.onnx.*projects/rtmo"):
        build_estimator("rtmo", EstimatorConfig())
    with pytest.raises(ConfigError, match="DWPose"):
        build_estimator("dwpose", EstimatorConfig())
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(ConfigError, match="not a usable ONNX model"):
        build_estimator(f"rtmpose:{bad}", EstimatorConfig())


def test_model_without_fixed_input_size_is_rejected(models: Path) -> None:
    with pytest.raises(ConfigError, match="not fixed"):
        RTMPose(write_simcc_model(models / "dyn-size.onnx", declared_width="W"), EstimatorConfig())


def test_registry_builds_rtmpose_with_its_label(models: Path) -> None:
    path = write_simcc_model(models / "registry.onnx")
    expert = build_estimator(f"rtmpose:{path}", EstimatorConfig())
    assert expert.name == "rtmpose:registry.onnx" and expert.needs_boxes
