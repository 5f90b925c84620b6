"""Interop with the field's tools: each consumer run for real on a posekit dataset and its exports.

Builds a labelled synthetic dataset (:mod:`posekit.testing.synthetic`, written as a built one), then
times and checks:

- Hugging Face ``datasets.load_dataset(OUT)``: split names, ``label`` a ``ClassLabel``;
- pandas / polars / DuckDB over the glob ``OUT/*/skeletons-*.parquet``: clips counted once each;
- pycocotools ``COCO()`` on the COCO export;
- MMAction2 (when importable): ``PoseDataset`` with ``valid_ratio`` on the pyskl export, the 2D
  ST-GCN pipeline (``PreNormalize2D``, ``GenSkeFeat(dataset='coco')``, ``UniformSampleFrames``,
  ``PoseDecode``, ``FormatGCNInput``) and an ST-GCN (``layout='coco'``) forward pass on its batches.

MMAction2 1.2.0 from the package index: ``pip install mmaction2==1.2.0 mmengine "mmcv-lite<2.2"`` installs
in seconds and its datasets and transforms import; ``import mmaction.models`` fails in that wheel
(``No module named 'mmaction.models.localizers.drn'``, then ``No module named 'importlib_metadata'``), so
the model step needs ``pip install importlib_metadata`` too, and here stands an empty module in for the
missing localiser, which ST-GCN does not use.

    python bench/interop.py [--clips-per-class 20]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import types
from pathlib import Path

from posekit.testing.synthetic import write_synthetic_dataset
from posekit.workflows.datasets.exports.coco import export_coco
from posekit.workflows.datasets.exports.pyskl import export_pyskl


def _timed(name: str, results: list[tuple[str, str, float]], check) -> None:
    t0 = time.perf_counter()
    try:
        outcome = check()
    except ImportError as exc:
        outcome = f"not installed ({exc})"
    results.append((name, outcome, time.perf_counter() - t0))


def hugging_face(ds: Path, cache: Path) -> str:
    import datasets

    loaded = datasets.load_dataset(str(ds), cache_dir=str(cache))
    label = loaded["train"].features["label"]
    assert isinstance(label, datasets.ClassLabel)
    return f"splits {dict((k, len(v)) for k, v in loaded.items())}, label ClassLabel({len(label.names)} names)"


def dataframes(ds: Path, clips: int) -> str:
    import duckdb
    import pandas as pd
    import polars as pl

    glob = str(ds / "*" / "skeletons-*.parquet")
    counts = {
        "polars": pl.read_parquet(glob).height,
        "duckdb": duckdb.sql(f"SELECT count(*) FROM read_parquet('{glob}', union_by_name=true)").fetchall()[0][0],
        "pandas": sum(len(pd.read_parquet(p, columns=["clip_id"])) for p in ds.glob("*/skeletons-*.parquet")),
    }
    assert set(counts.values()) == {clips}, counts
    return f"{counts} of {clips} clips"


def pycocotools(ds: Path, out: Path) -> str:
    from pycocotools.coco import COCO

    coco = COCO(str(export_coco(ds, out)["val"]))
    return f"{len(coco.getImgIds())} images, {len(coco.getAnnIds())} person annotations"


def mmaction2(ds: Path, out: Path) -> str:
    import mmaction.datasets.transforms
    import torch
    from mmaction.datasets import PoseDataset
    from mmengine.registry import init_default_scope

    init_default_scope("mmaction")
    pkl = export_pyskl(ds, out / "ds.pkl")
    pipeline = [
        {"type": "PreNormalize2D"},
        {"type": "GenSkeFeat", "dataset": "coco", "feats": ["j"]},
        {"type": "UniformSampleFrames", "clip_len": 32},
        {"type": "PoseDecode"},
        {"type": "FormatGCNInput", "num_person": 2},
        {"type": "PackActionInputs"},
    ]
    train = PoseDataset(str(pkl), pipeline, split="train", valid_ratio=0.5, box_thr=0.5, data_prefix={"video": "v"})
    batch = torch.stack([train[i]["inputs"] for i in range(min(8, len(train)))])
    for name in ("mmaction.models.localizers.drn", "mmaction.models.localizers.drn.drn"):
        stand_in = types.ModuleType(name)
        stand_in.__path__, stand_in.DRN = [], None
        sys.modules.setdefault(name, stand_in)
    import mmaction.models  # noqa: F401
    from mmaction.registry import MODELS

    classes = len(json.loads((ds / "dataset.json").read_text())["classes"])
    model = MODELS.build(
        {
            "type": "RecognizerGCN",
            "backbone": {"type": "STGCN", "graph_cfg": {"layout": "coco", "mode": "stgcn_spatial"}},
            "cls_head": {"type": "GCNHead", "num_classes": classes, "in_channels": 256},
        }
    ).eval()
    with torch.no_grad():
        scores = model.cls_head(model.extract_feat(batch)[0])
    return f"PoseDataset {len(train)} clips, inputs {tuple(batch.shape)}, ST-GCN scores {tuple(scores.shape)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips-per-class", type=int, default=20, help="training clips per action (8 actions)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="interop-"))
    t0 = time.perf_counter()
    labels = write_synthetic_dataset(root / "ds", {"train": args.clips_per_class, "val": 4}, frames=(60, 120))
    print(f"dataset: {len(labels.clips)} clips of {labels.num_classes} actions in {time.perf_counter() - t0:.1f} s")
    results: list[tuple[str, str, float]] = []
    _timed("datasets.load_dataset", results, lambda: hugging_face(root / "ds", root / "hf-cache"))
    _timed("pandas/polars/duckdb glob", results, lambda: dataframes(root / "ds", len(labels.clips)))
    _timed("pycocotools COCO", results, lambda: pycocotools(root / "ds", root / "coco"))
    _timed("MMAction2 PoseDataset + ST-GCN", results, lambda: mmaction2(root / "ds", root))
    print("| consumer | result | seconds |\n| --- | --- | ---: |")
    for name, outcome, seconds in results:
        print(f"| {name} | {outcome} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
