"""Options of self-training (thesis 3.3.3): how pseudo labels are made, and how the student learns from them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from posekit.core.device import DeviceOptions
from posekit.core.errors import ConfigError
from posekit.core.options import check_bounds
from posekit.estimators.yolo import bundled_yolo_weights
from posekit.refine.ssta import DEFAULT_GAMMA

HEADS = {"loc": "cv2", "cls": "cv3", "kpt": "cv4"}
"""``--train-heads`` names -> branches of the Ultralytics ``Pose`` head."""


@dataclass(frozen=True)
class PseudoLabelOptions:
    """How pseudo labels are made from skeleton shards.

    Attributes:
        gamma: poses with SST-A confidence C < gamma are not labels (eq. 3.3; thesis 0.18).
        frame_fraction: fraction of each clip's frames sampled uniformly (thesis 10 %).
        anchor_classes: ``B`` K-means anchor poses, one class each (thesis 20); 1 = person only
            (the default: measured better with YOLO-pose, see docs/self-training.md).
        box_source: ``pose`` (extent + margin, thesis) or ``detector`` (the extraction's person box).
        box_margin: the pose extent is expanded by this fraction of its width and height (thesis 10 %).
        val_fraction: fraction of the videos (of the time span for one video) kept for validation.
        min_joints: poses with fewer present joints are not labels (too little to place a box).
        mask_ignored: paint grey the persons SST-A saw but could not vouch for.
        seed: seed of K-means and of the video split.
        jpeg_quality: quality of the written frames.
    """

    gamma: float = field(
        default=DEFAULT_GAMMA,
        metadata={"help": "Only poses with SST-A confidence C >= gamma become labels (eq. 3.3).", "min": 0, "max": 1},
    )
    frame_fraction: float = field(
        default=0.10,
        metadata={
            "help": "Fraction of each clip's frames sampled uniformly (thesis: 0.1).",
            "min": 0,
            "min_open": True,
            "max": 1,
        },
    )
    anchor_classes: int = field(
        default=1,
        metadata={
            "help": "K-means anchor-pose classes: 1 = person only (measured better); B > 1 = LCRNet-style (the "
            "class head predicts the anchor pose, any class is a person at inference; thesis B = 20).",
            "min": 1,
        },
    )
    box_source: Literal["pose", "detector"] = field(
        default="detector",
        metadata={
            "help": "Label boxes: detector = the person detector's box of the extraction (the convention the "
            "student already predicts; measured better); pose = the pose's extent + --box-margin (thesis)."
        },
    )
    box_margin: float = field(
        default=0.10,
        metadata={"help": "Pose extent expanded by this fraction of its width and height (thesis: 0.1).", "min": 0},
    )
    val_fraction: float = field(
        default=0.2,
        metadata={
            "help": "Fraction of videos for validation (one video: of its time span).",
            "min": 0,
            "min_open": True,
            "max": 1,
            "max_open": True,
        },
    )
    min_joints: int = field(
        default=5,
        metadata={"help": "Poses with fewer present joints are not labels (too few to place a box).", "min": 1},
    )
    mask_ignored: bool = field(
        default=True, metadata={"help": "Paint grey the persons SST-A saw but could not vouch for."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of K-means, the video split and training."})
    jpeg_quality: int = field(
        default=95, metadata={"help": "JPEG quality of the written frames.", "min": 1, "max": 100}
    )

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True)
class SelfTrainOptions(DeviceOptions):
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
        device: where it trains (:class:`~posekit.core.device.DeviceOptions`; auto by default).
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
        DeviceOptions.__post_init__(self)

    def settings(self) -> dict:
        """What decides the training (recorded in the run card; a resumed run must match)."""
        d = asdict(self)
        d["labels"] = asdict(self.labels)
        d["weights"] = str(self.weights or bundled_yolo_weights())
        d["train_heads"] = list(self.train_heads)
        d["device"] = self.resolve()
        return d
