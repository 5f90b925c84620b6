"""The person threshold and NMS IoU of a student, fitted on the pseudo labels' validation split (thesis 3.3.3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posekit.core.boxes import box_iou
from posekit.estimators.yolo import load_yolo
from posekit.workflows.selftrain.options import SelfTrainOptions
from posekit.workflows.selftrain.pseudo_labels import PseudoLabelDataset

CALIBRATION_IOUS = (0.5, 0.6, 0.7)
"""Non-maximum-suppression IoU thresholds tried when calibrating the student (Ultralytics' default is 0.7)."""


MATCH_IOU = 0.5
"""A detection is a found pseudo-labelled person when its box overlaps the label's at this IoU (COCO AP50)."""


SCORE_FLOOR = 0.01
"""Lowest person score kept while calibrating (every candidate threshold lies above it)."""


def match_detections(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: detection ``i`` (boxes ``(N, 4)``, scores ``(N,)``) takes a still unmatched label box
    ``(M, 4)`` at IoU >= :data:`MATCH_IOU`, detections taken by decreasing score (a duplicate matches nothing)."""
    found = np.zeros(len(boxes), bool)
    if not len(boxes) or not len(labels):
        return found
    iou = box_iou(boxes, labels)
    free = np.ones(len(labels), bool)
    for i in np.argsort(-scores, kind="stable"):
        candidates = np.where(free, iou[i], -1.0)
        j = int(candidates.argmax())
        if candidates[j] >= MATCH_IOU:
            found[i], free[j] = True, False
    return found


def best_threshold(scores: np.ndarray, found: np.ndarray, labelled: int) -> dict:
    """The person threshold with the highest F1 of found pseudo-labelled persons over ``scores`` ``(N,)``.

    ``found`` ``(N,)`` says which detections matched a label; ``labelled`` is the number of labels.
    Among equal F1, the lowest threshold (most persons kept). Returns the threshold, precision,
    recall, F1 and detections per labelled person at it.
    """
    order = np.argsort(-scores, kind="stable")
    s, tp = scores[order], np.cumsum(found[order])
    kept = np.arange(1, len(s) + 1)
    precision = tp / kept
    recall = tp / max(labelled, 1)
    f1 = np.where(tp > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    last_of_score = np.r_[s[1:] != s[:-1], True]  # a threshold keeps every detection of its score
    f1 = np.where(last_of_score, f1, -1.0)
    i = int(np.flatnonzero(f1 == f1.max())[-1]) if len(s) else -1
    if i < 0 or f1[i] <= 0:
        return {"threshold": 1.0, "precision": 0.0, "recall": 0.0, "f1": 0.0, "detections_per_label": 0.0}
    return {
        "threshold": round(float(s[i]), 4),
        "precision": round(float(precision[i]), 4),
        "recall": round(float(recall[i]), 4),
        "f1": round(float(f1[i]), 4),
        "detections_per_label": round(float(kept[i]) / max(labelled, 1), 4),
    }


def read_label_boxes(path: Path, width: int, height: int) -> np.ndarray:
    """``(M, 4)`` xyxy pixel boxes of an Ultralytics label file (``cls cx cy w h ...`` normalised)."""
    rows = [line.split()[1:5] for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        return np.zeros((0, 4))
    cx, cy, w, h = np.asarray(rows, np.float64).T
    return np.stack([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height], 1)


def calibrate_person_threshold(weights: Path, dataset: PseudoLabelDataset, options: SelfTrainOptions) -> dict:
    """Person threshold and NMS IoU of ``weights`` that find the pseudo-labelled persons of the validation split best.

    The model runs at the training size on every validation frame (class-agnostic NMS, each
    IoU of :data:`CALIBRATION_IOUS`); a detection is found when it takes a label box at
    IoU >= 0.5, a second detection of one person is a false positive. The threshold with the
    highest F1 (:func:`best_threshold`) is returned with the IoU, its precision, recall, F1 and
    detections per labelled person, and the frames and labels it was measured on.
    """
    model = load_yolo(weights)
    images = sorted((dataset.root / "images" / "val").glob("*.jpg"))
    results = {}
    for iou in CALIBRATION_IOUS:
        scores, found, labelled = [], [], 0
        for image in images:
            (pred,) = model.predict(
                str(image),
                imgsz=options.imgsz,
                conf=SCORE_FLOOR,
                iou=iou,
                agnostic_nms=True,
                device=options.resolve(),
                verbose=False,
            )
            height, width = pred.orig_shape
            labels = read_label_boxes(dataset.root / "labels" / "val" / f"{image.stem}.txt", width, height)
            boxes = pred.boxes.xyxy.cpu().numpy().astype(np.float64)
            conf = pred.boxes.conf.cpu().numpy().astype(np.float64)
            scores.append(conf)
            found.append(match_detections(boxes, conf, labels))
            labelled += len(labels)
        best = best_threshold(np.concatenate(scores), np.concatenate(found), labelled)
        results[iou] = {"nms_iou": iou, **best, "frames": len(images), "labels": labelled}
    return max(results.values(), key=lambda r: (r["f1"], -r["nms_iou"]))
