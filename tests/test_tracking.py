import numpy as np
import pytest

from posekit.core.boxes import box_iou
from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import build_estimator
from posekit.refine.tracking import PersonTracker, match_boxes


def test_tracker_keeps_ids_of_people_moving_smoothly():
    tracker = PersonTracker(fps=10)
    boxes = np.array([[10, 10, 40, 100], [200, 20, 230, 110]], np.float32)
    scores = np.array([0.9, 0.8], np.float32)
    ids0 = tracker.update(boxes, scores)
    assert sorted(ids0) == [1, 2]
    for step in range(1, 6):
        moved = boxes + np.array([3, 1, 3, 1], np.float32) * step
        ids = tracker.update(moved[::-1], scores[::-1])
        np.testing.assert_array_equal(ids, ids0[::-1])


@pytest.mark.slow
def test_tracker_gives_real_pedestrians_stable_ids(sample_frames):
    yolo = build_estimator("yolo", EstimatorConfig(imgsz=1280))
    tracker = PersonTracker(fps=10)
    per_frame = []
    for props in yolo.predict(sample_frames[:6]):
        ids = tracker.update(props.boxes, props.scores)
        per_frame.append({int(i): props.boxes[k] for k, i in enumerate(ids) if i >= 0})
    common = set(per_frame[1]).intersection(*per_frame[2:])
    assert len(common) >= 2
    for track_id in common:
        centres = np.array([(f[track_id][:2] + f[track_id][2:]) / 2 for f in per_frame[1:]])
        assert np.abs(np.diff(centres, axis=0)).max() < 20


def test_match_boxes_pairs_by_iou_and_rejects_far_boxes():
    ref = np.array([[0, 0, 10, 10], [100, 100, 120, 130]], np.float32)
    cand = np.array([[101, 99, 121, 131], [500, 500, 510, 510], [1, 0, 11, 10]], np.float32)
    np.testing.assert_array_equal(match_boxes(ref, cand), [1, -1, 0])
    assert box_iou(ref, ref).diagonal() == pytest.approx([1.0, 1.0])
