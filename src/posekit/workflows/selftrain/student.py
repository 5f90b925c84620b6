"""The student model: which of its weights learn, its anchor-class start, weight averaging and its card."""

from __future__ import annotations

import copy
import datetime
from pathlib import Path

from posekit.core.errors import ConfigError
from posekit.core.files import atomic_path
from posekit.estimators.yolo import BUNDLED_PACKAGE, BUNDLED_WEIGHTS, load_yolo, read_checkpoint
from posekit.estimators.yolo_student import StudentCard, write_student_card
from posekit.workflows.selftrain.options import HEADS, SelfTrainOptions


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


def student_card(options: SelfTrainOptions, calibrated: dict, teachers: tuple[str, ...]) -> StudentCard:
    """The card of a student trained under ``options``: ``calibrated`` is the chosen threshold and NMS IoU
    (:func:`~posekit.workflows.selftrain.calibration.calibrate_person_threshold`), ``teachers`` the experts of the
    shards its pseudo labels came from."""
    start = str(options.weights) if options.weights else f"{BUNDLED_PACKAGE}/{BUNDLED_WEIGHTS}"
    return StudentCard(
        imgsz=options.imgsz,
        person_threshold=calibrated["threshold"],
        nms_iou=calibrated["nms_iou"],
        anchor_classes=options.labels.anchor_classes,
        teachers=teachers,
        gamma=options.labels.gamma,
        start_weights=start,
    )


def save_student_card(weights: Path, card: StudentCard) -> None:
    """Store ``card`` in the checkpoint ``weights``, which :class:`~posekit.estimators.yolo.YoloPose` applies when it
    loads (``--experts yolo:best.pt``)."""
    write_student_card(weights, card, read_checkpoint(weights))
