"""The field's own tools read posekit's datasets and exports without a workaround.

Real consumers, on real skeletons (the three expert outputs of the SSTA-PRS demo video, cut
into labelled clips): Hugging Face ``datasets``, pycocotools, pandas / polars / DuckDB globs over
a built dataset that also holds its extraction shards, and MMAction2's ``PoseDataset`` with the
2D skeleton pipeline of its ST-GCN configs.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from posekit.io.manifest import ManifestEntry, RunManifest
from posekit.skeleton.layouts import COCO17
from posekit.skeleton.records import SkeletonClip, SkeletonTrack
from posekit.workflows.datasets.build.options import BuildOptions
from posekit.workflows.datasets.build.run import build_dataset
from posekit.workflows.datasets.exports.coco import export_coco
from posekit.workflows.datasets.exports.pyskl import export_pyskl
from posekit.workflows.datasets.inputs import read_collection
from tests.conftest import SHARED_DATA
from tests.test_torch_dataset import _write

DEMO = SHARED_DATA / "ssta-demo"
CLIP_FRAMES = 40
EXPERTS = {"alphapose": "AlphaPose2d", "lcrnet": "LCRNet2d", "openpose": "OpenPose2d"}
"""Class name (the expert) -> the stem suffix of its file in the demo folder."""


def _expert_clip(expert: str, k: int) -> SkeletonClip:
    """Frames ``k*40 ..`` of one expert's real output on the demo video as a one-person clip; (0, 0) -> NaN;
    person-box score 0.6, 0.75, 0.9 for ``k`` = 0, 1, 2."""
    kpts = np.load(next(DEMO.glob(f"*_{EXPERTS[expert]}.npz")))["kpts"][k * CLIP_FRAMES : (k + 1) * CLIP_FRAMES]
    kp = np.where((kpts == 0).all(-1, keepdims=True), np.nan, kpts).astype(np.float32)
    seen = np.flatnonzero(np.isfinite(kp).all(-1).any(-1)).astype(np.int32)
    kp = kp[seen]
    present = np.isfinite(kp).all(-1)
    track = SkeletonTrack(
        track_id=0,
        t=seen,
        keypoints=kp,
        joint_scores=present.astype(np.float32),
        joint_source=np.where(present, 0, -1).astype(np.int8),
        boxes=np.concatenate([np.nanmin(kp, 1), np.nanmax(kp, 1)], 1).astype(np.float32),
        box_scores=np.full(len(seen), 0.6 + 0.15 * k, np.float32),
        confidence=np.full(len(seen), np.nan, np.float32),
    )
    T = len(kpts)
    return SkeletonClip(
        f"{expert}/demo-{k}.mp4", f"{expert}/demo-{k}.mp4", 640, 480, 30.0,
        np.arange(T, dtype=np.int32), np.arange(T) / 30.0, [track],
    )  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset built from an extraction folder of 9 real clips (3 experts x 3 cuts, labelled by expert)."""
    if not DEMO.is_dir():
        pytest.fail(f"the real test data is missing: {DEMO}")
    root = tmp_path_factory.mktemp("interop")
    clips = [_expert_clip(e, k) for e in EXPERTS for k in range(3)]
    videos = root / "videos"
    for c in clips:
        (videos / c.clip_id).parent.mkdir(parents=True, exist_ok=True)
        (videos / c.clip_id).write_bytes(b"")
    extract = root / "ds" / "extract" / "shards"
    manifest = RunManifest.open(extract, {"experts": ["demo"]})
    _write(extract, clips, layout=COCO17)
    for c in clips:
        manifest.record(
            ManifestEntry(c.clip_id, c.clip_id, "done", frames=c.num_frames, tracks=1, shard="skeletons-00000.parquet")
        )
    manifest.save()
    options = BuildOptions(val_fraction=0.34, min_pose_frames=0.0)
    build_dataset(read_collection(None, videos), root / "ds", options, assemble_only=True)
    return root / "ds"


def _split_sizes(ds: Path) -> dict[str, int]:
    import json

    return {name: s["clips"] for name, s in json.loads((ds / "dataset.json").read_text())["splits"].items()}


def test_hugging_face_load_dataset_gives_named_splits_and_class_labels(built: Path, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    loaded = datasets.load_dataset(str(built), cache_dir=str(tmp_path / "cache"))
    sizes = _split_sizes(built)
    assert {name: len(split) for name, split in loaded.items()} == {"train": sizes["train"], "validation": sizes["val"]}
    label = loaded["train"].features["label"]
    assert isinstance(label, datasets.ClassLabel) and label.names == list(EXPERTS)
    row = loaded["validation"][0]
    assert label.int2str(row["label"]) == row["clip_id"].split("/")[0] == row["source_label"]
    assert len(row["tracks"][0]["keypoints"][0]) == 17


def test_dataframe_globs_over_the_dataset_folder_count_every_clip_once(built: Path) -> None:
    import duckdb
    import pandas as pd
    import polars as pl

    glob = str(built / "*" / "skeletons-*.parquet")
    assert len(list((built / "extract" / "shards").glob("skeletons-*.parquet"))) == 1  # extraction shards exist
    assert pl.read_parquet(glob).height == 9
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{glob}', union_by_name=true)").fetchall() == [(9,)]
    frame = pd.concat(
        pd.read_parquet(p, columns=["clip_id", "label"]) for p in sorted(built.glob("*/skeletons-*.parquet"))
    )
    assert len(frame) == 9 and frame["clip_id"].is_unique
    tracks = pl.read_parquet(glob).explode("tracks").unnest("tracks")
    poses = np.asarray(tracks["keypoints"].explode().to_list(), np.float32)  # the docs/shards.md recipe
    assert poses.shape == (sum(c for c in tracks["t"].list.len()), 17, 2)


def test_pycocotools_reads_the_coco_export(built: Path, tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    files = export_coco(built, tmp_path / "coco")
    coco = COCO(str(files["train"]))
    assert len(coco.getImgIds()) == _split_sizes(built)["train"] * CLIP_FRAMES
    assert coco.loadCats(coco.getCatIds())[0]["keypoints"] == list(COCO17.joints)
    assert len(coco.getAnnIds()) > 0


@pytest.mark.slow
def test_mmaction2_pose_dataset_and_stgcn_pipeline_take_the_pyskl_pickle(built: Path, tmp_path: Path) -> None:
    pytest.importorskip("mmaction")
    import mmaction.datasets.transforms  # noqa: F401  (registers the pipeline steps)
    from mmaction.datasets import PoseDataset
    from mmengine.registry import init_default_scope

    init_default_scope("mmaction")
    pkl = export_pyskl(built, tmp_path / "ds.pkl")
    pipeline = [
        {"type": "PreNormalize2D"},
        {"type": "GenSkeFeat", "dataset": "coco", "feats": ["j"]},
        {"type": "UniformSampleFrames", "clip_len": 16},
        {"type": "PoseDecode"},
        {"type": "FormatGCNInput", "num_person": 2},
        {"type": "PackActionInputs"},
    ]
    with open(pkl, "rb") as fh:
        annotations = pickle.load(fh)["annotations"]
    for split in ("train", "val"):
        data = PoseDataset(str(pkl), pipeline, split=split, valid_ratio=0.5, box_thr=0.5, data_prefix={"video": "v"})
        assert len(data) == _split_sizes(built)[split]
        item = data[0]
        assert tuple(item["inputs"].shape) == (1, 2, 16, 17, 3)
        info = data.get_data_info(0)
        clip_id = info["filename"].removeprefix("v/")
        assert clip_id in {a["filename"] for a in annotations} and clip_id.endswith(".mp4")
        assert info["frame_dir"] == "v/" + clip_id.removesuffix(".mp4").replace("/", "_")  # stems repeat here
    train = set(pickle.loads(pkl.read_bytes())["split"]["train"])
    strict = PoseDataset(str(pkl), pipeline, split="train", valid_ratio=0.5, box_thr=0.7, data_prefix={"video": "v"})
    expected = [a for a in annotations if a["filename"] in train and a["valid"][0.7] >= 0.5 * a["total_frames"]]
    assert 0 < len(strict) == len(expected) < len(train)
