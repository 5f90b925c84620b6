"""NTU-style ``(N, C, T, V, M)`` arrays per split (``posekit export ntu``), also as the UNIK authors' data_gen
writes them (``--normalise unik``)."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np
import pyarrow.parquet as pq

from posekit.core.errors import ConfigError
from posekit.core.files import atomic_path, atomic_write_bytes
from posekit.core.options import check_bounds
from posekit.io.samples import clip_joints, item_layout, normalise_screen, window_indices
from posekit.io.shards import list_shards
from posekit.skeleton.layouts import JointLayout, check_layout_option
from posekit.skeleton.normalise import unik_normalise
from posekit.skeleton.records import SkeletonClip
from posekit.workflows.datasets.exports.arrays import person_arrays
from posekit.workflows.datasets.exports.splits import Split, dataset_splits, layout_of, refuse_unlabelled


@dataclass(frozen=True)
class NtuOptions:
    """How ``posekit export ntu`` writes the ``(N, C, T, V, M)`` arrays."""

    layout: str = field(
        default="auto",
        metadata={
            "help": "Joint layout of the arrays (auto: the shards' own when its bones form a tree, else posetics17)."
        },
    )
    frames: int | None = field(
        default=None, metadata={"help": "T of every split (default: the longest clip of all splits).", "min": 1}
    )
    max_persons: int = field(default=2, metadata={"help": "M, the main persons kept, main first.", "min": 1})
    channels: int = field(
        default=3, metadata={"help": "2D: 3 = x, y, score; 2 = x, y (3D: always x, y, z).", "min": 2, "max": 3}
    )
    coords: Literal["auto", "screen", "pixels", "3d"] = field(
        default="auto",
        metadata={
            "help": "screen ([-1, 1] keeping the aspect ratio, thesis 3.7.1), pixels, 3d (keypoints_3d), or auto "
            "(3d when the clips carry 3D joints, as NTU imports do, else screen)."
        },
    )
    pad: Literal["zero", "loop"] = field(default="zero", metadata={"help": "Short clips: zero or loop (replay)."})
    normalise: Literal["none", "unik"] = field(
        default="none",
        metadata={
            "help": "unik: the UNIK authors' pre-normalisation, written as their data_gen writes "
            "(SPLIT_data_joint.npy, SPLIT_label.pkl)."
        },
    )
    allow_unlabelled: bool = field(
        default=False, metadata={"help": "Export clips without a class as label -1 (training on them fails)."}
    )

    def __post_init__(self) -> None:
        check_bounds(self)
        if self.layout != "auto":
            check_layout_option(self.layout, "--layout")
        two_d = self.coords in ("screen", "pixels")
        if self.normalise == "unik" and two_d and (self.coords == "pixels" or self.channels == 3):
            raise ConfigError(
                "--normalise unik writes coordinates only, as the authors' data_gen: use --coords 3d, "
                "or --coords screen --channels 2"
            )

    @property
    def num_channels(self) -> int:
        """``C`` of the arrays."""
        return 3 if self.coords == "3d" else self.channels


def ntu_item(clip: SkeletonClip, src: JointLayout, dst: JointLayout, T: int, options: NtuOptions) -> np.ndarray:
    """``(C, T, V, M)`` float32 array of one clip as :func:`export_ntu` writes it; 0 = missing joint."""
    C, M = options.num_channels, options.max_persons
    if options.coords == "3d" or options.normalise == "unik":
        x = clip_joints(clip, src, dst, M, coords="3d" if options.coords == "3d" else "2d")
        if options.normalise == "unik":
            return np.nan_to_num(unik_normalise(x, T), nan=0.0)
    else:
        kp, sc = person_arrays(clip, src, dst, M)  # (M, T', V, 2), (M, T', V)
        if options.coords == "screen":
            missing = (sc == 0) & (kp == 0).all(-1)
            kp = np.where(missing[..., None], 0.0, normalise_screen(kp, clip.width, clip.height))
        x = np.concatenate([kp, sc[..., None]], axis=-1)[..., :C].transpose(3, 1, 2, 0)  # (C, T', V, M)
    idx = window_indices(clip.num_frames, T, 0, options.pad)
    item = x[:, np.clip(idx, 0, None)] if clip.num_frames else np.zeros((C, T, dst.num_joints, M))
    item[:, idx < 0] = 0.0
    return np.nan_to_num(item, nan=0.0)


def sample_name(clip: SkeletonClip) -> str:
    """The name of a clip in the authors' ``{split}_label.pkl``: its NTU ``.skeleton`` file's name for imported
    NTU clips (as their data_gen names samples), else its clip id."""
    name = PurePosixPath(clip.video_path).name
    return name if name.endswith(".skeleton") else clip.clip_id


def _write_ntu_split(split: Split, out_dir: Path, dst: JointLayout, T: int, N: int, options: NtuOptions) -> Path:
    """One split's files (see :func:`export_ntu`); the data array goes through a memory map and a rename."""
    unik = options.normalise == "unik"
    path = out_dir / f"{split.name}_data{'_joint' if unik else ''}.npy"
    shape = (N, options.num_channels, T, dst.num_joints, options.max_persons)
    labels = np.full(N, -1, np.int64)
    num_frames = np.zeros(N, np.int64)
    ids, names = [], []
    with atomic_path(path) as tmp:
        data_mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
        for n, (clip, info) in enumerate(split.clips()):
            data_mm[n] = ntu_item(clip, info.layout, dst, T, options)
            labels[n], num_frames[n] = split.label(clip), clip.num_frames
            ids.append(clip.clip_id)
            names.append(sample_name(clip))
        data_mm.flush()
        del data_mm
    np.save(out_dir / f"{split.name}_label.npy", labels)
    np.save(out_dir / f"{split.name}_num_frames.npy", num_frames)
    (out_dir / f"{split.name}_clip_ids.txt").write_text("".join(f"{c}\n" for c in ids), encoding="utf-8")
    if unik:
        atomic_write_bytes(out_dir / f"{split.name}_label.pkl", pickle.dumps((names, labels.tolist())))
    return path


def export_ntu(data: Path, out_dir: Path, options: NtuOptions | None = None) -> dict[str, Path]:
    """Write NTU-style ``(N, C, T, V, M)`` arrays per split into ``out_dir``; return the data files.

    Every split has the same T: ``options.frames``, or the longest clip of all splits; longer clips keep
    their first T frames, shorter ones are padded (``zero`` or ``loop``, the thesis' replaying; with
    ``normalise="unik"`` the authors' replay of empty frames). ``coords``: ``screen`` ([-1, 1] keeping the
    aspect ratio, thesis 3.7.1), ``pixels`` or ``3d`` (the tracks' 3D joints, in the shards' 3D unit).
    """
    options = options or NtuOptions()
    out_dir = Path(out_dir)
    splits = dataset_splits(data)
    if not options.allow_unlabelled:
        refuse_unlabelled(splits)
    stored = layout_of(splits[0])
    dst = item_layout(options.layout, stored, data)
    if options.coords == "auto":
        first = next(splits[0].clips(), None)
        options = dataclasses.replace(options, coords="3d" if first is not None and first[0].has_3d else "screen")
    lengths = {
        split.name: [
            n
            for s in list_shards(split.folder, "skeletons")
            for n in pq.read_table(s, columns=["num_frames"]).column(0).to_pylist()
        ]
        for split in splits
    }
    T = options.frames or max((n for ns in lengths.values() for n in ns), default=1)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {
        split.name: _write_ntu_split(split, out_dir, dst, T, len(lengths[split.name]), options) for split in splits
    }
    classes = next((split.classes for split in splits if split.classes), ())
    (out_dir / "classes.txt").write_text("".join(f"{c}\n" for c in classes), encoding="utf-8")
    (out_dir / "layout.json").write_text(dst.to_json(), encoding="utf-8")
    return written
