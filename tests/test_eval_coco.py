import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import typer
from pycocotools.coco import COCO
from typer.testing import CliRunner

from posekit.cli.evaluate import eval_app
from posekit.cli.export import export_app
from posekit.core.errors import ConfigError
from posekit.eval.coco import GtScoreOptions, score_shards
from posekit.eval.gt_formats import GroundTruth, load_ground_truth
from posekit.eval.plots import confidence_plots
from posekit.io.schema import ShardInfo
from posekit.io.shards import ShardWriter
from posekit.skeleton.convert import convert_keypoints
from posekit.skeleton.layouts import COCO17, POSETICS17
from posekit.skeleton.records import SkeletonClip, SkeletonTrack
from tests.conftest import SHARED_DATA

V = COCO17.num_joints
GT_DEV = SHARED_DATA / "gt-dev"
SETS = {
    "coco": GT_DEV / "coco" / "test_coco.json",
    "mpii": GT_DEV / "mpii" / "test_mpii.json",
    "crowdpose": GT_DEV / "crowdpose" / "test_crowdpose.json",
}


def one_track(track_id: int, t: np.ndarray, poses: np.ndarray, conf: np.ndarray | None = None) -> SkeletonTrack:
    n = len(t)
    box = np.r_[np.nanmin(poses, axis=(0, 1)), np.nanmax(poses, axis=(0, 1))]
    return SkeletonTrack(
        track_id=track_id,
        t=np.asarray(t, np.int32),
        keypoints=poses.astype(np.float32),
        joint_scores=np.ones((n, poses.shape[1]), np.float32),
        joint_source=np.zeros((n, poses.shape[1]), np.int8),
        boxes=np.tile(box.astype(np.float32), (n, 1)),
        box_scores=np.ones(n, np.float32),
        confidence=(np.full(n, np.nan) if conf is None else conf).astype(np.float32),
    )


def write_clips(folder: Path, clips: list[SkeletonClip], layout=COCO17) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    writer = ShardWriter(folder, ShardInfo("skeletons", layout, ("yolo",)))
    writer.add(clips)
    writer.flush()
    return folder


def shards_from_labels(
    truth: GroundTruth, folder: Path, shift: float = 0.0, conf: float | None = None, joints: list[int] | None = None
) -> Path:
    """One 1-frame clip per labelled image (clip id = its file name), one track per labelled person.

    ``joints``: the labelled joint each predicted joint takes (a permutation; default: its own).
    """
    clips = []
    order = list(range(V)) if joints is None else joints
    for image in truth.images:
        people = np.flatnonzero(image.scored)
        c = None if conf is None else np.array([conf])
        tracks = [
            one_track(k + 1, np.zeros(1), image.keypoints[p : p + 1, order] + shift, c) for k, p in enumerate(people)
        ]
        clips.append(
            SkeletonClip(image.clip, image.file_name, 640, 480, 30.0, np.zeros(1, np.int32), np.zeros(1), tracks)
        )
    return write_clips(folder, clips)


@pytest.mark.parametrize("name", list(SETS))
def test_predictions_equal_to_the_labels_score_ap_100_and_pckh_100_on_each_real_set(tmp_path, name):
    truth = load_ground_truth(SETS[name], SETS[name].parent)
    result = score_shards(truth, shards_from_labels(truth, tmp_path / "s"))
    assert result.images_scored == result.images == len(truth.images)
    r = result.overall
    assert r["ap"] == pytest.approx(100.0) and r["ar"] == pytest.approx(100.0) and r["ap50"] == pytest.approx(100.0)
    assert r["pckh"] == pytest.approx(100.0) and r["mpjpe"] == pytest.approx(0.0) and r["recall"] == 100.0
    assert result.coverage["ap"][0] == truth.persons


@pytest.mark.parametrize("name", list(SETS))
def test_a_shifted_prediction_lowers_ap_on_each_real_set(tmp_path, name):
    truth = load_ground_truth(SETS[name], SETS[name].parent)
    exact = score_shards(truth, shards_from_labels(truth, tmp_path / "a")).overall
    moved = score_shards(truth, shards_from_labels(truth, tmp_path / "b", shift=25.0)).overall
    assert moved["ap"] < exact["ap"] - 10 and moved["pckh"] <= exact["pckh"]
    assert moved["recall"] == 100.0


@pytest.mark.parametrize("name", list(SETS))
def test_failure_classes_on_real_labels_sum_to_100_and_name_swapped_sides_and_joint_errors(tmp_path, name):
    truth = load_ground_truth(SETS[name], SETS[name].parent)
    exact = score_shards(truth, shards_from_labels(truth, tmp_path / "a"))
    assert exact.failures["correct"] == pytest.approx(100.0) and exact.failures["joints"] > 0
    mirrored = score_shards(truth, shards_from_labels(truth, tmp_path / "b", joints=COCO17.flip_permutation()))
    f = mirrored.failures
    assert f["correct"] == pytest.approx(mirrored.overall["pckh"])
    assert f["swapped_sides"] > 25 and f["correct"] + f["swapped_sides"] == pytest.approx(100.0)
    moved = score_shards(truth, shards_from_labels(truth, tmp_path / "c", shift=400.0)).failures
    assert sum(v for k, v in moved.items() if k != "joints") == pytest.approx(100.0)
    assert moved["correct"] < 5 and moved["missed_person"] + moved["wrong_person"] + moved["joint_error"] > 90


def test_real_files_land_on_coco17_by_joint_meaning_with_their_head_length_and_area():
    coco = load_ground_truth(SETS["coco"])
    assert coco.images[0].clip == "000000000785.jpg" and coco.images[0].frame == 0
    assert coco.images[0].image_id == 785 and len(coco.joints) == 17 and coco.head == "nose to mid-shoulders"
    assert coco.persons == 12 and coco.unlabelled == 2 and coco.area == "annotation area"
    mpii = load_ground_truth(SETS["mpii"])
    raw = json.loads(SETS["mpii"].read_text())[0]
    first = mpii.images[0]
    assert first.clip == raw["image"]
    assert first.keypoints[0, COCO17.index("right_ankle")].tolist() == raw["joints"][0]
    assert first.keypoints[0, COCO17.index("left_wrist")].tolist() == raw["joints"][15]
    assert np.isnan(first.keypoints[0, COCO17.index("nose")]).all()
    assert first.head[0] == pytest.approx(np.linalg.norm(np.subtract(raw["joints"][9], raw["joints"][8])))
    assert len(mpii.joints) == 12 and mpii.unscored_joints == ("pelvis", "thorax")
    assert mpii.area == "box of the labelled joints"
    crowd = load_ground_truth(SETS["crowdpose"])
    assert len(crowd.joints) == 12 and crowd.head == "head top to neck" and crowd.unscored_joints == ()


def test_a_category_listing_21_joints_reads_the_17_joint_keypoints_field_alike(tmp_path):
    doc = json.loads(SETS["coco"].read_text())
    doc["categories"][0]["keypoints"] += ["left_big_toe", "left_heel", "right_big_toe", "right_heel"]
    wide = tmp_path / "wide.json"
    wide.write_text(json.dumps(doc))
    truth = load_ground_truth(SETS["coco"])
    plain = score_shards(truth, shards_from_labels(truth, tmp_path / "s", shift=4.0))
    other = score_shards(wide, tmp_path / "s")
    scored = [k for k in plain.overall if k != "mean_c"]
    assert [other.overall[k] for k in scored] == [plain.overall[k] for k in scored]
    assert other.coverage == plain.coverage and len(other.joints) == 17


def test_a_metric_that_cannot_cover_every_person_says_so(tmp_path):
    truth = load_ground_truth(SETS["coco"])
    result = score_shards(truth, shards_from_labels(truth, tmp_path / "s"))
    persons, joints = result.coverage["pckh"]
    assert persons == 11 and result.coverage["ap"][0] == 12 and joints < result.coverage["ap"][1]
    assert "PCKh covers 11 of 12 labelled persons: 1 have no head length (nose to mid-shoulders" in result.warnings[0]
    assert any("2 persons have no labelled COCO-17 joint" in w for w in result.warnings)
    crowd = load_ground_truth(SETS["crowdpose"])
    assert not any("PCKh" in w for w in score_shards(crowd, shards_from_labels(crowd, tmp_path / "c")).warnings)


def test_frame_folders_take_natural_order_positions_and_match_shard_clips_by_path_tail(tmp_path):
    pose = load_ground_truth(SETS["coco"]).images[0].keypoints[0]
    seq = tmp_path / "images" / "val" / "seq1"
    seq.mkdir(parents=True)
    for name in ("1.jpg", "2.jpg", "10.jpg"):
        shutil.copy(GT_DEV / "coco" / "000000000785.jpg", seq / name)
    kp = np.concatenate([pose, np.full((V, 1), 2.0)], 1).ravel().tolist()
    doc = {
        "images": [{"id": 7, "file_name": "images/val/seq1/10.jpg"}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "keypoints": kp, "area": 2.0e4, "iscrowd": 0}],
        "categories": [{"id": 1, "name": "person", "keypoints": list(COCO17.joints)}],
    }
    gt = tmp_path / "posetrack.json"
    gt.write_text(json.dumps(doc))
    truth = load_ground_truth(gt, tmp_path)
    assert (truth.images[0].clip, truth.images[0].frame) == ("images/val/seq1", 2)
    poses = np.stack([pose + 200, pose + 100, pose])
    clip = SkeletonClip("seq1", "seq1", 640, 480, 30.0, np.arange(3, dtype=np.int32), np.arange(3) / 30, [])
    clip.tracks.append(one_track(1, np.arange(3), poses))
    result = score_shards(truth, write_clips(tmp_path / "s", [clip]))
    assert result.overall["ap"] == pytest.approx(100.0) and result.overall["pckh"] == pytest.approx(100.0)
    with pytest.raises(ConfigError, match="give --images"):
        doc["images"][0]["file_name"] = "images/val/seq1/frame-b.jpg"
        gt.write_text(json.dumps(doc))
        load_ground_truth(gt)


def test_clip_id_and_frame_index_fields_override_the_file_name_and_unmatched_images_are_reported(tmp_path):
    pose = load_ground_truth(SETS["coco"]).images[0].keypoints[0]
    kp = np.concatenate([np.nan_to_num(pose), np.full((V, 1), 2.0)], 1).ravel().tolist()
    doc = {
        "images": [
            {"id": 1, "file_name": "whatever.jpg", "clip_id": "street.avi", "frame_index": 10},
            {"id": 2, "file_name": "walk/000007.jpg"},
        ],
        "annotations": [
            {"id": k, "image_id": k, "category_id": 1, "keypoints": kp, "area": 2.0e4, "iscrowd": 0} for k in (1, 2)
        ],
    }
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(doc))
    frames = np.array([0, 5, 10], np.int32)
    clip = SkeletonClip("street.avi", "street.avi", 640, 480, 10.0, frames, frames / 10, [])
    clip.tracks.append(one_track(1, np.array([2]), pose[None]))
    result = score_shards(gt, write_clips(tmp_path / "s", [clip]))
    assert result.images == 2 and result.images_scored == 1 and result.unmatched == ["walk/7"]
    assert result.overall["pckh"] == pytest.approx(100.0)
    assert any("1 of 2 images map to no shard frame" in w for w in result.warnings)
    other = SkeletonClip("elsewhere.mp4", "x", 640, 480, 10.0, frames, frames / 10, [])
    with pytest.raises(ConfigError, match="none of the 2 ground-truth images"):
        score_shards(gt, write_clips(tmp_path / "o", [other]))


def test_posetics_shards_are_converted_to_coco17_and_miss_only_the_joints_they_lack(tmp_path):
    truth = load_ground_truth(SETS["coco"])
    image = truth.images[0]
    posetics = convert_keypoints(image.keypoints[:1], None, COCO17, POSETICS17)[0].astype(np.float64)
    clip = SkeletonClip(image.clip, image.file_name, 640, 425, 30.0, np.zeros(1, np.int32), np.zeros(1), [])
    clip.tracks.append(one_track(1, np.zeros(1), posetics))
    result = score_shards(truth, write_clips(tmp_path / "s", [clip], POSETICS17))
    assert result.layout.name == "posetics17" and result.images_scored == 1
    assert 0 < result.overall["completeness"] < 100 and result.overall["ap"] < 100


def test_bad_ground_truth_files_are_one_line_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_ground_truth(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ConfigError, match="not a readable JSON"):
        load_ground_truth(bad)
    bad.write_text(json.dumps({"annotations": []}))
    with pytest.raises(ConfigError, match="not a keypoints file"):
        load_ground_truth(bad)
    bad.write_text(json.dumps([{"foo": 1}]))
    with pytest.raises(ConfigError, match="neither MPII"):
        load_ground_truth(bad)
    doc = json.loads(SETS["coco"].read_text())
    doc["annotations"][0]["keypoints"] = doc["annotations"][0]["keypoints"][:30]
    bad.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match="has 30 keypoint values"):
        load_ground_truth(bad)
    with pytest.raises(ConfigError, match="--images"):
        load_ground_truth(SETS["coco"], tmp_path / "nope")
    with pytest.raises(ConfigError, match="--bootstrap must be >= 0"):
        GtScoreOptions(bootstrap=-1)


def test_bootstrap_gives_intervals_around_the_scores(tmp_path):
    truth = load_ground_truth(SETS["coco"])
    result = score_shards(truth, shards_from_labels(truth, tmp_path / "s", shift=6.0), GtScoreOptions(bootstrap=50))
    for key in ("ap", "pckh"):
        low, high = result.intervals[key]
        assert low <= result.overall[key] <= high and low < high


def test_confidence_plots_are_written_as_png(tmp_path):
    rng = np.random.default_rng(0)
    conf = rng.uniform(0, 1, 200)
    err = 2.5 * (1 - conf) + rng.normal(0, 0.2, 200)
    paths = confidence_plots(conf, err, 0.18, tmp_path / "plots", prefix="x_", title="test")
    assert [p.name for p in paths] == ["x_c_hist.png", "x_c_vs_error.png", "x_error_hist.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000


def cli() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(eval_app, name="eval")
    root.add_typer(export_app, name="export")
    return root


def test_posekit_eval_prints_each_score_with_its_coverage_and_warnings(tmp_path):
    truth = load_ground_truth(SETS["coco"])
    shards = shards_from_labels(truth, tmp_path / "s", conf=0.5)
    plots, out_json = tmp_path / "plots", tmp_path / "scores.json"
    args = ["--gt", str(SETS["coco"]), "--shards", str(shards), "--images", str(GT_DEV / "coco")]
    direct = CliRunner().invoke(cli(), ["eval", *args, "--plots", str(plots), "--json", str(out_json)])
    assert direct.exit_code == 0, direct.output
    assert "OKS AP" in direct.output and "PCKh covers 11 of 12 labelled persons" in direct.output
    saved = json.loads(out_json.read_text())
    assert saved["overall"]["ap"] == pytest.approx(100.0) and saved["coverage"]["pckh"] == [11, 169]
    assert (plots / "c_vs_error.png").is_file()
    assert CliRunner().invoke(cli(), ["eval", "gt", *args]).exit_code == 0
    missing = CliRunner().invoke(cli(), ["eval", "--gt", str(SETS["coco"])])
    assert missing.exit_code == 2 and "--shards" in missing.output
    nothing = CliRunner().invoke(cli(), ["eval", "--gt", str(SETS["coco"]), "--shards", str(tmp_path / "nope")])
    assert nothing.exit_code == 2 and "Traceback" not in nothing.output


def test_export_coco_results_is_a_pycocotools_results_list_with_the_files_image_ids(tmp_path):
    truth = load_ground_truth(SETS["coco"])
    shards = shards_from_labels(truth, tmp_path / "s")
    out = tmp_path / "results.json"
    res = CliRunner().invoke(
        cli(), ["export", "coco", str(shards), "--results", "--gt", str(SETS["coco"]), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    results = json.loads(out.read_text())
    assert isinstance(results, list) and len(results) == truth.persons
    assert set(results[0]) == {"image_id", "category_id", "keypoints", "score"} and len(results[0]["keypoints"]) == 51
    gt = COCO(str(SETS["coco"]))
    loaded = gt.loadRes(str(out))
    assert set(loaded.getImgIds()) <= set(gt.getImgIds()) and {r["image_id"] for r in results} == {
        785,
        40083,
        196141,
        197388,
    }
    lonely = CliRunner().invoke(cli(), ["export", "coco", str(shards), "--results", "--out", str(out)])
    assert lonely.exit_code == 2 and "--results and --gt go together" in lonely.output


@pytest.mark.slow
def test_two_real_images_extracted_with_yolo_are_scored_end_to_end(tmp_path):
    from posekit.estimators.registry import parse_experts
    from posekit.io.images import ImageInputOptions
    from posekit.workflows.extraction.options import ExtractOptions
    from posekit.workflows.extraction.run import run_extraction

    images = tmp_path / "coco"
    images.mkdir()
    for name in ("000000000785.jpg", "000000197388.jpg"):
        shutil.copy(GT_DEV / "coco" / name, images / name)
    options = ExtractOptions(experts=tuple(parse_experts("yolo")), images=ImageInputOptions(photos=True))
    run_extraction(images, tmp_path / "s", options, progress=False)
    result = score_shards(SETS["coco"], tmp_path / "s", images=GT_DEV / "coco")
    assert result.images_scored == 2 and result.unmatched == ["000000040083.jpg/0", "000000196141.jpg/0"]
    r = result.overall
    assert result.coverage["ap"][0] == 6 and r["matched"] >= 4
    assert 30 < r["ap"] <= 100 and 50 < r["pckh"] <= 100
