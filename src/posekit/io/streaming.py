"""A streaming ``torch.utils.data.IterableDataset`` over skeletons shards, for datasets larger
than memory (PoseCap-1M scale, thesis 6.3.1).

Items are the same as :class:`posekit.io.torch_dataset.SkeletonShardDataset` gives
(thesis 3.7.1 preprocessing: Posetics-17, screen normalisation, up to ``M`` persons by
presence, a random window for training), read shard by shard and row group by row group:

- each epoch the shard order is permuted from ``(seed, epoch)`` (``shuffle=True``, the default
  for training), then shards are dealt round-robin to the ``world_size x num_workers``
  readers (DDP rank from ``torch.distributed`` when it is initialised), so every clip is read
  once per epoch, by one worker, and no file is opened by two;
- a shuffle buffer of ``shuffle_buffer`` items mixes clips across row groups and shards;
- memory holds one decoded row group and the buffer, whatever the dataset size.

A shard holds many clips, so give a dataset at least ``world_size x num_workers`` shards
(``posekit build-dataset --shard-clips``); readers left without a shard yield nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
from torch.utils.data import IterableDataset, get_worker_info

from posekit.core.errors import ConfigError, ShardError
from posekit.io.samples import DATASET_JSON, PAD_MODES, LabelMap, clip_joints, find_labels, window_start
from posekit.io.shards import list_shards, read_shard_info, table_to_skeletons
from posekit.io.torch_dataset import to_item
from posekit.skeleton.features import STREAMS
from posekit.skeleton.layouts import POSETICS17, JointLayout, get_layout


class SkeletonShardStream(IterableDataset):
    """Clips of the shards at ``path`` as ``(x (2, window, V, M), label, index)``, streamed.

    Args mirror :class:`SkeletonShardDataset`; in addition:
        shuffle: permute shards each epoch and use the shuffle buffer (default: ``train``).
        shuffle_buffer: items held and drawn at random (0: no buffer).
        rank, world_size: DDP position; default from ``torch.distributed`` when initialised.

    ``index`` is the clip's position in the concatenation of the sorted shards (as in the
    random-access dataset without ``clip_ids``), so randomness and results are per clip.
    Labels: a sidecar or ``dataset.json`` found by :func:`find_labels` (``dataset.json`` gives
    the class order; the label is read from each clip's ``label`` column, no global table is
    built), an explicit :class:`LabelMap`, or None. Unlabelled clips are skipped when labels
    are used.
    """

    def __init__(
        self,
        path: Path | str,
        labels: LabelMap | Path | str | None = "auto",
        window: int | None = 150,
        train: bool = True,
        stream: str = "joint",
        max_persons: int = 2,
        layout: JointLayout | str = POSETICS17,
        pad: str = "loop",
        seed: int = 0,
        shuffle: bool | None = None,
        shuffle_buffer: int = 1024,
        center: bool = False,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        if stream not in STREAMS:
            raise ConfigError(f"unknown stream {stream!r}; streams: {', '.join(STREAMS)}")
        if pad not in PAD_MODES:
            raise ConfigError(f"pad must be one of {PAD_MODES}, got {pad!r}")
        self.path = Path(path)
        self.window, self.train, self.stream, self.pad = window, train, stream, pad
        self.max_persons, self.seed, self.epoch, self.center = max_persons, seed, 0, center
        self.layout = get_layout(layout) if isinstance(layout, str) else layout
        self.shuffle = train if shuffle is None else shuffle
        self.shuffle_buffer = max(0, int(shuffle_buffer))
        self.rank, self.world_size = rank, world_size
        self.shards = list_shards(self.path, "skeletons")
        if not self.shards:
            raise ShardError(f"no skeletons shards (skeletons-*.parquet) under {self.path}")
        self.infos = [read_shard_info(p) for p in self.shards]
        rows = [pq.ParquetFile(p).metadata.num_rows for p in self.shards]
        self.offsets = np.concatenate([[0], np.cumsum(rows)]).astype(np.int64)
        self.classes: tuple[str, ...] = ()
        self.labels: LabelMap | None = None
        self._use_column = False
        if isinstance(labels, str) and labels == "auto":
            found = find_labels(self.path)
            if found is not None and found.name == DATASET_JSON:
                self.classes, self._use_column = tuple(json.loads(found.read_text())["classes"]), True
            elif found is not None:
                self.labels = LabelMap.load(found)
            elif any("label" in pq.read_schema(s).names for s in self.shards):
                names = set()
                for s in self.shards:
                    if "label" in pq.read_schema(s).names:
                        names |= set(pq.read_table(s, columns=["label"]).column("label").to_pylist())
                self.classes, self._use_column = tuple(sorted(n for n in names if n is not None)), True
        elif isinstance(labels, (str, Path)):
            self.labels = LabelMap.load(Path(labels))
        else:
            self.labels = labels
        if self.labels is not None:
            self.classes = self.labels.classes
        self._class_index = {name: i for i, name in enumerate(self.classes)}

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        """Clips in the shards (an upper bound when unlabelled clips are skipped)."""
        return int(self.offsets[-1])

    def set_epoch(self, epoch: int) -> None:
        """Change the shard order, buffer draws and random windows of the next epoch."""
        self.epoch = int(epoch)

    def _label(self, clip) -> int:
        if self._use_column:
            return self._class_index.get(clip.label, -1) if clip.label is not None else -1
        if self.labels is not None:
            return self.labels.label_of(clip.clip_id)
        return -1

    def shards_for(self, reader: int, readers: int) -> list[int]:
        """Shard numbers that reader ``reader`` of ``readers`` reads this epoch, in order."""
        order = np.arange(len(self.shards))
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(order)
        return [int(s) for s in order[reader::readers]]

    def _position(self) -> tuple[int, int, int]:
        info = get_worker_info()
        wid, nworkers = (info.id, info.num_workers) if info is not None else (0, 1)
        rank, world = self.rank, self.world_size
        if rank is None or world is None:
            dist = torch.distributed
            ready = dist.is_available() and dist.is_initialized()
            rank, world = (dist.get_rank(), dist.get_world_size()) if ready else (0, 1)
        return rank * nworkers + wid, world * nworkers, wid

    def _items(self, shards: Sequence[int]) -> Iterator[tuple[torch.Tensor, int, int]]:
        labelled = self._use_column or self.labels is not None
        for s in shards:
            file = pq.ParquetFile(self.shards[s])
            info = self.infos[s]
            row = int(self.offsets[s])
            for g in range(file.metadata.num_row_groups):
                for clip in table_to_skeletons(file.read_row_group(g), info):
                    index, row = row, row + 1
                    label = self._label(clip)
                    if labelled and label < 0:
                        continue
                    x = clip_joints(clip, info.layout, self.layout, self.max_persons, self.center)
                    start = window_start(self.window, x.shape[1], self.train, (self.seed, self.epoch, index))
                    yield to_item(x, self.window, start, self.pad, self.stream, self.layout), label, index

    def __iter__(self) -> Iterator[tuple[torch.Tensor, int, int]]:
        reader, readers, _ = self._position()
        items = self._items(self.shards_for(reader, readers))
        if not self.shuffle or self.shuffle_buffer <= 1:
            yield from items
            return
        rng = np.random.default_rng([self.seed, self.epoch, reader, 1])
        buffer: list[tuple[torch.Tensor, int, int]] = []
        for item in items:
            if len(buffer) < self.shuffle_buffer:
                buffer.append(item)
                continue
            k = int(rng.integers(len(buffer)))
            buffer[k], item = item, buffer[k]
            yield item
        order = rng.permutation(len(buffer))
        for k in order:
            yield buffer[k]
