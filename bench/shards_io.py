"""Dataset shards on disk and through the readers, against a pyskl-style pickle of the same data.

Writes a synthetic-but-realistic labelled dataset with :mod:`posekit.testing.synthetic` (real
skeletons shards: 1-2 tracks per clip, 150-300 frames at 30 fps, missing joints, SST-A
confidences), assembles it with ``build_dataset`` (row groups of 16 clips, 256 clips per
shard) and exports it with ``export_pyskl``. Then prints:

- bytes per person-frame: Parquet shards vs. the pickle (and the pickle gzip'd);
- read throughput in clips/s of the random-access ``SkeletonShardDataset`` (shuffled, as a
  training epoch reads it) and of the streaming ``SkeletonShardStream``, with 0 and 2
  DataLoader workers, against the pickle loaded whole (its load time, then the same
  thesis 3.7.1 preprocessing per item from memory);
- whether UNIK training waits on I/O: reader clips/s against UNIK's training samples/s
  (``bench/unik_speed.py``: about 1.9 samples/s on this 2-core CPU at batch 16, T = 150;
  pass ``--train-samples-per-s`` for another machine).

Run: ``python bench/shards_io.py [--clips-per-class 250] [--batches 40] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import gzip
import os
import pickle
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from posekit.io.samples import normalise_screen, window_start
from posekit.io.streaming import SkeletonShardStream
from posekit.io.torch_dataset import SkeletonShardDataset, to_item
from posekit.skeleton.convert import convert_keypoints
from posekit.skeleton.layouts import COCO17, POSETICS17
from posekit.testing.synthetic import ACTIONS, write_synthetic_dataset
from posekit.workflows.datasets.build.options import BuildOptions
from posekit.workflows.datasets.build.run import build_dataset
from posekit.workflows.datasets.exports.pyskl import export_pyskl
from posekit.workflows.datasets.inputs import read_collection


class PickleDataset(Dataset):
    """The pyskl pickle held in memory, with the same preprocessing as the shard readers."""

    def __init__(self, annotations: list[dict], window: int = 150) -> None:
        self.annotations, self.window = annotations, window

    def __len__(self) -> int:
        return len(self.annotations)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        a = self.annotations[i]
        kp = a["keypoint"][:2].copy()
        kp[a["keypoint_score"][:2] == 0] = np.nan
        if kp.shape[0] < 2:
            kp = np.concatenate([kp, np.full((2 - kp.shape[0], *kp.shape[1:]), np.nan, np.float32)])
        kp, _ = convert_keypoints(kp, None, COCO17, POSETICS17)
        h, w = a["img_shape"]
        x = np.ascontiguousarray(normalise_screen(kp, w, h).transpose(3, 1, 2, 0))
        start = window_start(self.window, x.shape[1], True, (0, 0, i))
        return to_item(x, self.window, start, "loop", "joint", POSETICS17), a["label"], i


def _rate(loader, batches: int) -> float:
    it = iter(loader)
    next(it)  # worker start-up and first batch are not throughput
    n, t0 = 0, time.perf_counter()
    for _ in range(batches):
        try:
            x, _, _ = next(it)
        except StopIteration:
            break
        n += x.shape[0]
    return n / (time.perf_counter() - t0)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.parquet"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips-per-class", type=int, default=250, help="clips per action (8 actions)")
    parser.add_argument("--frames", type=int, nargs=2, default=(150, 300))
    parser.add_argument("--batches", type=int, default=40, help="batches of 16 timed per reader")
    parser.add_argument("--train-samples-per-s", type=float, default=1.9, help="UNIK training speed to compare with")
    parser.add_argument("--out", type=Path, default=None, help="keep the data here (default: a temporary folder)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = args.out or Path(tempfile.mkdtemp(prefix="shards-io-"))
    t0 = time.perf_counter()
    labels = write_synthetic_dataset(
        root / "syn", {"train": args.clips_per_class}, frames=tuple(args.frames), seed=0, shard_clips=64
    )
    (root / "list.txt").write_text("".join(f"{c}\t{a}\n" for c, a in labels.clips.items()))
    opts = BuildOptions(val_fraction=0.0, shard_clips=256, row_group_clips=16)
    result = build_dataset(read_collection(root / "list.txt", None), root / "ds", opts, shards=root / "syn" / "train")
    built = time.perf_counter() - t0
    data = root / "ds" / "train"
    t0 = time.perf_counter()
    pkl = export_pyskl(root / "ds", root / "ds.pkl")
    exported = time.perf_counter() - t0
    payload = pkl.read_bytes()
    gz = len(gzip.compress(payload, compresslevel=6))
    t0 = time.perf_counter()
    with open(pkl, "rb") as fh:
        annotations = pickle.load(fh)["annotations"]
    pickle_load = time.perf_counter() - t0
    person_frames = sum(int((a["keypoint_score"].sum(-1) > 0).sum()) for a in annotations)
    slots = sum(a["keypoint"].shape[0] * a["keypoint"].shape[1] for a in annotations)
    parquet = _size(data)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}")
    print(f"dataset: {result.kept} clips, {len(ACTIONS)} classes, {person_frames} person-frames; ")
    print(f"  written and assembled in {built:.1f} s, pyskl export in {exported:.1f} s\n")
    print("| storage | bytes | bytes / person-frame |")
    print("| --- | ---: | ---: |")
    for name, size in (
        ("Parquet shards (zstd)", parquet),
        ("pyskl pickle", len(payload)),
        ("pyskl pickle, gzip -6", gz),
    ):
        print(f"| {name} | {size:,} | {size / person_frames:.1f} |")
    print(f"\n(pickle: {slots} person-frame slots, tracks padded to the clip length)\n")
    ds = SkeletonShardDataset(data, window=150, train=True)
    rows = []
    for workers in (0, 2):
        kw = {"batch_size": 16, "num_workers": workers, "persistent_workers": False}
        rows.append(
            (
                f"Dataset (random access, shuffled), {workers} workers",
                _rate(DataLoader(ds, shuffle=True, **kw), args.batches),
            )
        )
    for workers in (0, 2):
        stream = SkeletonShardStream(data, window=150, train=True, shuffle_buffer=256)
        rows.append(
            (
                f"Stream (shard by shard), {workers} workers",
                _rate(DataLoader(stream, batch_size=16, num_workers=workers), args.batches),
            )
        )
    mem = PickleDataset(annotations)
    rows.append(
        (
            "pickle in memory, 0 workers (after loading it whole)",
            _rate(DataLoader(mem, batch_size=16, shuffle=True), args.batches),
        )
    )
    print("| reader (window 150, joint stream, batch 16) | clips/s | x UNIK training |")
    print("| --- | ---: | ---: |")
    for name, rate in rows:
        print(f"| {name} | {rate:.0f} | {rate / args.train_samples_per_s:.0f}x |")
    print(f"\npickle load (whole file, before the first item): {pickle_load:.2f} s")
    slowest = min(rate for _, rate in rows[:4])
    verdict = "never waits on I/O" if slowest > 2 * args.train_samples_per_s else "may wait on I/O"
    print(
        f"UNIK training at {args.train_samples_per_s} samples/s: the slowest shard reader gives {slowest:.0f} clips/s "
        f"({slowest / args.train_samples_per_s:.0f}x), so training {verdict}."
    )


if __name__ == "__main__":
    main()
