"""Expert names -> implementations, extensible by other packages through entry points.

An expert spec is ``name`` or ``name:weights`` (``yolo``, ``yolo:runs/best.pt``, ``mediapipe``). The
built-in experts are listed here beside the class that builds each; another package adds experts
without editing posekit by declaring, in its own ``pyproject.toml``::

    [project.entry-points."posekit.experts"]
    my-expert = "my_package.module:MyExpert"

where ``MyExpert`` subclasses :class:`~posekit.estimators.base.TopDownExpert` or
:class:`~posekit.estimators.base.OneStageExpert` and takes ``(weights, config)``. Implementations are
imported only when an expert is built, so ``posekit --help`` stays fast and a missing optional backend
only matters to those who name it.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from posekit.core.errors import ConfigError
from posekit.estimators.base import Estimator, EstimatorConfig

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "posekit.experts"


@dataclass(frozen=True)
class ExpertEntry:
    """Where an expert's class lives (``module:Class``, imported on build) and who provides it."""

    target: str
    summary: str = ""
    provider: str = "posekit"


BUILTIN_EXPERTS: dict[str, ExpertEntry] = {
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
    "yolo-flip": ExpertEntry(
        "posekit.estimators.yolo_flip:YoloFlipPose",
        "the same YOLO-pose on the mirrored frame, people mirrored back (flip test), COCO-17",
    ),
    "yolo-topdown-flip": ExpertEntry(
        "posekit.estimators.yolo_flip:YoloTopDownFlip",
        "yolo-topdown on each person crop mirrored, joints mirrored back (flip test), COCO-17",
    ),
}
BUILTIN_EXPERTS["mediapipe-topdown"] = BUILTIN_EXPERTS["mediapipe"]
"""The design's name for the same expert (it always runs top-down)."""


def installed_experts() -> dict[str, ExpertEntry]:
    """Experts other installed packages declare in the ``posekit.experts`` entry-point group (none imported).

    A name that is already a built-in expert keeps the built-in one, with a warning naming the package.
    """
    out: dict[str, ExpertEntry] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        provider = point.dist.name if point.dist is not None else "an installed package"
        if point.name in BUILTIN_EXPERTS:
            log.warning(
                "%s declares the expert %r, which is built into posekit; the built-in one is used", provider, point.name
            )
            continue
        out.setdefault(point.name, ExpertEntry(point.value, provider=provider))
    return out


class ExpertRegistry(Mapping[str, ExpertEntry]):
    """The built-in experts, then those of installed packages, read from package metadata on first use."""

    def __init__(self) -> None:
        self._entries: dict[str, ExpertEntry] | None = None

    def _all(self) -> dict[str, ExpertEntry]:
        if self._entries is None:
            self._entries = {**BUILTIN_EXPERTS, **installed_experts()}
        return self._entries

    def refresh(self) -> None:
        """Read the entry points again (after installing a package into the running interpreter)."""
        self._entries = None

    def __getitem__(self, name: str) -> ExpertEntry:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


EXPERTS = ExpertRegistry()


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


def expert_class(name: str) -> type:
    """The class of the expert called ``name``, imported now; ConfigError naming the missing package."""
    entry = EXPERTS[name]
    module_name, _, class_name = entry.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        fix = (
            "reinstall posekit with its dependencies" if entry.provider == "posekit" else f"reinstall {entry.provider}"
        )
        raise ConfigError(f"expert {name!r} needs a package that is not installed ({exc.name}); {fix}") from exc
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise ConfigError(
            f"expert {name!r}: {module_name} has no {class_name} (declared by {entry.provider})"
        ) from None


def build_estimator(spec: ExpertSpec | str, config: EstimatorConfig) -> Estimator:
    """Instantiate the expert named by ``spec`` (weights are loaded here, offline)."""
    if isinstance(spec, str):
        spec = ExpertSpec.parse(spec)
    estimator = expert_class(spec.name)(spec.weights, config)
    if not isinstance(estimator, Estimator):
        raise ConfigError(
            f"expert {spec.name!r} ({EXPERTS[spec.name].target}) does not implement predict(frames, boxes)"
        )
    estimator.name = spec.label
    return estimator
