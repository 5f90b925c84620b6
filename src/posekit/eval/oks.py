"""COCO OKS AP/AR with pycocotools on a COCO-format conversion of any ground truth read onto COCO-17.

The ground truth (:class:`posekit.eval.gt_formats.GroundTruth`) becomes a COCO-keypoints
dataset with the scored images, 17 joints per person in COCO order, ``v = 2`` on the labelled
COCO-17 joints and ``v = 0`` elsewhere; predictions become a pycocotools results list
(``{image_id, category_id, keypoints, score}``). ``COCOeval(..., "keypoints")`` then computes
OKS (COCO's 17 per-joint sigmas; a joint with ``v = 0`` takes no part in a person's OKS, so a
dataset labelling a subset, e.g. MPII's 12 COCO joints, is scored on that subset) and its
AP, AP50, AP75, AP medium / large and AR over 20 detections per image.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from posekit.eval.gt_formats import GtImage
from posekit.skeleton.layouts import COCO17

COCO_SIGMAS = (
    np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89])
    / 10.0
)
"""COCO's per-joint OKS sigmas, COCO-17 order (CrowdPose, MPII and AIC use the same values on these joints)."""

STAT_NAMES = ("ap", "ap50", "ap75", "ap_medium", "ap_large", "ar", "ar50", "ar75", "ar_medium", "ar_large")
"""The order of ``COCOeval.stats`` for keypoints."""


@dataclass
class Predictions:
    """Predicted persons of one image on COCO-17.

    Attributes:
        keypoints: ``(P, 17, 2)`` pixels, NaN where the prediction has no joint.
        joint_scores: ``(P, 17)`` per-joint scores in [0, 1] (NaN where missing).
        scores: ``(P,)`` person score ranking the detections (AP).
        confidence: ``(P,)`` SST-A confidence C (eq. 3.4), NaN where not aggregated.
    """

    keypoints: np.ndarray
    joint_scores: np.ndarray
    scores: np.ndarray
    confidence: np.ndarray

    @classmethod
    def empty(cls) -> Predictions:
        V = COCO17.num_joints
        return cls(np.zeros((0, V, 2)), np.zeros((0, V)), np.zeros(0), np.zeros(0))


CATEGORY = {
    "id": 1,
    "name": "person",
    "supercategory": "person",
    "keypoints": list(COCO17.joints),
    "skeleton": [[a + 1, b + 1] for a, b in COCO17.edges],
}


def coco_dataset(images: Sequence[GtImage], ids: Sequence[int]) -> dict:
    """COCO-keypoints dataset of ``images`` (image ``k`` gets id ``ids[k]``; persons with nothing labelled ignored)."""
    doc_images, annotations = [], []
    for image, image_id in zip(images, ids):
        doc_images.append({"id": int(image_id), "file_name": image.file_name})
        for p in range(len(image.keypoints)):
            kp = image.keypoints[p]
            labelled = np.isfinite(kp).all(-1)
            xyv = np.zeros((COCO17.num_joints, 3))
            xyv[labelled, :2] = kp[labelled]
            xyv[labelled, 2] = 2
            x1, y1, x2, y2 = (float(v) for v in np.nan_to_num(image.boxes[p]))
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": int(image_id),
                    "category_id": 1,
                    "keypoints": xyv.ravel().tolist(),
                    "num_keypoints": int(labelled.sum()),
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": float(image.areas[p]),
                    "iscrowd": int(image.crowd[p]),
                }
            )
    return {"images": doc_images, "annotations": annotations, "categories": [CATEGORY]}


def results_list(predictions: Sequence[Predictions], ids: Sequence[int | str]) -> list[dict]:
    """A pycocotools results list: one ``{image_id, category_id, keypoints, score}`` per predicted person.

    Missing joints are ``(0, 0, 0)``; the third value of a present joint is its score.
    """
    out = []
    for pred, image_id in zip(predictions, ids):
        for p in range(len(pred.scores)):
            kp = pred.keypoints[p]
            present = np.isfinite(kp).all(-1)
            xys = np.zeros((COCO17.num_joints, 3))
            xys[present, :2] = kp[present]
            xys[present, 2] = np.nan_to_num(pred.joint_scores[p][present], nan=1.0)
            if present.any():
                out.append(
                    {
                        "image_id": image_id,
                        "category_id": 1,
                        "keypoints": [round(float(v), 2) for v in xys.ravel()],
                        "score": float(pred.scores[p]),
                    }
                )
    return out


def oks_stats(images: Sequence[GtImage], predictions: Sequence[Predictions]) -> dict[str, float]:
    """COCO OKS keypoint statistics (:data:`STAT_NAMES`, fractions in [0, 1]) of ``predictions`` on ``images``.

    A statistic with no ground truth in its range (e.g. no medium person) is NaN; with ground
    truth and no prediction at all, every statistic is 0.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ids = list(range(1, len(images) + 1))
    dataset = coco_dataset(images, ids)
    results = results_list(predictions, ids)
    if not any(a["num_keypoints"] for a in dataset["annotations"] if not a["iscrowd"]):
        return dict.fromkeys(STAT_NAMES, float("nan"))
    if not results:
        return dict.fromkeys(STAT_NAMES, 0.0)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dataset
        gt.createIndex()
        dt = gt.loadRes(results)
        evaluator = COCOeval(gt, dt, "keypoints")
        evaluator.params.imgIds = ids
        evaluator.params.kpt_oks_sigmas = COCO_SIGMAS
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: (float(v) if v >= 0 else float("nan")) for name, v in zip(STAT_NAMES, evaluator.stats)}


def bootstrap_ap(
    images: Sequence[GtImage], predictions: Sequence[Predictions], resamples: int, rng: np.random.Generator
) -> tuple[float, float]:
    """95 % percentile interval of OKS AP over ``resamples`` resamplings of the images with replacement."""
    values = []
    n = len(images)
    for _ in range(resamples):
        pick = rng.integers(0, n, n)
        ap = oks_stats([images[i] for i in pick], [predictions[i] for i in pick])["ap"]
        if np.isfinite(ap):
            values.append(ap)
    if not values:
        return float("nan"), float("nan")
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)
