"""The files of an Ultralytics pose dataset: frames (ignored persons painted grey), label lines, ``data.yaml``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from posekit.core.errors import ConfigError
from posekit.io.video import iter_frames
from posekit.skeleton.layouts import COCO17
from posekit.workflows.selftrain.frame_labels import FrameLabels
from posekit.workflows.selftrain.options import PseudoLabelOptions

IGNORE_GREY = 114
"""Fill of ignored regions (Ultralytics' letterbox grey)."""


def _label_lines(lab: FrameLabels, width: int, height: int) -> list[str]:
    """Ultralytics pose label lines: ``cls cx cy w h`` then 17 x ``x y v``, all normalised to [0, 1]."""
    lines = []
    for kp, box, cls in zip(lab.keypoints, lab.boxes, lab.classes):
        cx, cy = (box[0] + box[2]) / 2 / width, (box[1] + box[3]) / 2 / height
        bw, bh = (box[2] - box[0]) / width, (box[3] - box[1]) / height
        parts = [str(int(cls)), f"{cx:.6f}", f"{cy:.6f}", f"{bw:.6f}", f"{bh:.6f}"]
        for x, y in kp:
            if np.isfinite(x) and np.isfinite(y):
                parts += [f"{min(max(x / width, 0), 1):.6f}", f"{min(max(y / height, 0), 1):.6f}", "2"]
            else:
                parts += ["0", "0", "0"]
        lines.append(" ".join(parts))
    return lines


def _mask_ignored(image: np.ndarray, ignore: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Paint ``ignore`` boxes grey except where they overlap the ``keep`` (labelled) boxes. ``image`` (H, W, 3)."""
    if not len(ignore):
        return image
    H, W = image.shape[:2]
    mask = np.zeros((H, W), bool)
    for x1, y1, x2, y2 in np.round(ignore).astype(int):
        mask[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)] = True
    for x1, y1, x2, y2 in np.round(keep).astype(int):
        mask[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)] = False
    out = image.copy()
    out[mask] = IGNORE_GREY
    return out


def _slug(clip_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in clip_id)


def write_label_files(
    root: Path,
    labels: Sequence[FrameLabels],
    split: Sequence[str],
    frame_size: dict[str, tuple[int, int]],
    video_of: dict[str, Path],
    options: PseudoLabelOptions,
    on_frames: Callable[[int], None] | None,
) -> dict[str, int]:
    """Decode each clip's video once and write its labelled frames (``images/{split}/*.jpg``) and their label
    files (``labels/{split}/*.txt``) under ``root``; frames written per split. ``split[i]`` is ``labels[i]``'s."""
    for part in ("images", "labels"):
        for s in ("train", "val"):
            (root / part / s).mkdir(parents=True, exist_ok=True)
    counts = {"train": 0, "val": 0}
    by_clip: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        by_clip.setdefault(lab.clip_id, []).append(i)
    for clip_id, items in by_clip.items():
        wanted = {labels[i].frame_index: i for i in items}
        last = max(wanted)
        width, height = frame_size[clip_id]
        seen = 0
        for frame in iter_frames(video_of[clip_id]):
            if frame.index > last:
                break
            i = wanted.get(frame.index)
            if i is None:
                continue
            lab = labels[i]
            image = _mask_ignored(frame.image, lab.ignore, lab.boxes) if options.mask_ignored else frame.image
            stem = f"{_slug(clip_id)}-{lab.frame_index:06d}"
            s = split[i]
            path = root / "images" / s / f"{stem}.jpg"
            if not cv2.imwrite(str(path), image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, options.jpeg_quality]):
                raise OSError(f"cannot write {path}")
            (root / "labels" / s / f"{stem}.txt").write_text("\n".join(_label_lines(lab, width, height)) + "\n")
            counts[s] += 1
            seen += 1
            if on_frames is not None:
                on_frames(1)
        if seen < len(wanted):
            raise ConfigError(
                f"{video_of[clip_id]} has fewer frames than the shards' clip {clip_id!r} "
                f"(frame {last} not decoded); the videos do not match the shards"
            )
    return counts


def write_data_yaml(path: Path, names: dict[int, str]) -> None:
    """The Ultralytics data file, COCO-17 keypoints and their flip order.

    No ``path`` key: Ultralytics resolves paths from the file's folder, so the dataset can move.
    """
    flip = COCO17.flip_permutation()
    lines = [
        "# posekit pseudo labels (SST-A, thesis 3.3.3)",
        "train: images/train",
        "val: images/val",
        f"kpt_shape: [{COCO17.num_joints}, 3]",
        f"flip_idx: [{', '.join(map(str, flip))}]",
        "names:",
        *(f"  {k}: {v}" for k, v in names.items()),
    ]
    path.write_text("\n".join(lines) + "\n")
