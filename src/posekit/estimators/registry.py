"""Expert names -> implementations.

An expert spec is ``name`` or ``name:weights`` (``yolo``, ``yolo:runs/best.pt``,
``mediapipe``). Implementations are imported only when asked for, so ``posekit --help``
stays fast and a missing optional backend only matters to those who name it. Adding an
expert is one module with a class taking ``(weights, config)`` plus one line here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from posekit.core.errors import ConfigError
from posekit.estimators.base import Estimator, EstimatorConfig


@dataclass(frozen=True)
class ExpertEntry:
    target: str
    summary: str


EXPERTS: dict[str, ExpertEntry] = {
    "yolo": ExpertEntry(
        "posekit.estimators.yolo:YoloPose",
        "Ultralytics YOLO-pose, one-stage, multi-person, COCO-17 (default: bundled yolo11n-pose)",
    ),
    "yolo-topdown": ExpertEntry(
        "posekit.estimators.yolo_topdown:YoloTopDown",
        "the same YOLO-pose run top-down on an upscaled crop of each tracked person, COCO-17",
    ),
    "mediapipe": ExpertEntry(
        "posekit.estimators.mediapipe:MediaPipePose",
        "MediaPipe BlazePose full, top-down on person boxes, 33 landmarks",
    ),
    "rtmpose": ExpertEntry(
        "posekit.estimators.onnx_pose:RTMPose",
        "MMPose RTMPose ONNX (rtmpose:model.onnx), top-down SimCC on person boxes, COCO-17",
    ),
    "rtmo": ExpertEntry(
        "posekit.estimators.onnx_pose:RTMO",
        "MMPose RTMO ONNX (rtmo:model.onnx), one-stage, multi-person, COCO-17",
    ),
    "dwpose": ExpertEntry(
        "posekit.estimators.onnx_pose:DWPose",
        "DWPose whole-body ONNX (dwpose:model.onnx), top-down, 133 joints kept as COCO-17",
    ),
}
EXPERTS["mediapipe-topdown"] = EXPERTS["mediapipe"]
"""The design's name for the same expert (it always runs top-down)."""


@dataclass(frozen=True)
class ExpertSpec:
    name: str
    weights: Path | None = None

    @property
    def label(self) -> str:
        """How the expert is named in shards and logs: ``yolo`` or ``yolo:best.pt``."""
        return self.name if self.weights is None else f"{self.name}:{self.weights.name}"

    @classmethod
    def parse(cls, text: str) -> ExpertSpec:
        name, _, weights = text.strip().partition(":")
        if name not in EXPERTS:
            known = ", ".join(EXPERTS)
            raise ConfigError(f"unknown expert {name!r} in --experts {text!r}; known experts: {known}")
        return cls(name, Path(weights).expanduser() if weights else None)


def parse_experts(text: str) -> list[ExpertSpec]:
    """``"yolo,mediapipe"`` -> specs, in order; people are found by the first one-stage expert."""
    specs = [ExpertSpec.parse(part) for part in text.split(",") if part.strip()]
    if not specs:
        raise ConfigError("--experts is empty; name at least one expert, e.g. --experts yolo")
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"--experts names the same expert twice: {text!r}")
    return specs


def build_estimator(spec: ExpertSpec | str, config: EstimatorConfig) -> Estimator:
    """Instantiate the expert named by ``spec`` (weights are loaded here, offline)."""
    if isinstance(spec, str):
        spec = ExpertSpec.parse(spec)
    module_name, _, class_name = EXPERTS[spec.name].target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"expert {spec.name!r} needs a package that is not installed ({exc.name}); "
            "reinstall posekit with its dependencies"
        ) from exc
    estimator = getattr(module, class_name)(spec.weights, config)
    estimator.name = spec.label
    return estimator
