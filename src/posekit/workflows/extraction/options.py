"""What ``posekit extract`` writes, declared once: :class:`ExtractOptions` (every field a flag, with its help and
bounds, recorded in the manifest), and the flags a run cannot use whatever its inputs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from posekit.core.errors import ConfigError
from posekit.core.options import check_bounds, flag_name, recorded_settings
from posekit.estimators.base import EstimatorConfig, chosen_imgsz
from posekit.estimators.registry import ExpertSpec, expert_class, parse_experts
from posekit.estimators.runtimes import RuntimeOptions
from posekit.io.images import ImageInputOptions
from posekit.io.video import MAX_PIXELS
from posekit.refine.tracking import TrackerConfig
from posekit.refine.tracks import AggregationOptions, TrackFilterOptions
from posekit.skeleton.layouts import LAYOUTS, check_layout_option

GPU_BATCH_FRAMES = 8
"""Frames per inference batch on a GPU when ``--batch-size`` is not given."""


@dataclass(frozen=True)
class ExtractOptions:
    """Everything that decides what ``posekit extract`` writes.

    Attributes:
        experts: expert specs, in order (``joint_source`` indexes them).
        estimator: settings passed to every expert (device, input size, crops).
        layout: joint layout of the shards (every expert is converted to it).
        batch_size: frames per inference batch (None: :attr:`frames_per_batch` picks it by device).
        fps: sample frames at this rate (None: every frame).
        max_frames: stop each video after this many sampled frames (None: all).
        min_joint_score: joints an expert scores below this count as missing (NaN).
        keep_proposals: also write every expert's raw output as proposals shards.
        shard_clips: clips per shard (a shard is also cut at ``shard_bytes``).
        max_pixels: inputs with larger frames fail (checked from the header, before decoding).
        commit_seconds: finished clips are committed at least this often (seconds).
        aggregation: SST-A settings, used when there are several experts.
        images: how single images and folders of frames become clips (their frame rate).
        tracks: which skeleton tracks are kept (minimum length, the main persons).
        strict: a truncated video fails instead of keeping its readable frames.
        runtime: where the YOLO experts run, and how many CPU threads the run uses.
        pose_3d: give each skeleton track 3D joints from an expert that estimates them
            (:mod:`posekit.refine.pose3d`), and keep them in the proposals shards.
    """

    experts: tuple[ExpertSpec, ...] = field(metadata={"cli": False})
    estimator: EstimatorConfig = field(default_factory=EstimatorConfig, metadata={"run_only": ("device",)})
    layout: str = field(
        default="coco17",
        metadata={"help": f"Joint layout of the shards: {', '.join(LAYOUTS)}, or a layout file (.json/.yaml)."},
    )
    batch_size: int | None = field(
        default=None,
        metadata={
            "help": "Frames per inference batch. Default: 1 on the CPU (larger batches save no CPU there and make "
            "tensors too large for the allocator to reuse), 8 on a GPU.",
            "min": 1,
            "resume": False,
        },
    )
    fps: float | None = field(
        default=None, metadata={"help": "Sample frames at this rate (default: all).", "min": 0, "min_open": True}
    )
    max_frames: int | None = field(default=None, metadata={"help": "Stop each video after N sampled frames.", "min": 1})
    min_joint_score: float = field(
        default=0.3,
        metadata={"help": "Joints an expert scores below this count as missing (NaN).", "min": 0, "max": 1},
    )
    keep_proposals: bool = field(
        default=False, metadata={"help": "Also write every expert's raw output to OUT/proposals/."}
    )
    shard_clips: int = field(default=64, metadata={"help": "Clips per shard file.", "min": 1, "resume": False})
    shard_bytes: int = field(default=256 << 20, metadata={"cli": False, "resume": False})
    max_pixels: int = field(
        default=MAX_PIXELS,
        metadata={
            "help": "Refuse inputs whose frames hold more pixels than this, read from the header before decoding "
            "(a decoding queue of larger frames would need gigabytes).",
            "min": 1,
            "resume": False,
        },
    )
    commit_seconds: float = field(
        default=60.0,
        metadata={
            "help": "Commit finished clips at least this often (seconds), so that a killed or preempted run loses "
            "at most this much work; the shard being filled is rewritten as it grows.",
            "min": 0,
            "min_open": True,
            "resume": False,
        },
    )
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    aggregation: AggregationOptions = field(default_factory=AggregationOptions)
    images: ImageInputOptions = field(default_factory=ImageInputOptions)
    tracks: TrackFilterOptions = field(default_factory=TrackFilterOptions)
    strict: bool = field(
        default=False,
        metadata={
            "help": "Record a truncated video (fewer frames than its header declares) as failed instead of "
            "keeping its readable frames."
        },
    )
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    pose_3d: bool = field(
        default=False,
        metadata={
            "flag": "--3d",
            "help": "Also give each person track 3D joints (metres, camera axes, origin at the mid-hip) from an "
            "expert that estimates them: mediapipe (BlazePose's world landmarks).",
        },
    )

    def __post_init__(self) -> None:
        check_layout_option(self.layout, "--layout")
        if not self.experts:
            raise ConfigError("no experts given; name at least one, e.g. yolo")
        if self.pose_3d and not any(getattr(expert_class(s.name), "gives_3d", False) for s in self.experts):
            named = ",".join(s.label for s in self.experts)
            raise ConfigError(
                f"--3d needs an expert that estimates 3D: add mediapipe, e.g. --experts {named},mediapipe"
            )
        check_bounds(self)

    @classmethod
    def from_flags(
        cls,
        experts: str,
        estimator: EstimatorConfig,
        aggregation: AggregationOptions,
        images: ImageInputOptions,
        fields: dict,
    ) -> ExtractOptions:
        """The options from the flag groups of a command that extracts (``posekit extract``, ``build-dataset``):
        ``experts`` as typed (``yolo,mediapipe``, ``yolo:run/best.pt``), the groups built, the other fields."""
        return cls(
            experts=tuple(parse_experts(experts)), estimator=estimator, aggregation=aggregation, images=images, **fields
        )

    @property
    def frames_per_batch(self) -> int:
        """Frames per inference batch: ``batch_size``, or 1 on the CPU and 8 on a GPU.

        On the CPU a batch of 8 frames at 640 px makes 30-50 MB tensors, above the 32 MB glibc serves from
        reusable heap, so each one comes with fresh pages: 4-7x the page faults and system time of one frame at
        a time, for no less user time (measured in ``bench/vs_ultralytics.py``).
        """
        if self.batch_size is not None:
            return self.batch_size
        return 1 if self.estimator.resolve() == "cpu" else GPU_BATCH_FRAMES

    def settings(self) -> dict:
        """The options that change the output, as recorded in the manifest (a resume must match them).

        Derived from the fields (:func:`posekit.core.options.recorded_settings`), so a new option of any
        group is recorded; the estimator's fields sit at the top level as manifests have always had them,
        and SST-A's only count with several experts. ``imgsz`` not given is recorded as the size it resolves to
        (:func:`~posekit.estimators.base.chosen_imgsz`) when no expert runs from a weights file, so runs recorded
        before a student's card could set it resume; with a weights file it stays null (each model's own size,
        recorded under the manifest's ``effective.imgsz``). ``input_size_pass`` is recorded as it runs (``every``
        without the zoom pass), so runs with no zoom pass recorded before it came resume.
        """
        out = recorded_settings(self)
        out["experts"] = [s.name if s.weights is None else f"{s.name}:{s.weights}" for s in self.experts]
        out.update(out.pop("estimator"))
        out["input_size_pass"] = self.estimator.input_size_pass_ran
        if out["imgsz"] is None and all(spec.weights is None for spec in self.experts):
            out["imgsz"] = chosen_imgsz(None)
        out.update(out.pop("runtime"))
        if len(self.experts) < 2:
            out["aggregation"] = None
        return out


def unused_run_flags(options: ExtractOptions) -> dict[str, str]:
    """The flags this run cannot use, whatever its inputs, with their one line (SST-A's with one expert)."""
    if len(options.experts) > 1:
        return {}
    changed = _changed_flags(options.aggregation, AggregationOptions())
    if not changed:
        return {}
    line = (
        f"{', '.join(changed)}: SST-A aggregates several experts and this run has one "
        f"({options.experts[0].label}), so its poses are the skeletons as they are and the manifest records "
        "aggregation: null; give several experts (e.g. --experts yolo,yolo-topdown) to aggregate"
    )
    return {", ".join(changed): line}


def _changed_flags(options: Any, default: Any) -> list[str]:
    """The flags of the fields of an options dataclass (nested ones included) that differ from ``default``."""
    out = []
    for f in dataclasses.fields(options):
        value, base = getattr(options, f.name), getattr(default, f.name)
        if dataclasses.is_dataclass(value):
            out += _changed_flags(value, base)
        elif value != base:
            out.append(flag_name(f))
    return out
