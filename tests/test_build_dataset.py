"""posekit build-dataset: Posetics/PoseCap datasets from labelled videos (thesis 3.5, 6.3.1)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from posekit.cli.app import app
from posekit.core.errors import ConfigError
from posekit.io.manifest import ManifestEntry, RunManifest
from posekit.io.shards import read_skeletons
from posekit.io.torch_dataset import SkeletonShardDataset
from posekit.skeleton.layouts import COCO17
from posekit.workflows.datasets.build.options import BuildOptions
from posekit.workflows.datasets.build.run import build_dataset
from posekit.workflows.datasets.build.selection import pose_frame_fraction
from posekit.workflows.datasets.build.split import stratified_split
from posekit.workflows.datasets.inputs import read_collection
from tests.test_torch_dataset import _clip, _ramp, _track, _write
from tests.videos import read_frames, write_clip

runner = CliRunner()
LABELS = ["making a cake", "making a cake", "making pizza", "making pizza", "jogging", "jogging"]


def _posed_clip(clip_id: str, T: int, posed: int) -> object:
    """A clip of ``T`` frames whose single person is seen in the first ``posed`` frames."""
    return _clip(clip_id, T, [_track(0, _ramp(posed) + 5, np.arange(posed))] if posed else [])


def _list(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f"{c}\t{label}\n" for c, label in rows))
    return path


@pytest.fixture
def shards(tmp_path: Path) -> Path:
    """12 labelled clips in COCO-17 shards: 4 per class, clip c11 has a pose in 3 of 10 frames."""
    clips = [_posed_clip(f"c{i:02d}.mp4", 10, 3 if i == 11 else 10) for i in range(12)]
    return _write(tmp_path / "src", clips, layout=COCO17, per_shard=5)


def _annotations(tmp_path: Path) -> Path:
    labels = ["clap", "wave", "jump"]
    return _list(tmp_path / "list.txt", [(f"c{i:02d}.mp4", labels[i % 3]) for i in range(12)])


def test_build_from_shards_filters_splits_and_writes_a_documented_dataset(tmp_path: Path, shards: Path) -> None:
    col = read_collection(_annotations(tmp_path), None)
    result = build_dataset(col, tmp_path / "ds", BuildOptions(val_fraction=0.25, shard_clips=4), shards=shards)
    doc = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert doc["classes"] == ["clap", "jump", "wave"] and doc["split"]["method"] == "stratified"
    assert doc["counts"] == {"train": {"clap": 3, "jump": 2, "wave": 3}, "val": {"clap": 1, "jump": 1, "wave": 1}}
    assert [(d["clip_id"], d["stage"]) for d in doc["dropped"]] == [("c11.mp4", "filter")]
    assert "30%" in doc["dropped"][0]["reason"]
    assert doc["filters"]["min_pose_frames"] == 0.5 and doc["provenance"]["annotations"]["format"] == "list"
    assert result.kept == 11 and doc["splits"]["train"]["shards"] == [
        "skeletons-00000.parquet",
        "skeletons-00001.parquet",
    ]
    card = (tmp_path / "ds" / "README.md").read_text()
    assert "| clap | 3 | 1 |" in card and (tmp_path / "ds" / "histograms.png").stat().st_size > 1000
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["configs"][0]["data_files"] == [
        {"split": "train", "path": "train/skeletons-*.parquet"},
        {"split": "validation", "path": "val/skeletons-*.parquet"},
    ]
    label = next(f for f in meta["dataset_info"]["features"] if f["name"] == "label")
    assert label["dtype"]["class_label"]["names"] == {"0": "clap", "1": "jump", "2": "wave"}
    assert meta["license"] and meta["task_categories"]
    clips = read_skeletons(tmp_path / "ds" / "train")
    assert {c.label for c in clips} == {"clap", "jump", "wave"} and all(c.source_label == c.label for c in clips)
    meta = pq.read_schema(tmp_path / "ds" / "train" / "skeletons-00000.parquet").metadata
    assert json.loads(meta[b"posekit.columns"]) == ["label", "source_label"]
    lower = build_dataset(col, tmp_path / "ds2", BuildOptions(min_pose_frames=0.3), shards=shards)
    assert lower.kept == 12 and not lower.dropped


def test_same_seed_gives_byte_identical_shards_and_another_seed_another_split(tmp_path: Path, shards: Path) -> None:
    col = read_collection(_annotations(tmp_path), None)
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        build_dataset(col, tmp_path / name, BuildOptions(seed=seed, val_fraction=0.25, shuffle_clips=3), shards=shards)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.parquet"))
    assert files and all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    ids = {n: {c.clip_id for c in read_skeletons(tmp_path / n / "val")} for n in "abc"}
    assert ids["a"] == ids["b"] != ids["c"]
    split = stratified_split({f"x{i}": "k" for i in range(20)}, 0.25, seed=0)
    assert sum(v == "val" for v in split.values()) == 5
    assert stratified_split({"only": "k"}, 0.5, 0) == {"only": "train"}


def test_posecap_has_text_video_path_and_no_3d_without_a_3d_source(tmp_path: Path, shards: Path) -> None:
    col = read_collection(_annotations(tmp_path), None)
    captions = tmp_path / "captions.json"
    captions.write_text(json.dumps({"c00": "someone claps twice"}))
    opts = BuildOptions(kind="posecap", captions=str(captions), min_pose_frames=0.0)
    build_dataset(col, tmp_path / "cap", opts, shards=shards)
    table = pq.read_table(tmp_path / "cap" / "train")
    texts = dict(zip(table.column("clip_id").to_pylist(), table.column("text").to_pylist()))
    assert texts.pop("c00.mp4", "someone claps twice") == "someone claps twice"
    assert all(t.endswith(("clapping.", "waving.", "jumping.")) or "doing" in t for t in texts.values())
    tracks = table.column("tracks").combine_chunks().flatten()
    assert tracks.field("keypoints_3d").null_count == len(tracks)
    assert all(p.endswith(".mp4.mp4") for p in table.column("video_path").to_pylist())
    doc = json.loads((tmp_path / "cap" / "dataset.json").read_text())
    assert doc["kind"] == "posecap" and "captions file" in doc["text"]
    assert doc["stats"]["person_frames_3d"] == 0 and doc["coordinates_3d"] is None
    assert "3D: none" in (tmp_path / "cap" / "README.md").read_text()


def _clip_3d(clip_id: str, T: int, without_3d: int) -> object:
    """A clip of ``T`` posed frames whose person has 3D joints on all but the last ``without_3d`` frames."""
    clip = _posed_clip(clip_id, T, T)
    track = clip.tracks[0]
    joints = np.random.default_rng(len(clip_id) + T).normal(size=(T, 17, 3)).astype(np.float32)
    joints[T - without_3d :] = np.nan
    track.keypoints_3d = joints
    track.joint_scores_3d = np.where(np.isnan(joints[..., 0]), 0.0, 0.9).astype(np.float32)
    return clip


@pytest.mark.parametrize("kind", ["posetics", "posecap"])
def test_build_writes_3d_beside_2d_and_counts_the_poses_with_3d(tmp_path: Path, kind: str) -> None:
    clips = [_clip_3d(f"c{i:02d}.mp4", 10, i % 3) for i in range(12)]
    source = _write(tmp_path / "src3d", clips, layout=COCO17, per_shard=5)
    col = read_collection(_annotations(tmp_path), None)
    build_dataset(col, tmp_path / "ds", BuildOptions(kind=kind, val_fraction=0.25), shards=source)
    built = {c.clip_id: c for c in read_skeletons(tmp_path / "ds" / "train") + read_skeletons(tmp_path / "ds" / "val")}
    for clip in clips:
        np.testing.assert_array_equal(built[clip.clip_id].tracks[0].keypoints_3d, clip.tracks[0].keypoints_3d)
        np.testing.assert_array_equal(built[clip.clip_id].tracks[0].keypoints, clip.tracks[0].keypoints)
    doc = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    with_3d = sum(10 - i % 3 for i in range(12))
    assert doc["stats"]["person_frames"] == 120 and doc["stats"]["person_frames_3d"] == with_3d
    assert sum(split["person_frames_3d"] for split in doc["splits"].values()) == with_3d
    assert doc["coordinates_3d"].startswith("metres")
    card = (tmp_path / "ds" / "README.md").read_text()
    assert f"on {with_3d} of 120 person-frames" in card and "keypoints_3d" in card


def test_build_dataset_3d_flag_reaches_the_extraction(tmp_path: Path) -> None:
    args = ["build-dataset", "posetics", "--annotations", str(_annotations(tmp_path)), "--out", str(tmp_path / "o")]
    result = runner.invoke(app, [*args, "--3d", "--experts", "yolo"])
    assert result.exit_code == 2 and "--3d needs an expert that estimates 3D" in result.output


def test_label_map_merges_and_unknown_targets_and_empty_results_are_clear(tmp_path: Path, shards: Path) -> None:
    col = read_collection(_list(tmp_path / "l.txt", [(f"c{i:02d}.mp4", LABELS[i % 6]) for i in range(12)]), None)
    build_dataset(col, tmp_path / "m", BuildOptions(label_map="kinetics400-posetics"), shards=shards)
    doc = json.loads((tmp_path / "m" / "dataset.json").read_text())
    assert doc["classes"] == ["jogging", "making food"]
    assert doc["label_map"]["merged"] == {"making food": ["making a cake", "making pizza"]}
    user = tmp_path / "map.json"
    user.write_text(json.dumps({"classes": ["food"], "map": {"making a cake": "foood"}}))
    with pytest.raises(ConfigError, match="not in its classes"):
        build_dataset(col, tmp_path / "u", BuildOptions(label_map=str(user)), shards=shards)
    user.write_text(json.dumps({"classes": ["food"], "map": {"making a cake": "food", "making pizza": "food"}}))
    result = build_dataset(col, tmp_path / "u", BuildOptions(label_map=str(user), min_pose_frames=0), shards=shards)
    assert result.classes == ["food"] and sum(d.stage == "label_map" for d in result.dropped) == 4
    user.write_text(json.dumps({"classes": ["other"]}))
    with pytest.raises(ConfigError, match=r"no clip left .*12 at label_map"):
        build_dataset(col, tmp_path / "e", BuildOptions(min_pose_frames=0, label_map=str(user)), shards=shards)
    assert not (tmp_path / "e" / "dataset.json").exists()


def test_unmatched_clips_are_reported_and_skipped(tmp_path: Path, shards: Path) -> None:
    col = read_collection(_list(tmp_path / "l.txt", [("c00.mp4", "a"), ("c01", "a"), ("zz.mp4", "a")]), None)
    result = build_dataset(col, tmp_path / "d", BuildOptions(val_fraction=0), shards=shards)
    assert result.kept == 2
    assert [(d.clip_id, d.stage) for d in result.dropped] == [("zz.mp4", "extraction")]
    assert "no skeletons" in result.dropped[0].reason
    assert json.loads((tmp_path / "d" / "dataset.json").read_text())["dropped_counts"] == {"extraction": 1}


def _fake_part(extract: Path, part: str, clip_ids: list[str]) -> None:
    """A finished extraction part: shards and a manifest, as run_extraction leaves them."""
    folder = extract / part
    manifest = RunManifest.open(folder, {"experts": ["fake"]})
    _write(folder, [_posed_clip(c, 6, 6) for c in clip_ids], layout=COCO17)
    for c in clip_ids:
        manifest.record(ManifestEntry(c, c, "done", frames=6, tracks=1, shard="skeletons-00000.parquet"))
    manifest.save()


def test_assembly_of_partitioned_extraction_and_unfinished_parts(tmp_path: Path) -> None:
    from posekit.workflows.extraction.partition import Partition

    videos = tmp_path / "videos"
    ids = [f"cls{i % 2}/v{i}.mp4" for i in range(8)]
    for c in ids:
        (videos / c).parent.mkdir(parents=True, exist_ok=True)
        (videos / c).write_bytes(b"")
    col = read_collection(None, videos)
    parts = {p: [c for c in ids if Partition(p, 2).contains(c)] for p in (0, 1)}
    _fake_part(tmp_path / "ds" / "extract" / "shards", "part-00000-of-00002", parts[0])
    with pytest.raises(ConfigError, match=r"parts 1 of 2 have not finished.*--allow-incomplete"):
        build_dataset(col, tmp_path / "ds", BuildOptions(), assemble_only=True)
    partial = build_dataset(col, tmp_path / "ds", BuildOptions(allow_incomplete=True), assemble_only=True)
    assert partial.kept == len(parts[0]) and all("not extracted" in d.reason for d in partial.dropped)
    _fake_part(tmp_path / "ds" / "extract" / "shards", "part-00001-of-00002", parts[1])
    full = build_dataset(col, tmp_path / "ds", BuildOptions(), assemble_only=True)
    assert full.kept == 8 and not full.dropped and full.classes == ["cls0", "cls1"]
    assert json.loads((tmp_path / "ds" / "dataset.json").read_text())["provenance"]["extraction"] == {
        "experts": ["fake"]
    }
    polars = pytest.importorskip("polars")
    rows = polars.read_parquet(str(tmp_path / "ds" / "*" / "skeletons-*.parquet"))
    assert rows.height == 8 and set(rows["label"]) == {"cls0", "cls1"}  # the extraction shards lie apart


def test_a_dataset_with_extraction_shards_beside_its_splits_is_told_how_to_move_them(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    (videos / "a").mkdir(parents=True)
    (videos / "a" / "v.mp4").write_bytes(b"")
    _fake_part(tmp_path, "ds/extract", ["a/v.mp4"])  # the layout of posekit 0.1
    with pytest.raises(ConfigError, match=r"glob .*/\*/skeletons-\*.parquet also finds them.*mkdir -p shards && mv"):
        build_dataset(read_collection(None, videos), tmp_path / "ds", BuildOptions(), assemble_only=True)
    extract = tmp_path / "ds" / "extract"
    (extract / "shards").mkdir()
    for name in ("manifest.json", "skeletons-00000.parquet"):
        (extract / name).rename(extract / "shards" / name)
    assert build_dataset(read_collection(None, videos), tmp_path / "ds", BuildOptions(), assemble_only=True).kept == 1


# ---------------------------------------------------------------------------------------------
# A full build from real clips: cuts of the bundled street video, extraction with YOLO.

CLIP_FRAMES = 6


@pytest.fixture(scope="module")
def real_build(tmp_path_factory: pytest.TempPathFactory, sample_clip: Path) -> dict:
    """6 real clips under 3 Kinetics labels + 1 black clip + 1 listed but absent, built through the CLI."""
    root = tmp_path_factory.mktemp("kinetics")
    frames = read_frames(sample_clip, CLIP_FRAMES * 6)
    videos = root / "videos"
    videos.mkdir()
    rows = ["label,youtube_id,time_start,time_end,split"]
    for i, label in enumerate(LABELS):
        yid = f"vt{i}"
        write_clip(videos / f"{yid}_{i:06d}_{i + 10:06d}.mp4", frames[i * CLIP_FRAMES : (i + 1) * CLIP_FRAMES])
        rows.append(f"{label},{yid},{i},{i + 10},{'train' if i % 2 == 0 else 'validate'}")
    write_clip(videos / "dark_000000_000010.mp4", [np.zeros_like(frames[0])] * CLIP_FRAMES)
    rows += ["jogging,dark,0,10,train", "jogging,absent,0,10,train"]
    (root / "k400.csv").write_text("\n".join(rows) + "\n")
    out = root / "posetics"
    args = ["build-dataset", "posetics", "--videos", str(videos), "--annotations", str(root / "k400.csv")]
    args += ["--out", str(out), "--experts", "yolo", "--imgsz", "1280", "--no-progress", "--shard-clips", "2"]
    first = runner.invoke(app, args)
    written = {p.relative_to(out): p.read_bytes() for p in sorted(out.glob("[tv]*/*.parquet"))}
    second = runner.invoke(app, args)
    return {"root": root, "out": out, "first": first, "second": second, "written": written}


@pytest.mark.slow
def test_real_build_from_labelled_videos(real_build: dict) -> None:
    first, out = real_build["first"], real_build["out"]
    assert first.exit_code == 1, first.output  # built, but one listed video is absent
    doc = json.loads((out / "dataset.json").read_text())
    assert doc["classes"] == ["jogging", "making food"]
    assert doc["split"]["method"] == "official"
    assert doc["counts"] == {"train": {"jogging": 1, "making food": 2}, "val": {"jogging": 1, "making food": 2}}
    dropped = {d["clip_id"]: d for d in doc["dropped"]}
    assert dropped["absent_000000_000010"]["reason"] == "video not found"
    assert dropped["dark_000000_000010.mp4"]["stage"] == "filter"
    assert doc["provenance"]["extraction"]["imgsz"] == 1280 and doc["experts"] == ["yolo"]
    assert doc["stats"]["frames"] == 6 * CLIP_FRAMES and doc["stats"]["person_frames"] > 6 * CLIP_FRAMES
    assert "| making food | 2 | 2 |" in (out / "README.md").read_text()
    clips = read_skeletons(out / "train") + read_skeletons(out / "val")
    assert all(pose_frame_fraction(c) >= 0.5 for c in clips) and len(clips) == 6
    assert {c.source_label for c in clips if c.label == "making food"} == {"making a cake", "making pizza"}
    assert all(Path(c.video_path).is_file() and not Path(c.video_path).is_symlink() for c in clips)
    assert len(pq.ParquetDataset(sorted(map(str, out.glob("*/skeletons-*.parquet")))).read(columns=["label"])) == 6


@pytest.mark.slow
def test_rerun_resumes_without_extracting_and_writes_identical_shards(real_build: dict) -> None:
    second, out = real_build["second"], real_build["out"]
    assert second.exit_code == 1, second.output
    manifest = json.loads((out / "extract" / "shards" / "manifest.json").read_text())
    assert manifest["counts"] == {"done": 7, "failed": 0, "skipped": 0}
    assert "skipping 7 video(s) already done" in second.output and "1 at input" in second.output
    again = {p.relative_to(out): p.read_bytes() for p in sorted(out.glob("[tv]*/*.parquet"))}
    assert len(again) == 4 and again == real_build["written"]  # 3 clips per split, --shard-clips 2


@pytest.mark.slow
def test_real_dataset_plugs_into_unik_training_duckdb_and_every_export(real_build: dict, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    out = real_build["out"]
    rows = duckdb.sql(
        "SELECT label, count(*) AS n, sum(len(tracks)) AS tracks "
        f"FROM read_parquet(['{out}/train/*.parquet', '{out}/val/*.parquet']) "
        "GROUP BY label ORDER BY label"
    ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [("jogging", 2), ("making food", 4)] and all(r[2] >= 1 for r in rows)
    from posekit.workflows.unik.config import TrainConfig
    from posekit.workflows.unik.train import build_datasets, load_label_map, split_paths

    cfg = TrainConfig(data=str(out), window=8)
    train_path, val_path = split_paths(cfg)
    train_set, val_set = build_datasets(cfg, load_label_map(cfg, train_path))
    assert train_set.classes == ("jogging", "making food") and len(train_set) == 3 and len(val_set) == 3
    x, y, _ = train_set[0]
    assert x.shape == (2, 8, 17, 2) and float(x.abs().max()) <= 1.0 and y in (0, 1)
    auto = SkeletonShardDataset(val_path, window=None)
    assert sorted(auto.targets.tolist()) == [0, 1, 1]

    res = runner.invoke(app, ["export", "pyskl", str(out), "--out", str(tmp_path / "p.pkl"), "--layout", "coco17"])
    assert res.exit_code == 0, res.output
    with open(tmp_path / "p.pkl", "rb") as fh:
        pk = pickle.load(fh)
    assert sorted(pk["split"]) == ["train", "val"] and len(pk["annotations"]) == 6
    ann = pk["annotations"][0]
    M, T, V, _ = ann["keypoint"].shape
    assert (T, V) == (CLIP_FRAMES, 17) and ann["keypoint_score"].shape == (M, T, V) and ann["img_shape"] == (576, 768)
    assert ann["keypoint"].dtype == np.float32 and np.isfinite(ann["keypoint"]).all()

    res = runner.invoke(app, ["export", "ntu", str(out), "--out", str(tmp_path / "ntu"), "--frames", "10"])
    assert res.exit_code == 0, res.output
    x = np.load(tmp_path / "ntu" / "train_data.npy")
    assert x.shape == (3, 3, 10, 17, 2) and np.abs(x[:, :2]).max() <= 1.0 and (x[:, :, CLIP_FRAMES:] == 0).all()
    assert np.load(tmp_path / "ntu" / "val_label.npy").tolist() == [
        train_set.classes.index(c.label) for c in read_skeletons(out / "val")
    ]

    res = runner.invoke(app, ["export", "coco", str(out), "--out", str(tmp_path / "coco")])
    assert res.exit_code == 0, res.output
    coco = json.loads((tmp_path / "coco" / "val.json").read_text())
    assert len(coco["images"]) == 3 * CLIP_FRAMES and coco["categories"][0]["keypoints"][0] == "nose"
    ann = coco["annotations"][0]
    assert len(ann["keypoints"]) == 51 and ann["num_keypoints"] == sum(v > 0 for v in ann["keypoints"][2::3])
    from posekit.eval.coco import score_shards

    scored = score_shards(tmp_path / "coco" / "val.json", out / "val")
    assert scored.images_scored == len(coco["images"]) and scored.overall["pckh"] == pytest.approx(100.0)


def test_ray_flags_need_the_ray_backend(real_build: dict, tmp_path: Path) -> None:
    root = real_build["root"]
    args = ["build-dataset", "posetics", "--videos", str(root / "videos"), "--annotations", str(root / "k400.csv")]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "ds"), "--workers", "2", "--no-progress"])
    assert res.exit_code == 2
    assert "--workers only apply with --backend ray" in res.output


def test_a_posetics_dataset_with_3d_trains_a_3d_unik_for_one_epoch(tmp_path: Path) -> None:
    import torch

    from posekit.testing.synthetic import write_synthetic_dataset

    data = tmp_path / "posetics3d"
    write_synthetic_dataset(
        data, {"train": 4, "val": 2}, actions=("waving", "squatting"), frames=(24, 32), with_3d=True
    )
    doc = json.loads((data / "dataset.json").read_text())
    assert doc["kind"] == "posetics" and doc["stats"]["person_frames_3d"] == doc["stats"]["person_frames"] > 0
    tiny = ["--channels", "8,16", "--window", "16", "--batch-size", "4", "--workers", "0", "--log-every", "0"]
    args = ["train", "unik", "--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "1", "--coords", "3d"]
    result = runner.invoke(app, [*args, *tiny])
    assert result.exit_code == 0, result.output
    checkpoint = torch.load(tmp_path / "run" / "last.pt", map_location="cpu", weights_only=True)
    assert (checkpoint["model_args"]["in_channels"], checkpoint["model_args"]["num_joints"]) == (3, 17)
