"""The streaming IterableDataset over shards (posekit.io.streaming)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from posekit.core.errors import ConfigError
from posekit.io.streaming import SkeletonShardStream
from posekit.io.torch_dataset import SkeletonShardDataset
from posekit.testing.synthetic import write_synthetic_dataset
from posekit.workflows.datasets.build.options import BuildOptions
from posekit.workflows.datasets.build.run import build_dataset
from posekit.workflows.datasets.inputs import read_collection


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 labelled synthetic clips in 6 shards of 4 (2 row groups each) under a built dataset."""
    root = tmp_path_factory.mktemp("stream")
    labels = write_synthetic_dataset(
        root / "syn", {"train": 6}, actions=("waving", "walking", "jumping", "squatting"), frames=(20, 40), seed=2
    )
    (root / "l.txt").write_text("".join(f"{c}\t{a}\n" for c, a in labels.clips.items()))
    opts = BuildOptions(val_fraction=0.0, shard_clips=4, row_group_clips=2)
    build_dataset(read_collection(root / "l.txt", None), root / "ds", opts, shards=root / "syn" / "train")
    return root / "ds" / "train"


def test_unshuffled_stream_gives_the_random_access_items_in_order(data: Path) -> None:
    stream = SkeletonShardStream(data, window=16, train=False)
    ds = SkeletonShardDataset(data, window=16, train=False)
    items = list(stream)
    assert len(items) == len(stream) == len(ds) == 24 and stream.classes == ds.classes
    for x, y, i in items:
        torch.testing.assert_close(x, ds[i][0])
        assert y == ds[i][1]
    assert [i for _, _, i in items] == list(range(24))


def test_training_stream_shuffles_per_epoch_and_matches_random_windows(data: Path) -> None:
    stream = SkeletonShardStream(data, window=8, train=True, seed=5, shuffle_buffer=6)
    ds = SkeletonShardDataset(data, window=8, train=True, seed=5)
    orders = []
    for epoch in (0, 1):
        stream.set_epoch(epoch)
        ds.set_epoch(epoch)
        items = list(stream)
        orders.append([i for _, _, i in items])
        assert sorted(orders[-1]) == list(range(24))
        for x, _, i in items:
            torch.testing.assert_close(x, ds[i][0])
    assert orders[0] != orders[1] and orders[0] != list(range(24))
    stream.set_epoch(0)
    assert [i for _, _, i in stream] == orders[0]


def test_workers_and_ranks_read_disjoint_shards_covering_every_clip(data: Path) -> None:
    stream = SkeletonShardStream(data, window=8, train=True, shuffle_buffer=4)
    seen = [int(i) for _, _, idx in DataLoader(stream, batch_size=5, num_workers=2) for i in idx]
    assert sorted(seen) == list(range(24))
    ranks = [[i for _, _, i in SkeletonShardStream(data, window=8, rank=r, world_size=3)] for r in range(3)]
    assert sorted(i for r in ranks for i in r) == list(range(24)) and all(len(r) == 8 for r in ranks)
    with pytest.raises(ConfigError, match="unknown stream"):
        SkeletonShardStream(data, stream="speed")
