"""A multi-class YOLO-pose student (anchor-pose classes, thesis 3.3.3) is read as a person detector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from posekit.estimators.base import EstimatorConfig
from posekit.estimators.registry import build_estimator
from posekit.estimators.yolo import bundled_yolo_weights, load_yolo
from posekit.workflows.selftrain.student import anchor_student


@pytest.mark.slow
def test_anchor_student_copies_the_person_class_into_every_anchor(tmp_path: Path):
    path = anchor_student(bundled_yolo_weights(), 4, tmp_path / "student.pt")
    student, base = load_yolo(path).model, load_yolo(None).model
    assert len(student.names) == 4 and student.model[-1].nc == 4
    for new, old in zip(student.model[-1].cv3, base.model[-1].cv3):
        w_new, w_old = new[-1].weight.float(), old[-1].weight.float()
        assert w_new.shape[0] == 4
        torch.testing.assert_close(w_new, w_old.expand_as(w_new), atol=1e-3, rtol=1e-3)
    # every other weight is the base model's
    old = dict(base.named_parameters())
    for name, p in student.named_parameters():
        if p.shape == old[name].shape:
            torch.testing.assert_close(p.float(), old[name].float(), atol=1e-3, rtol=1e-3)


@pytest.mark.slow
def test_every_anchor_class_is_a_person_and_nms_is_class_agnostic(tmp_path: Path, sample_frames):
    path = anchor_student(bundled_yolo_weights(), 3, tmp_path / "student.pt")
    config = EstimatorConfig(imgsz=1280)
    student = build_estimator(f"yolo:{path}", config)
    base = build_estimator("yolo", config)
    assert student.agnostic_nms and not base.agnostic_nms
    frames = sample_frames[:1]
    for got, want in zip(student.predict(frames), base.predict(frames)):
        # three identical anchor classes on each person leave one detection, the base model's
        assert len(got) == len(want) > 0
        order_g, order_w = np.argsort(got.boxes[:, 0]), np.argsort(want.boxes[:, 0])
        np.testing.assert_allclose(got.boxes[order_g], want.boxes[order_w], atol=2.0)
        assert np.isfinite(got.keypoints).all(-1).any(-1).all()
