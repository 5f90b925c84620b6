"""``posekit import``: small files in each dataset's official format -> a dataset ``posekit inspect`` reads."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
from typer.testing import CliRunner

from posekit.cli.app import app
from posekit.io.formats.ntu import NtuSample, motion_energy, ntu_split, read_ntu_skeleton
from posekit.io.formats.pyskl import SafeUnpickler, load_pyskl
from posekit.io.formats.smarthome import SmarthomeSample, smarthome_split
from posekit.io.shards import iter_skeleton_clips, list_shards, read_shard_info
from posekit.skeleton.layouts import LCRNET13, OPENPOSE18, PENN13, POSETICS17
from tests.dataset_formats import (
    ntu_body,
    ntu_frames,
    write_ntu_skeleton,
    write_penn_mat,
    write_pyskl,
    write_smarthome_json,
    write_stgcn_json,
)

runner = CliRunner()


def _clips(folder):
    return {clip.clip_id: clip for clip, _ in iter_skeleton_clips(folder)}


def _inspect(folder) -> dict:
    result = runner.invoke(app, ["inspect", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# ---------------------------------------------------------------------------------------------
# NTU RGB+D


@pytest.fixture
def ntu_dir(tmp_path):
    """Four samples: two bodies + a near-still third (S001C002P001: xsub train), one body (S001C001P003: val),
    one NTU 120 sample (S018...), one truncated file and one listed as missing."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "skeletons"
    folder.mkdir()
    still, mover, walker = ntu_body(rng, -1, 0.001, 8), ntu_body(rng, 0, 0.2, 8), ntu_body(rng, 1, 0.05, 8)
    write_ntu_skeleton(
        folder / "S001C002P001R001A005.skeleton", ntu_frames([still, mover, walker], [range(8), range(8), range(2, 6)])
    )
    write_ntu_skeleton(folder / "S001C001P003R002A060.skeleton", ntu_frames([mover], [range(6)]))
    write_ntu_skeleton(folder / "S018C001P045R001A100.skeleton", ntu_frames([mover], [range(4)]))
    write_ntu_skeleton(folder / "S001C003P002R001A001.skeleton", ntu_frames([walker], [range(3)]))
    text = (folder / "S001C001P003R002A060.skeleton").read_text()
    (folder / "S002C001P003R002A010.skeleton").write_text(text[: len(text) // 2])
    missing = tmp_path / "missing.txt"
    missing.write_text("S001C003P002R001A001\n")
    return folder, missing, {"still": still, "mover": mover, "walker": walker}


def test_ntu_text_is_read_into_kinect_slots_with_metres_pixels_and_states(ntu_dir):
    folder, _, bodies = ntu_dir
    xyz, color, state = read_ntu_skeleton(folder / "S001C002P001R001A005.skeleton")
    assert xyz.shape == (4, 8, 25, 3) and color.shape == (4, 8, 25, 2)
    np.testing.assert_allclose(xyz[1], bodies["mover"]["xyz"], atol=1e-9)
    np.testing.assert_allclose(color[0], bodies["still"]["color"], atol=1e-9)
    np.testing.assert_array_equal(state[0], bodies["still"]["state"])
    np.testing.assert_allclose(xyz[2, 2], bodies["walker"]["xyz"][2], atol=1e-9)
    assert (state[2, :2] == -1).all() and (state[3] == -1).all() and (xyz[3] == 0).all()
    energy = motion_energy(xyz)
    assert energy[1] > energy[2] > energy[0] and energy[3] == 0


def test_ntu_import_keeps_the_two_most_moving_bodies_in_the_official_split(ntu_dir, tmp_path):
    folder, missing, bodies = ntu_dir
    out = tmp_path / "ntu"
    result = runner.invoke(app, ["import", "ntu", str(folder), "--out", str(out), "--missing", str(missing)])
    assert result.exit_code == 1, result.output
    assert "S002C001P003R002A010" in result.output and "1 file(s) could not be read" in result.output
    doc = json.loads((out / "dataset.json").read_text())
    assert doc["counts"] == {"train": {"A005": 1}, "val": {"A060": 1}}
    assert doc["classes"][:2] == ["A001", "A002"] and len(doc["classes"]) == 60
    assert doc["import"]["tally"] == {"outside_benchmark": 1, "bodies_left_out": 1}
    stages = {d["clip_id"]: d["stage"] for d in doc["dropped"]}
    assert stages == {"S001C003P002R001A001": "missing", "S002C001P003R002A010": "read"}
    assert doc["coordinates_3d"].startswith("metres; Kinect v2 camera space")
    clip = _clips(out / "train")["S001C002P001R001A005"]
    assert clip.label == "A005" and (clip.width, clip.height) == (1920, 1080) and clip.num_frames == 8
    first, second = clip.tracks
    np.testing.assert_allclose(first.keypoints_3d, bodies["mover"]["xyz"], atol=1e-6)
    np.testing.assert_allclose(first.keypoints, bodies["mover"]["color"], atol=1e-3)
    np.testing.assert_array_equal(first.joint_scores, np.where(bodies["mover"]["state"] == 2, 1.0, 0.5))
    np.testing.assert_array_equal(second.t, np.arange(2, 6))
    np.testing.assert_allclose(second.keypoints_3d, bodies["walker"]["xyz"][2:6], atol=1e-6)
    info = read_shard_info(list_shards(out / "train", "skeletons")[0])
    assert info.layout.name == "ntu25" and info.coordinates_3d == doc["coordinates_3d"]
    summary = _inspect(out / "train")
    assert summary["clips"] == 1 and summary["layout"] == "ntu25"
    assert "posekit import ntu --benchmark xsub" in (out / "README.md").read_text()


def test_mmaction2_takes_the_3d_pyskl_export_of_an_ntu_import(ntu_dir, tmp_path):
    pytest.importorskip("mmaction")
    import mmaction.datasets.transforms  # noqa: F401  (registers the pipeline steps)
    from mmaction.datasets import PoseDataset
    from mmengine.registry import init_default_scope

    folder, missing, _ = ntu_dir
    runner.invoke(app, ["import", "ntu", str(folder), "--out", str(tmp_path / "ntu"), "--missing", str(missing)])
    pkl = tmp_path / "ntu3d.pkl"
    result = runner.invoke(app, ["export", "pyskl", str(tmp_path / "ntu"), "--out", str(pkl), "--coords", "3d"])
    assert result.exit_code == 0, result.output
    init_default_scope("mmaction")
    pipeline = [
        {"type": "PreNormalize3D"},
        {"type": "GenSkeFeat", "dataset": "nturgb+d", "feats": ["j"]},
        {"type": "UniformSampleFrames", "clip_len": 16},
        {"type": "PoseDecode"},
        {"type": "FormatGCNInput", "num_person": 2},
        {"type": "PackActionInputs"},
    ]
    data = PoseDataset(str(pkl), pipeline, split="train", data_prefix={"video": "v"})
    assert len(data) == 1 and tuple(data[0]["inputs"].shape) == (1, 2, 16, 25, 3)
    assert np.isfinite(data[0]["inputs"].numpy()).all()


def test_ntu_benchmarks_follow_the_published_training_lists():
    s = NtuSample.parse("S018C002P045R001A100")
    assert s is not None and (s.setup, s.camera, s.performer, s.action) == (18, 2, 45, 100)
    assert ntu_split(s, "xsub") is None and ntu_split(s, "xsub120") == "train" and ntu_split(s, "xset120") == "train"
    t = NtuSample.parse("S017C001P003R001A060")
    assert ntu_split(t, "xsub") == "val" and ntu_split(t, "xview") == "val" and ntu_split(t, "xset120") == "val"
    assert ntu_split(NtuSample.parse("S001C003P038R001A001"), "xview") == "train"
    assert ntu_split(NtuSample.parse("S001C003P038R001A001"), "xsub") == "train"
    assert NtuSample.parse("S01C001P001R001A001") is None


def test_ntu_to_the_17_main_joints_keeps_3d_through_the_mapping(ntu_dir, tmp_path):
    folder, missing, bodies = ntu_dir
    out = tmp_path / "ntu17"
    args = ["import", "ntu", str(folder), "--out", str(out), "--missing", str(missing), "--layout", "posetics17"]
    assert runner.invoke(app, args).exit_code == 1
    track = _clips(out / "train")["S001C002P001R001A005"].tracks[0]
    assert track.keypoints_3d.shape == (8, 17, 3)
    np.testing.assert_allclose(
        track.keypoints_3d[:, POSETICS17.index("neck")], bodies["mover"]["xyz"][:, 20], atol=1e-6
    )


# ---------------------------------------------------------------------------------------------
# pyskl


def _pyskl_doc(rng, dims: int) -> dict:
    annotations = []
    for k, name in enumerate(["S001C001P001R001A001", "S001C001P002R001A002", "S001C001P003R001A001"]):
        M, T = (2, 5) if k != 1 else (1, 7)
        kp = rng.uniform(1, 300, (M, T, 17 if dims == 2 else 25, dims)).astype(np.float32)
        score = rng.uniform(0.1, 1, kp.shape[:3]).astype(np.float32)
        kp[0, 1, 3] = 0
        score[0, 1, 3] = 0
        if M == 2:
            kp[1, 3:] = 0
            score[1, 3:] = 0
        ann = {"frame_dir": name, "label": k % 2, "total_frames": T, "keypoint": kp}
        if dims == 2:
            ann.update(img_shape=(480, 640), original_shape=(480, 640), keypoint_score=score)
        annotations.append(ann)
    names = [a["frame_dir"] for a in annotations]
    return {"split": {"train": names[:2], "val": names[2:]}, "annotations": annotations}


@pytest.mark.parametrize("dims", [2, 3])
def test_pyskl_import_then_export_is_the_identity(tmp_path, dims):
    source = _pyskl_doc(np.random.default_rng(dims), dims)
    write_pyskl(tmp_path / "in.pkl", source)
    out = tmp_path / "ds"
    assert runner.invoke(app, ["import", "pyskl", str(tmp_path / "in.pkl"), "--out", str(out)]).exit_code == 0
    assert _inspect(out / "train")["clips"] == 2
    args = ["export", "pyskl", str(out), "--out", str(tmp_path / "out.pkl"), "--any-layout"]
    result = runner.invoke(app, args + (["--coords", "3d"] if dims == 3 else []))
    assert result.exit_code == 0, result.output
    again = load_pyskl(tmp_path / "out.pkl")
    assert again["split"] == source["split"]
    assert [a["frame_dir"] for a in again["annotations"]] == [a["frame_dir"] for a in source["annotations"]]
    added = {"filename", "box_score", "valid"} | (
        {"img_shape", "original_shape", "keypoint_score"} if dims == 3 else set()
    )
    for before, after in zip(source["annotations"], again["annotations"]):
        assert set(after) - set(before) <= added
        for key, value in before.items():
            if isinstance(value, np.ndarray):
                assert after[key].dtype == value.dtype and after[key].shape == value.shape, key
                np.testing.assert_array_equal(after[key], value, err_msg=key)
            else:
                assert after[key] == value and type(after[key]) is type(value), key


def test_pyskl_3d_fills_keypoints_3d_with_nan_2d(tmp_path):
    write_pyskl(tmp_path / "in.pkl", _pyskl_doc(np.random.default_rng(5), 3))
    runner.invoke(app, ["import", "pyskl", str(tmp_path / "in.pkl"), "--out", str(tmp_path / "ds")])
    clip = _clips(tmp_path / "ds" / "train")["S001C001P001R001A001"]
    assert np.isnan(clip.tracks[0].keypoints).all() and clip.tracks[0].keypoints_3d.shape == (5, 25, 3)
    assert np.isnan(clip.tracks[0].keypoints_3d[1, 3]).all() and len(clip.tracks[1]) == 3


def test_pyskl_split_prefix_picks_one_benchmark_and_overlaps_are_refused(tmp_path):
    doc = _pyskl_doc(np.random.default_rng(1), 2)
    names = [a["frame_dir"] for a in doc["annotations"]]
    doc["split"] = {"xsub_train": names[:2], "xsub_val": names[2:], "xview_train": names[1:], "xview_val": names[:1]}
    write_pyskl(tmp_path / "in.pkl", doc)
    result = runner.invoke(app, ["import", "pyskl", str(tmp_path / "in.pkl"), "--out", str(tmp_path / "a")])
    assert result.exit_code == 2 and "--split (xsub, xview)" in result.output
    args = ["import", "pyskl", str(tmp_path / "in.pkl"), "--out", str(tmp_path / "b"), "--split", "xview"]
    assert runner.invoke(app, args).exit_code == 0
    doc_b = json.loads((tmp_path / "b" / "dataset.json").read_text())
    assert {s: d["clips"] for s, d in doc_b["splits"].items()} == {"train": 2, "val": 1}


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_crafted_pyskl_pickle_cannot_run_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"split": {}, "annotations": [_RunsCode()]}))
    result = runner.invoke(app, ["import", "pyskl", "evil.pkl", "--out", "ds"])
    assert result.exit_code == 2 and "refusing posix.system" in result.output.replace("\n", " ")
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(pickle.UnpicklingError), open(tmp_path / "evil.pkl", "rb") as f:
        SafeUnpickler(f).load()


# ---------------------------------------------------------------------------------------------
# Kinetics-skeleton, Smarthome, Penn Action


def test_kinetics_skeleton_json_imports_in_pixels_with_persons_ranked_by_score(tmp_path):
    rng = np.random.default_rng(2)
    train, val = tmp_path / "kinetics_train", tmp_path / "kinetics_val"
    train.mkdir(), val.mkdir()
    kp = rng.uniform(0.1, 0.9, (2, 6, 18, 2))
    sc = rng.uniform(0.2, 0.5, (2, 6, 18))
    sc[0] += 0.4
    sc[1, 4:] = 0
    kp[0, 2, 5] = 0
    sc[0, 2, 5] = 0
    write_stgcn_json(val / "vid_a.json", kp[::-1], sc[::-1], "dancing", 1)
    write_stgcn_json(train / "vid_b.json", kp[:1], sc[:1], "abseiling", 0)
    (val / "vid_c.json").write_text("{not json")
    entries = {"vid_a": ("dancing", 1), "vid_b": ("abseiling", 0), "vid_c": ("abseiling", 0)}
    labels = tmp_path / "labels.json"
    labels.write_text(
        json.dumps({v: {"has_skeleton": True, "label": n, "label_index": i} for v, (n, i) in entries.items()})
    )
    out = tmp_path / "k"
    args = ["import", "kinetics-skeleton", str(train), str(val), "--labels", str(labels), "--labels", str(labels)]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 1 and "vid_c" in result.output
    doc = json.loads((out / "dataset.json").read_text())
    assert doc["classes"] == ["abseiling", "dancing"]
    assert doc["counts"] == {"train": {"abseiling": 1}, "val": {"dancing": 1}}
    clip = _clips(out / "val")["vid_a"]
    assert (clip.width, clip.height) == (340, 256) and [len(t) for t in clip.tracks] == [6, 4]
    expected = np.round(kp[0], 3) * (340, 256)
    expected[2, 5] = np.nan
    np.testing.assert_allclose(clip.tracks[0].keypoints, expected, rtol=1e-5)
    assert OPENPOSE18.joints[1] == "neck" and _inspect(out / "val")["layout"] == "openpose18"
    one = runner.invoke(app, ["import", "kinetics-skeleton", str(train), "--out", str(tmp_path / "two")])
    assert one.exit_code == 2 and "--labels" in one.output
    bad = runner.invoke(app, [*args[:4], "--labels", str(labels), "--out", str(tmp_path / "b"), "--frame-size", "340"])
    assert bad.exit_code == 2 and "--frame-size must be width,height" in bad.output


def test_smarthome_json_imports_lcrnet_poses_completed_to_17_under_each_protocol(tmp_path):
    rng = np.random.default_rng(3)
    folder = tmp_path / "smarthome"
    folder.mkdir()
    pose = rng.uniform(50, 400, (5, 2, 13, 2)).round(2)
    pose[3:, 1] = np.nan
    for name in ("Walk_p11_r00_v05_c02", "Cook.Cut_p03_r00_v05_c05", "Enter_p04_r01_v03_c07"):
        write_smarthome_json(folder / f"{name}.json", pose)
    pose3d = rng.normal(0, 0.5, (5, 2, 13, 3)).round(4)
    write_smarthome_json(folder / "Walk_p03_r00_v05_c01.json", pose, pose3d)
    (folder / "Walk_p05_r00_v05_c02.json").write_text(json.dumps({"frames": [[{"pose2d": [1, 2]}]]}))
    out = tmp_path / "sh"
    result = runner.invoke(app, ["import", "smarthome", str(folder), "--out", str(out), "--benchmark", "cv2"])
    assert result.exit_code == 1 and "Walk_p05_r00_v05_c02" in result.output
    doc = json.loads((out / "dataset.json").read_text())
    assert doc["counts"] == {"train": {"Enter": 1, "Walk": 1}, "val": {"Walk": 1}} and len(doc["classes"]) == 19
    assert doc["import"]["tally"]["outside_benchmark"] == 1
    track = _clips(out / "train")["Walk_p03_r00_v05_c01"].tracks[0]
    head, lsho, rsho = (pose[:, 0, LCRNET13.index(j)] for j in ("head", "left_shoulder", "right_shoulder"))
    p = POSETICS17.index
    np.testing.assert_allclose(track.keypoints[:, p("nose")], head, rtol=1e-5)
    np.testing.assert_allclose(track.keypoints[:, p("mouth")], (head + (lsho + rsho) / 2) / 2, rtol=1e-5)
    np.testing.assert_allclose(track.keypoints_3d[:, p("nose")], pose3d[:, 0, LCRNET13.index("head")], atol=1e-6)
    assert _clips(out / "train")["Enter_p04_r01_v03_c07"].tracks[0].keypoints_3d is None
    assert doc["coordinates_3d"].startswith("metres; LCRNet++")
    assert _inspect(out / "train")["layout"] == "posetics17"
    cs = SmarthomeSample.parse("Cook.Cut_p03_r00_v05_c05")
    assert smarthome_split(cs, "cs") == "train" and smarthome_split(cs, "cv1") is None


def test_penn_action_mat_labels_import_with_visibility_and_the_train_flag(tmp_path):
    rng = np.random.default_rng(4)
    labels = tmp_path / "Penn_Action" / "labels"
    labels.mkdir(parents=True)
    x, y = rng.uniform(0, 480, (2, 9, 13))
    visible = (rng.uniform(size=(9, 13)) > 0.2).astype(np.uint8)
    write_penn_mat(labels / "0001.mat", x, y, visible, "baseball_pitch", 1)
    write_penn_mat(labels / "0002.mat", x[:4], y[:4], visible[:4], "bench_press", -1)
    (labels / "0003.mat").write_bytes(b"MATLAB 5.0 truncated")
    out = tmp_path / "penn"
    runner.invoke(
        app, ["import", "penn-action", str(tmp_path / "Penn_Action"), "--out", str(out), "--layout", "penn13"]
    )
    doc = json.loads((out / "dataset.json").read_text())
    assert doc["counts"] == {"train": {"baseball_pitch": 1}, "val": {"bench_press": 1}}
    assert [d["clip_id"] for d in doc["dropped"]] == ["0003"]
    clip = _clips(out / "train")["0001"]
    assert (clip.width, clip.height) == (480, 360)
    np.testing.assert_allclose(clip.tracks[0].keypoints, np.stack([x, y], -1), rtol=1e-6)
    np.testing.assert_array_equal(clip.tracks[0].joint_scores, visible)
    assert PENN13.joints[0] == "head" and _inspect(out / "val")["clips"] == 1
    result = runner.invoke(
        app, ["import", "penn-action", str(tmp_path / "Penn_Action"), "--out", str(tmp_path / "p17")]
    )
    assert result.exit_code == 1
    assert _clips(tmp_path / "p17" / "train")["0001"].tracks[0].keypoints.shape == (9, 17, 2)


def test_a_folder_without_the_format_s_files_is_one_line(tmp_path):
    result = runner.invoke(app, ["import", "ntu", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "no *.skeleton files" in result.output
