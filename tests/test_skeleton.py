import json

import numpy as np
import pytest

from posekit.core.errors import ConfigError
from posekit.skeleton.convert import conversion_matrix, convert_keypoints
from posekit.skeleton.layouts import (
    BLAZEPOSE33,
    COCO17,
    LAYOUTS,
    LCRNET13,
    NTU25,
    OPENPOSE18,
    PENN13,
    POSETICS17,
    JointLayout,
    check_layout_option,
    get_layout,
)


def test_layouts_have_the_documented_joint_counts_and_order():
    assert (COCO17.num_joints, POSETICS17.num_joints, BLAZEPOSE33.num_joints, LCRNET13.num_joints) == (17, 17, 33, 13)
    assert POSETICS17.joints[:5] == ("nose", "mouth", "neck", "chest", "mid_hip")
    assert POSETICS17.joints[5:7] == ("left_shoulder", "right_shoulder")
    assert COCO17.joints[0] == "nose" and COCO17.joints[-1] == "right_ankle"


def test_posetics_edges_form_a_tree_rooted_at_the_centre():
    parents = dict(POSETICS17.edges)
    assert len(POSETICS17.edges) == POSETICS17.num_joints - 1
    for joint in range(POSETICS17.num_joints):
        seen = set()
        while joint != POSETICS17.center:
            assert joint not in seen
            seen.add(joint)
            joint = parents[joint]


def test_flip_pairs_pair_left_with_right():
    for layout in LAYOUTS.values():
        for a, b in layout.flip_pairs:
            assert layout.joints[a].replace("left_", "") == layout.joints[b].replace("right_", "")


def test_layout_json_round_trip():
    assert JointLayout.from_json(BLAZEPOSE33.to_json()) == BLAZEPOSE33


def test_unknown_layout_names_the_known_ones():
    with pytest.raises(ConfigError, match=r"coco17.*ntu25.*layout file"):
        get_layout("openpose25")


def test_coco_to_posetics_interpolates_neck_chest_mid_hip_and_mouth():
    kpts = np.zeros((17, 2), np.float32)
    idx = COCO17.index
    kpts[idx("nose")] = (100, 50)
    kpts[idx("left_shoulder")], kpts[idx("right_shoulder")] = (120, 100), (80, 100)
    kpts[idx("left_hip")], kpts[idx("right_hip")] = (115, 200), (85, 200)
    out, _ = convert_keypoints(kpts, None, COCO17, POSETICS17)
    p = POSETICS17.index
    np.testing.assert_allclose(out[p("neck")], (100, 100))
    np.testing.assert_allclose(out[p("mid_hip")], (100, 200))
    np.testing.assert_allclose(out[p("chest")], (100, 150))
    np.testing.assert_allclose(out[p("mouth")], (100, 62.5))
    np.testing.assert_allclose(out[p("left_shoulder")], (120, 100))


def test_conversion_marks_joints_missing_when_an_ingredient_is_missing():
    kpts = np.random.default_rng(0).random((4, 17, 2)).astype(np.float32)
    kpts[:, COCO17.index("left_shoulder")] = np.nan
    scores = np.full((4, 17), 0.9, np.float32)
    out, out_scores = convert_keypoints(kpts, scores, COCO17, POSETICS17)
    for name in ("neck", "chest", "mouth", "left_shoulder"):
        assert np.isnan(out[:, POSETICS17.index(name)]).all()
        assert np.isnan(out_scores[:, POSETICS17.index(name)]).all()
    assert not np.isnan(out[:, POSETICS17.index("mid_hip")]).any()


def test_interpolated_joint_score_is_the_lowest_of_its_ingredients():
    kpts = np.ones((17, 2), np.float32)
    scores = np.full(17, 0.9, np.float32)
    scores[COCO17.index("right_hip")] = 0.2
    _, out = convert_keypoints(kpts, scores, COCO17, POSETICS17)
    assert out[POSETICS17.index("mid_hip")] == pytest.approx(0.2)
    assert out[POSETICS17.index("neck")] == pytest.approx(0.9)


def test_blazepose_to_coco_selects_the_same_named_landmarks():
    W = conversion_matrix("blazepose33", "coco17")
    for i, name in enumerate(COCO17.joints):
        assert W[i, BLAZEPOSE33.index(name)] == 1.0
        assert W[i].sum() == 1.0


def test_lcrnet_head_fills_the_posetics_face_and_coco_lacks_eyes_from_posetics():
    assert conversion_matrix("lcrnet13", "posetics17")[POSETICS17.index("nose"), LCRNET13.index("head")] == 1.0
    kpts = np.ones((17, 2), np.float32)
    out, _ = convert_keypoints(kpts, None, POSETICS17, COCO17)
    assert np.isnan(out[COCO17.index("left_eye")]).all()
    assert not np.isnan(out[COCO17.index("nose")]).any()


def _tree_root(layout: JointLayout) -> set[int]:
    parents = dict(layout.edges)
    roots = set()
    for joint in range(layout.num_joints):
        seen = set()
        while joint in parents:
            assert joint not in seen, f"{layout.name}: bones form a cycle"
            seen.add(joint)
            joint = parents[joint]
        roots.add(joint)
    return roots


@pytest.mark.parametrize("layout", [NTU25, OPENPOSE18])
def test_ntu_and_openpose_bones_form_one_tree_rooted_at_the_centre(layout):
    assert len(layout.edges) == layout.num_joints - 1
    assert _tree_root(layout) == {layout.center}


def test_new_layouts_follow_their_datasets_joint_order():
    assert NTU25.num_joints == 25 and NTU25.joints[0] == "spine_base" and NTU25.joints[20] == "spine_shoulder"
    assert NTU25.joints[3] == "head" and NTU25.joints[24] == "right_thumb" and NTU25.center == 20
    assert OPENPOSE18.joints[:2] == ("nose", "neck") and OPENPOSE18.joints[17] == "left_ear"
    assert PENN13.joints[:3] == ("head", "left_shoulder", "right_shoulder") and PENN13.joints[12] == "right_ankle"
    assert len(NTU25.flip_pairs) == 10 and len(OPENPOSE18.flip_pairs) == 8 and len(PENN13.flip_pairs) == 6


def test_ntu25_to_posetics17_maps_the_17_main_joints_by_meaning():
    kpts = np.random.default_rng(1).normal(size=(3, 25, 3)).astype(np.float32)
    out, _ = convert_keypoints(kpts, None, NTU25, POSETICS17)
    n, p = NTU25.index, POSETICS17.index
    np.testing.assert_array_equal(out[:, p("neck")], kpts[:, n("spine_shoulder")])
    np.testing.assert_array_equal(out[:, p("chest")], kpts[:, n("spine_mid")])
    np.testing.assert_array_equal(out[:, p("mid_hip")], kpts[:, n("spine_base")])
    np.testing.assert_array_equal(out[:, p("nose")], kpts[:, n("head")])
    np.testing.assert_allclose(out[:, p("mouth")], (kpts[:, n("head")] + kpts[:, n("neck")]) / 2, rtol=1e-6)
    for joint in POSETICS17.joints[5:]:
        np.testing.assert_array_equal(out[:, p(joint)], kpts[:, n(joint)])


def test_openpose18_to_coco17_selects_every_coco_joint_by_name():
    W = conversion_matrix(OPENPOSE18, COCO17)
    for i, name in enumerate(COCO17.joints):
        assert W[i, OPENPOSE18.index(name)] == 1.0 and W[i].sum() == 1.0
    assert not W[:, OPENPOSE18.index("neck")].any()


def test_penn13_is_completed_to_17_as_the_thesis_does():
    kpts = np.random.default_rng(2).normal(size=(13, 2)).astype(np.float32)
    out, _ = convert_keypoints(kpts, None, PENN13, POSETICS17)
    q, p = PENN13.index, POSETICS17.index
    neck = (kpts[q("left_shoulder")] + kpts[q("right_shoulder")]) / 2
    mid_hip = (kpts[q("left_hip")] + kpts[q("right_hip")]) / 2
    np.testing.assert_allclose(out[p("nose")], kpts[q("head")])
    np.testing.assert_allclose(out[p("mouth")], (kpts[q("head")] + neck) / 2, rtol=1e-6)
    np.testing.assert_allclose(out[p("neck")], neck, rtol=1e-6)
    np.testing.assert_allclose(out[p("chest")], (neck + mid_hip) / 2, rtol=1e-6)
    coco, _ = convert_keypoints(kpts, None, PENN13, COCO17)
    np.testing.assert_allclose(coco[COCO17.index("nose")], kpts[q("head")])
    assert np.isnan(coco[COCO17.index("left_eye")]).all()


_USER_LAYOUT = """
name: stick4
joints: [pelvis, chest_top, hand_l, hand_r]
bones: [[chest_top, pelvis], [hand_l, chest_top], [hand_r, chest_top]]
center: pelvis
left_right: [[hand_l, hand_r]]
"""


def test_a_user_layout_file_loads_wherever_a_layout_name_is_accepted(tmp_path):
    path = tmp_path / "stick4.yaml"
    path.write_text(_USER_LAYOUT)
    layout = get_layout(str(path))
    assert layout.joints == ("pelvis", "chest_top", "hand_l", "hand_r")
    assert layout.edges == ((1, 0), (2, 1), (3, 1)) and layout.center == 0 and layout.flip_pairs == ((2, 3),)
    assert JointLayout.from_json(layout.to_json()) == layout
    as_json = tmp_path / "stick4.json"
    spec = {"name": "stick4", "joints": list(layout.joints), "bones": [["chest_top", "pelvis"]], "center": "pelvis"}
    as_json.write_text(json.dumps(spec))
    assert get_layout(str(as_json)).edges == ((1, 0),)
    check_layout_option(str(path), "--layout")
    kpts = np.arange(8, dtype=np.float32).reshape(4, 2)
    out, _ = convert_keypoints(kpts, None, layout, COCO17)
    assert np.isnan(out).all()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\njoints: [a, b]\nbones: [[a, c]]\ncenter: a\n", "bones name joints that are not in joints"),
        ("name: x\njoints: [a, a]\nbones: []\ncenter: a\n", "joint names repeat"),
        ("name: x\njoints: [a]\nbones: []\ncenter: z\n", "center 'z' is not one of the joints"),
        ("joints: [a]\n", "missing name, bones, center"),
        ("name: coco17\njoints: [a]\nbones: []\ncenter: a\n", "is a built-in layout"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_a_bad_layout_file_is_one_line_naming_the_file_and_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        check_layout_option(str(path), "--layout")
    assert "\n" not in str(err.value) and str(path) in str(err.value) and str(err.value).startswith("--layout")


def test_a_missing_layout_file_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        get_layout(str(tmp_path / "none.json"))
