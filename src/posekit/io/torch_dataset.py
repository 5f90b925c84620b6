"""A ``torch.utils.data.Dataset`` over skeletons shards, for UNIK training and evaluation.

One item is one clip (one skeletons-shard row) as a ``(C, T, V, M)`` float32 tensor:
``C = 2`` screen coordinates (``coords="2d"``) or ``C = 3`` 3D coordinates (``coords="3d"``, the tracks'
``keypoints_3d``), ``T = window`` frames, ``V`` joints of the item layout (the shards' own, or Posetics-17
for layouts without a bone tree, see :func:`posekit.io.samples.item_layout`), ``M = 2`` persons, plus its
integer label (-1 when unlabelled) and its index.

What happens to a clip, in order:

1. The ``M`` main persons (:meth:`SkeletonClip.main_persons`) are taken, main first (others dropped,
   absent persons are all-missing).
2. Keypoints are converted from the shard's layout to the item layout with
   :func:`posekit.skeleton.convert_keypoints`.
3. 2D pixels are normalised to ``[-1, 1]`` keeping the aspect ratio: ``(p - size / 2) /
   (max(width, height) / 2)``, so the longer side of the frame spans ``[-1, 1]``. Optionally
   (``center=True``) the clip is then shifted so that its first person's mean centre joint
   (Posetics chest) lies at 0. With ``normalise="unik"`` the authors' pre-normalisation follows
   (:func:`posekit.skeleton.normalise.unik_normalise`: replay of empty frames up to ``normalise_frames``,
   and for 3D the centring and two rotations).
4. A temporal window of ``window`` frames is cut: a random start for training, the centred
   window for evaluation. A clip shorter than the window is padded by looping it
   (``pad="loop"``, the thesis "replaying" of 3.7.1) or with missing frames (``pad="zero"``).
   ``window=None`` keeps the whole clip (batch such items with :func:`replay_collate`).
   With ``random_move`` (training only) the window is then moved as the authors' random-move augmentation
   does (:func:`posekit.skeleton.normalise.random_move`).
5. The stream (joint, bone, joint/bone motion; :mod:`posekit.skeleton.features`) is computed.
6. Missing values (NaN) become 0.

Random access reads only the Parquet row group holding the clip; each worker process opens
files lazily and keeps the last ``cache_row_groups`` decoded row groups, so a dataset is
never loaded whole and is safe to use with ``num_workers > 0``. The randomness of item
``i`` comes from ``(seed, epoch, i)`` only (see :meth:`set_epoch`), so a run is repeatable
whatever the number of workers.

Labels
------
Extraction shards carry no labels. A labelled dataset keeps them either beside the shards in
a sidecar or in the shards' own ``label`` column (datasets made by ``posekit build-dataset``,
whose ``dataset.json`` gives the class order). The lookup (:func:`find_labels`) tries the
data folder, then its parent, so one file can serve ``train/`` and ``val/`` folders, in the
order ``labels.json``, ``labels.csv``, ``dataset.json``; with none of them, a ``label``
column in the shards still labels the clips (classes: its sorted distinct values). The
sidecar ``labels.json``::

    {"classes": ["clapping", "jumping", ...],         # class index = position in this list
     "clips": {"<clip_id>": "<class name>", ...}}

``labels.csv`` with a header ``clip_id,label`` is accepted too; its classes are the sorted
distinct labels. Clips missing from a given label map are skipped (``dataset.skipped``
counts them).

:class:`posekit.io.streaming.SkeletonShardStream` reads the same items shard by shard
for datasets larger than memory or local disk caches.
"""

from __future__ import annotations

import functools
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch.utils.data import Dataset

from posekit.core.errors import ConfigError, ShardError
from posekit.io.samples import (
    COORDS,
    NORMALISATIONS,
    PAD_MODES,
    LabelMap,
    clip_joints,
    has_bone_tree,
    item_layout,
    resolve_labels,
    window_indices,
    window_start,
)
from posekit.io.schema import ShardInfo
from posekit.io.shards import list_shards, read_shard_info, table_to_skeletons
from posekit.skeleton.features import STREAMS, make_stream
from posekit.skeleton.layouts import JointLayout
from posekit.skeleton.normalise import random_move, unik_normalise
from posekit.skeleton.records import SkeletonClip


class SkeletonShardDataset(Dataset):
    """Clips of the skeletons shards at ``path`` as UNIK inputs (see the module docstring).

    Args:
        path: a shard file or a folder searched recursively for ``skeletons-*.parquet``.
        labels: a :class:`LabelMap`, a path to a labels sidecar, ``"auto"`` (look for one with
            :func:`find_labels`) or ``None`` (no labels: every label is -1).
        window: frames per item; ``None`` keeps whole clips.
        train: random windows if true, centred windows otherwise.
        stream: ``joint``, ``bone``, ``joint_motion`` or ``bone_motion``.
        max_persons: ``M``.
        layout: the layout of the items: a layout or its name, None (the shards' own) or ``"auto"`` (see
            :func:`posekit.io.samples.item_layout`).
        pad: ``loop`` or ``zero`` for clips shorter than ``window``.
        seed: base of the per-item random generator.
        clip_ids: keep only these clips (in this order of the shards, not of the list).
        cache_row_groups: decoded row groups kept per worker.
        center: subtract the mean position of the first person's centre joint (chest) over the
            clip from every joint (step 3b, off by default): the "centering" of the thesis
            pre-processing (3.7.1). It makes the joint stream invariant to where the person
            stands, which small datasets cannot learn on their own.
        coords: ``2d`` or ``3d`` (:data:`posekit.io.samples.COORDS`).
        normalise: ``none`` or ``unik`` (the authors' pre-normalisation, step 3).
        normalise_frames: with ``normalise="unik"``, clips are cut or replayed to this many frames (300 for NTU).
        random_move: the authors' random-move augmentation of training windows (step 4).
    """

    def __init__(
        self,
        path: Path | str,
        labels: LabelMap | Path | str | None = "auto",
        window: int | None = 150,
        train: bool = True,
        stream: str = "joint",
        max_persons: int = 2,
        layout: JointLayout | str | None = "auto",
        pad: str = "loop",
        seed: int = 0,
        clip_ids: Sequence[str] | None = None,
        cache_row_groups: int = 8,
        center: bool = False,
        coords: str = "2d",
        normalise: str = "none",
        normalise_frames: int | None = None,
        random_move: bool = False,
    ) -> None:
        if stream not in STREAMS:
            raise ConfigError(f"unknown stream {stream!r}; streams: {', '.join(STREAMS)}")
        if pad not in PAD_MODES:
            raise ConfigError(f"pad must be one of {PAD_MODES}, got {pad!r}")
        if window is not None and window < 1:
            raise ConfigError(f"window must be a positive number of frames or None, got {window}")
        if coords not in COORDS or normalise not in NORMALISATIONS:
            raise ConfigError(f"coords must be one of {COORDS} and normalise one of {NORMALISATIONS}")
        self.path = Path(path)
        self.window, self.train, self.stream, self.pad = window, train, stream, pad
        self.max_persons, self.seed, self.epoch = max_persons, seed, 0
        self.cache_row_groups, self.center, self.coords = cache_row_groups, center, coords
        self.normalise, self.normalise_frames, self.random_move = normalise, normalise_frames, random_move
        self.shards = list_shards(self.path, "skeletons")
        if not self.shards:
            raise ShardError(f"no skeletons shards (skeletons-*.parquet) under {self.path}")
        self.labels: LabelMap | None = resolve_labels(labels, self.path, self.shards)
        self.infos: list[ShardInfo] = [read_shard_info(p) for p in self.shards]
        self.layout = self._item_layout(layout)
        self._index(set(clip_ids) if clip_ids is not None else None)
        self._cache: OrderedDict[tuple[int, int], list[SkeletonClip]] = OrderedDict()
        self._files: dict[int, pq.ParquetFile] = {}
        self._pid = os.getpid()
        self._check_coords()

    def _item_layout(self, requested: JointLayout | str | None) -> JointLayout:
        """The item layout, refusing at load (one line) what would fail at the first batch."""
        stored = {info.layout.name: info.layout for info in self.infos}
        if len(stored) > 1:
            raise ConfigError(f"{self.path}: the shards mix joint layouts {sorted(stored)}; read one layout at a time")
        layout = item_layout(requested, next(iter(stored.values())), self.path)
        if self.stream.startswith("bone") and not has_bone_tree(layout):
            raise ConfigError(
                f"the {self.stream} stream needs bones forming a tree rooted at the centre joint, which layout "
                f"{layout.name!r} lacks; train the joint stream or pass --layout posetics17"
            )
        return layout

    def _check_coords(self) -> None:
        """With ``coords="3d"``, the first clip must carry 3D joints (checked at load, not at the first batch)."""
        if self.coords == "3d" and len(self) and not self.clip(0).has_3d:
            raise ConfigError(
                f"--coords 3d, but clip {self.clip_ids[0]!r} under {self.path} has no 3D joints (keypoints_3d); "
                "use --coords 2d or import the dataset with its 3D skeletons"
            )

    @property
    def channels(self) -> int:
        """``C`` of the items: 2 (screen x, y) or 3 (3D x, y, z)."""
        return 3 if self.coords == "3d" else 2

    def _index(self, wanted: set[str] | None) -> None:
        """Clip ids, frame counts and (shard, row group, row) of every kept clip."""
        ids, frames, where, labels = [], [], [], []
        self.skipped = 0
        for s, shard in enumerate(self.shards):
            meta = pq.ParquetFile(shard).metadata
            table = pq.read_table(shard, columns=["clip_id", "num_frames"])
            shard_ids = table.column("clip_id").to_pylist()
            shard_frames = table.column("num_frames").to_pylist()
            row = 0
            for g in range(meta.num_row_groups):
                for r in range(meta.row_group(g).num_rows):
                    cid = shard_ids[row]
                    row += 1
                    if wanted is not None and cid not in wanted:
                        continue
                    label = self.labels.label_of(cid) if self.labels is not None else -1
                    if self.labels is not None and label < 0:
                        self.skipped += 1
                        continue
                    ids.append(cid)
                    frames.append(int(shard_frames[row - 1] or 0))
                    where.append((s, g, r))
                    labels.append(label)
        self.clip_ids: list[str] = ids
        self.num_frames = np.asarray(frames, dtype=np.int64)
        self.locations = np.asarray(where, dtype=np.int64).reshape(-1, 3)
        self.targets = np.asarray(labels, dtype=np.int64)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.labels.classes if self.labels is not None else ()

    def collate_fn(self) -> Callable | None:
        """How a DataLoader batches this set's items: windows stack as they are; whole clips (``window`` None)
        are replayed to the longest clip of the set, so every clip is scored alike whatever the batch size."""
        if self.window is not None:
            return None
        longest = max(int(self.num_frames.max(initial=0)), self.normalise_frames or 0)
        return functools.partial(replay_collate, frames=longest)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.clip_ids)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_cache"], state["_files"] = OrderedDict(), {}
        return state

    def set_epoch(self, epoch: int) -> None:
        """Change the random windows of the next epoch (call before creating its iterator)."""
        self.epoch = int(epoch)

    def _row_group(self, shard: int, group: int) -> list[SkeletonClip]:
        """The decoded clips of one row group, through this process's small LRU cache."""
        if os.getpid() != self._pid:
            self._cache, self._files, self._pid = OrderedDict(), {}, os.getpid()
        key = (shard, group)
        clips = self._cache.get(key)
        if clips is not None:
            self._cache.move_to_end(key)
            return clips
        if shard not in self._files:
            self._files[shard] = pq.ParquetFile(self.shards[shard])
        try:
            table = self._files[shard].read_row_group(group)
        except (OSError, pa.ArrowInvalid) as exc:
            raise ShardError(f"cannot read shard {self.shards[shard]}: {exc}") from exc
        clips = table_to_skeletons(table, self.infos[shard])
        self._cache[key] = clips
        while len(self._cache) > self.cache_row_groups:
            self._cache.popitem(last=False)
        return clips

    def clip(self, index: int) -> SkeletonClip:
        """The :class:`SkeletonClip` of item ``index`` as stored (pixels, shard layout)."""
        s, g, r = (int(v) for v in self.locations[index])
        return self._row_group(s, g)[r]

    def joints(self, index: int) -> np.ndarray:
        """``(C, T, V, M)`` float32 whole-clip joints, normalised (steps 1-3), NaN = missing."""
        src = self.infos[int(self.locations[index, 0])].layout
        x = clip_joints(self.clip(index), src, self.layout, self.max_persons, self.center, self.coords)
        return unik_normalise(x, self.normalise_frames) if self.normalise == "unik" else x

    def window_start(self, index: int, num_frames: int) -> int:
        """First frame of the item's window: random (train) or centred (eval)."""
        return window_start(self.window, num_frames, self.train, (self.seed, self.epoch, index))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        """``(x (C, window, V, M) float32, label, index)``."""
        x = self.joints(index)
        start = self.window_start(index, x.shape[1])
        move = np.random.default_rng([self.seed, self.epoch, index, 1]) if self.random_move and self.train else None
        item = to_item(x, self.window, start, self.pad, self.stream, self.layout, move)
        return item, int(self.targets[index]), index


def to_item(
    x: np.ndarray,
    window: int | None,
    start: int,
    pad: str,
    stream: str,
    layout: JointLayout,
    move: np.random.Generator | None = None,
) -> torch.Tensor:
    """``(C, T, V, M)`` joints -> the ``(C, window, V, M)`` float32 tensor of steps 4-6 (``move``: the random
    generator of the random-move augmentation, None for none)."""
    T = x.shape[1]
    if window is not None:
        idx = window_indices(T, window, start, pad)
        x = x[:, np.clip(idx, 0, None)] if T else np.full((x.shape[0], window, *x.shape[2:]), np.nan)
        x[:, idx < 0] = np.nan
    if move is not None:
        x = random_move(x, move)
    x = np.nan_to_num(make_stream(x, stream, layout), nan=0.0)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def replay_collate(
    batch: list[tuple[torch.Tensor, int, int]], frames: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batch whole clips of different lengths: each ``(C, T, V, M)`` item is replayed to ``frames`` frames, or to
    the batch's longest ``T`` when longer (the thesis' test on all frames, 3.7.1, with its replay padding).
    Give ``frames`` the longest clip of the whole set (:meth:`SkeletonShardDataset.collate_fn`) so that a clip's
    score does not depend on the clips it is batched with."""
    longest = max(frames, *(x.shape[1] for x, _, _ in batch))
    items = [_replayed(x, longest) for x, _, _ in batch]
    labels = torch.tensor([y for _, y, _ in batch], dtype=torch.int64)
    return torch.stack(items), labels, torch.tensor([i for _, _, i in batch], dtype=torch.int64)


def _replayed(x: torch.Tensor, frames: int) -> torch.Tensor:
    """``(C, T, V, M)`` repeated along T to ``frames`` frames; all zero for a clip without frames."""
    if x.shape[1] == 0:
        return x.new_zeros((x.shape[0], frames, *x.shape[2:]))
    return x[:, torch.arange(frames) % x.shape[1]]
