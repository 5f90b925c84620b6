"""COCO keypoints JSON per split (``posekit export coco``), and the pycocotools results list of predictions on a
ground-truth file's images (``posekit export coco --results``)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from posekit.core.files import atomic_write_bytes
from posekit.skeleton.convert import convert_keypoints
from posekit.skeleton.layouts import get_layout
from posekit.workflows.datasets.exports.splits import dataset_splits, layout_of


def annotation_box(boxes: np.ndarray, keypoints: np.ndarray, k: int) -> np.ndarray:
    """The xyxy pixel box of a person's frame ``k`` for a COCO annotation, of zero area only without any joint.

    ``boxes`` is the track's ``(n, 4)`` xyxy pixels (NaN or empty where it has none), ``keypoints`` its
    ``(n, V, 2)`` pixels (NaN = missing). The track's box when it has one; else the frame's joint extent,
    widened where it is smaller to the nearest tracked box of the track, or without any to the track's median
    joint extent (one joint spans no area, and OKS divides by the area).
    """

    def usable(b: np.ndarray) -> np.ndarray:
        return np.isfinite(b).all(-1) & (b[..., 2] > b[..., 0]) & (b[..., 3] > b[..., 1])

    box = boxes[k].astype(np.float64)
    if usable(box):
        return box
    joints = keypoints[k][np.isfinite(keypoints[k]).all(-1)].astype(np.float64)
    if len(joints) == 0:
        return np.zeros(4)
    low, high = joints.min(0), joints.max(0)
    tracked = np.flatnonzero(usable(boxes))
    if len(tracked):
        nearest = boxes[tracked[np.argmin(np.abs(tracked - k))]].astype(np.float64)
        typical = nearest[2:] - nearest[:2]
    else:
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            spread = np.isfinite(keypoints).all(-1).sum(-1) >= 2
            extent = np.nanmax(keypoints[spread], axis=1) - np.nanmin(keypoints[spread], axis=1)
            typical = np.nan_to_num(np.nanmedian(extent, axis=0)) if len(extent) else np.zeros(2)
    size = np.maximum(high - low, typical)
    centre = (low + high) / 2
    return np.r_[centre - size / 2, centre + size / 2]


def export_coco(data: Path, out_dir: Path, layout: str | None = None) -> dict[str, Path]:
    """Write COCO-keypoints JSON (one image per frame) per split into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for split in dataset_splits(data):
        dst = get_layout(layout) if layout else layout_of(split)
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
                    x1, y1, x2, y2 = (float(v) for v in annotation_box(track.boxes, kp, k))
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
        atomic_write_bytes(path, json.dumps(doc).encode("utf-8"))
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
    atomic_write_bytes(out, json.dumps(results).encode("utf-8"))
    return out, len(results)
