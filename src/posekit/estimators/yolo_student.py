"""The card a self-trained YOLO-pose student carries in its weights file (thesis 3.3.3).

``posekit refine self-train`` calibrates a person threshold and an NMS IoU for its student at the input
size it trained at, and stores them, with what the student learned from, in the checkpoint's ``posekit``
entry. :class:`~posekit.estimators.yolo.YoloPose` reads the card when the weights load
(``--experts yolo:run/best.pt``) and applies all of it: the student runs as it was calibrated without
repeating any flag. Cards written before the provenance fields existed (threshold, NMS IoU and input size
only) still load.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from posekit.core.errors import ConfigError
from posekit.core.files import atomic_path
from posekit.core.options import check_bounds
from posekit.skeleton.layouts import COCO17

CHECKPOINT_KEY = "posekit"
"""The checkpoint entry that holds the card (beside Ultralytics' own ``model``, ``train_args``, ...)."""


@dataclass(frozen=True)
class StudentCard:
    """What a self-trained student needs to run as calibrated, and what it learned from."""

    imgsz: int = field(
        metadata={
            "help": "Network input size in pixels the student trained and was calibrated at; it runs at this size "
            "unless --imgsz is given.",
            "min": 32,
        }
    )
    person_threshold: float = field(
        metadata={
            "help": "Detections scoring below this are dropped (or below --min-box-score when higher): the best F1 "
            "of found pseudo-labelled persons on the validation split.",
            "min": 0,
            "max": 1,
        }
    )
    nms_iou: float = field(
        metadata={"help": "IoU of non-maximum suppression, calibrated with the threshold.", "min": 0, "max": 1}
    )
    layout: str = field(
        default=COCO17.name, metadata={"help": "Joint layout of the student's keypoints (YOLO-pose: COCO-17)."}
    )
    anchor_classes: int = field(
        default=1,
        metadata={"help": "Anchor-pose classes of the class head (1: person only); every class is a person.", "min": 1},
    )
    teachers: tuple[str, ...] = field(
        default=(), metadata={"help": "Experts whose SST-A poses were the pseudo labels (empty: not recorded)."}
    )
    gamma: float | None = field(
        default=None, metadata={"help": "SST-A confidence filter of the pseudo labels (eq. 3.3).", "min": 0, "max": 1}
    )
    start_weights: str | None = field(default=None, metadata={"help": "The weights self-training started from."})

    def __post_init__(self) -> None:
        if self.layout != COCO17.name:
            raise ConfigError(f"the student card names joint layout {self.layout!r}; YOLO-pose students are coco17")
        check_bounds(self)

    def to_entry(self) -> dict:
        """The card as the checkpoint stores it (plain types, so Ultralytics' safe loading reads it back)."""
        entry = asdict(self)
        entry["teachers"] = list(self.teachers)
        return entry

    @classmethod
    def from_entry(cls, entry: dict | None, where: Path) -> StudentCard | None:
        """The card in a checkpoint's ``posekit`` entry; None when the weights carry none (any model that is not
        a self-trained student). Keys this posekit does not know (written by a newer one) are ignored."""
        required = [f.name for f in fields(cls) if f.default is MISSING]
        if not entry or any(name not in entry for name in required):
            return None
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in entry.items() if k in known}
        values["teachers"] = tuple(values.get("teachers") or ())
        try:
            return cls(**values)
        except (ConfigError, TypeError) as exc:
            raise ConfigError(f"{where}: unreadable student card ({exc}); write the weights again") from None


def read_student_card(checkpoint: dict | None, where: Path) -> StudentCard | None:
    """The card of an Ultralytics checkpoint dict (``YOLO(...).ckpt``), None when it has none."""
    return StudentCard.from_entry((checkpoint or {}).get(CHECKPOINT_KEY), where)


def write_student_card(weights: Path, card: StudentCard, checkpoint: dict) -> None:
    """Write ``checkpoint`` (read from ``weights``) back to ``weights`` with ``card`` as its ``posekit`` entry,
    atomically."""
    import torch

    with atomic_path(weights) as tmp:
        torch.save({**checkpoint, CHECKPOINT_KEY: card.to_entry()}, tmp)
