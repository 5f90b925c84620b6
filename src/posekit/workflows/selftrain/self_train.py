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
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from posekit.core.boxes import box_iou
from posekit.core.errors import ConfigError, PosekitError
from posekit.core.files import atomic_path, atomic_write_text
from posekit.core.options import check_bounds
from posekit.core.progress import progress_bar
from posekit.estimators.base import check_device
from posekit.estimators.yolo import bundled_yolo_weights, load_yolo, read_checkpoint
from posekit.workflows.selftrain.pseudo_labels import PseudoLabelDataset, PseudoLabelOptions, build_pseudo_labels

log = logging.getLogger(__name__)

HEADS = {"loc": "cv2", "cls": "cv3", "kpt": "cv4"}
"""``--train-heads`` names -> branches of the Ultralytics ``Pose`` head."""

CALIBRATION_IOUS = (0.5, 0.6, 0.7)
"""Non-maximum-suppression IoU thresholds tried when calibrating the student (Ultralytics' default is 0.7)."""

MATCH_IOU = 0.5
"""A detection is a found pseudo-labelled person when its box overlaps the label's at this IoU (COCO AP50)."""

SCORE_FLOOR = 0.01
"""Lowest person score kept while calibrating (every candidate threshold lies above it)."""

CARD_NAME = "run-card.json"
DATASET_DIR = "pseudo-labels"
TRAIN_DIR = "train"
WEIGHTS_NAME = "best.pt"


@dataclass(frozen=True)
class SelfTrainOptions:
    """Settings of :func:`self_train`.

    Attributes:
        labels: how pseudo labels are made (gamma, frames, anchor classes, split).
        weights: the student's starting weights (None: the bundled yolo11n-pose).
        train_heads: head branches that learn: ``loc``, ``cls``, ``kpt`` (thesis: loc, cls).
        epochs, imgsz, batch: training schedule; one optimizer step per batch (Ultralytics would
            otherwise accumulate gradients up to 64 images, a few steps in a short fine-tune).
        lr0: AdamW learning rate, the same for every class count. 0.0002: at Ultralytics' automatic
            0.002 the first epoch wrecks the trained head (AdamW moves every weight by about lr per
            step; measured: validation box mAP50 0.53 -> 0.02 after 12 steps, 0.53 -> 0.41 at 0.0002).
        device: ``cpu`` or ``cuda:N``.
        workers: data-loading processes.
        seed: training seed (deterministic mode on).
        patience: stop after this many epochs without improvement.
        warmup_epochs: Ultralytics' learning-rate warm-up (it lasts at least 100 iterations
            when on, most of a short fine-tune, so it is off by default: only heads learn,
            from a trained model).
        train_strides: head levels (by stride) whose learning branches learn; the 32 px level stays as it
            was by default. Measured (docs/self-training.md): pseudo labels of small people give that level
            only background, and trained with the others it stopped finding the large people of ordinary
            photos (gt-dev OKS AP 74.5 -> 32.7, 13 of 21 persons found); frozen, the student keeps them
            (74.6, all found) and its held-out gain (PCKh 51.2 -> 67.7).
        trained_share: the student is ``(1 - a) * start + a * trained`` weight by weight (the weight-space
            ensemble of WiSE-FT, Wortsman et al., CVPR 2022). 1 (off) by default: with the 32 px level kept,
            there is nothing left to forget, and the midpoint halved the held-out gain (60.4 vs 68.9 PCKh).
    """

    labels: PseudoLabelOptions = field(default_factory=PseudoLabelOptions)
    weights: Path | None = field(
        default=None, metadata={"help": "Student's starting YOLO-pose weights (.pt); default: bundled yolo11n-pose."}
    )
    train_heads: tuple[str, ...] = field(
        default=("loc", "cls"),
        metadata={
            "help": "Head branches that learn: loc (boxes), cls (classes), kpt (keypoints); the backbone and neck "
            "stay frozen. Thesis: loc,cls."
        },
    )
    train_strides: tuple[int, ...] = field(
        default=(8, 16),
        metadata={
            "help": "Head levels (by stride in pixels: 8 small, 16 medium, 32 large people) whose learning branches "
            "learn; the others keep the starting weights. Default 8,16: labels of small and medium people give the "
            "32 px level only background, and trained it stops finding large people. Add 32 when the videos hold "
            "many large people."
        },
    )
    epochs: int = field(default=10, metadata={"help": "Training epochs.", "min": 1})
    imgsz: int = field(
        default=640, metadata={"help": "Training input size in pixels; use the size you will extract at.", "min": 32}
    )
    batch: int = field(default=8, metadata={"help": "Images per training batch.", "min": 1})
    lr0: float = field(
        default=0.0002,
        metadata={
            "help": "AdamW learning rate of the learning branches (fine-tuning a trained head).",
            "min": 0,
            "min_open": True,
        },
    )
    device: str = field(default="cpu", metadata={"help": "cpu or cuda:N."})
    workers: int = field(default=2, metadata={"help": "Data-loading processes.", "min": 0})
    seed: int = field(default=0, metadata={"help": "Seed of K-means, the video split and training."})
    patience: int = field(default=50, metadata={"help": "Stop after this many epochs without improvement.", "min": 1})
    warmup_epochs: float = field(
        default=0.0, metadata={"help": "Ultralytics' learning-rate warm-up, in epochs (0 = off).", "min": 0}
    )
    trained_share: float = field(
        default=1.0,
        metadata={
            "help": "Share of the trained weights in the student, the rest from the starting weights (WiSE-FT weight "
            "averaging, to keep more of what the start model knew outside these videos); 1: the trained weights.",
            "min": 0,
            "min_open": True,
            "max": 1,
        },
    )

    def __post_init__(self) -> None:
        unknown = [h for h in self.train_heads if h not in HEADS]
        if unknown or not self.train_heads:
            raise ConfigError(
                f"--train-heads {','.join(self.train_heads)!r}: choose among {', '.join(HEADS)} (e.g. loc,cls)"
            )
        check_bounds(self)
        check_device(self.device)

    def settings(self) -> dict:
        """What decides the training (recorded in the run card; a resumed run must match)."""
        d = asdict(self)
        d["labels"] = asdict(self.labels)
        d["weights"] = str(self.weights or bundled_yolo_weights())
        d["train_heads"] = list(self.train_heads)
        return d


@dataclass
class SelfTrainResult:
    """What :func:`self_train` produced: the refined weights and the run card (also ``OUT/run-card.json``)."""

    weights: Path
    card: dict
    resumed: bool = False
    already_done: bool = False


def freeze_list(
    head_index: int, train_heads: tuple[str, ...], level_strides: tuple[int, ...], train_strides: tuple[int, ...]
) -> list[str]:
    """Ultralytics ``freeze`` entries: every layer before the head, the head branches that do not learn, and
    the levels (``level_strides``, one per head level) outside ``train_strides`` of the branches that do."""
    unknown = sorted(set(train_strides) - set(level_strides))
    if unknown or not train_strides:
        raise ConfigError(
            f"--train-strides {','.join(map(str, train_strides))!r}: the model's head levels have strides "
            f"{','.join(map(str, level_strides))}; choose among them"
        )
    frozen = [str(i) for i in range(head_index)] + [f"{head_index}.{HEADS[h]}" for h in HEADS if h not in train_heads]
    return frozen + [
        f"{head_index}.{HEADS[h]}.{level}"
        for h in train_heads
        for level, stride in enumerate(level_strides)
        if stride not in train_strides
    ]


def head_strides(net) -> tuple[int, ...]:
    """Strides in pixels of the head levels of an Ultralytics ``PoseModel`` ((8, 16, 32) for yolo11n-pose)."""
    return tuple(int(s) for s in net.model[-1].stride)


def model_freeze_list(net, options: SelfTrainOptions) -> list[str]:
    """:func:`freeze_list` of ``net`` under ``options``."""
    return freeze_list(head_index(net), options.train_heads, head_strides(net), options.train_strides)


def describe_frozen(freeze: list[str]) -> str:
    """``['0', ..., '22', '23.cv4']`` -> ``"layers 0-22, 23.cv4"`` (for the run card)."""
    layers = [int(f) for f in freeze if f.isdigit()]
    parts = [f"layers {min(layers)}-{max(layers)}"] if layers else []
    return ", ".join(parts + [f for f in freeze if not f.isdigit()])


def head_index(net) -> int:
    """Index of the ``Pose`` head in an Ultralytics ``PoseModel``'s layer list (23 for yolo11n-pose)."""
    return len(net.model) - 1


def anchor_student(base_weights: Path, classes: int, out: Path) -> Path:
    """Write a ``classes``-class copy of a one-class YOLO-pose model to ``out``.

    Every weight transfers; the class branch's last convolution (``Pose.cv3[i][-1]``, the
    only one whose shape depends on the class count) gets the person class's weights and
    bias in every anchor class. Written atomically.
    """
    import torch
    from ultralytics.nn.tasks import PoseModel

    yolo = load_yolo(base_weights)
    base = yolo.model
    if int(base.model[-1].nc) != 1:
        raise ConfigError(f"{base_weights} has {base.model[-1].nc} classes; anchor classes start from a 1-class model")
    cfg = copy.deepcopy(base.yaml)
    cfg["nc"] = classes
    student = PoseModel(cfg, nc=classes, data_kpt_shape=tuple(cfg.get("kpt_shape", (17, 3))), verbose=False)
    student.load(base, verbose=False)
    with torch.no_grad():
        for new_seq, old_seq in zip(student.model[-1].cv3, base.model[-1].cv3):
            new, old = new_seq[-1], old_seq[-1]
            new.weight.copy_(old.weight.expand_as(new.weight))
            new.bias.copy_(old.bias.expand_as(new.bias))
    student.names = {b: f"person-anchor-{b:02d}" for b in range(classes)}
    student.args = dict(getattr(base, "args", {}) or {})
    ckpt = {
        "date": datetime.datetime.now().isoformat(),
        "model": student.half(),
        "train_args": student.args,
        "posekit": {"anchor_classes": classes, "from": str(base_weights)},
    }
    with atomic_path(out) as tmp:
        torch.save(ckpt, tmp)
    return out


@contextlib.contextmanager
def offline_training(device: str) -> Iterator[None]:
    """Keep Ultralytics' trainer off the network.

    - the dataset check calls ``check_font``, which fetches a font when none is cached
      (plots are off, so no font is needed);
    - on a GPU, ``check_amp`` loads (and would download) a reference model to compare FP32
      with AMP; AMP is enabled without that check (a CPU never uses AMP).
    """
    os.environ["YOLO_OFFLINE"] = "1"
    import ultralytics.data.utils as data_utils
    import ultralytics.engine.trainer as trainer_mod

    saved = (data_utils.check_font, trainer_mod.check_amp)
    data_utils.check_font = lambda *a, **k: None
    trainer_mod.check_amp = lambda model: device != "cpu"
    try:
        yield
    finally:
        data_utils.check_font, trainer_mod.check_amp = saved


def _metrics(results_dict: dict) -> dict:
    """Ultralytics' validation keys -> short names (box and pose precision, recall, mAP50, mAP50-95)."""
    names = {
        "metrics/precision(B)": "box_precision",
        "metrics/recall(B)": "box_recall",
        "metrics/mAP50(B)": "box_map50",
        "metrics/mAP50-95(B)": "box_map50_95",
        "metrics/precision(P)": "pose_precision",
        "metrics/recall(P)": "pose_recall",
        "metrics/mAP50(P)": "pose_map50",
        "metrics/mAP50-95(P)": "pose_map50_95",
    }
    return {short: round(float(results_dict[k]), 4) for k, short in names.items() if k in results_dict}


def validate(weights: Path, dataset: PseudoLabelDataset, options: SelfTrainOptions) -> dict:
    """Box and pose metrics of ``weights`` on the pseudo labels' validation split, every class counted as a person."""
    model = load_yolo(weights)
    with offline_training(options.device):
        res = model.val(
            data=str(dataset.data_yaml),
            split="val",
            imgsz=options.imgsz,
            batch=options.batch,
            device=options.device,
            workers=options.workers,
            single_cls=True,
            plots=False,
            save_json=False,
            verbose=False,
            project=str(dataset.root.parent / TRAIN_DIR),
            name="val",
            exist_ok=True,
        )
    return _metrics(res.results_dict)


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
                device=options.device,
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


def average_weights(start: Path, trained: Path, share: float, out: Path) -> None:
    """Write ``trained`` with every floating-point weight ``w`` replaced by ``(1 - share) * w_start + share * w``.

    WiSE-FT's weight-space ensemble (Wortsman et al., CVPR 2022): ``start`` and ``trained`` are the same
    network (``start``: the student's initial weights); integer buffers come from ``trained``.
    """
    import torch

    ckpt, initial = read_checkpoint(trained), read_checkpoint(start)
    model = ckpt["model"]
    dtype = next(model.parameters()).dtype
    ours, theirs = model.float().state_dict(), initial["model"].float().state_dict()
    mixed = {
        k: theirs[k] + share * (v - theirs[k]) if v.is_floating_point() and share < 1 else v for k, v in ours.items()
    }
    model.load_state_dict(mixed)
    ckpt["model"] = model.to(dtype)
    with atomic_path(out) as tmp:
        torch.save(ckpt, tmp)


def write_student_settings(weights: Path, settings: dict) -> None:
    """Store ``settings`` (person threshold, NMS IoU, input size) in the checkpoint's ``posekit`` entry, atomically.

    ``posekit.estimators.yolo`` reads them when the student extracts (``--experts yolo:best.pt``).
    """
    import torch

    ckpt = read_checkpoint(weights)
    ckpt["posekit"] = {**(ckpt.get("posekit") or {}), **settings}
    with atomic_path(weights) as tmp:
        torch.save(ckpt, tmp)


def check_output(out: Path) -> None:
    """Fail with one line, before any work, when ``out`` cannot hold the run."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for the self-training run")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"--out {out} is not writable ({exc.strerror or exc}); choose another folder") from exc


def _log_epoch(trainer) -> None:
    m = _metrics(trainer.metrics or {})
    loss = getattr(trainer, "tloss", None)
    values = loss.values() if isinstance(loss, dict) else ([] if loss is None else [loss])
    loss_text = f"{sum(float(v.sum()) for v in values):.3f}" if values else "-"
    log.info(
        "epoch %d/%d: train loss %s, val box mAP50 %s, pose mAP50 %s",
        trainer.epoch + 1,
        trainer.epochs,
        loss_text,
        m.get("box_map50", "-"),
        m.get("pose_map50", "-"),
    )


def self_train(
    shards: Path,
    out: Path,
    videos: Path | None = None,
    options: SelfTrainOptions = SelfTrainOptions(),
    progress: bool = True,
) -> SelfTrainResult:
    """Pseudo labels from ``shards`` -> fine-tuned student ``OUT/best.pt`` and ``OUT/run-card.json``.

    Rerunning the same command resumes a killed run (dataset reused, training from
    ``last.pt``) or, when the run is complete, returns it unchanged. Other settings in the
    same ``out`` are refused.
    """
    out = Path(out)
    base = Path(options.weights) if options.weights else bundled_yolo_weights()
    frozen = describe_frozen(model_freeze_list(load_yolo(base).model, options))  # refuses bad strides first
    created = not out.exists()
    check_output(out)
    card_path = out / CARD_NAME
    settings = {"shards": str(Path(shards).resolve()), **options.settings()}
    done = _finished_run(out, settings)
    if done is not None:
        return done
    pending = out / "settings.json"
    started = time.perf_counter()

    try:
        with progress_bar(None, "pseudo labels", "frame", progress) as bar:
            dataset = build_pseudo_labels(shards, out / DATASET_DIR, videos, options.labels, on_frames=bar.update)
    except BaseException:
        if created:  # bad input: leave no trace of this run
            shutil.rmtree(out, ignore_errors=True)
        raise
    pending.write_text(json.dumps(jsonable(settings), indent=1) + "\n")
    log.info(
        "pseudo labels: %d train / %d val frames, %d / %d poses, split %s",
        dataset.meta["frames"]["train"],
        dataset.meta["frames"]["val"],
        dataset.meta["poses"]["train"],
        dataset.meta["poses"]["val"],
        dataset.meta["split"],
    )
    classes = options.labels.anchor_classes
    init = base if classes == 1 else out / f"student-init-b{classes}.pt"
    if classes > 1 and not init.is_file():
        anchor_student(base, classes, init)

    before = validate(base, dataset, options)
    log.info("before self-training (val split): %s", before)
    best, resumed = _train_or_resume(init, dataset, options, out, progress)
    final = out / WEIGHTS_NAME
    average_weights(init, best, options.trained_share, final)
    after = validate(final, dataset, options)
    log.info("after self-training (val split): %s", after)
    threshold_before = calibrate_person_threshold(base, dataset, options)
    threshold = calibrate_person_threshold(final, dataset, options)
    log.info("person threshold (val split): before %s, after %s", threshold_before, threshold)
    student = {"person_threshold": threshold["threshold"], "nms_iou": threshold["nms_iou"], "imgsz": options.imgsz}
    write_student_settings(final, student)
    calibration = {"before": threshold_before, "after": threshold}
    metrics = {"before": before, "after": after}
    card = _run_card(final, settings, dataset, options, frozen, metrics, student, calibration, resumed, started)
    atomic_write_text(card_path, json.dumps(card, indent=1) + "\n")
    pending.unlink(missing_ok=True)
    return SelfTrainResult(final, card, resumed=resumed)


def _run_card(
    final: Path,
    settings: dict,
    dataset: PseudoLabelDataset,
    options: SelfTrainOptions,
    frozen: str,
    metrics: dict,
    student: dict,
    calibration: dict,
    resumed: bool,
    started: float,
) -> dict:
    """The run card written beside the student (``OUT/run-card.json``): what was trained on what, and how well."""
    return {
        "posekit": "self-training run card (thesis 3.3.3)",
        "weights": WEIGHTS_NAME,
        "use": f"posekit extract VIDEOS --out SHARDS --experts yolo:{final} --imgsz {options.imgsz}",
        "settings": jsonable(settings),
        "data": {k: dataset.meta[k] for k in ("clips", "split", "frames", "poses", "class_counts")},
        "gamma": options.labels.gamma,
        "anchor_classes": options.labels.anchor_classes,
        "epochs": options.epochs,
        "train_heads": list(options.train_heads),
        "trained_share": options.trained_share,
        "frozen": frozen,
        "metrics_note": "validation split of the pseudo labels, every class counted as a person",
        "metrics_before": metrics["before"],
        "metrics_after": metrics["after"],
        "student": student,
        "student_note": "read by posekit.estimators.yolo from best.pt: detections below person_threshold are "
        "dropped, NMS at nms_iou; calibrated on the validation split (best F1 of found labelled persons)",
        "calibration_before": calibration["before"],
        "calibration_after": calibration["after"],
        "resumed": resumed,
        "seconds": round(time.perf_counter() - started, 1),
        "finished": datetime.datetime.now().isoformat(timespec="seconds"),
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
    pending = out / "settings.json"
    if pending.is_file() and json.loads(pending.read_text()) != jsonable(settings):
        raise ConfigError(f"{out} holds an unfinished self-training run with other settings; use another --out")
    return None


def _train_or_resume(
    init: Path, dataset: PseudoLabelDataset, options: SelfTrainOptions, out: Path, progress: bool
) -> tuple[Path, bool]:
    """Fine-tune the student from ``init`` (or resume its ``last.pt``); its best weights and whether it resumed."""
    weights_dir = out / TRAIN_DIR / "weights"
    last = weights_dir / "last.pt"
    resumed = last.is_file()
    try:
        if not resumed:
            _train(init, None, dataset, options, out, progress)
        elif training_state(last) == "unfinished":
            _train(init, last, dataset, options, out, progress)
        else:
            log.info("training in %s had finished before the run stopped; writing its results", out)
    except PosekitError:
        raise
    except (FileNotFoundError, RuntimeError, ValueError, AssertionError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise PosekitError(f"self-training failed in {out}: {reason}") from exc
    best = weights_dir / "best.pt" if (weights_dir / "best.pt").is_file() else last
    if not best.is_file():
        raise PosekitError(f"self-training in {out} wrote no weights; rerun the same command to resume")
    return best, resumed


def training_state(last: Path) -> str:
    """``"unfinished"`` when Ultralytics can resume ``last.pt`` (optimizer state kept), else ``"finished"``.

    Ultralytics strips the optimizer from the checkpoints when training ends. The file is
    this run's own checkpoint, read safely (:func:`~posekit.estimators.yolo.read_checkpoint`).
    """
    try:
        ckpt = read_checkpoint(last)
    except ConfigError as exc:
        raise PosekitError(f"cannot resume from {last}: {exc}; delete it to restart training") from None
    return "unfinished" if ckpt.get("optimizer") is not None and ckpt.get("epoch", -1) >= 0 else "finished"


def _train(
    init: Path, last: Path | None, dataset: PseudoLabelDataset, options: SelfTrainOptions, out: Path, progress: bool
) -> None:
    """Run Ultralytics' pose trainer (or resume it from ``last``)."""
    from ultralytics import YOLO

    model = YOLO(str(last or init))
    model.add_callback("on_fit_epoch_end", _log_epoch)
    freeze = model_freeze_list(model.model, options)
    kwargs: dict = {
        "data": str(dataset.data_yaml),
        "epochs": options.epochs,
        "imgsz": options.imgsz,
        "batch": options.batch,
        "device": options.device,
        "workers": options.workers,
        "seed": options.seed,
        "deterministic": True,
        "freeze": freeze,
        "plots": False,
        "project": str(out.resolve()),
        "name": TRAIN_DIR,
        "exist_ok": True,
        "patience": options.patience,
        "warmup_epochs": options.warmup_epochs,
        "optimizer": "AdamW",
        "lr0": options.lr0,
        "nbs": options.batch,
        "verbose": progress,
        "amp": options.device != "cpu",
    }
    with offline_training(options.device):
        if last is not None:
            log.info("resuming self-training from %s", last)
            keep = ("data", "device", "workers", "freeze", "plots")  # data: else Ultralytics fetches its default
            model.train(resume=True, **{k: kwargs[k] for k in keep})
        else:
            model.train(**kwargs)


def jsonable(value: object) -> object:
    """``value`` through a JSON round trip (tuples become lists), so settings compare equal after reading back."""
    return json.loads(json.dumps(value))
