"""Self-training of one student pose model on SST-A pseudo labels (thesis 3.3.3).

Running several experts costs several models per frame, so SST-A's confident poses on a
part of the data (:mod:`posekit.workflows.selftrain.pseudo_labels`) become pseudo ground truth for one
YOLO-pose student, fine-tuned with Ultralytics' own trainer; the refined student then
extracts alone (``posekit extract --experts yolo:OUT/best.pt``).

As in the thesis, only localisation and classification learn by default: the backbone, the
neck and the keypoint branch are frozen through Ultralytics' ``freeze`` list (the pose head
is ``Pose``: ``cv2`` box, ``cv3`` class, ``cv4`` keypoints), so the keypoint regression of
the pre-trained model is kept. With ``B > 1`` anchor classes (LCRNet-style) the class head
predicts the anchor pose; it starts from the person class copied to every anchor, so the
student detects people as well as before from the first step, and every class is a person
at inference.

Everything runs offline: the AMP self-check (which fetches weights) and the font check of
the dataset loader (which fetches a font) are replaced while training, and plots are off.
A run is resumable: the dataset is reused when complete, and training resumes from
``OUT/train/weights/last.pt``.

This module is the run, in order: pseudo labels (:mod:`~posekit.workflows.selftrain.pseudo_labels`), the
student's training (:mod:`~posekit.workflows.selftrain.trainer`, :mod:`~posekit.workflows.selftrain.student`),
its calibration (:mod:`~posekit.workflows.selftrain.calibration`), its card saved into ``OUT/best.pt``
(:class:`~posekit.estimators.yolo_student.StudentCard`), and the run card ``OUT/run-card.json``.
"""

from __future__ import annotations

import datetime
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from posekit.core.errors import ConfigError
from posekit.core.files import atomic_write_text
from posekit.core.jsonable import jsonable
from posekit.core.progress import progress_bar
from posekit.estimators.yolo import bundled_yolo_weights, load_yolo
from posekit.io.outputs import check_output_dir
from posekit.workflows.selftrain.calibration import calibrate_person_threshold
from posekit.workflows.selftrain.options import SelfTrainOptions
from posekit.workflows.selftrain.pseudo_labels import PseudoLabelDataset, build_pseudo_labels
from posekit.workflows.selftrain.student import (
    anchor_student,
    average_weights,
    describe_frozen,
    model_freeze_list,
    save_student_card,
    student_card,
)
from posekit.workflows.selftrain.trainer import train_student, validate

log = logging.getLogger(__name__)

CARD_NAME = "run-card.json"
DATASET_DIR = "pseudo-labels"
WEIGHTS_NAME = "best.pt"
PENDING_NAME = "settings.json"
"""The settings of a run started but not finished (a rerun must match them to resume it)."""


@dataclass
class SelfTrainResult:
    """What :func:`self_train` produced: the refined weights and the run card (also ``OUT/run-card.json``)."""

    weights: Path
    card: dict
    resumed: bool = False
    already_done: bool = False


def self_train(
    shards: Path,
    out: Path,
    videos: Path | None = None,
    options: SelfTrainOptions | None = None,
    progress: bool = True,
) -> SelfTrainResult:
    """Pseudo labels from ``shards`` -> fine-tuned student ``OUT/best.pt`` (its card inside) and ``OUT/run-card.json``.

    ``options``: default :class:`SelfTrainOptions`. Rerunning the same command resumes a killed run (dataset
    reused, training from ``last.pt``) or, when the run is complete, returns it unchanged. Other settings in
    the same ``out`` are refused.
    """
    options = options or SelfTrainOptions()
    out = Path(out)
    base = Path(options.weights) if options.weights else bundled_yolo_weights()
    frozen = describe_frozen(model_freeze_list(load_yolo(base).model, options))  # refuses bad strides first
    created = not out.exists()
    check_output_dir(out, "--out")
    settings = {"shards": str(Path(shards).resolve()), **options.settings()}
    done = _finished_run(out, settings)
    if done is not None:
        return done
    started = time.perf_counter()
    try:
        with progress_bar(None, "pseudo labels", "frame", progress) as bar:
            dataset = build_pseudo_labels(shards, out / DATASET_DIR, videos, options.labels, on_frames=bar.update)
    except BaseException:
        if created:  # bad input: leave no trace of this run
            shutil.rmtree(out, ignore_errors=True)
        raise
    pending = out / PENDING_NAME
    atomic_write_text(pending, json.dumps(jsonable(settings), indent=1) + "\n")
    log.info(
        "pseudo labels: %d train / %d val frames, %d / %d poses, split %s",
        dataset.meta["frames"]["train"],
        dataset.meta["frames"]["val"],
        dataset.meta["poses"]["train"],
        dataset.meta["poses"]["val"],
        dataset.meta["split"],
    )
    final, card = _train_and_calibrate(base, dataset, options, out, progress)
    run_card = {
        **_run_card(final, settings, dataset, options, frozen, card),
        "resumed": card["resumed"],
        "seconds": round(time.perf_counter() - started, 1),
        "finished": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    atomic_write_text(out / CARD_NAME, json.dumps(run_card, indent=1) + "\n")
    pending.unlink(missing_ok=True)
    return SelfTrainResult(final, run_card, resumed=card["resumed"])


def _train_and_calibrate(
    base: Path, dataset: PseudoLabelDataset, options: SelfTrainOptions, out: Path, progress: bool
) -> tuple[Path, dict]:
    """Train the student from ``base`` (or resume it), calibrate it and write its card into ``OUT/best.pt``.

    Returns the student's weights and what the run card reports: metrics and calibration before and after,
    the student card, and whether training resumed."""
    classes = options.labels.anchor_classes
    init = base if classes == 1 else out / f"student-init-b{classes}.pt"
    if classes > 1 and not init.is_file():
        anchor_student(base, classes, init)
    before = validate(base, dataset, options)
    log.info("before self-training (val split): %s", before)
    best, resumed = train_student(init, dataset, options, out, progress)
    final = out / WEIGHTS_NAME
    average_weights(init, best, options.trained_share, final)
    after = validate(final, dataset, options)
    log.info("after self-training (val split): %s", after)
    threshold_before = calibrate_person_threshold(base, dataset, options)
    threshold = calibrate_person_threshold(final, dataset, options)
    log.info("person threshold (val split): before %s, after %s", threshold_before, threshold)
    card = student_card(options, threshold, tuple(dataset.meta.get("experts", ())))
    save_student_card(final, card)
    return final, {
        "metrics": {"before": before, "after": after},
        "calibration": {"before": threshold_before, "after": threshold},
        "student": card.to_entry(),
        "resumed": resumed,
    }


def _run_card(
    final: Path, settings: dict, dataset: PseudoLabelDataset, options: SelfTrainOptions, frozen: str, results: dict
) -> dict:
    """The run card written beside the student (``OUT/run-card.json``): what was trained on what, and how well."""
    return {
        "posekit": "self-training run card (thesis 3.3.3)",
        "weights": WEIGHTS_NAME,
        "use": f"posekit extract VIDEOS --out SHARDS --experts yolo:{final}",
        "settings": jsonable(settings),
        "data": {k: dataset.meta[k] for k in ("clips", "split", "frames", "poses", "class_counts")},
        "gamma": options.labels.gamma,
        "anchor_classes": options.labels.anchor_classes,
        "epochs": options.epochs,
        "train_heads": list(options.train_heads),
        "trained_share": options.trained_share,
        "frozen": frozen,
        "metrics_note": "validation split of the pseudo labels, every class counted as a person",
        "metrics_before": results["metrics"]["before"],
        "metrics_after": results["metrics"]["after"],
        "student": results["student"],
        "student_note": "the student card, also stored in best.pt and applied in full by --experts yolo:best.pt: it "
        "runs at imgsz unless --imgsz is given, detections below person_threshold are dropped, NMS at nms_iou; "
        "threshold and IoU calibrated on the validation split (best F1 of found labelled persons)",
        "calibration_before": results["calibration"]["before"],
        "calibration_after": results["calibration"]["after"],
    }


def _finished_run(out: Path, settings: dict) -> SelfTrainResult | None:
    """The complete run in ``out`` made with ``settings`` (None when there is none yet); ConfigError when ``out``
    holds a run, complete or not, made with other settings."""
    card_path = out / CARD_NAME
    if card_path.is_file():
        card = json.loads(card_path.read_text())
        if card.get("settings") != jsonable(settings):
            raise ConfigError(f"{out} holds a self-training run with other settings; use another --out")
        log.info("self-training in %s is already complete", out)
        return SelfTrainResult(out / WEIGHTS_NAME, card, already_done=True)
    pending = out / PENDING_NAME
    if pending.is_file() and json.loads(pending.read_text()) != jsonable(settings):
        raise ConfigError(f"{out} holds an unfinished self-training run with other settings; use another --out")
    return None
