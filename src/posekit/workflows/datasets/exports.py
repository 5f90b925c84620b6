"""Exports of skeleton datasets to the formats other trainers read.

- **pyskl / MMAction2** (:func:`export_pyskl`): one pickle ``{"split": {name: [frame_dir, ...]},
  "annotations": [{frame_dir, label, img_shape, original_shape, total_frames, keypoint
  (M, T, V, 2) float32 pixels, keypoint_score (M, T, V) float32}, ...]}``, their published
  2D skeleton annotation format. Persons are the clip's tracks by presence.
- **NTU-style arrays** (:func:`export_ntu`): ``{split}_data.npy`` ``(N, C, T, V, M)`` float32
  (C = x, y[, score]; screen-normalised as in thesis 3.7.1 or pixels; T padded), with
  ``{split}_label.npy`` (N,) int64, ``{split}_num_frames.npy``, ``{split}_clip_ids.txt`` and
  ``classes.txt``; written through a memory map, so N is not limited by RAM.
- **COCO keypoints** (:func:`export_coco`): ``{split}.json`` with one image per frame
  (``file_name`` ``{clip}/{frame:06d}.jpg`` plus ``clip_id``/``frame_index``, as
  :mod:`posekit.eval.coco` reads it) and one annotation per person and frame (``keypoints``
  ``[x, y, v] * V``, ``num_keypoints``, ``bbox`` xywh, ``area``, ``track_id``, ``score``).
- **COCO results** (:func:`export_coco_results`): the pycocotools results list
  (``[{image_id, category_id, keypoints, score}, ...]``, ``COCO.loadRes`` reads it) of the
  shards' predictions on the images of a ground-truth file, with that file's image ids.

Missing joints (NaN in the shards) become 0 with score / visibility 0 in every format.
The input is a built dataset folder (splits and classes from ``dataset.json``) or any
skeletons folder (one split named after it; labels from a sidecar or a label column).
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from posekit.core.errors import ConfigError, ShardError
from posekit.io.schema import ShardInfo
from posekit.io.shards import iter_skeleton_clips, list_shards, read_shard_info
from posekit.io.torch_dataset import DATASET_JSON, LabelMap, normalise_screen, resolve_labels, window_indices
from posekit.skeleton.convert import convert_keypoints
from posekit.skeleton.layouts import JointLayout, get_layout
from posekit.skeleton.records import SkeletonClip

FORMATS = ("pyskl", "ntu", "coco")


@dataclass
class Split:
    """One split to export: its name, shard folder, class list and labels."""

    name: str
    folder: Path
    classes: tuple[str, ...]
    labels: LabelMap | None
    use_column: bool

    def label(self, clip: SkeletonClip) -> int:
        if self.use_column:
            return self.classes.index(clip.label) if clip.label in self.classes else -1
        return self.labels.label_of(clip.clip_id) if self.labels is not None else -1

    def clips(self) -> Iterator[tuple[SkeletonClip, ShardInfo]]:
        return iter_skeleton_clips(self.folder)


def dataset_splits(data: Path) -> list[Split]:
    """The splits of ``data``: a built dataset (``dataset.json``) or a folder of shards."""
    data = Path(data)
    if (data / DATASET_JSON).is_file():
        doc = json.loads((data / DATASET_JSON).read_text(encoding="utf-8"))
        classes = tuple(doc["classes"])
        return [
            Split(name, data / s.get("folder", name), classes, None, True) for name, s in doc.get("splits", {}).items()
        ]
    shards = list_shards(data, "skeletons")
    if not shards:
        raise ShardError(f"no skeletons shards (skeletons-*.parquet) under {data}")
    labels = resolve_labels("auto", data, shards)
    return [Split(data.name or "data", data, labels.classes if labels else (), labels, False)]


def _layout_of(split: Split) -> JointLayout:
    return read_shard_info(list_shards(split.folder, "skeletons")[0]).layout


def person_arrays(
    clip: SkeletonClip, src: JointLayout, dst: JointLayout, max_persons: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(M, T, V, 2)`` float32 pixels and ``(M, T, V)`` float32 scores of the clip's tracks by
    presence (all tracks when ``max_persons`` is None; at least one, all zero, without any);
    missing joints are 0 with score 0."""
    M = max(1, len(clip.tracks) if max_persons is None else max_persons)
    arr = clip.to_array(max_persons=M, with_scores=True).transpose(3, 1, 2, 0)  # (M, T, V, 3)
    if arr.shape[2] == 0:
        arr = np.full((M, clip.num_frames, src.num_joints, 3), np.nan, np.float32)
    kp, sc = convert_keypoints(arr[..., :2], arr[..., 2], src, dst)
    missing = np.isnan(kp).any(-1) | np.isnan(sc)
    kp = np.where(missing[..., None], 0.0, kp).astype(np.float32)
    sc = np.where(missing, 0.0, sc).astype(np.float32)
    return kp, sc


def _atomic_write_bytes(path: Path, payload: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(payload)
    os.replace(tmp, path)


def export_pyskl(
    data: Path, out: Path, layout: str | None = None, max_persons: int | None = None, split_prefix: str = ""
) -> Path:
    """Write the pyskl/MMAction2 2D skeleton pickle of ``data`` to ``out`` (a ``.pkl`` file).

    ``layout`` converts joints (default: the shards' layout; pyskl's 2D models use ``coco17``);
    ``split_prefix`` names splits as pyskl's NTU configs do (``xsub_`` -> ``xsub_train``).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    splits: dict[str, list[str]] = {}
    annotations = []
    for split in dataset_splits(data):
        names = splits.setdefault(split_prefix + split.name, [])
        for clip, info in split.clips():
            dst = get_layout(layout) if layout else info.layout
            kp, sc = person_arrays(clip, info.layout, dst, max_persons)
            names.append(clip.clip_id)
            annotations.append(
                {
                    "frame_dir": clip.clip_id,
                    "label": split.label(clip),
                    "img_shape": (int(clip.height), int(clip.width)),
                    "original_shape": (int(clip.height), int(clip.width)),
                    "total_frames": int(clip.num_frames),
                    "keypoint": kp,
                    "keypoint_score": sc,
                }
            )
    _atomic_write_bytes(out, pickle.dumps({"split": splits, "annotations": annotations}, protocol=4))
    return out


def export_ntu(
    data: Path,
    out_dir: Path,
    layout: str = "posetics17",
    frames: int | None = None,
    max_persons: int = 2,
    channels: int = 3,
    coords: str = "screen",
    pad: str = "zero",
) -> dict[str, Path]:
    """Write NTU-style ``(N, C, T, V, M)`` arrays per split into ``out_dir``; return the data files.

    ``frames`` fixes T (default: the longest clip of the split); longer clips keep their first
    T frames, shorter ones are padded (``zero`` or ``loop``, the thesis' replaying).
    ``coords``: ``screen`` ([-1, 1] keeping the aspect ratio, thesis 3.7.1) or ``pixels``.
    """
    if channels not in (2, 3):
        raise ConfigError(f"channels must be 2 (x, y) or 3 (x, y, score); got {channels}")
    if coords not in ("screen", "pixels"):
        raise ConfigError(f"coords must be screen or pixels; got {coords!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dst = get_layout(layout)
    written: dict[str, Path] = {}
    classes: tuple[str, ...] = ()
    for split in dataset_splits(data):
        classes = classes or split.classes
        shards = list_shards(split.folder, "skeletons")
        lengths = [n for s in shards for n in pq.read_table(s, columns=["num_frames"]).column(0).to_pylist()]
        N, T = len(lengths), frames or max(lengths, default=1)
        path = out_dir / f"{split.name}_data.npy"
        tmp = out_dir / f".{split.name}_data.npy.tmp-{os.getpid()}"
        data_mm = np.lib.format.open_memmap(
            tmp, mode="w+", dtype=np.float32, shape=(N, channels, T, dst.num_joints, max_persons)
        )
        labels = np.full(N, -1, np.int64)
        num_frames = np.zeros(N, np.int64)
        ids = []
        for n, (clip, info) in enumerate(split.clips()):
            kp, sc = person_arrays(clip, info.layout, dst, max_persons)  # (M, T', V, 2), (M, T', V)
            if coords == "screen":
                missing = (sc == 0) & (kp == 0).all(-1)
                kp = np.where(missing[..., None], 0.0, normalise_screen(kp, clip.width, clip.height))
            x = np.concatenate([kp, sc[..., None]], axis=-1)[..., :channels].transpose(3, 1, 2, 0)  # (C, T', V, M)
            idx = window_indices(clip.num_frames, T, 0, pad)
            item = (
                x[:, np.clip(idx, 0, None)] if clip.num_frames else np.zeros((channels, T, dst.num_joints, max_persons))
            )
            item[:, idx < 0] = 0.0
            data_mm[n] = item
            labels[n], num_frames[n] = split.label(clip), clip.num_frames
            ids.append(clip.clip_id)
        data_mm.flush()
        del data_mm
        os.replace(tmp, path)
        np.save(out_dir / f"{split.name}_label.npy", labels)
        np.save(out_dir / f"{split.name}_num_frames.npy", num_frames)
        (out_dir / f"{split.name}_clip_ids.txt").write_text("".join(f"{c}\n" for c in ids), encoding="utf-8")
        written[split.name] = path
    (out_dir / "classes.txt").write_text("".join(f"{c}\n" for c in classes), encoding="utf-8")
    (out_dir / "layout.json").write_text(dst.to_json(), encoding="utf-8")
    return written


def export_coco(data: Path, out_dir: Path, layout: str | None = None) -> dict[str, Path]:
    """Write COCO-keypoints JSON (one image per frame) per split into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for split in dataset_splits(data):
        dst = get_layout(layout) if layout else _layout_of(split)
        images, annotations, videos = [], [], []
        for clip, info in split.clips():
            video_id = len(videos) + 1
            label = split.label(clip)
            videos.append(
                {
                    "id": video_id,
                    "clip_id": clip.clip_id,
                    "video_path": clip.video_path,
                    "label": label,
                    "label_name": split.classes[label] if label >= 0 else None,
                }
            )
            stem = Path(clip.clip_id).with_suffix("").as_posix()
            first_image = len(images) + 1
            for t in range(clip.num_frames):
                images.append(
                    {
                        "id": first_image + t,
                        "file_name": f"{stem}/{int(clip.frame_index[t]):06d}.jpg",
                        "width": int(clip.width),
                        "height": int(clip.height),
                        "video_id": video_id,
                        "clip_id": clip.clip_id,
                        "frame_index": int(clip.frame_index[t]),
                        "timestamp": float(clip.timestamp[t]),
                    }
                )
            for track in clip.tracks:
                kp, sc = convert_keypoints(track.keypoints, track.joint_scores, info.layout, dst)
                for k, t in enumerate(track.t):
                    present = np.isfinite(kp[k]).all(-1) & np.isfinite(sc[k])
                    xyv = np.zeros((dst.num_joints, 3), np.float64)
                    xyv[present, :2] = kp[k][present]
                    xyv[present, 2] = 2
                    box = track.boxes[k].astype(np.float64)
                    if not np.isfinite(box).all() and present.any():
                        box = np.r_[kp[k][present].min(0), kp[k][present].max(0)]
                    x1, y1, x2, y2 = (float(v) for v in np.nan_to_num(box))
                    annotations.append(
                        {
                            "id": len(annotations) + 1,
                            "image_id": first_image + int(t),
                            "category_id": 1,
                            "keypoints": [round(float(v), 2) for v in xyv.reshape(-1)],
                            "num_keypoints": int(present.sum()),
                            "bbox": [x1, y1, x2 - x1, y2 - y1],
                            "area": max(0.0, (x2 - x1) * (y2 - y1)),
                            "iscrowd": 0,
                            "track_id": int(track.track_id),
                            "score": float(np.nan_to_num(track.box_scores[k])),
                        }
                    )
        doc = {
            "info": {"description": f"posekit export of {Path(data).name}/{split.name}", "layout": dst.name},
            "categories": [
                {
                    "id": 1,
                    "name": "person",
                    "supercategory": "person",
                    "keypoints": list(dst.joints),
                    "skeleton": [[a + 1, b + 1] for a, b in dst.edges],
                }
            ],
            "classes": list(split.classes),
            "videos": videos,
            "images": images,
            "annotations": annotations,
        }
        path = out_dir / f"{split.name}.json"
        _atomic_write_bytes(path, json.dumps(doc).encode("utf-8"))
        written[split.name] = path
    return written


def export_coco_results(data: Path, gt: Path, out: Path, images: Path | None = None) -> tuple[Path, int]:
    """Write the pycocotools results list of the skeletons under ``data`` on the images of ``gt`` to ``out``.

    Images are matched to shard frames as :func:`posekit.eval.coco.score_shards` does; each
    ``image_id`` is the ground-truth file's own. Returns the path and the number of results.
    """
    from posekit.eval.coco import collect_predictions
    from posekit.eval.gt_formats import load_ground_truth
    from posekit.eval.oks import results_list

    scored, predictions, _, _ = collect_predictions(load_ground_truth(gt, images), Path(data))
    results = results_list(predictions, [image.image_id for image in scored])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write_bytes(out, json.dumps(results).encode("utf-8"))
    return out, len(results)
