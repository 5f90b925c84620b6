import numpy as np
import pytest

from posekit.skeleton.convert import conversion_matrix, convert_keypoints
from posekit.skeleton.layouts import BLAZEPOSE33, COCO17, LAYOUTS, LCRNET13, POSETICS17, JointLayout, get_layout


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
    with pytest.raises(KeyError, match="coco17"):
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
