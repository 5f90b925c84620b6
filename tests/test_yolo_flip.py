"""The flip-test expert: people found on the mirrored frame come back on the same person and body side."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.core.boxes import box_iou
from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import ExpertSpec, build_estimator
from posekit.estimators.yolo_flip import mirror_back
from posekit.skeleton.layouts import COCO17
from posekit.skeleton.records import PoseProposals


def test_mirror_back_moves_pixels_and_swaps_sides():
    keypoints = np.zeros((1, 17, 2), np.float32)
    keypoints[0, COCO17.index("left_wrist")] = (10, 50)
    keypoints[0, COCO17.index("right_wrist")] = (30, 60)
    scores = np.linspace(0, 1, 17, dtype=np.float32)[None]
    mirrored = PoseProposals(keypoints, scores, np.array([[5, 40, 35, 90]], np.float32), np.ones(1, np.float32), COCO17)
    back = mirror_back(mirrored, 100)
    assert back.keypoints[0, COCO17.index("right_wrist")].tolist() == [90, 50]
    assert back.keypoints[0, COCO17.index("left_wrist")].tolist() == [70, 60]
    assert back.joint_scores[0, COCO17.index("right_wrist")] == scores[0, COCO17.index("left_wrist")]
    assert back.boxes.tolist() == [[65, 40, 95, 90]]


@pytest.mark.slow
def test_flip_expert_finds_the_same_people_with_joints_on_the_same_side(sample_frames):
    config = EstimatorConfig(imgsz=1280, tiles=1)
    (plain,) = build_estimator(ExpertSpec("yolo"), config).predict(sample_frames[:1])
    (flipped,) = build_estimator(ExpertSpec("yolo-flip"), config).predict(sample_frames[:1])
    assert len(plain) >= 3 and len(flipped) == len(plain)
    iou = box_iou(plain.boxes, flipped.boxes)
    match = iou.argmax(axis=1)
    assert (iou.max(axis=1) >= 0.8).all() and len(set(match.tolist())) == len(plain)
    heights = plain.boxes[:, 3] - plain.boxes[:, 1]
    error = np.linalg.norm(plain.keypoints - flipped.keypoints[match], axis=-1) / heights[:, None]
    swapped = np.linalg.norm(plain.keypoints - flipped.keypoints[match][:, COCO17.flip_permutation()], axis=-1)
    both = np.isfinite(error)
    assert np.median(error[both]) < 0.05  # within 5 % of the person's height
    sides = [COCO17.index(j) for j in ("left_wrist", "right_wrist", "left_ankle", "right_ankle")]
    assert np.nanmedian(error[:, sides]) < np.nanmedian((swapped / heights[:, None])[:, sides])


@pytest.mark.slow
def test_topdown_flip_expert_places_each_side_where_the_unmirrored_crop_does(sample_frames):
    (found,) = build_estimator(ExpertSpec("yolo"), EstimatorConfig(imgsz=1280, tiles=1)).predict(sample_frames[:1])
    boxes = found.boxes
    assert len(boxes) >= 3
    (plain,) = build_estimator(ExpertSpec("yolo-topdown"), EstimatorConfig()).predict(sample_frames[:1], [boxes])
    (flipped,) = build_estimator(ExpertSpec("yolo-topdown-flip"), EstimatorConfig()).predict(sample_frames[:1], [boxes])
    assert len(flipped) == len(boxes) and np.array_equal(flipped.boxes, plain.boxes)
    heights = (boxes[:, 3] - boxes[:, 1])[:, None]
    error = np.linalg.norm(plain.keypoints - flipped.keypoints, axis=-1) / heights
    swapped = np.linalg.norm(plain.keypoints - flipped.keypoints[:, COCO17.flip_permutation()], axis=-1) / heights
    assert np.isfinite(error).mean() > 0.5 and np.nanmedian(error) < 0.05
    sides = [COCO17.index(j) for j in ("left_wrist", "right_wrist", "left_ankle", "right_ankle")]
    assert np.nanmedian(error[:, sides]) < np.nanmedian(swapped[:, sides])


@pytest.mark.slow
def test_flip_expert_zoom_pass_runs_mirrored_like_its_whole_frame_pass(sample_frames):
    """The street frame's people are too small at 640: the default's zoom pass finds them as yolo-flip at 1280."""
    (zoomed,) = build_estimator(ExpertSpec("yolo-flip"), EstimatorConfig(imgsz=640)).predict(sample_frames[:1])
    (large,) = build_estimator(ExpertSpec("yolo-flip"), EstimatorConfig(imgsz=1280, tiles=1)).predict(sample_frames[:1])
    assert len(large) >= 3
    np.testing.assert_array_equal(zoomed.boxes, large.boxes)
    np.testing.assert_array_equal(zoomed.keypoints, large.keypoints)
