import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from posekit.cli.evaluate import eval_app
from posekit.core.errors import ConfigError
from posekit.eval.coco import image_key, load_coco_keypoints, score_shards
from posekit.eval.plots import confidence_plots
from posekit.io.schema import ShardInfo
from posekit.io.shards import ShardWriter
from posekit.skeleton.convert import convert_keypoints
from posekit.skeleton.layouts import COCO17, POSETICS17
from posekit.skeleton.records import SkeletonClip, SkeletonTrack

V = COCO17.num_joints
FRAMES = np.array([0, 5, 10, 15], np.int32)


def person(x0: float) -> np.ndarray:
    """An upright COCO-17 pose, ``(17, 2)`` pixels, head length (nose to mid-shoulders) 40."""
    offsets = [(0, 0), (4, -4), (-4, -4), (8, -2), (-8, -2), (20, 40), (-20, 40), (25, 80), (-25, 80)]
    offsets += [(28, 120), (-28, 120), (12, 130), (-12, 130), (12, 190), (-12, 190), (12, 250), (-12, 250)]
    return np.array([(x0 + dx, 40.0 + dy) for dx, dy in offsets])


def track(track_id: int, poses: np.ndarray, conf: np.ndarray | None = None) -> SkeletonTrack:
    n = len(poses)
    return SkeletonTrack(
        track_id=track_id,
        t=np.arange(n, dtype=np.int32),
        keypoints=poses.astype(np.float32),
        joint_scores=np.ones((n, V), np.float32),
        joint_source=np.zeros((n, V), np.int8),
        boxes=np.tile(np.array([0, 0, 50, 300], np.float32), (n, 1)),
        box_scores=np.ones(n, np.float32),
        confidence=(np.full(n, np.nan) if conf is None else conf).astype(np.float32),
    )


def write_shards(folder: Path, clip_id: str, tracks: list[SkeletonTrack], layout=COCO17) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    clip = SkeletonClip(clip_id, clip_id, 640, 480, 10.0, FRAMES, FRAMES / 10.0, tracks)
    writer = ShardWriter(folder, ShardInfo("skeletons", layout, ("yolo", "mediapipe")))
    writer.add([clip])
    writer.flush()
    return folder


def coco_doc(frames: dict[int, list[np.ndarray]], name=lambda f: f"walk/cam1/{f:06d}.jpg") -> dict:
    images, annotations = [], []
    for i, (frame, people) in enumerate(frames.items()):
        images.append({"id": i + 1, "file_name": name(frame), "width": 640, "height": 480})
        for pose in people:
            kp = np.concatenate([pose, np.full((V, 1), 2.0)], 1).ravel().tolist()
            x, y = pose.min(0)
            w, h = pose.max(0) - pose.min(0)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": 1,
                    "keypoints": kp,
                    "num_keypoints": V,
                    "bbox": [float(x), float(y), float(w), float(h)],
                    "iscrowd": 0,
                }
            )
    categories = [{"id": 1, "name": "person", "keypoints": list(COCO17.joints)}]
    return {"images": images, "annotations": annotations, "categories": categories}


def write_json(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def truth() -> dict[int, list[np.ndarray]]:
    return {0: [person(100), person(300)], 5: [person(100), person(300)], 15: [person(100)]}


def test_perfect_predictions_score_100_through_the_file_name_convention(tmp_path, truth):
    gt = write_json(tmp_path / "gt.json", coco_doc(truth))
    shards = write_shards(
        tmp_path / "s", "walk/cam1.mp4", [track(1, np.stack([person(100)] * 4)), track(2, np.stack([person(300)] * 4))]
    )
    result = score_shards(gt, shards)
    assert result.images == result.images_scored == 3
    assert result.overall["pckh"] == 100 and result.overall["pck"] == 100 and result.overall["mpjpe"] == 0
    assert result.overall["recall"] == 100 and result.overall["ref_persons"] == 5
    assert result.overall["pred_persons"] == 6
    assert result.per_clip[0]["clip_id"] == "walk/cam1.mp4"


def test_a_perturbed_copy_has_the_known_pckh_pck_and_mpjpe(tmp_path, truth):
    gt = write_json(tmp_path / "gt.json", coco_doc(truth))
    moved = np.stack([person(100)] * 4)
    moved[:, [7, 8, 9, 10]] += (30.0, 0.0)
    shards = write_shards(tmp_path / "s", "walk/cam1.mp4", [track(1, moved), track(2, np.stack([person(300)] * 4))])
    r = score_shards(gt, shards).overall
    assert r["pckh"] == pytest.approx(100 * (1 - 3 * 4 / (5 * 17)))
    assert r["pck"] == pytest.approx(r["pckh"])
    assert r["mpjpe"] == pytest.approx(3 * 4 * 30 / 40 / (5 * 17))


def test_a_missed_person_lowers_recall_and_pck_while_an_extra_one_changes_nothing(tmp_path, truth):
    gt = write_json(tmp_path / "gt.json", coco_doc(truth))
    shards = write_shards(
        tmp_path / "s", "walk/cam1.mp4", [track(1, np.stack([person(100)] * 4)), track(3, np.stack([person(520)] * 4))]
    )
    r = score_shards(gt, shards).overall
    assert r["recall"] == pytest.approx(60.0) and r["pckh"] == pytest.approx(60.0)
    assert r["completeness"] == pytest.approx(60.0)


def test_clip_id_and_frame_index_fields_override_the_file_name(tmp_path):
    doc = coco_doc({10: [person(100)]}, name=lambda f: "whatever.jpg")
    doc["images"][0].update(clip_id="street.avi", frame_index=10)
    gt = write_json(tmp_path / "gt.json", doc)
    assert image_key(doc["images"][0]) == ("street.avi", 10)
    assert image_key({"file_name": "a/b/000042.jpg"}) == ("a/b", 42)
    poses = np.stack([person(0)] * 4)
    poses[2] = person(100)
    shards = write_shards(tmp_path / "s", "street.avi", [track(1, poses)])
    assert score_shards(gt, shards).overall["pckh"] == 100


def test_images_off_the_sampled_frames_are_reported_and_no_match_at_all_is_an_error(tmp_path, truth):
    gt = write_json(tmp_path / "gt.json", coco_doc({**truth, 7: [person(100)]}))
    shards = write_shards(tmp_path / "s", "walk/cam1.mp4", [track(1, np.stack([person(100)] * 4))])
    result = score_shards(gt, shards)
    assert result.images == 4 and result.images_scored == 3 and result.unmatched == ["walk/cam1/000007"]
    other = write_shards(tmp_path / "o", "elsewhere.mp4", [track(1, np.stack([person(100)] * 4))])
    with pytest.raises(ConfigError, match=r"none of the 4 ground-truth images.*\{clip\}/\{frame:06d\}"):
        score_shards(gt, other)


def test_posetics_shards_are_scored_against_ground_truth_converted_to_their_layout(tmp_path, truth):
    gt = write_json(tmp_path / "gt.json", coco_doc(truth))
    tracks = [
        track(k, np.stack([convert_keypoints(person(x), None, COCO17, POSETICS17)[0]] * 4))
        for k, x in ((1, 100), (2, 300))
    ]
    shards = write_shards(tmp_path / "s", "walk/cam1.mp4", tracks, POSETICS17)
    result = score_shards(gt, shards)
    assert result.layout.name == "posetics17" and result.overall["pckh"] == 100


def test_bad_ground_truth_files_are_one_line_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_coco_keypoints(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ConfigError, match="not a readable JSON"):
        load_coco_keypoints(bad)
    with pytest.raises(ConfigError, match="no 'images'"):
        load_coco_keypoints(write_json(tmp_path / "x.json", {"annotations": []}))
    with pytest.raises(ConfigError, match="names no clip and frame"):
        load_coco_keypoints(write_json(tmp_path / "y.json", coco_doc({1: []}, name=lambda f: "flat.jpg")))
    doc = coco_doc({1: [person(0)]})
    doc["categories"][0]["keypoints"] = ["head", *COCO17.joints[1:]]
    with pytest.raises(ConfigError, match="COCO order"):
        load_coco_keypoints(write_json(tmp_path / "z.json", doc))


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
    return root


def test_posekit_eval_takes_gt_and_shards_directly_or_as_the_gt_subcommand(tmp_path, truth):
    gt = write_json(tmp_path / "gt.json", coco_doc(truth))
    conf = np.array([0.9, 0.1, 0.5, 0.05])
    shards = write_shards(
        tmp_path / "s",
        "walk/cam1.mp4",
        [track(1, np.stack([person(100)] * 4), conf), track(2, np.stack([person(300)] * 4), conf)],
    )
    plots, out_json = tmp_path / "plots", tmp_path / "scores.json"
    args = ["--gt", str(gt), "--shards", str(shards)]
    direct = CliRunner().invoke(cli(), ["eval", *args, "--plots", str(plots), "--json", str(out_json)])
    assert direct.exit_code == 0, direct.output
    assert "100.0" in direct.output
    assert json.loads(out_json.read_text())["overall"]["pckh"] == 100
    assert (plots / "c_vs_error.png").is_file() and (plots / "error_hist.png").is_file()
    sub = CliRunner().invoke(cli(), ["eval", "gt", *args])
    assert sub.exit_code == 0, sub.output
    missing = CliRunner().invoke(cli(), ["eval", "--gt", str(gt)])
    assert missing.exit_code == 2 and "--shards" in missing.output
    nothing = CliRunner().invoke(cli(), ["eval", "--gt", str(gt), "--shards", str(tmp_path / "nope")])
    assert nothing.exit_code == 2 and "Traceback" not in nothing.output
    assert "posekit eval" in CliRunner().invoke(cli(), ["eval"]).output
