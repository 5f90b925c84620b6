"""Ground-truth keypoint files as shipped, read onto the predicted COCO-17 joints by joint meaning.

Formats (told apart by their content, not their name):

- **COCO-style JSON** (``images``, ``annotations``, ``categories``): COCO, CrowdPose, PoseTrack,
  AIC converted to COCO style. Each annotation's ``keypoints`` ``[x, y, v] * K`` is read with
  the names its category lists when ``K`` equals their number (CrowdPose: 12 limbs' joints,
  ``head``, ``neck``; PoseTrack: ``head_bottom``, ``head_top`` in place of the eyes), else as
  the 17 COCO joints in COCO order when ``K = 17``, whatever else the category lists (a
  category may list extra joints held in other fields).
- **MPII list** (a JSON list of ``{image, joints (16, 2), joints_vis (16,)}``, one entry per
  person, MPII order: r-ankle, r-knee, r-hip, l-hip, l-knee, l-ankle, pelvis, thorax,
  upper-neck, head-top, r-wrist, r-elbow, r-shoulder, l-shoulder, l-elbow, l-wrist).
- **AIC list** (a JSON list of ``{image_id, keypoint_annotations, human_annotations}``,
  14 joints: right then left arm, right then left leg, head top, neck; ``v = 3`` unlabelled).

A joint is labelled where ``v > 0`` (AIC: ``v`` is 1 or 2). Joints with a COCO-17 namesake are
scored; head top and neck only make the PCKh head length; any other joint (pelvis, thorax,
feet) is listed in :attr:`GroundTruth.unscored_joints`.

**Head length (PCKh).** Head top to neck (CrowdPose, AIC), to upper neck (MPII) or to head
bottom (PoseTrack) where the dataset labels both; otherwise (COCO has no head top) the thesis'
convention of :func:`posekit.skeleton.geometry.head_length`: nose to mid-shoulders.

**Area (OKS).** The annotation's ``area`` where given (COCO: the segmentation area); otherwise
(MPII, CrowdPose, AIC) the area of the box around the person's labelled joints, or of its
``bbox`` where fewer than two joints span a box.

**Which shard frame an image is.** Per image, in this order:

1. image fields ``clip_id`` and ``frame_index`` (``posekit export coco`` writes them);
2. a ``file_name`` without a folder (``000000000785.jpg``): the 1-frame clip of that image
   file, clip id ``000000000785.jpg``, frame 0 (``posekit extract`` on an image folder);
3. a ``file_name`` in a folder (``images/val/000342/000017.jpg``): a frame-folder clip whose id
   is the folder; with ``images`` (the image root on disk) the frame index is the file's
   position in natural order among the folder's images (``2.jpg`` before ``10.jpg``), as
   ``posekit extract`` numbers frame folders; without it, the file stem read as a number
   (``{clip}/{frame:06d}.jpg``, the frames of a video).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from posekit.core.errors import ConfigError
from posekit.skeleton.geometry import head_length
from posekit.skeleton.layouts import COCO17

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

MPII16 = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis", "thorax",
    "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
    "left_wrist",
)  # fmt: skip
"""MPII joint order."""

AIC14 = (
    "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist", "right_hip",
    "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "head_top", "neck",
)  # fmt: skip
"""AI Challenger joint order."""

HEAD_TOP_NAMES = frozenset({"head", "head_top", "top_head", "headtop"})
NECK_NAMES = frozenset({"neck", "upper_neck", "head_bottom"})


def joint_key(name: str) -> str:
    """A joint name in posekit spelling: lower case, words joined by ``_`` (``Left-Shoulder`` -> ``left_shoulder``)."""
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def natural_key(name: str) -> tuple:
    """Sort key putting ``2.jpg`` before ``10.jpg`` (digit runs compared as numbers, the rest case-insensitively)."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name))


@dataclass(frozen=True)
class JointMap:
    """How a dataset's ``K`` joints land on COCO-17.

    Attributes:
        coco: ``(K,)`` int64 COCO-17 index of each joint, -1 where COCO-17 has no such joint.
        head_top, neck: indices of the joints of the PCKh head length, -1 where the dataset lacks one.
        unscored: names of joints that are neither scored nor used for the head length.
    """

    coco: np.ndarray
    head_top: int
    neck: int
    unscored: tuple[str, ...]

    @classmethod
    def from_names(cls, names: tuple[str, ...] | list[str]) -> JointMap:
        keys = [joint_key(n) for n in names]
        coco = np.array([COCO17.joints.index(k) if k in COCO17.joints else -1 for k in keys], np.int64)
        top = next((i for i, k in enumerate(keys) if k in HEAD_TOP_NAMES), -1)
        neck = next((i for i, k in enumerate(keys) if k in NECK_NAMES), -1)
        unscored = tuple(n for i, n in enumerate(names) if coco[i] < 0 and i not in (top, neck))
        return cls(coco, top, neck, unscored)


COCO_MAP = JointMap.from_names(COCO17.joints)


@dataclass
class GtImage:
    """One labelled image and its persons on COCO-17.

    Attributes:
        image_id: the file's own image id (MPII and AIC: the image name).
        file_name: the image path as the file gives it.
        clip, frame: the shard clip and frame index it designates (module docstring).
        keypoints: ``(P, 17, 2)`` float64 pixels, NaN where not labelled or not a COCO-17 joint.
        head: ``(P,)`` PCKh head length in pixels, NaN where undefined.
        boxes: ``(P, 4)`` xyxy pixels.
        areas: ``(P,)`` OKS area in square pixels.
        crowd: ``(P,)`` bool, COCO ``iscrowd`` regions (matched without penalty in AP, never scored).
    """

    image_id: int | str
    file_name: str
    clip: str
    frame: int
    keypoints: np.ndarray
    head: np.ndarray
    boxes: np.ndarray
    areas: np.ndarray
    crowd: np.ndarray

    @property
    def scored(self) -> np.ndarray:
        """``(P,)`` bool: persons scored (not crowd, at least one labelled COCO-17 joint)."""
        return ~self.crowd & np.isfinite(self.keypoints).all(-1).any(-1)


@dataclass
class GroundTruth:
    """A ground-truth file read onto COCO-17.

    Attributes:
        format: ``coco`` (COCO-style JSON), ``mpii`` or ``aic``.
        images: labelled images in file order.
        joints: COCO-17 joints the file labels (those the scores can cover).
        head: how the PCKh head length is measured.
        area: where the OKS areas come from.
        unscored_joints: the file's joints that no score uses.
        unlabelled: persons without any labelled COCO-17 joint (listed, not scored).
        missing_images: images absent from the image root (when one was given).
    """

    format: str
    images: list[GtImage]
    joints: tuple[str, ...]
    head: str
    area: str
    unscored_joints: tuple[str, ...] = ()
    unlabelled: int = 0
    missing_images: list[str] = field(default_factory=list)

    @property
    def persons(self) -> int:
        return int(sum(img.scored.sum() for img in self.images))


@dataclass
class _Person:
    xyv: np.ndarray
    joints: JointMap
    bbox: np.ndarray
    area: float | None
    crowd: bool


def _person_arrays(p: _Person) -> tuple[np.ndarray, float, np.ndarray, float]:
    """``((17, 2) COCO-17 pixels, head length, (4,) xyxy box, OKS area)`` of one annotated person."""
    labelled = p.xyv[:, 2] > 0
    native = np.where(labelled[:, None], p.xyv[:, :2], np.nan)
    kp = np.full((COCO17.num_joints, 2), np.nan)
    hit = p.joints.coco >= 0
    kp[p.joints.coco[hit]] = native[hit]
    if p.joints.head_top >= 0 and p.joints.neck >= 0:
        head = float(np.linalg.norm(native[p.joints.head_top] - native[p.joints.neck]))
    else:
        head = float(head_length(kp[None], COCO17)[0])
    pts = native[labelled]
    box = p.bbox
    joint_area = 0.0
    if len(pts):
        lo, hi = pts.min(0), pts.max(0)
        joint_area = float(np.prod(hi - lo))
        if not np.isfinite(box).all():
            box = np.r_[lo, hi]
    box_area = float(np.prod(box[2:] - box[:2])) if np.isfinite(box).all() else 0.0
    area = p.area if p.area else (joint_area if joint_area > 0 else box_area)
    return kp, head if head > 0 else float("nan"), box, area


def _xywh(bbox: object) -> np.ndarray:
    if isinstance(bbox, list | tuple) and len(bbox) == 4:
        x, y, w, h = (float(v) for v in bbox)
        return np.array([x, y, x + w, y + h])
    return np.full(4, np.nan)


def frame_folder_positions(root: Path, folder: str) -> dict[str, int]:
    """``{file name: position}`` of the images in ``root / folder`` in natural order (empty if no such folder)."""
    path = root / folder
    if not path.is_dir():
        return {}
    names = sorted((p.name for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS), key=natural_key)
    return {name: i for i, name in enumerate(names)}


class ImageResolver:
    """Maps an image entry onto ``(clip, frame)`` (module docstring), caching frame-folder listings."""

    def __init__(self, images: Path | None) -> None:
        self.root = Path(images) if images is not None else None
        self.folders: dict[str, dict[str, int]] = {}
        self.missing: list[str] = []

    def __call__(self, image: dict, source: Path) -> tuple[str, int]:
        if "clip_id" in image and "frame_index" in image:
            return str(image["clip_id"]), int(image["frame_index"])
        raw = str(image.get("file_name", "")).replace("\\", "/")
        name = PurePosixPath(raw)
        if not name.name:
            raise ConfigError(
                f"--gt {source}: image {image.get('id')!r} has no file_name; give it one or clip_id/frame_index"
            )
        folder = name.parent.as_posix()
        if self.root is not None and not (self.root / raw).is_file():
            self.missing.append(raw)
        if folder in ("", "."):
            return name.name, 0
        if self.root is not None:
            if folder not in self.folders:
                self.folders[folder] = frame_folder_positions(self.root, folder)
            if name.name in self.folders[folder]:
                return folder, self.folders[folder][name.name]
        if name.stem.isdigit():
            return folder, int(name.stem)
        raise ConfigError(
            f"--gt {source}: image {raw!r} is in a frame folder but its position is unknown; "
            "give --images (the folder holding the images) or clip_id/frame_index fields"
        )


def _category_maps(doc: dict) -> dict[object, tuple[str, ...]]:
    return {c.get("id"): tuple(c["keypoints"]) for c in doc.get("categories") or [] if c.get("keypoints")}


def _coco_persons(doc: dict, source: Path) -> dict[object, list[_Person]]:
    categories = _category_maps(doc)
    maps: dict[tuple[str, ...], JointMap] = {}
    by_image: dict[object, list[_Person]] = {img.get("id"): [] for img in doc["images"]}
    for ann in doc.get("annotations") or []:
        if ann.get("image_id") not in by_image:
            raise ConfigError(
                f"--gt {source}: annotation {ann.get('id')!r} refers to unknown image {ann.get('image_id')!r}"
            )
        try:
            values = np.asarray(ann.get("keypoints") or [], dtype=np.float64).reshape(-1)
            area = float(ann["area"]) if ann.get("area") else None
            box = _xywh(ann.get("bbox"))
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"--gt {source}: annotation {ann.get('id')!r} holds a value that is not a number ({exc}); "
                "keypoints, bbox and area are numbers in COCO keypoints files"
            ) from None
        names = categories.get(ann.get("category_id"), ())
        if names and values.size == 3 * len(names):
            joints = maps.setdefault(names, JointMap.from_names(names))
        elif values.size == 3 * COCO17.num_joints:
            joints = COCO_MAP
        else:
            raise ConfigError(
                f"--gt {source}: annotation {ann.get('id')!r} has {values.size} keypoint values; expected 3 per joint "
                f"of its category ({len(names)} joints) or 51 (the 17 COCO joints)"
            )
        person = _Person(values.reshape(-1, 3), joints, box, area, bool(ann.get("iscrowd", 0)))
        by_image[ann["image_id"]].append(person)
    return by_image


def _list_persons(doc: list, source: Path) -> tuple[str, list[dict], dict[object, list[_Person]]]:
    """Images and persons of an MPII or AIC list file."""
    first = doc[0] if doc else {}
    images: dict[str, dict] = {}
    persons: dict[object, list[_Person]] = {}
    if isinstance(first, dict) and "joints" in first:
        joints = JointMap.from_names(MPII16)
        for i, entry in enumerate(doc):
            try:
                name = str(entry["image"])
                xy = np.asarray(entry["joints"], np.float64).reshape(len(MPII16), 2)
                vis = np.asarray(entry.get("joints_vis", np.ones(len(MPII16))), np.float64).reshape(len(MPII16), 1)
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError(
                    f"--gt {source}: MPII entry {i} is not image + 16 joints + joints_vis ({exc})"
                ) from None
            images.setdefault(name, {"id": name, "file_name": name})
            persons.setdefault(name, []).append(_Person(np.c_[xy, vis], joints, np.full(4, np.nan), None, False))
        return "mpii", list(images.values()), persons
    if isinstance(first, dict) and "keypoint_annotations" in first:
        joints = JointMap.from_names(AIC14)
        for entry in doc:
            name = str(entry["image_id"])
            file_name = name if Path(name).suffix else f"{name}.jpg"
            images.setdefault(name, {"id": name, "file_name": file_name})
            boxes = entry.get("human_annotations") or {}
            for human, values in (entry.get("keypoint_annotations") or {}).items():
                xyv = np.asarray(values, np.float64).reshape(len(AIC14), 3)
                xyv[:, 2] = np.where(np.isin(xyv[:, 2], (1, 2)), 1.0, 0.0)
                box = np.asarray(boxes.get(human, [np.nan] * 4), np.float64)
                persons.setdefault(name, []).append(_Person(xyv, joints, box, None, False))
        return "aic", list(images.values()), persons
    raise ConfigError(
        f"--gt {source}: a JSON list that is neither MPII (joints, joints_vis) nor AIC (keypoint_annotations)"
    )


def load_ground_truth(path: Path, images: Path | None = None) -> GroundTruth:
    """Read a COCO-style, MPII or AIC keypoints file onto COCO-17 (module docstring).

    ``images`` is the folder holding the images (optional): it gives frame folders their
    natural-order frame positions and lists the images missing on disk.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--gt {path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--gt {path}: not a readable JSON file ({exc})") from None
    if images is not None and not Path(images).is_dir():
        raise ConfigError(f"--images {images}: not a folder; give the folder holding the ground-truth images")
    if isinstance(doc, dict) and isinstance(doc.get("images"), list):
        fmt, entries, persons = "coco", doc["images"], _coco_persons(doc, path)
    elif isinstance(doc, list):
        fmt, entries, persons = _list_persons(doc, path)
    else:
        raise ConfigError(f"--gt {path}: not a keypoints file (no COCO 'images' list, no MPII or AIC list)")
    resolve = ImageResolver(images)
    out: list[GtImage] = []
    seen_maps: dict[int, JointMap] = {}
    unlabelled = 0
    for entry in entries:
        clip, frame = resolve(entry, path)
        people = persons.get(entry.get("id"), [])
        for p in people:
            seen_maps[id(p.joints)] = p.joints
        arrays = [_person_arrays(p) for p in people]
        V = COCO17.num_joints
        image = GtImage(
            image_id=entry.get("id"),
            file_name=str(entry.get("file_name", "")),
            clip=clip,
            frame=frame,
            keypoints=np.stack([a[0] for a in arrays]) if arrays else np.zeros((0, V, 2)),
            head=np.array([a[1] for a in arrays], np.float64),
            boxes=np.stack([a[2] for a in arrays]) if arrays else np.zeros((0, 4)),
            areas=np.array([a[3] for a in arrays], np.float64),
            crowd=np.array([p.crowd for p in people], bool),
        )
        unlabelled += int((~image.crowd & ~image.scored).sum())
        out.append(image)
    maps = list(seen_maps.values()) or [COCO_MAP]
    covered = sorted({int(i) for m in maps for i in m.coco if i >= 0})
    with_top = all(m.head_top >= 0 and m.neck >= 0 for m in maps)
    head = "head top to neck" if with_top else "nose to mid-shoulders"
    area = "annotation area" if fmt == "coco" and _has_areas(doc) else "box of the labelled joints"
    unscored = tuple(dict.fromkeys(n for m in maps for n in m.unscored))
    return GroundTruth(
        fmt, out, tuple(COCO17.joints[i] for i in covered), head, area, unscored, unlabelled, resolve.missing
    )


def _has_areas(doc: dict) -> bool:
    return all(ann.get("area") for ann in doc.get("annotations") or [])
