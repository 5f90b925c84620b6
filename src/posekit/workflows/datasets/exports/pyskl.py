"""The MMAction2 / pyskl 2D skeleton pickle (``posekit export pyskl``)."""

from __future__ import annotations

import pickle
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from posekit.core.errors import ConfigError
from posekit.core.files import atomic_write_bytes
from posekit.core.options import check_bounds
from posekit.io.samples import DATASET_JSON
from posekit.skeleton.layouts import JointLayout, check_layout_option, get_layout
from posekit.workflows.datasets.exports.arrays import box_score_array, person_arrays
from posekit.workflows.datasets.exports.splits import dataset_splits, refuse_unlabelled

PYSKL_GRAPHS = {"coco17": "coco", "ntu25": "nturgb+d", "openpose18": "openpose"}
"""posekit layouts that MMAction2 / pyskl skeleton graphs know, and their ``layout=`` / ``dataset=`` name."""
BOX_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
"""The ``box_thr`` values of MMAction2's ``PoseDataset``: ``valid`` counts frames per threshold."""


@dataclass(frozen=True)
class PysklOptions:
    """How ``posekit export pyskl`` writes the MMAction2 / pyskl 2D skeleton pickle."""

    layout: str | None = field(
        default=None,
        metadata={"help": "Convert joints to this layout (default: the shards'); their 2D graphs know coco17."},
    )
    max_persons: int | None = field(
        default=None, metadata={"help": "Keep the M main persons, main first (default: all).", "min": 1}
    )
    split_prefix: str = field(default="", metadata={"help": "Prefix of split names, e.g. xsub_ -> xsub_train."})
    any_layout: bool = field(
        default=False,
        metadata={"help": "Export a layout MMAction2/pyskl graphs do not know (their graph would misread it)."},
    )
    allow_unlabelled: bool = field(
        default=False, metadata={"help": "Export clips without a class as label -1 (training on them fails)."}
    )
    coords: Literal["2d", "3d"] = field(
        default="2d",
        metadata={"help": "2d: keypoint (M, T, V, 2) pixels; 3d: (M, T, V, 3) of keypoints_3d, no keypoint_score."},
    )

    def __post_init__(self) -> None:
        check_bounds(self)
        check_layout_option(self.layout, "--layout")


def frame_dirs(clip_ids: list[str]) -> list[str]:
    """MMAction2 ``frame_dir`` of each clip: the file stem (``walking/vtest.mp4`` -> ``vtest``), or the path
    without extension joined by ``_`` where stems repeat (``walking_a``, ``running_a``)."""
    stems = [PurePosixPath(c).stem for c in clip_ids]
    repeated = {s for s, n in Counter(stems).items() if n > 1}
    names = [
        PurePosixPath(c).with_suffix("").as_posix().replace("/", "_") if s in repeated else s
        for c, s in zip(clip_ids, stems)
    ]
    twice = [n for n, k in Counter(names).items() if k > 1]
    if twice:
        raise ConfigError(f"clips {twice[0]!r} appear twice in the dataset; give every clip its own path")
    return names


PLAIN_SPLIT = "all"
"""The pyskl split name of a folder of skeletons shards that is not a built dataset (``--split-prefix`` applies)."""


def export_pyskl(data: Path, out: Path, options: PysklOptions | None = None) -> Path:
    """Write the MMAction2 / pyskl skeleton pickle of ``data`` to ``out`` (a ``.pkl`` file).

    Per clip: ``frame_dir`` (the file stem), ``filename`` (the clip's relative path, which their video loaders
    join to ``data_prefix``; split lists name clips by it, as ``PoseDataset`` then does), ``label``,
    ``img_shape``, ``original_shape``, ``total_frames``, ``keypoint`` ``(M, T, V, 2)`` float32 pixels (with
    ``coords="3d"``: ``(M, T, V, 3)`` of ``keypoints_3d`` and no ``keypoint_score``, as their 3D pickles,
    which MMAction2's NTU pipeline refuses with scores),
    ``keypoint_score`` ``(M, T, V)``, ``box_score`` ``(M, T)`` and ``valid`` (frames with a box scored at
    least each of :data:`BOX_THRESHOLDS`, for ``valid_ratio``); ``layout`` records the joints and the graph name.
    """
    options = options or PysklOptions()
    out = Path(out)
    splits: dict[str, list[str]] = {}
    annotations = []
    dst: JointLayout | None = get_layout(options.layout) if options.layout else None
    splits_in = dataset_splits(data)
    if not options.allow_unlabelled:
        refuse_unlabelled(splits_in)
    built = (Path(data) / DATASET_JSON).is_file()
    for split in splits_in:
        names = splits.setdefault(options.split_prefix + (split.name if built else PLAIN_SPLIT), [])
        for clip, info in split.clips():
            dst = dst or info.layout
            if dst.name not in PYSKL_GRAPHS and not options.any_layout:
                raise ConfigError(
                    f"layout {dst.name} is not one MMAction2/pyskl skeleton graphs know "
                    f"({', '.join(PYSKL_GRAPHS)}); pass --layout coco17 to convert, or --any-layout to keep it"
                )
            kp, sc = person_arrays(clip, info.layout, dst, options.max_persons, options.coords)
            boxes = box_score_array(clip, options.max_persons)
            names.append(clip.clip_id)
            annotations.append(
                {
                    "frame_dir": clip.clip_id,
                    "filename": clip.clip_id,
                    "label": split.label(clip),
                    "img_shape": (int(clip.height), int(clip.width)),
                    "original_shape": (int(clip.height), int(clip.width)),
                    "total_frames": int(clip.num_frames),
                    "keypoint": kp,
                    **({} if options.coords == "3d" else {"keypoint_score": sc}),
                    "box_score": boxes,
                    "valid": {thr: int((boxes >= thr).any(0).sum()) for thr in BOX_THRESHOLDS},
                }
            )
    for ann, name in zip(annotations, frame_dirs([a["filename"] for a in annotations])):
        ann["frame_dir"] = name
    layout = dst or get_layout("coco17")
    doc = {
        "split": splits,
        "annotations": annotations,
        "layout": {
            "name": layout.name,
            "graph": PYSKL_GRAPHS.get(layout.name),
            "joints": list(layout.joints),
            "edges": [list(e) for e in layout.edges],
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, pickle.dumps(doc, protocol=4))
    return out
