"""Where the joints a method misses are lost: missed person, wrong person, swapped sides, missing joint, joint error.

One classification for both yardsticks: human labels (:func:`posekit.eval.coco.score_shards`, the
label file's head length) and the clean reference of the degradation protocols
(:func:`posekit.workflows.protocols.ntu_pose.failure_classes`, the reference skeleton's head length).
"""

from __future__ import annotations

import warnings

import numpy as np

from posekit.skeleton.layouts import JointLayout

WRONG_PERSON = 2.0
"""A matched prediction whose median joint error exceeds this many head lengths is another person."""
FAILURES = ("correct", "missed_person", "wrong_person", "swapped_sides", "missing_joint", "joint_error")
"""Classes of :func:`joint_failures`, in the order they are tested."""


def joint_failures(
    ref: np.ndarray, pred: np.ndarray, matched: np.ndarray, head: np.ndarray, layout: JointLayout, alpha: float = 0.5
) -> dict[str, float]:
    """Where each joint PCKh@``alpha`` scores ends up, % of those joints (they sum to 100).

    ``ref`` and ``pred`` are ``(N, V, 2)`` pixels (NaN: not labelled / not predicted), ``matched`` ``(N,)``
    whether a prediction was matched to the person, ``head`` ``(N,)`` head lengths in pixels. Over the
    labelled joints of persons with a head length: ``correct`` within ``alpha`` head lengths;
    ``missed_person`` no prediction matched the person; ``wrong_person`` the matched prediction's median
    joint error exceeds :data:`WRONG_PERSON` head lengths, each joint's error taken as the smaller of its own
    and its mirror joint's (a person mirrored whole is the same person, sides swapped); ``swapped_sides``
    the joint misses but the prediction's mirror joint (left for right) is within the radius;
    ``missing_joint`` the prediction has no such joint; ``joint_error`` any other miss. Also ``joints``,
    the number scored.
    """
    ref, pred, head = np.asarray(ref, np.float64), np.asarray(pred, np.float64), np.asarray(head, np.float64)
    scored = np.isfinite(ref).all(-1) & (np.isfinite(head) & (head > 0))[:, None]
    radius = (alpha * head)[:, None]
    err = np.linalg.norm(pred - ref, axis=-1)
    mirror = np.linalg.norm(pred[:, layout.flip_permutation()] - ref, axis=-1)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        rel = np.where(scored, np.minimum(err, mirror), np.nan) / head[:, None]
        person_err = np.nanmedian(rel, axis=1) if len(rel) else np.zeros(0)
    hit = np.asarray(matched, bool)[:, None] & np.ones_like(scored)
    classes = {
        "correct": hit & (err <= radius),
        "missed_person": ~hit,
        "wrong_person": hit & (person_err > WRONG_PERSON)[:, None],
        "swapped_sides": hit & (mirror <= radius),
        "missing_joint": hit & ~np.isfinite(pred).all(-1),
        "joint_error": np.ones_like(scored),
    }
    left = scored.copy()
    total = int(scored.sum())
    out: dict[str, float] = {}
    for name in FAILURES:
        found = left & classes[name]
        out[name] = 100.0 * found.sum() / total if total else float("nan")
        left &= ~found
    out["joints"] = float(total)
    return out
