"""UNIK model (thesis eq. 3.8-3.12) and its input streams."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as nnf

from posekit.skeleton.features import bone_parents, bones, fuse_scores, make_stream, motion, softmax
from posekit.skeleton.layouts import POSETICS17
from posekit.unik.model import UNIK, count_parameters, dependency_bound


def test_full_model_has_3458914_parameters_for_60_classes_17_joints_2_persons_2d() -> None:
    model = UNIK(num_classes=60, num_joints=17, num_persons=2, in_channels=2)
    assert count_parameters(model) == 3_458_914
    assert [b.slsu.out_channels for b in model.blocks] == [64, 64, 64, 64, 128, 128, 128, 256, 256, 256]
    assert [b.tlsu.conv.stride[0] for b in model.blocks] == [1, 1, 1, 1, 2, 1, 1, 2, 1, 1]
    assert [b.tlsu.conv.dilation[0] for b in model.blocks] == [1, 3, 3, 3, 3, 1, 1, 1, 1, 1]
    assert all(b.tlsu.conv.kernel_size == (9, 1) for b in model.blocks)
    assert all(b.slsu.dependency.shape == (3, 17, 17) for b in model.blocks)


def test_full_model_maps_a_clip_batch_to_class_logits() -> None:
    model = UNIK(num_classes=60).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 2, 32, 17, 2))
        feats = model.features(torch.randn(2, 2, 32, 17, 2))
    assert out.shape == (2, 60)
    assert feats.shape == (2, 256)


@pytest.mark.parametrize("tau", [1, 3])
def test_batched_heads_give_the_same_logits_and_gradients_as_the_per_head_loop(tau: int) -> None:
    torch.manual_seed(0)
    model = UNIK(num_classes=7, channels=(8, 16, 16), num_heads=3, tau=tau).double()
    for block in model.blocks:
        torch.nn.init.constant_(block.slsu.bn.weight, 0.5)
    x = torch.randn(3, 2, 20, 17, 2, dtype=torch.float64)
    y = torch.tensor([0, 3, 6])
    results = {}
    for mode in ("batched", "loop"):
        m = copy.deepcopy(model).set_head_mode(mode)
        logits = m(x)
        nnf.cross_entropy(logits, y).backward()
        results[mode] = (logits.detach(), {n: p.grad for n, p in m.named_parameters()})
    torch.testing.assert_close(results["batched"][0], results["loop"][0], rtol=1e-10, atol=1e-12)
    for name, grad in results["loop"][1].items():
        torch.testing.assert_close(results["batched"][1][name], grad, rtol=1e-8, atol=1e-12, msg=name)


def test_unknown_head_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="head mode"):
        UNIK(num_classes=3, channels=(8,)).set_head_mode("fast")


def test_dependency_matrices_start_uniform_within_the_eq_3_10_bound() -> None:
    torch.manual_seed(0)
    model = UNIK(num_classes=60)
    bound = dependency_bound(17)
    assert bound == pytest.approx(math.sqrt(6 / ((1 + 5) * 17)))
    for block in model.blocks:
        W = block.slsu.dependency.detach()
        assert W.abs().max() <= bound
        assert W.abs().max() > 0.9 * bound
        assert abs(float(W.mean())) < 0.05


def test_attention_maps_are_softmax_over_input_joints_per_head() -> None:
    torch.manual_seed(0)
    slsu = UNIK(num_classes=3, channels=(8,), num_heads=4).blocks[0].slsu
    A = slsu.attention(torch.randn(2, 2, 12, 17))
    assert A.shape == (2, 4, 17, 17)
    torch.testing.assert_close(A.sum(dim=-2), torch.ones(2, 4, 17))
    assert (A >= 0).all()


def test_temporal_strides_quarter_the_frames_and_input_shape_is_checked() -> None:
    model = UNIK(num_classes=5, channels=(8, 8, 16, 16, 32), strides=(1, 1, 2, 1, 2))
    x = torch.randn(2, 2, 40, 17, 2)
    N, C, T, V, M = x.shape
    h = model.data_bn(x.permute(0, 4, 3, 1, 2).reshape(N, M * V * C, T))
    h = h.view(N, M, V, C, T).permute(0, 1, 3, 4, 2).reshape(N * M, C, T, V)
    for block in model.blocks:
        h = block(h)
    assert h.shape == (4, 32, 10, 17)
    with pytest.raises(ValueError, match="built for"):
        model(torch.randn(2, 2, 40, 25, 2))


def test_reset_classifier_gives_a_new_head_and_keeps_the_backbone() -> None:
    model = UNIK(num_classes=60, channels=(8, 16)).eval()
    backbone = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("fc.")}
    model.reset_classifier(5)
    assert model.fc.out_features == 5
    assert model(torch.randn(2, 2, 16, 17, 2)).shape == (2, 5)
    for k, v in backbone.items():
        torch.testing.assert_close(model.state_dict()[k], v)
    assert len(model.backbone_parameters()) == len(list(model.parameters())) - 2


def test_blocks_channels_strides_and_dilations_must_match() -> None:
    with pytest.raises(ValueError, match="one entry per block"):
        UNIK(num_classes=3, channels=(8, 16), dilations=(1,))


def test_posetics_bones_form_a_tree_rooted_at_the_chest() -> None:
    parents = bone_parents(POSETICS17)
    assert parents[POSETICS17.index("chest")] == -1
    assert (parents >= 0).sum() == 16
    assert parents[POSETICS17.index("left_wrist")] == POSETICS17.index("left_elbow")
    assert parents[POSETICS17.index("neck")] == POSETICS17.index("chest")


def test_bones_point_away_from_the_body_centre_and_the_centre_bone_is_zero() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 17, 2)).astype(np.float32)
    b = bones(x)
    chest, neck, nose, mouth = (POSETICS17.index(j) for j in ("chest", "neck", "nose", "mouth"))
    np.testing.assert_array_equal(b[:, :, chest], 0)
    np.testing.assert_allclose(b[:, :, neck], x[:, :, neck] - x[:, :, chest])
    np.testing.assert_allclose(b[:, :, nose], x[:, :, nose] - x[:, :, mouth])
    lw, le = POSETICS17.index("left_wrist"), POSETICS17.index("left_elbow")
    np.testing.assert_allclose(b[:, :, lw], x[:, :, lw] - x[:, :, le])


def test_bones_of_missing_joints_stay_missing() -> None:
    x = np.ones((2, 3, 17, 1), np.float32)
    x[:, 1, POSETICS17.index("left_elbow")] = np.nan
    b = bones(x)
    assert np.isnan(b[:, 1, POSETICS17.index("left_wrist")]).all()
    assert np.isnan(b[:, 1, POSETICS17.index("left_elbow")]).all()
    assert np.isfinite(b[:, 0]).all()


def test_motion_streams_are_frame_differences_ending_in_zero() -> None:
    x = np.arange(2 * 4 * 17 * 2, dtype=np.float32).reshape(2, 4, 17, 2)
    m = motion(x)
    np.testing.assert_allclose(m[:, :-1], x[:, 1:] - x[:, :-1])
    np.testing.assert_array_equal(m[:, -1], 0)
    np.testing.assert_allclose(make_stream(x, "bone_motion"), motion(bones(x)))
    with pytest.raises(ValueError, match="unknown stream"):
        make_stream(x, "velocity")


def test_late_fusion_sums_the_softmax_scores_of_the_streams() -> None:
    joint = softmax(np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 3.0]]))
    bone = softmax(np.array([[0.0, 3.0, 0.0], [0.0, 1.0, 0.0]]))
    fused = fuse_scores([joint, bone])
    np.testing.assert_allclose(fused, joint + bone)
    np.testing.assert_allclose(fused.sum(axis=1), 2.0)
    assert fused.argmax(axis=1).tolist() == [1, 2]
    np.testing.assert_allclose(fuse_scores([joint, bone], [1.0, 0.0]), joint)
