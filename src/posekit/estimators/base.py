"""The expert contract and its two bases: a batch of frames in, one :class:`PoseProposals` per frame out.

:class:`OneStageExpert` finds people on whole frames (one hook, :meth:`OneStageExpert.infer_frames`);
:class:`TopDownExpert` owns the crop loop (crop around each given box, one hook on the crops,
:meth:`TopDownExpert.infer_crops`, map back to frame pixels, one person per box in box order). Each base
declares its options dataclass; :class:`EstimatorConfig` is all of them, the one settings object a run
passes to every expert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal, NamedTuple, Protocol, runtime_checkable

import cv2
import numpy as np

from posekit.core.device import DeviceOptions
from posekit.core.errors import ConfigError, PosekitError
from posekit.core.options import check_bounds
from posekit.estimators.crops import crop_to_frame, crop_transform
from posekit.estimators.tiles import (
    cut_by_inner_edge,
    frame_tiles,
    merge_passes,
    needs_input_size_pass,
    shift_to_frame,
)
from posekit.skeleton.layouts import JointLayout
from posekit.skeleton.records import PoseProposals

SecondPass = Literal["zoom", "tiles"]
"""How the second pass of a full-frame expert sees people small in the first (:attr:`OneStageOptions.second_pass`)."""
InputSizePass = Literal["needed", "every"]
"""On which frames the zoom pass's expert runs at its input size too (:attr:`OneStageOptions.input_size_pass`)."""

DEFAULT_IMGSZ = 640
"""Input size of a full-frame expert when neither ``--imgsz`` nor its weights give one."""


def chosen_imgsz(given: int | None, own: int | None = None) -> int:
    """The input size a full-frame expert is asked to run at: ``--imgsz`` when given, else the model's own (a
    self-trained student's card), else :data:`DEFAULT_IMGSZ`."""
    if given is not None:
        return given
    return own if own is not None else DEFAULT_IMGSZ


@dataclass(frozen=True)
class OneStageOptions:
    """Settings of experts that find people on whole frames (:class:`OneStageExpert`)."""

    imgsz: int | None = field(
        default=None,
        metadata={
            "help": "Network input size in pixels for full-frame experts; raise it for small people. Default: the "
            f"size a self-trained student's weights carry, else {DEFAULT_IMGSZ}.",
            "min": 32,
        },
    )
    min_box_score: float = field(
        default=0.1,
        metadata={
            "help": "Person detections scoring below this are dropped (Ultralytics' conf).",
            "min": 0,
            "max": 1,
            "aliases": ("--conf",),
        },
    )
    tiles: int = field(
        default=2,
        metadata={
            "help": "How many times larger a second pass of the full-frame experts sees the frame, to find people too "
            "small for the first: the whole frame again at this many times the input size (--second-pass zoom), "
            "or this many overlapping tiles per side at the input size (1: off).",
            "min": 1,
            "panel": "People finding",
        },
    )
    second_pass: SecondPass = field(
        default="zoom",
        metadata={
            "help": "zoom: the second pass runs the whole frame at --tiles times the input size (experts with a "
            "fixed input, RTMO, use tiles); tiles: it runs overlapping tiles of the frame at the input size "
            "(zoom finds more small people for less CPU: README, Performance).",
            "panel": "People finding",
        },
    )
    input_size_pass: InputSizePass = field(
        default="needed",
        metadata={
            "help": "With the zoom pass, on which frames the expert runs at its input size too: needed: where the "
            "zoom pass found nobody or someone at least --tile-below network pixels tall at the input size (the "
            "large people it takes from that pass); every: on every frame (the street video: the same people "
            "for 0.8x the CPU with needed, README, Performance).",
            "panel": "People finding",
        },
    )
    tile_max_upscale: float = field(
        default=2.0,
        metadata={
            "help": "The second pass runs only on frames whose pixels it enlarges at most this much (frames small "
            "for the input size are enlarged enough by the whole-frame pass).",
            "min": 0,
            "min_open": True,
            "panel": "People finding",
        },
    )
    tile_below: float = field(
        default=96.0,
        metadata={
            "help": "A person shorter (box long side) than this many network pixels in the whole-frame pass is "
            "taken from the second pass, a taller one from the whole-frame pass (96: COCO's medium/large "
            "boundary); neighbouring tiles overlap by this size, so such a person is whole in one of them.",
            "min": 0,
            "panel": "People finding",
        },
    )

    def __post_init__(self) -> None:
        check_bounds(self)

    @property
    def zoom_pass(self) -> bool:
        """Whether experts that can zoom (:attr:`OneStageExpert.zooms`) make the zoom pass: a second pass, in
        its zoom form."""
        return self.tiles > 1 and self.second_pass == "zoom"

    @property
    def input_size_pass_ran(self) -> InputSizePass:
        """On which frames the input-size pass runs for an expert that zooms: ``input_size_pass`` with the zoom
        pass, else ``every`` (no second pass, or the tiles, which need the full pass on every frame)."""
        return self.input_size_pass if self.zoom_pass else "every"


@dataclass(frozen=True)
class TopDownOptions:
    """Settings of experts that estimate one pose per given person box (:class:`TopDownExpert`)."""

    crop_scale: float = field(
        default=1.25,
        metadata={
            "help": "Each person box is enlarged by this factor before cropping, so the whole body fits.",
            "min": 1,
        },
    )
    crop_size: int = field(
        default=256,
        metadata={
            "help": "Side in pixels of the square crop a top-down expert sees (small people are upscaled).",
            "min": 32,
        },
    )
    crop_batch: int = field(
        default=16,
        metadata={
            "help": "Crops a top-down expert takes per call, so memory stays bounded whatever the crowd size.",
            "min": 1,
            "resume": False,
        },
    )

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass(frozen=True)
class EstimatorConfig(TopDownOptions, OneStageOptions, DeviceOptions):
    """Every expert's settings in one object (fields: device, imgsz, min_box_score, crop_scale, crop_size).

    It is a :class:`DeviceOptions`, a :class:`OneStageOptions` and a :class:`TopDownOptions` at once, so
    each expert reads the options of its own kind from it.
    """

    def __post_init__(self) -> None:
        DeviceOptions.__post_init__(self)


@runtime_checkable
class Estimator(Protocol):
    """A pose expert. Frames are ``(H, W, 3)`` uint8 RGB arrays.

    One-stage experts (``needs_boxes = False``) find people themselves. Top-down experts
    (``needs_boxes = True``) estimate one pose per given box and return the persons in box
    order, one per box (NaN keypoints where they found nothing).
    """

    name: str
    layout: JointLayout
    needs_boxes: ClassVar[bool]

    def predict(
        self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray] | None = None
    ) -> list[PoseProposals]: ...


def require_file(path: Path, what: str, hint: str) -> Path:
    """Fail with one line naming ``path`` when it is not a readable file."""
    if not path.is_file():
        raise ConfigError(f"{what} not found: {path} ({hint})")
    return path


class OneStageExpert:
    """Base of experts that find every person on whole frames: implement :meth:`infer_frames`.

    The base checks that the hook gave one :class:`PoseProposals` per frame in the expert's layout, drops
    persons scoring below ``config.min_box_score`` and, with ``config.tiles`` > 1, runs a second pass that sees
    each frame ``tiles`` times larger and merges the two passes per person (:mod:`posekit.estimators.tiles`):
    the whole frame at ``tiles`` times the input size for an expert that :attr:`zooms`, else its tiles.
    """

    needs_boxes: ClassVar[bool] = False
    reads_imgsz: ClassVar[bool] = True
    """Whether ``config.imgsz`` sets this expert's input size (False for a model with a fixed input)."""
    zooms: ClassVar[bool] = False
    """Whether :meth:`infer_frames` takes ``imgsz=``, the input size to run at instead of its own (the zoom pass)."""
    name: str
    layout: JointLayout

    def __init__(self, config: OneStageOptions) -> None:
        self.config = config

    def infer_frames(self, frames: Sequence[np.ndarray]) -> list[PoseProposals]:
        """One :class:`PoseProposals` per ``(H, W, 3)`` uint8 RGB frame: frame pixels, NaN for joints not placed.

        An expert that :attr:`zooms` takes ``imgsz: int | None = None`` too: the input size's long side in
        network pixels, a multiple of the model's stride (None: its own size, :meth:`network_side`)."""
        raise NotImplementedError

    def network_side(self) -> int:
        """The long side in pixels of the network input a whole frame is resized to, as the model really runs
        it: the one owner of the input size, read by the second pass and recorded in the run's manifest. Here
        ``--imgsz`` or 640 (:func:`chosen_imgsz`); a model that rounds it (Ultralytics) or has its own (RTMO)
        overrides this."""
        return chosen_imgsz(self.config.imgsz)

    def predict(self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray] | None = None) -> list[PoseProposals]:
        if boxes is not None:
            raise ValueError(f"{self.name} is a one-stage expert: it finds people itself, call predict(frames)")
        if not frames:
            return []
        if self.config.tiles == 1:
            return self._infer(frames)
        if self.zooms and self.reads_imgsz and self.config.zoom_pass:
            return self._with_zoom_pass(frames)
        return self._merge_tile_pass(frames, self._infer(frames))

    def _infer(self, images: Sequence[np.ndarray], imgsz: int | None = None) -> list[PoseProposals]:
        """The hook on ``images`` (at input size ``imgsz``, else its own), checked, persons below
        ``config.min_box_score`` dropped."""
        out = self.infer_frames(images) if imgsz is None else self.infer_frames(images, imgsz=imgsz)
        if len(out) != len(images):
            raise PosekitError(f"{self.name}: infer_frames gave {len(out)} results for {len(images)} frames")
        for props in out:
            if props.layout is not self.layout:
                raise PosekitError(f"{self.name}: infer_frames gave {props.layout.name} joints, not {self.layout.name}")
        return [props.select(props.scores >= self.config.min_box_score) for props in out]

    def _zoom_pass(self, frames: Sequence[np.ndarray]) -> dict[int, PoseProposals]:
        """The hook's persons on the whole frames again at ``tiles`` times the input size, by frame index, for
        the frames it enlarges at most ``tile_max_upscale``.

        Against ``n x n`` tiles at the input size ``S``, which see a frame of long side ``L`` at
        ``S / ((L + overlap) / n)``, one pass at ``n * S`` sees it larger (``n * S / L``) from fewer network
        pixels (no overlap bands) and cuts nobody at a tile edge. The frames go through the hook
        ``len(frames) / n**2`` at a time (at least one), so a call's input tensor stays that of the input-size
        pass (8 frames at 1280 in one call on the CPU: 4x the system time of 2 at a time, +25 % wall).
        """
        cfg = self.config
        zoom_side = cfg.tiles * self.network_side()
        chosen = [f for f, frame in enumerate(frames) if zoom_side / max(frame.shape[:2]) <= cfg.tile_max_upscale]
        per_call = max(1, len(frames) // cfg.tiles**2)
        zoomed: dict[int, PoseProposals] = {}
        for start in range(0, len(chosen), per_call):
            part = chosen[start : start + per_call]
            zoomed.update(zip(part, self._infer([frames[f] for f in part], imgsz=zoom_side)))
        return zoomed

    def _with_zoom_pass(self, frames: Sequence[np.ndarray]) -> list[PoseProposals]:
        """Each frame's persons from the zoom pass (:meth:`_zoom_pass`) and the pass at the input size, merged
        per person (:func:`~posekit.estimators.tiles.merge_passes`).

        The zoom pass runs first. With ``input_size_pass`` ``needed`` the input-size pass then runs only on the
        frames the zoom pass did not see, found nobody on, or found someone large on
        (:func:`~posekit.estimators.tiles.needs_input_size_pass`): on the others the merge would take every
        person from the zoom pass anyway, so they skip its cost (a quarter of the zoom pass's at ``tiles`` 2).
        """
        cfg, side = self.config, self.network_side()
        zoomed = self._zoom_pass(frames)
        scales = [side / max(frame.shape[:2]) for frame in frames]
        needed = [
            f
            for f in range(len(frames))
            if cfg.input_size_pass == "every"
            or f not in zoomed
            or needs_input_size_pass(zoomed[f], scales[f], cfg.tile_below)
        ]
        full = dict(zip(needed, self._infer([frames[f] for f in needed]))) if needed else {}
        out = []
        for f in range(len(frames)):
            if f not in zoomed or f not in full:
                out.append(full[f] if f not in zoomed else zoomed[f])
            else:
                out.append(merge_passes(full[f], zoomed[f], np.zeros(len(zoomed[f]), int), scales[f], cfg.tile_below))
        return out

    def _merge_tile_pass(self, frames: Sequence[np.ndarray], full: list[PoseProposals]) -> list[PoseProposals]:
        """``full`` merged with the hook's persons on the tiles of each frame that is large enough to tile.

        The tiles of all frames go through the hook ``len(frames)`` at a time, so memory stays that of the
        whole-frame pass (on the CPU, one tile per call: the four tiles of a frame in one call made 4x larger
        tensors, +120 MiB peak RSS and 2-3x the system time over 200 street frames, for the same user time).
        """
        cfg, side = self.config, self.network_side()
        jobs = []
        for f, frame in enumerate(frames):
            height, width = frame.shape[:2]
            windows, upscale = frame_tiles(height, width, cfg.tiles, side, cfg.tile_below)
            if upscale <= cfg.tile_max_upscale:
                jobs += [(f, k, window) for k, window in enumerate(windows)]
        found: dict[int, list[tuple[int, PoseProposals]]] = {}
        for start in range(0, len(jobs), len(frames)):
            chunk = jobs[start : start + len(frames)]
            crops = [np.ascontiguousarray(frames[f][y0:y1, x0:x1]) for f, _, (x0, y0, x1, y1) in chunk]
            for (f, k, window), props in zip(chunk, self._infer(crops)):
                height, width = frames[f].shape[:2]
                shifted = shift_to_frame(props, window)
                whole = shifted.select(~cut_by_inner_edge(shifted.boxes, window, height, width))
                found.setdefault(f, []).append((k, whole))
        out = list(full)
        for f, parts in found.items():
            tile_index = np.concatenate([np.full(len(p), k) for k, p in parts])
            tiles = PoseProposals.concat([p for _, p in parts], self.layout)
            scale = side / max(frames[f].shape[:2])
            out[f] = merge_passes(full[f], tiles, tile_index, scale, cfg.tile_below)
        return out


class CropPoses(NamedTuple):
    """What a top-down hook found in ``N`` crops, in crop pixels.

    Attributes:
        keypoints: ``(N, V, 2)`` float32 crop pixels; NaN where a joint (or the whole person) was not found.
        joint_scores: ``(N, V)`` float32 per-joint confidence in [0, 1]; 0 where not found.
        scores: ``(N,)`` float32 person confidence; 0 where nobody was found.
        keypoints_3d: ``(N, V, 3)`` float32 metres (camera axes x right, y down, z away; origin at the mid-hip),
            NaN where not found; None from an expert without 3D (:attr:`TopDownExpert.gives_3d`).
        joint_scores_3d: ``(N, V)`` float32 score of each 3D joint in [0, 1]; None with ``keypoints_3d``.
    """

    keypoints: np.ndarray
    joint_scores: np.ndarray
    scores: np.ndarray
    keypoints_3d: np.ndarray | None = None
    joint_scores_3d: np.ndarray | None = None


class TopDownExpert:
    """Base of experts that estimate one pose per given person box: implement :meth:`infer_crops`.

    The base crops every box of a batch (:func:`posekit.estimators.crops.crop_transform`: the box enlarged
    by ``config.crop_scale``, at the crop size and aspect of :meth:`crop_shape`), calls the hook on at most
    ``config.crop_batch`` crops at a time (memory does not grow with the crowd), maps the joints back to
    frame pixels and returns, per frame, one person per box in box order, carrying the given boxes.
    """

    needs_boxes: ClassVar[bool] = True
    gives_3d: ClassVar[bool] = False
    """Whether :meth:`infer_crops` also gives 3D joints (``CropPoses.keypoints_3d``): then every person the
    expert returns carries ``keypoints_3d``, NaN where it found nobody."""
    name: str
    layout: JointLayout

    def __init__(self, config: TopDownOptions) -> None:
        self.config = config

    def crop_shape(self) -> tuple[int, int]:
        """``(width, height)`` in pixels of the crops :meth:`infer_crops` takes (square ``crop_size`` here)."""
        return self.config.crop_size, self.config.crop_size

    def infer_crops(self, crops: np.ndarray, boxes: np.ndarray) -> CropPoses:
        """Poses in ``(N, height, width, 3)`` uint8 RGB crops, each made for the person box ``boxes[n]``.

        ``boxes`` is ``(N, 4)`` xyxy crop pixels (a crop can hold other people too). Called only with N > 0.
        """
        raise NotImplementedError

    def predict(self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray] | None = None) -> list[PoseProposals]:
        if boxes is None:
            raise ValueError(f"{self.name} is a top-down expert: pass one (P, 4) box array per frame")
        if len(boxes) != len(frames):
            raise ValueError(f"{self.name}: {len(frames)} frames but {len(boxes)} box arrays")
        frame_boxes = [np.asarray(b, np.float32).reshape(-1, 4) for b in boxes]
        owners = [(frame, box) for frame, frame_box in zip(frames, frame_boxes) for box in frame_box]
        count = len(owners)
        V = self.layout.num_joints
        found = CropPoses(
            np.full((count, V, 2), np.nan, np.float32),
            np.zeros((count, V), np.float32),
            np.zeros(count, np.float32),
            np.full((count, V, 3), np.nan, np.float32) if self.gives_3d else None,
            np.zeros((count, V), np.float32) if self.gives_3d else None,
        )
        for start in range(0, count, self.config.crop_batch):
            chunk = slice(start, min(start + self.config.crop_batch, count))
            for whole, part in zip(found, self._infer_chunk(owners[chunk])):
                if whole is not None:
                    whole[chunk] = part
        out, k = [], 0
        for frame_box in frame_boxes:
            persons = slice(k, k + len(frame_box))
            out.append(
                PoseProposals(
                    found.keypoints[persons],
                    found.joint_scores[persons],
                    frame_box,
                    found.scores[persons],
                    self.layout,
                    keypoints_3d=None if found.keypoints_3d is None else found.keypoints_3d[persons],
                    joint_scores_3d=None if found.joint_scores_3d is None else found.joint_scores_3d[persons],
                )
            )
            k += len(frame_box)
        return out

    def _infer_chunk(self, owners: list[tuple[np.ndarray, np.ndarray]]) -> CropPoses:
        """The hook on the crops of ``(frame, box)`` pairs, joints mapped back to frame pixels."""
        width, height = self.crop_shape()
        count = len(owners)
        crops = np.empty((count, height, width, 3), np.uint8)
        transforms = np.empty((count, 2, 3), np.float64)
        for k, (frame, box) in enumerate(owners):
            transforms[k] = crop_transform(box, self.config.crop_scale, width, height)
            crops[k] = cv2.warpAffine(frame, transforms[k], (width, height), flags=cv2.INTER_LINEAR)
        corners = np.stack([box for _, box in owners]).reshape(count, 2, 2)
        in_crop = np.einsum("nij,nkj->nki", transforms[:, :, :2], corners) + transforms[:, None, :, 2]
        found = self.infer_crops(crops, in_crop.reshape(count, 4).astype(np.float32))
        self._check(found, count)
        keypoints = np.stack([crop_to_frame(found.keypoints[n], transforms[n]) for n in range(count)])
        return found._replace(keypoints=keypoints)

    def _check(self, found: CropPoses, count: int) -> None:
        V = self.layout.num_joints
        expected = {"keypoints": (count, V, 2), "joint_scores": (count, V), "scores": (count,)}
        if self.gives_3d:
            expected |= {"keypoints_3d": (count, V, 3), "joint_scores_3d": (count, V)}
        for name, shape in expected.items():
            got = np.shape(getattr(found, name))
            if got != shape:
                raise PosekitError(f"{self.name}: infer_crops gave {name} of shape {got}, expected {shape}")
